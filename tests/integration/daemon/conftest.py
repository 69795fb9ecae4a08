"""Fixtures for the gate daemon tests: an isolated data folder, a project with a per-test policy and
reviewer keys, an in-process daemon on a short socket path, and asyncio JSON-RPC connections.

tests/conftest.py (another engineer's) may add autouse isolation; these fixtures set what the daemon
needs themselves so they work with or without it. Helpers live in gatehelp.py.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from gatehelp import REVIEWERS, World, reviewer_key
from rpc_kit import RPC

from forge_tui.core.project import init_project
from forge_tui.core.reviewers import enrol_reviewers
from forge_tui.daemon.policy_offload import PolicyOffload
from forge_tui.daemon.server import Daemon


@pytest.fixture
def forge_home(monkeypatch):
    home = Path(tempfile.mkdtemp(prefix="fgd-", dir="/tmp"))
    for var, sub in (
        ("FORGE_DATA_DIR", "data"),
        ("FORGE_RUNTIME_DIR", "run"),
        ("XDG_DATA_HOME", "xdg/data"),
        ("XDG_CONFIG_HOME", "xdg/config"),
        ("XDG_STATE_HOME", "xdg/state"),
        ("XDG_CACHE_HOME", "xdg/cache"),
        ("XDG_RUNTIME_DIR", "xdg/run"),
    ):
        (home / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
        monkeypatch.setenv(var, str(home / sub))
    monkeypatch.delenv("FORGE_SOCKET", raising=False)
    monkeypatch.delenv("FORGE_REVIEW_SOCKET", raising=False)
    monkeypatch.delenv("FORGE_PASSPHRASE", raising=False)
    yield home
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def make_world(forge_home):
    def make(policy: str, reviewers: tuple[str, ...] = REVIEWERS) -> World:
        root = forge_home / "proj"
        root.mkdir()
        project = init_project(root, pack="solo", name="proj")
        w = World(forge_home, project, forge_home / "d.sock")
        w.write_policy(policy)
        w.keys = {name: reviewer_key(name) for name in reviewers}
        enrol_reviewers(project, w.keys)  # ledger records: the first self-signed, the rest by the first
        return w

    return make


@pytest.fixture
async def start_daemon():
    """start_daemon(world) -> a started in-process Daemon; stopped at teardown."""
    started: list[Daemon] = []

    async def start(world: World, **kw: Any) -> Daemon:
        d = Daemon(
            world.project,
            world.sock,
            review_socket_path=world.review_sock,
            policy_debounce_ms=kw.pop("policy_debounce_ms", 50),
            **kw,
        )
        await d.start()
        started.append(d)
        return d

    yield start
    for d in started:
        with contextlib.suppress(Exception):
            await d.stop()


@pytest.fixture
async def connect():
    conns: list[RPC] = []

    async def open_(path: Path) -> RPC:
        c = await RPC.open(path)
        conns.append(c)
        return c

    yield open_
    for c in conns:
        await c.close()


@pytest.fixture
def thread_daemon():
    """thread_daemon(world) -> a Daemon running on its own event loop in a thread (for sync tests such as
    hypothesis properties, which cannot be coroutines)."""
    import asyncio
    import threading

    running: list[tuple[Daemon, asyncio.AbstractEventLoop, threading.Thread]] = []

    def start(world: World, **kw: Any) -> Daemon:
        loop = asyncio.new_event_loop()
        t = threading.Thread(target=loop.run_forever, daemon=True)
        t.start()
        d = Daemon(
            world.project, world.sock, review_socket_path=world.review_sock, policy_debounce_ms=50, **kw
        )
        asyncio.run_coroutine_threadsafe(d.start(), loop).result(timeout=20)
        running.append((d, loop, t))
        return d

    yield start
    for d, loop, t in running:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(d.stop(), loop).result(timeout=20)
        loop.call_soon_threadsafe(loop.stop)
        t.join(timeout=10)
        loop.close()


@pytest.fixture
async def offload():
    """A PolicyOffload (its worker starts on first use), closed after the test."""
    o = PolicyOffload()
    yield o
    await o.close()
