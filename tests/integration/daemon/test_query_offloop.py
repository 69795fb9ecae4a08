"""A long `ledger.query` and a decision proceed together (docs/design.md §12, daemon/queries.py).

The query scans the whole ledger (its filter matches only the genesis record, the oldest) in small
blocks, and the daemon's query hook holds it after its first block until the test lets it go. Meanwhile
a gate request on another connection must be answered: the event loop is free while a query runs.
The blocks after the first are read by a worker process, not the daemon's.
"""

from __future__ import annotations

import asyncio
import os

from gatehelp import SMALL_POLICY

from forge_tui.core.ledger import LedgerWriter


async def test_a_decision_is_answered_while_a_full_scan_query_runs(make_world, start_daemon, connect):
    w = make_world(SMALL_POLICY)
    with LedgerWriter.open(w.project) as lw:  # a ledger of many blocks
        for i in range(20):
            lw.append([("note", {"text": f"filler {i} " + "x" * 200}) for _ in range(20)])
    d = await start_daemon(w)
    d.queries.first_block = d.queries.block = 4096
    entered, release = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        entered.set()
        await release.wait()

    d.queries.hook = hold
    reader = await connect(w.review_sock)
    agent = await connect(w.sock)
    query = asyncio.create_task(reader.call("ledger.query", {"type": "genesis", "limit": 5}, timeout=120))
    await asyncio.wait_for(entered.wait(), timeout=30)
    decided = await asyncio.wait_for(
        agent.call(
            "gate.request",
            {"action": {"kind": "shell.exec", "command": "pytest -q"}, "actor": {"id": "a", "session": "s"}},
        ),
        timeout=30,
    )
    assert decided["status"] == "allowed"
    assert not query.done()  # the query is still held after its first block
    release.set()
    records = (await asyncio.wait_for(query, timeout=120))["records"]
    assert [r["type"] for r in records] == ["genesis"]
    assert d.queries.pids - {os.getpid()}, "no block was read by the worker process"
