"""The agent connection's framing, whichever way the lines arrive in chunks: one whole line per chunk
(the daemon takes it without copying it through its buffer), several lines in one chunk, a line split
across chunks, blank lines and an overlong line. Every request is answered exactly once, in the order
sent, and the overlong line gets error TOO_LARGE without disturbing the lines around it."""

from __future__ import annotations

import asyncio
import json

from forge_tui.protocol import MAX_LINE, TOO_LARGE

POLICY = """\
version = 1
default = "deny"

[[rule]]
id = "tests"
match = { kind = "shell.exec", command = ["pytest*"] }
decision = "allow"
"""


def _line(i: int) -> bytes:
    msg = {
        "jsonrpc": "2.0",
        "id": i,
        "method": "gate.request",
        "params": {
            "action": {"kind": "shell.exec", "command": f"pytest -q tests/test_{i}.py"},
            "actor": {"id": "framing", "kind": "agent", "session": "s"},
        },
    }
    return json.dumps(msg).encode() + b"\n"


async def _replies(reader: asyncio.StreamReader, n: int) -> list[dict]:
    return [json.loads(await asyncio.wait_for(reader.readline(), 30)) for _ in range(n)]


async def _send(writer: asyncio.StreamWriter, chunk: bytes) -> None:
    writer.write(chunk)
    await writer.drain()


async def test_every_way_of_chunking_lines_gets_each_answer_once(make_world, start_daemon):
    w = make_world(POLICY)
    await start_daemon(w)
    reader, writer = await asyncio.open_unix_connection(str(w.sock), limit=1 << 22)
    try:
        # One whole line per chunk, waiting for each answer (the fast path).
        for i in (1, 2):
            await _send(writer, _line(i))
            (r,) = await _replies(reader, 1)
            assert r["id"] == i and r["result"]["status"] == "allowed", r
        # Several lines in one chunk, with blank and whitespace-only lines between them (ignored).
        await _send(writer, _line(3) + b"\n  \n" + _line(4) + _line(5))
        got = await _replies(reader, 3)
        assert sorted(r["id"] for r in got) == [3, 4, 5]
        # A line split across chunks, the last chunk ending in a line and the start of the next.
        six, seven = _line(6), _line(7)
        await _send(writer, six[:10])
        await _send(writer, six[10:-1])
        await _send(writer, six[-1:] + seven[:20])
        await _send(writer, seven[20:])
        got = await _replies(reader, 2)
        assert sorted(r["id"] for r in got) == [6, 7]
        # An overlong line, then a whole line in one chunk: the first refused, the second answered.
        await _send(writer, b"x" * (MAX_LINE + 10) + b"\n")
        (r,) = await _replies(reader, 1)
        assert r["error"]["code"] == TOO_LARGE, r
        await _send(writer, _line(8))
        (r,) = await _replies(reader, 1)
        assert r["id"] == 8 and r["result"]["status"] == "allowed", r
        # A line that is not JSON, alone in its chunk: a parse error, and the connection goes on.
        await _send(writer, b"{not json\n")
        (r,) = await _replies(reader, 1)
        assert r["id"] is None and "error" in r, r
        await _send(writer, _line(9))
        (r,) = await _replies(reader, 1)
        assert r["id"] == 9 and r["result"]["status"] == "allowed", r
    finally:
        writer.close()
