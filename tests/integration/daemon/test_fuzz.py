"""Hostile and broken clients against a running daemon (docs/design.md §9: "a bad message gets an error and never
disturbs other clients"): random bytes, lines over 1 MiB, invalid UTF-8, deeply nested JSON, lone
surrogates, half-open connections, connections closed at once or mid-line, and a peer that floods
requests without ever reading its replies. Meanwhile a well-behaved agent keeps asking and must get every
decision right; afterwards a new client is answered promptly and the ledger verifies.

Randomness is seeded (FORGE_FUZZ_SEED overrides; the seed is in every failure message). Nothing waits
by sleeping: each hostile connection ends with a `hello` sentinel whose answer proves the daemon read
everything before it.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket

from gatehelp import SMALL_POLICY as POLICY
from gatehelp import verify_clean

from forge_tui.daemon.server import MAX_INFLIGHT_PER_CONN
from forge_tui.protocol import MAX_LINE

SEED = int(os.environ.get("FORGE_FUZZ_SEED", "20261125"))


KNOWN_CODES = {-32700, -32600, -32601, -32602, -32603, 4013, 5001}


def _msg(rid, method: str, params=None) -> bytes:
    return (
        json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params or {}}).encode() + b"\n"
    )


def _gate(rid, command: str, session: str = "fuzz") -> bytes:
    return _msg(
        rid,
        "gate.request",
        {"action": {"kind": "shell.exec", "command": command}, "actor": {"id": "agent", "session": session}},
    )


async def _open(path: str):
    """A connection made by a blocking connect (in a thread): while the daemon is busy its accept backlog
    may be full, and asyncio's non-blocking connect then hands back a socket that is not connected."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    try:
        await asyncio.to_thread(s.connect, path)
    except BaseException:
        s.close()
        raise
    s.setblocking(False)
    return await asyncio.open_unix_connection(sock=s, limit=8 << 20)


async def _until_sentinel(
    reader: asyncio.StreamReader, sentinel: str, where: str, expect_ids: frozenset = frozenset()
) -> list[dict]:
    """Every reply up to the sentinel hello's answer and the answers to `expect_ids` (requests run
    concurrently, so their replies may come in any order); each must be one well-formed JSON-RPC response."""
    got: list[dict] = []
    seen_sentinel = False
    while not seen_sentinel or not expect_ids <= {m.get("id") for m in got}:
        line = await asyncio.wait_for(reader.readline(), 20)
        assert line.endswith(b"\n"), f"{where}: connection ended before the sentinel (seed {SEED})"
        msg = json.loads(line)  # every line the daemon sends is JSON
        assert msg.get("jsonrpc") == "2.0" and ("result" in msg) != ("error" in msg), f"{where}: {msg}"
        if msg.get("id") == sentinel:
            assert msg["result"]["protocol"] == 1, msg
            seen_sentinel = True
            continue
        if "error" in msg:
            assert msg["error"]["code"] in KNOWN_CODES, f"{where}: unexpected error {msg} (seed {SEED})"
            assert isinstance(msg["error"]["message"], str)
        got.append(msg)
    return got


async def _exchange(path: str, payload: bytes, where: str, expect_ids=()) -> list[dict]:
    reader, writer = await _open(path)
    try:
        sentinel = f"sentinel-{where}"
        writer.write(payload + b"\n" + _msg(sentinel, "hello"))
        await writer.drain()
        return await _until_sentinel(reader, sentinel, where, frozenset(expect_ids))
    finally:
        writer.close()


def _errors(replies: list[dict]) -> list[int]:
    return [r["error"]["code"] for r in replies if "error" in r]


async def fuzz_random_bytes(path: str, rng: random.Random) -> None:
    for i in range(12):
        blob = bytearray(rng.randbytes(rng.randrange(1, 40_000)))
        for _ in range(rng.randrange(0, 6)):  # a few line breaks inside
            blob[rng.randrange(len(blob))] = 0x0A
        replies = await _exchange(path, bytes(blob), f"random-{i}")
        assert all("error" in r for r in replies), f"random bytes were accepted as a request: {replies}"


async def fuzz_long_lines(path: str, rng: random.Random) -> None:
    tail = b"a" * (MAX_LINE + rng.randrange(1, 300_000))
    cases = [
        tail,  # one long line of junk
        b'{"jsonrpc":"2.0","id":5,"method":"hello","params":{"x":"' + tail + b'"}}',  # valid JSON, too long
        _gate(6, "pytest " + "x" * MAX_LINE).rstrip(b"\n"),  # a real request, too long
    ]
    for i, line in enumerate(cases):
        replies = await _exchange(path, line, f"long-{i}")
        assert _errors(replies) == [4013], f"a line over 1 MiB must get exactly one 4013: {replies}"
        assert replies[0]["id"] is None
    # Two long lines back to back, then a normal request on the same connection: one error each.
    replies = await _exchange(
        path, tail + b"\n" + tail + b"\n" + _msg(8, "status").rstrip(b"\n"), "long-2x", [8]
    )
    assert _errors(replies) == [4013, 4013], replies
    assert [r["id"] for r in replies if "result" in r] == [8], "the request after long lines was lost"


async def fuzz_invalid_utf8(path: str, rng: random.Random) -> None:
    bad = [b"\xff\xfe", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\xf8\x88\x80\x80\x80", b"\x80"]
    lines = []
    for i in range(30):
        junk = rng.choice(bad)
        lines.append(b'{"jsonrpc":"2.0","id":%d,"method":"hello","params":{"x":"%s"}}' % (i, junk))
    replies = await _exchange(path, b"\n".join(lines), "utf8")
    assert _errors(replies) == [-32700] * 30, f"each invalid UTF-8 line needs a parse error: {replies}"
    assert all(r["id"] is None for r in replies)
    # Valid JSON carrying a lone surrogate (\ud800): decided by nobody, denied with an error, no crash.
    lone = _gate(40, "pytest \\ud800").replace(b"\\\\ud800", b"\\ud800")
    replies = await _exchange(path, lone.rstrip(b"\n"), "surrogate", [40])
    assert len(replies) == 1 and replies[0]["id"] == 40, replies
    assert "error" in replies[0] or replies[0]["result"]["status"] != "allowed", (
        f"a request that cannot be recorded was allowed: {replies}"
    )


async def fuzz_deep_nesting(path: str, rng: random.Random) -> None:
    depth = rng.randrange(100_000, 250_000)  # every line stays under 1 MiB
    lines = [
        b"[" * depth + b"]" * depth,
        b'{"a":' * (depth // 3) + b"1" + b"}" * (depth // 3),
        b'{"jsonrpc":"2.0","id":1,"method":"hello","params":' + b"[" * depth + b"]" * depth + b"}",
    ]
    replies = await _exchange(path, b"\n".join(lines), "deep")
    assert _errors(replies) == [-32700] * 3, f"deep nesting must be a parse error: {replies}"
    # Nesting the parser accepts, in every parameter slot: one well-formed reply per id.
    mid = 500
    nested = json.loads("[" * mid + "]" * mid)
    out = []
    for i, params in enumerate(
        [
            {"action": nested, "actor": {"id": "a"}},
            {"action": {"kind": "shell.exec", "command": "pytest"}, "actor": nested},
            {
                "action": {"kind": "shell.exec", "command": "pytest"},
                "actor": {"id": "a"},
                "requirement": nested,
            },
            {"action": {"kind": "shell.exec", "command": "pytest"}, "actor": {"id": "a"}, "content": nested},
            {"action": {"kind": "shell.exec", "command": "pytest", "paths": nested}, "actor": {"id": "a"}},
            {"action": {"kind": "shell.exec", "command": "pytest"}, "actor": {"id": "a"}, "wait_s": nested},
        ]
    ):
        out.append(_msg(100 + i, "gate.request", params))
    out += [_msg(200, "ledger.note", {"text": nested}), _msg(201, "gate.wait", {"request_id": nested})]
    out += [_msg(202, "queue.decide", {"approval": nested}), _msg(203, "gate.outcome", {"status": nested})]
    queries = [
        {k: nested} for k in ("actor", "path", "since", "until", "status", "rule", "request_id", "type")
    ]
    out += [_msg(300 + i, "ledger.query", q) for i, q in enumerate(queries)]
    out += [_msg(nested, "hello"), _msg(204, nested)]
    want = [100, 101, 102, 103, 104, 105, 200, 201, 202, 203, 204, *range(300, 300 + len(queries))]
    replies = await _exchange(path, b"".join(out).rstrip(b"\n"), "nested-params", want)
    ids = sorted(r["id"] for r in replies if r["id"] is not None and "error" in r)
    assert ids == want, f"one error reply per request: {replies}"
    assert all(r["error"]["code"] in (-32602, -32600) for r in replies if "error" in r), replies
    # (a hello whose id is not a string or number is answered with id null, as the protocol test expects)
    accepted = [r for r in replies if "result" in r and "protocol" not in r["result"]]
    assert accepted == [], f"nested garbage was accepted: {replies}"


async def half_open(path: str, rng: random.Random, n: int) -> list[asyncio.StreamWriter]:
    """Connections that send half a line and stay silent (kept open), and ones that close at once or
    mid-line."""
    silent = []
    for i in range(n):
        reader, writer = await _open(path)
        kind = i % 3
        if kind == 0:
            writer.write(_gate(i, "pytest")[: rng.randrange(1, 40)])
            silent.append(writer)
        elif kind == 1:
            writer.close()
        else:
            writer.write(_gate(i, "pytest")[: rng.randrange(1, 40)])
            writer.close()
    return silent


async def flood_without_reading(path: str, n: int) -> asyncio.StreamWriter:
    """A peer that pipelines requests and never reads a reply (its writes are buffered client-side)."""
    _, writer = await _open(path)
    writer.write(b"".join(_msg(i, "status") for i in range(n)))
    return writer


class Bystander:
    """A well-behaved agent asking over and over while the fuzzers run; every answer must be right."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.done = asyncio.Event()
        self.asked = 0
        self.decisions: dict[str, tuple[str, int]] = {}

    async def run(self) -> None:
        reader, writer = await _open(self.path)
        try:
            i = 0
            while not self.done.is_set() or i < 20:
                i += 1
                deny = i % 3 == 0
                writer.write(_gate(i, "rm -rf build" if deny else f"pytest -k t{i}", session=f"b{i % 7}"))
                msg = json.loads(await asyncio.wait_for(reader.readline(), 20))
                assert msg.get("id") == i and "result" in msg, f"bystander disturbed: {msg} (seed {SEED})"
                res = msg["result"]
                want = ("denied", "no-rm") if deny else ("allowed", "tests")
                assert (res["status"], res["rule"]) == want, f"bystander got a wrong decision: {res}"
                self.decisions[res["request_id"]] = (res["status"], res["seq"])
                self.asked = i
        finally:
            writer.close()


async def test_fuzzed_daemon_keeps_serving_and_never_disturbs_others(make_world, thread_daemon):
    rng = random.Random(SEED)
    w = make_world(POLICY)
    # Every fuzzer here is this one test process: lift the per-peer connection cap, which
    # tests/integration/containment tests on its own.
    d = thread_daemon(w, max_conn_per_peer=100_000)
    path = str(w.rsock)  # the reviewer socket answers every method
    daemon_loop = d.appender.loop

    async def in_daemon(fn):
        """Run fn() on the daemon's own loop (its state is not thread-safe)."""

        async def call():
            return fn()

        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(call(), daemon_loop))

    by = Bystander(path)
    by_task = asyncio.create_task(by.run())
    flood = await flood_without_reading(path, 20_000)
    silent = await half_open(path, rng, 150)
    await asyncio.gather(
        fuzz_random_bytes(path, random.Random(rng.random())),
        fuzz_long_lines(path, random.Random(rng.random())),
        fuzz_invalid_utf8(path, random.Random(rng.random())),
        fuzz_deep_nesting(path, random.Random(rng.random())),
    )
    by.done.set()
    await by_task
    assert by.asked >= 20

    # The flooding peer holds a bounded number of daemon tasks (back-pressure, not unbounded buffering).
    def flood_tasks() -> list[int]:
        return [len(c.tasks) for c in d.connections]

    assert max(await in_daemon(flood_tasks)) <= MAX_INFLIGHT_PER_CONN, "a non-reading peer piles up tasks"

    # With the silent half-lines and the flood still open, a new client is answered promptly.
    reader, writer = await _open(path)
    writer.write(_msg(1, "hello", {"client": "after-fuzz"}) + _gate(2, "pytest -q") + _gate(3, "rm -rf /"))
    got = {}
    for _ in range(3):
        msg = json.loads(await asyncio.wait_for(reader.readline(), 5))
        got[msg["id"]] = msg
    writer.close()
    assert got[1]["result"]["protocol"] == 1
    assert (got[2]["result"]["status"], got[2]["result"]["rule"]) == ("allowed", "tests"), got[2]
    assert (got[3]["result"]["status"], got[3]["result"]["rule"]) == ("denied", "no-rm"), got[3]

    for wr in [*silent, flood]:
        wr.close()
    # Every decision the bystander heard is in the ledger as it was told, and the ledger verifies.
    decisions = {r["body"]["request_id"]: r for r in w.records() if r["type"] == "decision"}
    for rid, (status, seq) in by.decisions.items():
        assert decisions[rid]["body"]["status"] == status and decisions[rid]["seq"] == seq, rid
    verify_clean(w)
