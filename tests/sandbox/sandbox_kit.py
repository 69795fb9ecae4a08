"""Helpers for the sandbox tests: a real project (git repository, `forge-tui init`), a real daemon in
its own process, and `forge-tui run` started as the agent would start it.

Everything lives in one short folder under /tmp (socket paths stay well under 107 bytes) and every
subprocess gets an explicit environment, so nothing depends on the test process's own variables. The
tests skip only when bubblewrap is not installed or the kernel refuses it namespaces.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROBE = Path(__file__).with_name("probe.py")


def bwrap_refusal() -> str | None:
    """Why bubblewrap cannot run here, or None when it can."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed (.ci/run installs it)"
    res = subprocess.run(
        [
            bwrap,
            "--unshare-user-try",
            "--cap-drop",
            "ALL",
            "--unshare-pid",
            "--bind",
            "/",
            "/",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
            "--",
            "/bin/true",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if res.returncode != 0:
        return f"bubblewrap cannot create namespaces here: {res.stderr.strip()}"
    return None


@dataclass
class Box:
    """A project served by a daemon, and the means to run things inside `forge-tui run` for it."""

    base: Path
    root: Path
    data: Path
    xdg_run: Path
    env: dict[str, str]
    project_id: str
    agent_sock: Path
    review_sock: Path
    daemon: subprocess.Popen | None = None
    log: Path = field(default_factory=Path)

    def run(
        self,
        *cmd: str,
        args: tuple[str, ...] = ("-q",),
        env: dict[str, str] | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess:
        """`forge-tui run ARGS -- CMD…` from the project folder, as the agent's launcher would."""
        return subprocess.run(
            [sys.executable, "-m", "forge_tui", "run", *args, "--", *cmd],
            cwd=self.root,
            env=env or self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def probe(self, *ops: list[str]) -> list[Any]:
        """What the kernel answers inside the sandbox to each operation (see probe.py)."""
        res = self.run(sys.executable, str(PROBE), json.dumps([list(op) for op in ops]))
        assert res.returncode == 0, f"the probe did not run in the sandbox: {res.stderr}"
        return json.loads(res.stdout.strip().splitlines()[-1])

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        """forge-tui on the host (outside any sandbox)."""
        return subprocess.run(
            [sys.executable, "-m", "forge_tui", *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def ledger_key_files(self) -> list[Path]:
        return sorted(p for p in (self.data / "keys").rglob("*") if p.is_file())

    def authoritative_ledgers(self) -> list[Path]:
        return sorted((self.data / "projects").rglob("*.jsonl"))


def _git(root: Path, env: dict[str, str], *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], env=env, check=True, capture_output=True, timeout=60)


def _env(base: Path, runtime: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": str(base / "home"),
        "XDG_DATA_HOME": str(base / "home/.local/share"),
        "XDG_CONFIG_HOME": str(base / "home/.config"),
        "XDG_CACHE_HOME": str(base / "home/.cache"),
        "XDG_STATE_HOME": str(base / "home/.local/state"),
        "XDG_RUNTIME_DIR": str(base / "xr"),
        "FORGE_DATA_DIR": str(base / "data"),
        "FORGE_RUNTIME_DIR": str(base / "run"),
        "FORGE_PASSPHRASE": "correct horse battery staple, kept outside",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "dev",
        "GIT_AUTHOR_EMAIL": "dev@example.org",
        "GIT_COMMITTER_NAME": "dev",
        "GIT_COMMITTER_EMAIL": "dev@example.org",
    }
    if runtime == "xdg":
        del env["FORGE_RUNTIME_DIR"]  # sockets in $XDG_RUNTIME_DIR/forge-tui, the default layout
    for name in ("home", "home/.local/share", "home/.config", "home/.cache", "home/.local/state", "xr"):
        (base / name).mkdir(parents=True, exist_ok=True, mode=0o700)
    return env


def make_box(*, daemon: bool = True, runtime: str = "forge") -> Box:
    base = Path(tempfile.mkdtemp(prefix="fsb-", dir="/tmp"))
    env = _env(base, runtime)
    root = base / "proj"
    root.mkdir()
    _git(root, env, "init", "-q")
    (root / "README").write_text("a project\n")
    res = subprocess.run(
        [sys.executable, "-m", "forge_tui", "init", str(root)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    _git(root, env, "add", "-A")
    _git(root, env, "commit", "-q", "-m", "start")
    import tomllib

    run_dir = base / ("xr/forge-tui" if runtime == "xdg" else "run")
    project_id = tomllib.loads((root / ".forge/project.toml").read_text())["project_id"]
    box = Box(
        base=base,
        root=root,
        data=base / "data",
        xdg_run=base / "xr",
        env=env,
        project_id=project_id,
        agent_sock=run_dir / f"{project_id}.sock",
        review_sock=run_dir / "review" / f"{project_id}.sock",
        log=base / "daemon.log",
    )
    if daemon:
        from forge_tui.daemon.spawn import start_daemon

        box.daemon = start_daemon(root, box.agent_sock, log_path=box.log, env=env, timeout=60)
        assert box.review_sock.exists(), "the daemon should listen on the reviewer socket too"
    return box


def close_box(box: Box) -> None:
    from forge_tui.daemon.spawn import stop_daemon

    if box.daemon is not None:
        stop_daemon(box.daemon)
    shutil.rmtree(box.base, ignore_errors=True)
