"""Fixtures for the host hook tests (helpers in hostkit.py)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hostkit import Hooked, make_project


@pytest.fixture
def hooked(tmp_path, monkeypatch) -> Hooked:
    """A solo-pack project with its daemon running; the daemon is stopped at teardown."""
    h = make_project(tmp_path)
    monkeypatch.chdir(h.root)
    h.start()
    yield h
    h.stop()


@pytest.fixture
def unstarted(tmp_path, monkeypatch) -> Hooked:
    """A solo-pack project whose daemon is not running (call .start() to run one)."""
    h = make_project(tmp_path)
    monkeypatch.chdir(h.root)
    yield h
    h.stop()


@pytest.fixture
def markers():
    """Two marker paths directly under /tmp (the solo pack lets `echo` redirect to /tmp/*): a denied
    command would write the first, an allowed one writes the second."""
    fd, stem = tempfile.mkstemp(prefix="fe2e-", dir="/tmp")
    os.close(fd)
    paths = (Path(stem + "-denied"), Path(stem + "-allowed"))
    yield paths
    for p in (Path(stem), *paths):
        p.unlink(missing_ok=True)
