"""The console's daemon link against a misbehaving peer (a few lines of asyncio server): what the real
daemon never does, the link must still survive — garbage, silence, and the wrong protocol."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import tempfile
from pathlib import Path

import pytest

from forge_tui.tui.link import DaemonLink, DaemonUnavailable, LinkState, QueueSnapshot


@pytest.fixture
def sock_path():
    home = Path(tempfile.mkdtemp(prefix="fcl-", dir="/tmp"))
    yield home / "s.sock"
    shutil.rmtree(home, ignore_errors=True)


async def serve(path: Path, behave):
    """A server whose connections run `behave(reader, writer, n)` (n counts connections from 1)."""
    count = 0

    async def on_conn(reader, writer):
        nonlocal count
        count += 1
        with contextlib.suppress(ConnectionError):
            await behave(reader, writer, count)
        writer.close()

    return await asyncio.start_unix_server(on_conn, path=str(path))


async def answer(reader, writer, results: dict, *, protocol: int = 1) -> None:
    """Answer the link's opening calls (hello, subscribe, list, status)."""
    for _ in range(4):
        line = await reader.readline()
        if not line:  # the link hung up (it refused what it heard)
            return
        msg = json.loads(line)
        result = {
            "hello": {"protocol": protocol, "project_id": "p", "ledger": {}},
            "queue.subscribe": {},
        }.get(msg["method"], results.get(msg["method"], {}))
        writer.write(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": result}).encode() + b"\n")
        await writer.drain()


async def until(cond, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)  # polling a condition with a deadline


async def test_garbage_from_the_daemon_drops_the_connection_and_reconnects(sock_path):
    """Broken if a malformed line crashes the link or leaves it for dead instead of reconnecting."""

    async def behave(reader, writer, n):
        await answer(reader, writer, {"queue.list": {"pending": [{"request_id": f"r-{n}"}]}})
        writer.write(
            b"{not json\n"
            if n == 1
            else b'{"jsonrpc":"2.0","method":"event","params":{"type":"violation"}}\n'
        )
        await writer.drain()
        await reader.read()  # until the link goes

    server = await serve(sock_path, behave)
    posted: list = []
    link = DaemonLink(sock_path, posted.append, min_backoff=0.01)
    task = asyncio.create_task(link.run())
    try:
        await until(lambda: len([m for m in posted if isinstance(m, QueueSnapshot)]) == 2)
        await until(lambda: any(getattr(m, "event", None) == {"type": "violation"} for m in posted))
        snaps = [m.pending[0]["request_id"] for m in posted if isinstance(m, QueueSnapshot)]
        assert snaps == ["r-1", "r-2"]
        drops = [m for m in posted if isinstance(m, LinkState) and m.state == "disconnected"]
        assert drops and "connection failed" in drops[0].detail
        assert link.state == "connected"
    finally:
        await link.close()
        await asyncio.wait_for(task, 5)
        server.close()


async def test_a_silent_daemon_times_calls_out(sock_path):
    """Broken if a daemon that accepts but never answers hangs the console."""

    async def behave(reader, writer, n):
        await reader.read()

    server = await serve(sock_path, behave)
    posted: list = []
    link = DaemonLink(sock_path, posted.append, call_timeout=0.2, min_backoff=0.01)
    task = asyncio.create_task(link.run())
    try:
        await until(
            lambda: any(isinstance(m, LinkState) and "did not answer hello" in m.detail for m in posted)
        )
        with pytest.raises(DaemonUnavailable):
            await link.call("status")
    finally:
        await link.close()
        await asyncio.wait_for(task, 5)
        server.close()


async def test_another_protocol_version_is_refused(sock_path):
    """Broken if the console talks to a daemon whose protocol it does not know."""

    async def behave(reader, writer, n):
        await answer(reader, writer, {}, protocol=2)
        await reader.read()

    server = await serve(sock_path, behave)
    posted: list = []
    link = DaemonLink(sock_path, posted.append, min_backoff=0.01)
    task = asyncio.create_task(link.run())
    try:
        await until(lambda: any(isinstance(m, LinkState) and "protocol 2" in m.detail for m in posted))
        assert not any(isinstance(m, QueueSnapshot) for m in posted)
    finally:
        await link.close()
        await asyncio.wait_for(task, 5)
        server.close()
