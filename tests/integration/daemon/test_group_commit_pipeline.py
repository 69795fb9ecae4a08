"""Group commit with two stages (docs/design.md §4.6): the loop signs batch N+1 while batch N's fdatasync runs.
When batch N's write fails, its callers and those of the batch already prepared on top of it all hear
the failure (the gate denies); nothing of either batch stays in the ledger, and the next batch chains
onto the last durable record."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest
from gatehelp import verify_clean

from forge_tui.core.jcs import parse_canonical
from forge_tui.core.ledger import LedgerWriter, StaleBatch
from forge_tui.daemon.appender import GroupAppender
from forge_tui.errors import LedgerError

POLICY = 'version = 1\ndefault = "ask"\n'


async def test_a_failed_write_fails_the_batch_prepared_on_top_of_it(make_world, monkeypatch):
    world = make_world(POLICY)
    w = LedgerWriter.open(world.project)
    a = GroupAppender(w)
    a.start()
    loop = asyncio.get_running_loop()
    size = w.size
    syncing = threading.Event()  # batch A's fdatasync has started
    release = threading.Event()  # the test lets it fail
    second_prepared = asyncio.Event()
    real_sync, real_prepare = os.fdatasync, w.prepare
    calls = []

    def fdatasync(fd):
        calls.append(fd)
        if len(calls) == 1:
            syncing.set()
            assert release.wait(30), "the test never released the first fdatasync"
            raise OSError(5, "Input/output error")
        return real_sync(fd)

    def prepare(items):
        out = real_prepare(items)
        if out.base > size:  # prepared on top of batch A, which is not durable yet
            loop.call_soon_threadsafe(second_prepared.set)
        return out

    monkeypatch.setattr(os, "fdatasync", fdatasync)
    monkeypatch.setattr(w, "prepare", prepare)
    try:
        first = [asyncio.create_task(a.append([("note", {"text": f"a{i}"})])) for i in range(3)]
        assert await loop.run_in_executor(None, syncing.wait, 30)
        second = [asyncio.create_task(a.append([("note", {"text": f"b{i}"})])) for i in range(3)]
        await second_prepared.wait()
        release.set()
        for t in first:
            with pytest.raises(LedgerError, match="write failed"):
                await t
        for t in second:
            with pytest.raises(StaleBatch):
                await t
        assert w.size == size and w.signed_size == size
        await asyncio.wait_for(a.wait_healthy(), 30)  # the fault heals by itself (fdatasync works again)
        again = await a.append([("note", {"text": "after"})])
        assert again[0].seq == size
    finally:
        release.set()
        await a.close()
        w.close()
    texts = [parse_canonical(x)["body"].get("text") for x in w.path.read_bytes().splitlines()]
    assert texts[-1] == "after" and not any(t and t[0] in "ab" and t[1:].isdigit() for t in texts)
    verify_clean(world)
