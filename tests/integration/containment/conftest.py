"""The containment tests reuse the daemon tests' fixtures (a project, an in-process daemon on an agent
and a reviewer socket, asyncio connections) and helpers (gatehelp)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_DAEMON = Path(__file__).resolve().parent.parent / "daemon"
if str(_DAEMON) not in sys.path:
    sys.path.insert(0, str(_DAEMON))

_spec = importlib.util.spec_from_file_location("daemon_fixtures", _DAEMON / "conftest.py")
assert _spec is not None and _spec.loader is not None
_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixtures)

forge_home = _fixtures.forge_home
make_world = _fixtures.make_world
start_daemon = _fixtures.start_daemon
connect = _fixtures.connect
thread_daemon = _fixtures.thread_daemon
