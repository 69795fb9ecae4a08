"""Fixtures for the MCP server, proxy, SDK and framework-example tests.

They drive a real daemon: the fixtures of tests/integration/daemon/conftest.py (an isolated data
folder, a project with a per-test policy and reviewer keys, an in-process daemon on a short socket
path) are loaded from that file and re-exported here, with its helpers (gatehelp) on sys.path.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest
from integ_kit import POLICY, START_S, HttpServer, child_env, forge_cmd

HERE = Path(__file__).resolve().parent
DAEMON_TESTS = HERE.parent / "integration" / "daemon"
if str(DAEMON_TESTS) not in sys.path:
    sys.path.insert(0, str(DAEMON_TESTS))


def _load_daemon_fixtures() -> Any:
    spec = importlib.util.spec_from_file_location("forge_daemon_fixtures", DAEMON_TESTS / "conftest.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_fx = _load_daemon_fixtures()
forge_home = _fx.forge_home
make_world = _fx.make_world
start_daemon = _fx.start_daemon
connect = _fx.connect
thread_daemon = _fx.thread_daemon


@pytest.fixture
def gate_world(make_world):
    """A project with POLICY; `world.sock` is where the daemon will listen (the agent socket)."""
    return make_world(POLICY)


@pytest.fixture
async def http_server(gate_world):
    proc = await asyncio.create_subprocess_exec(
        *forge_cmd(gate_world, "mcp", "--http", "127.0.0.1:0", "--wait", "1"),
        env=child_env(gate_world),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(START_S):
            first = (await proc.stdout.readline()).decode()
            second = (await proc.stdout.readline()).decode()
        if not second:
            raise AssertionError(f"forge-tui mcp --http did not start: {(await proc.stderr.read()).decode()}")
        url = first.split(" at ", 1)[1].split()[0]
        token = second.rsplit(": ", 1)[1].strip()
        token_file = second.split("(kept in ", 1)[1].split(", mode")[0]
        yield HttpServer(proc, url, token, token_file)
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
