"""The daemon's `ledger.query` scan (forge_tui/daemon/queries.py): the byte prefilter that skips parsing a
line finds exactly what parsing every line finds, and the worker process that reads the older blocks
runs below the daemon's CPU priority (decisions first on a busy machine)."""

from __future__ import annotations

import asyncio
import json
import os
import random

import pytest

from forge_tui.core.jcs import canonical
from forge_tui.core.query import Filters
from forge_tui.daemon.queries import QueryRunner, scan_block

TYPES = ("genesis", "note", "request", "decision", "approval")
# Request ids and texts that JSON spells with escapes, non-ASCII, or that hold another value's name.
IDS = ("req-1", "req-10", 'r"q', "r\\q", "rü", "r\x01", "genesis", "decision")


def _records(n: int, seed: int) -> list[dict]:
    rnd = random.Random(seed)
    out = []
    for seq in range(n):
        typ = "genesis" if seq == 0 else rnd.choice(TYPES[1:])
        body: dict = {"text": rnd.choice(IDS)}
        if typ in ("request", "decision"):
            body["request_id"] = rnd.choice(IDS)
        if typ == "approval":
            body["approval"] = {"request_id": rnd.choice(IDS)}
        out.append(
            {"seq": seq, "ts": f"2026-12-01T00:00:{seq % 60:02d}.000Z", "type": typ, "body": body, "v": 1}
        )
    return out


@pytest.mark.parametrize("block", [64, 4096, 1 << 20])  # 64: every line is longer than a block
def test_the_prefilter_finds_what_parsing_every_line_finds(tmp_path, block):
    recs = _records(400, seed=block)
    path = tmp_path / "l.jsonl"
    path.write_bytes(b"".join(canonical(r) + b"\n" for r in recs) + b'{"torn')
    filters = [Filters(types=frozenset({t})) for t in TYPES]
    filters += [Filters(request_id=i) for i in IDS]
    filters += [Filters(types=frozenset({"request", "approval"}), request_id=i) for i in IDS]
    filters += [Filters(types=frozenset({"note", "genesis"})), Filters()]
    for f in filters:
        want = [r for r in reversed(recs) if f.matches(r)]
        got, end = [], None
        while end != 0:
            b = scan_block(str(path), end, f, 10**6, block)
            assert end is None or b.end < end, "the scan made no progress (a line longer than the block)"
            got += b.records
            end = b.end
        assert got == want, f


async def test_the_query_worker_runs_below_the_daemons_priority(tmp_path):
    path = tmp_path / "l.jsonl"
    path.write_bytes(b"".join(canonical(r) + b"\n" for r in _records(300, seed=1)))
    runner = QueryRunner(lambda text: None)
    runner.first_block = runner.block = 1024
    try:
        got = await asyncio.wait_for(runner.newest(path, Filters(types=frozenset({"genesis"})), 5), 120)
        assert [r["seq"] for r in got] == [0]
        workers = runner.pids - {os.getpid()}
        assert workers, "no block was read by the worker process"
        ours = os.getpriority(os.PRIO_PROCESS, 0)
        (pid,) = workers
        assert os.getpriority(os.PRIO_PROCESS, pid) >= min(19, ours + 10)
    finally:
        runner.close()


def test_a_line_that_is_no_json_is_skipped(tmp_path):
    path = tmp_path / "l.jsonl"
    good = canonical({"seq": 0, "type": "genesis", "body": {}, "ts": "2026-12-01T00:00:00.000Z", "v": 1})
    path.write_bytes(good + b'\n{"type":"genesis" not json\n')
    b = scan_block(str(path), None, Filters(types=frozenset({"genesis"})), 5, 1 << 20)
    assert [json.dumps(r, sort_keys=True) for r in b.records] == [
        json.dumps(json.loads(good), sort_keys=True)
    ]
