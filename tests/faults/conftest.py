"""Fixtures of the fault-injection suite: the daemon fixtures of tests/integration/daemon (a project with
a policy, an in-process daemon, JSON-RPC connections), and `faults`, a switch for the writer's os-call
seam (forge_tui/core/oscalls.py) that raises EIO or ENOSPC at one system call of the write path."""

from __future__ import annotations

import errno
import importlib.util
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from forge_tui.core import oscalls

_DAEMON_TESTS = Path(__file__).resolve().parents[1] / "integration" / "daemon"
if str(_DAEMON_TESTS) not in sys.path:
    sys.path.insert(0, str(_DAEMON_TESTS))  # gatehelp, as the daemon tests import it


def _load_daemon_fixtures():
    spec = importlib.util.spec_from_file_location("daemon_fixtures", _DAEMON_TESTS / "conftest.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_fx = _load_daemon_fixtures()
forge_home = _fx.forge_home
make_world = _fx.make_world
start_daemon = _fx.start_daemon
connect = _fx.connect
thread_daemon = _fx.thread_daemon


@dataclass
class Faults:
    """Which (call, site) pairs fail, and with which errno; `hits` counts the injected failures."""

    rules: dict[tuple[str, str], int] = field(default_factory=dict)
    hits: dict[tuple[str, str], int] = field(default_factory=dict)

    def arm(self, call: str, site: str, err: int = errno.EIO) -> None:
        assert call in oscalls.CALLS and site in oscalls.SITES, (call, site)
        self.rules[(call, site)] = err

    def clear(self) -> None:
        self.rules.clear()

    def before(self, call: str, site: str) -> None:
        err = self.rules.get((call, site))
        if err is not None:
            self.hits[(call, site)] = self.hits.get((call, site), 0) + 1
            raise OSError(err, os.strerror(err))


@pytest.fixture
def faults(monkeypatch) -> Faults:
    """Faults injected into every writer of this test (the seam's shared default object)."""
    f = Faults()
    monkeypatch.setattr(oscalls.DEFAULT, "before", f.before)
    return f
