"""The suite-wide isolation of tests/conftest.py: no test reaches the real home, keys or sockets."""

from __future__ import annotations

import os
import stat
import uuid
from pathlib import Path

import pytest

from forge_tui.paths import SOCKET_PATH_MAX, data_root, runtime_dir, socket_path


def test_home_and_xdg_point_into_the_test_folder(isolated_env):
    for var in ("HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        assert Path(os.environ[var]).is_relative_to(isolated_env), var
    assert Path(os.path.expanduser("~")) == Path(os.environ["HOME"])


def test_forge_variables_are_unset():
    for var in ("FORGE_DATA_DIR", "FORGE_RUNTIME_DIR", "FORGE_SOCKET", "FORGE_PASSPHRASE", "FORGE_DEBUG"):
        assert var not in os.environ


def test_private_data_lands_in_the_test_folder(isolated_env):
    assert data_root().is_relative_to(isolated_env)


def test_runtime_dir_is_short_private_and_used():
    xdg = Path(os.environ["XDG_RUNTIME_DIR"])
    assert stat.S_IMODE(xdg.stat().st_mode) == 0o700
    assert runtime_dir() == xdg / "forge-tui"  # accepted as ours and private, no /tmp fallback
    path = socket_path(str(uuid.uuid4()))
    assert len(os.fsencode(str(path))) <= SOCKET_PATH_MAX


@pytest.mark.parametrize("round_", [1, 2])
def test_each_test_gets_fresh_folders(round_, isolated_env):
    marker = Path(os.environ["XDG_DATA_HOME"]) / "marker"
    assert not marker.exists()
    marker.write_text(str(round_))


def test_undoing_the_test_monkeypatch_keeps_the_isolation(monkeypatch, isolated_env):
    monkeypatch.setenv("HOME", "/nonexistent")
    monkeypatch.undo()
    assert Path(os.environ["HOME"]).is_relative_to(isolated_env)
