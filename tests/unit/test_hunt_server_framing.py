"""Differential tests of the daemon connection's line framing (forge_tui/daemon/server.py
`Connection.serve`, with its one-whole-line fast path) against the framing it replaced (copied below
from the revision before the fast path), driven through a scripted reader: the same chunks must give
the same replies, byte for byte and in the same order, and the same back-pressure.

Each case fails if the fast path drops, merges, splits or reorders a line, answers a blank line,
refuses a line of exactly MAX_LINE bytes, lets an overlong line through, reads past the in-flight
limit, or dispatches the partial line of a client that closed mid-line."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from dataclasses import dataclass, field
from typing import Any

import pytest

from forge_tui.daemon import server
from forge_tui.daemon.server import (
    INVALID_REQUEST,
    MAX_INFLIGHT_PER_CONN,
    MAX_LINE,
    READ_CHUNK,
    REVIEWER,
    TOO_LARGE,
    UNAUTHORIZED,
    Connection,
    _error,
)


async def _old_serve(self: Connection) -> None:
    """`Connection.serve` at 771c328 (before the one-whole-line fast path), verbatim."""
    self._serve_task = asyncio.current_task()
    if not self.daemon.admitted(self):
        await self.send(_error(None, UNAUTHORIZED, "connections from another user are refused"))
        await self._linger()
        self.close()
        return
    buf = bytearray()
    discarding = False
    try:
        while not self.closed:
            chunk = await self._read_chunk(partial=bool(buf) or discarding)
            if chunk is None:
                what = "a partial line" if buf or discarding else "an idle connection"
                await self.send(_error(None, INVALID_REQUEST, f"closing {what} after its timeout"))
                break
            if not chunk:
                break
            buf += chunk
            while True:
                nl = buf.find(b"\n")
                if nl < 0:
                    if len(buf) > MAX_LINE:
                        if not discarding:
                            await self.send(_error(None, TOO_LARGE, "message over 1 MiB"))
                        discarding = True
                        buf.clear()
                    break
                line = bytes(buf[:nl])
                del buf[: nl + 1]
                if discarding:  # the end of an overlong line
                    discarding = False
                    continue
                if len(line) > MAX_LINE:
                    await self.send(_error(None, TOO_LARGE, "message over 1 MiB"))
                    continue
                if line.strip():
                    while len(self.tasks) >= MAX_INFLIGHT_PER_CONN and not self.closed:
                        await asyncio.wait(set(self.tasks), return_when=asyncio.FIRST_COMPLETED)
                    if self.closed:
                        break
                    self._dispatch(line)
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        self.closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        for t in list(self.tasks):
            t.cancel()
        self.daemon.subscribers.discard(self)
        with contextlib.suppress(Exception):
            self.writer.close()


class _OldConnection(Connection):
    serve = _old_serve  # type: ignore[assignment]


class _Transport:
    def get_write_buffer_size(self) -> int:
        return 0


@dataclass
class _Writer:
    out: bytearray = field(default_factory=bytearray)
    transport: _Transport = field(default_factory=_Transport)
    closed: bool = False

    def write(self, data: bytes) -> None:
        self.out += data

    async def drain(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True

    def can_write_eof(self) -> bool:
        return False

    def get_extra_info(self, name: str) -> Any:
        return None


class _Reader:
    """Gives the scripted chunks, each cut to the `n` asked for (as StreamReader.read does), then EOF
    (b"") or, with `hold`, waits for `more` to be set before EOF."""

    def __init__(self, chunks: list[bytes], hold: bool = False) -> None:
        self.chunks = [c for c in chunks if c]
        self.reads = 0  # chunks handed out
        self.hold = hold
        self.more = asyncio.Event()

    async def read(self, n: int) -> bytes:
        await asyncio.sleep(0)  # let dispatched tasks run, as a real read would
        if not self.chunks:
            if self.hold:
                await self.more.wait()
            return b""
        c = self.chunks[0]
        if len(c) > n:
            self.chunks[0] = c[n:]
            c = c[:n]
        else:
            self.chunks.pop(0)
        self.reads += 1
        return c


class _Daemon:
    partial_timeout_s = 3600.0
    idle_timeout_s = 3600.0

    def __init__(self) -> None:
        self.subscribers: set = set()
        self.gates: dict[int, asyncio.Event] = {}
        self.methods = {"echo": self._echo, "block": self._block}

    def admitted(self, conn: Connection) -> bool:
        return True

    def log(self, text: str) -> None:
        pass

    async def _echo(self, conn: Connection, params: dict) -> Any:
        return params

    async def _block(self, conn: Connection, params: dict) -> Any:
        ev = self.gates.setdefault(params["n"], asyncio.Event())
        await ev.wait()
        return params


async def _run(cls: type[Connection], chunks: list[bytes]) -> bytes:
    d = _Daemon()
    w = _Writer()
    conn = cls(d, _Reader(chunks), w, REVIEWER)  # type: ignore[arg-type]
    await asyncio.wait_for(conn.serve(), 30)
    return bytes(w.out)


def _req(i: int, pad: int = 0) -> bytes:
    msg = {"jsonrpc": "2.0", "id": i, "method": "echo", "params": {"i": i, "pad": "p" * pad}}
    return json.dumps(msg, separators=(",", ":")).encode()


def _exact(i: int, size: int) -> bytes:
    """A request line of exactly `size` bytes (without its LF)."""
    base = len(_req(i, 0))
    line = _req(i, size - base)
    assert len(line) == size
    return line


def _cuts(stream: bytes, rng: random.Random) -> list[bytes]:
    out, pos = [], 0
    while pos < len(stream):
        step = rng.choice((1, 2, 3, 7, 40, 300, 4096, READ_CHUNK, READ_CHUNK + 5))
        out.append(stream[pos : pos + step])
        pos += step
    return out


SMALL = [
    _req(1),
    b"",
    b"   ",
    b"\t",
    b"{not json",
    b"[]",
    b'"\xff"',
    b"\xef\xbb\xbf" + _req(2),
    _req(3) + b"\r",
    b'{"jsonrpc":"2.0","id":4,"method":"nope"}',
    _req(5),
]


def _streams() -> dict[str, bytes]:
    small = b"".join(x + b"\n" for x in SMALL)
    big = b"".join(
        x + b"\n"
        for x in (
            _req(10),
            _exact(11, MAX_LINE),  # the longest line allowed
            _exact(12, MAX_LINE + 1),  # one byte over, ended by a LF
            _req(13),
            b"y" * (3 * READ_CHUNK) + b"{",  # junk of several chunks, then a LF
            _req(14),
        )
    )
    return {
        "small": small,
        "big": big,
        "partial_tail": small + _req(99)[:17],  # a closed connection's partial line
        "overlong_unended": _req(20) + b"\n" + b"z" * (MAX_LINE + READ_CHUNK + 3),
        "overlong_then_line": b"z" * (MAX_LINE + 2) + b"\n" + _req(21) + b"\n",
    }


@pytest.mark.parametrize("name", sorted(_streams()))
@pytest.mark.parametrize("how", ["one_chunk", "by_line", "seed0", "seed1", "seed2"])
async def test_the_framing_answers_as_the_old_framing(name: str, how: str) -> None:
    stream = _streams()[name]
    if how == "one_chunk":
        chunks = [stream]
    elif how == "by_line":
        parts = stream.split(b"\n")
        chunks = [p + b"\n" for p in parts[:-1]] + [parts[-1]]
    else:
        chunks = _cuts(stream, random.Random(f"{name}{how}"))
    want = await _run(_OldConnection, list(chunks))
    got = await _run(Connection, list(chunks))
    assert got == want
    assert want, "the case produced no reply at all: it would not see a difference"


async def test_each_line_then_the_start_of_the_next_in_one_chunk() -> None:
    """A chunk holding a whole line and the start of the next (not the fast path's one line)."""
    lines = [_req(i) + b"\n" for i in range(1, 8)]
    stream = b"".join(lines)
    chunks, pos = [], 0
    for ln in lines:
        end = pos + len(ln) + 5
        chunks.append(stream[pos:end])
        pos = end
    chunks.append(stream[pos:])
    got = await _run(Connection, chunks)
    assert got == await _run(_OldConnection, chunks)
    ids = [json.loads(x)["id"] for x in got.splitlines()]
    assert ids == list(range(1, 8))


async def _back_pressure(cls: type[Connection], per_line: bool) -> tuple[int, int, int, bytes]:
    """Send MAX_INFLIGHT_PER_CONN + 4 requests that each wait for their own event; return (chunks read
    when the connection stopped reading, tasks in flight then, chunks read after one request finished,
    the replies at the end)."""
    total = MAX_INFLIGHT_PER_CONN + 4
    lines = [
        json.dumps({"jsonrpc": "2.0", "id": n, "method": "block", "params": {"n": n}}).encode() + b"\n"
        for n in range(total)
    ]
    chunks = lines if per_line else [b"".join(lines)]
    d = _Daemon()
    w = _Writer()
    r = _Reader(chunks, hold=True)
    conn = cls(d, r, w, REVIEWER)  # type: ignore[arg-type]
    serving = asyncio.ensure_future(conn.serve())

    async def settle(cond) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while not cond():
            assert loop.time() < deadline, "the connection never reached the expected state"
            await asyncio.sleep(0)
        for _ in range(50):  # and it stays there: nothing else is runnable that would change it
            await asyncio.sleep(0)

    await settle(lambda: len(conn.tasks) >= MAX_INFLIGHT_PER_CONN)
    stopped_at, inflight = r.reads, len(conn.tasks)
    for n in range(MAX_INFLIGHT_PER_CONN):
        d.gates.setdefault(n, asyncio.Event())
    d.gates[0].set()
    await settle(lambda: b'"id":0' in w.out and len(conn.tasks) >= MAX_INFLIGHT_PER_CONN)
    after_one = r.reads
    for n in range(total):
        d.gates.setdefault(n, asyncio.Event()).set()
    await settle(lambda: w.out.count(b"\n") >= total)
    r.more.set()
    await asyncio.wait_for(serving, 20)
    return stopped_at, inflight, after_one, bytes(w.out)


@pytest.mark.parametrize("per_line", [True, False], ids=["one_line_per_chunk", "all_in_one_chunk"])
async def test_back_pressure_is_the_old_back_pressure(per_line: bool) -> None:
    """A peer that sends without reading holds at most MAX_INFLIGHT_PER_CONN requests, on the fast
    path as on the general one: the connection stops reading at the limit and reads again (one more
    request) only when one finishes."""
    new = await _back_pressure(Connection, per_line)
    old = await _back_pressure(_OldConnection, per_line)
    assert new[1] == MAX_INFLIGHT_PER_CONN
    assert new[:3] == old[:3]
    assert sorted(new[3].splitlines()) == sorted(old[3].splitlines())
    if per_line:
        # stopped with the (limit + 1)-th line read and waiting; one finished: one more line read
        assert new[0] == MAX_INFLIGHT_PER_CONN + 1 and new[2] == new[0] + 1


def test_the_copied_reference_is_what_it_replaced() -> None:
    """The fast path is still there (else these tests compare the old framing with itself)."""
    import inspect

    assert 'chunk.find(b"\\n") == len(chunk) - 1' in inspect.getsource(server.Connection.serve)
