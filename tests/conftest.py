"""Suite-wide fixtures.

Every test runs in an isolated environment: HOME and the XDG base folders point into a per-test temporary
folder, and the FORGE_* variables are unset, so no test can read or write the real user's keys, ledgers
or sockets. XDG_RUNTIME_DIR is a short folder under /tmp (a private 0700 folder, as platformdirs and
forge_tui.paths.runtime_dir expect), because a socket path must stay under ~107 bytes.

Fixtures others may use:
- `project`: a freshly `forge-tui init`ed project in a temporary folder, with the current folder set to it;
- `run_cli(*args) -> (code, stdout, stderr)`: forge_tui.cli.main run in-process.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, settings

# Property tests check what is true, not how fast: on a loaded 2-core machine a 200 ms per-example
# deadline or the "too slow" health check fails a correct test. Examples stay as many as before.
settings.register_profile(
    "forge", deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
settings.load_profile("forge")

FORGE_VARS = (
    "FORGE_DATA_DIR",
    "FORGE_RUNTIME_DIR",
    "FORGE_SOCKET",
    "FORGE_REVIEW_SOCKET",
    "FORGE_PASSPHRASE",
    "FORGE_DEBUG",
)
XDG_DIRS = (
    ("HOME", "home"),
    ("XDG_DATA_HOME", "xdg/data"),
    ("XDG_CONFIG_HOME", "xdg/config"),
    ("XDG_STATE_HOME", "xdg/state"),
    ("XDG_CACHE_HOME", "xdg/cache"),
)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory):
    """Point HOME and XDG_* at fresh folders and unset FORGE_*; yields the base folder.

    Uses its own MonkeyPatch, so a test calling `monkeypatch.undo()` cannot undo the isolation.
    """
    mp = pytest.MonkeyPatch()
    base = tmp_path_factory.mktemp("env")
    for var, sub in XDG_DIRS:
        folder = base / sub
        folder.mkdir(parents=True, mode=0o700)
        mp.setenv(var, str(folder))
    runtime = tempfile.mkdtemp(prefix="fr-", dir="/tmp")  # 0700, short: sockets live here
    mp.setenv("XDG_RUNTIME_DIR", runtime)
    for var in FORGE_VARS:
        mp.delenv(var, raising=False)
    try:
        yield base
    finally:
        mp.undo()
        shutil.rmtree(runtime, ignore_errors=True)


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project initialised like `forge-tui init` (solo pack); the current folder is its root."""
    from forge_tui.core.project import init_project

    root = tmp_path / "proj"
    root.mkdir()
    proj = init_project(root, pack="solo", name="proj")
    monkeypatch.chdir(root)
    return proj


@pytest.fixture
def run_cli(capsys):
    """run_cli(*args) -> (exit code, stdout, stderr) of forge_tui.cli.main, in-process."""
    from forge_tui.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()  # drop anything printed before
        cwd = os.getcwd()
        try:
            try:
                code = main([str(a) for a in args])
            except SystemExit as exc:  # argparse: --help, --version and usage errors
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        finally:
            os.chdir(cwd)  # -C DIR changes folder
        out, err = capsys.readouterr()
        return code, out, err

    return run
