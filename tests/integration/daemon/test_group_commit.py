"""Group commit and its checkpoints (docs/design.md §4.6). Every caller hears back only once its records are
durable, and no later: the checkpoint and the tracked copy follow the answer. An idle appender signs a
checkpoint for each batch, as a plain append does; under load, batches written while more callers wait
skip the checkpoint, and the batch that finds nobody waiting (or the first after CHECKPOINT_EVERY_S)
signs for all of them."""

from __future__ import annotations

import asyncio

import pytest
from gatehelp import verify_clean

import forge_tui.daemon.appender as appender_mod
from forge_tui.core.ledger import LedgerWriter
from forge_tui.daemon.appender import GroupAppender

POLICY = 'version = 1\ndefault = "ask"\n'


def _same_copies(w: LedgerWriter) -> None:
    assert w.tracked_path.read_bytes() == w.path.read_bytes(), "the tracked copy differs from the ledger"
    assert w.tracked_checkpoint_path.read_bytes() == w.checkpoint_path.read_bytes()


@pytest.fixture
async def appender(make_world):
    world = make_world(POLICY)
    writer = LedgerWriter.open(world.project)
    a = GroupAppender(writer)
    a.start()
    yield world, writer, a
    await a.close()
    writer.close()


async def test_an_idle_appender_signs_each_batch_after_it_answers(appender):
    world, w, a = appender
    for i in range(5):
        done = await a.append([("note", {"text": f"n{i}"})])
        assert w.size == done[0].seq + 1, "answered before the record was in the ledger"
        assert done[0].record["body"]["text"] in w.path.read_text().splitlines()[-1]
        await asyncio.wait_for(a.flushed(), 30)
        assert w.signed_size == w.size, "an idle batch left its checkpoint unsigned"
        _same_copies(w)
    assert a.checkpoints == a.batches == 5


async def test_an_answer_does_not_wait_for_the_checkpoint(appender, monkeypatch):
    """Broken if a caller hears back only once the checkpoint is signed: the checkpoint is held here
    until the caller has its answer, so an appender that waits for it never answers."""
    import threading

    world, w, a = appender
    release = threading.Event()
    real_checkpoint = w.checkpoint

    def held_checkpoint():
        release.wait(30)
        return real_checkpoint()

    monkeypatch.setattr(w, "checkpoint", held_checkpoint)
    try:
        done = await asyncio.wait_for(a.append([("note", {"text": "early"})]), 20)
        assert done[0].seq == w.size - 1 and w.signed_size < w.size
    finally:
        release.set()
    await asyncio.wait_for(a.flushed(), 30)
    assert w.signed_size == w.size
    _same_copies(w)


async def test_under_load_one_checkpoint_covers_the_batches_written_while_others_waited(
    appender, monkeypatch
):
    world, w, a = appender
    monkeypatch.setattr(appender_mod, "CHECKPOINT_EVERY_S", 3600.0)
    n = appender_mod.MAX_BATCH_RECORDS * 2 + 100  # three batches, all queued at once
    results = await asyncio.gather(*(a.append([("note", {"text": f"n{i}"})]) for i in range(n)))
    seqs = [r[0].seq for r in results]
    assert len(set(seqs)) == n and max(seqs) == w.size - 1
    assert a.batches == 3, a.batches
    await asyncio.wait_for(a.flushed(), 30)
    assert a.checkpoints == 1, "each batch written while callers waited signed its own checkpoint"
    assert w.signed_size == w.size, "the last batch of the burst left an unsigned tail"
    _same_copies(w)
    verify_clean(world)


async def test_a_long_burst_still_signs_every_checkpoint_interval(appender, monkeypatch):
    world, w, a = appender
    monkeypatch.setattr(appender_mod, "CHECKPOINT_EVERY_S", 0.0)
    n = appender_mod.MAX_BATCH_RECORDS * 2 + 100
    await asyncio.gather(*(a.append([("note", {"text": f"n{i}"})]) for i in range(n)))
    await asyncio.wait_for(a.flushed(), 30)
    assert a.batches == a.checkpoints == 3
    _same_copies(w)


def test_checkpoint_after_unsigned_appends_catches_up_the_copies(make_world):
    world = make_world(POLICY)
    with LedgerWriter.open(world.project) as w:
        signed = w.signed_size
        for i in range(3):
            w.append([("note", {"text": f"n{i}"})], checkpoint=False)
        assert w.signed_size == signed < w.size
        assert w.tracked_path.stat().st_size < w.path.stat().st_size
        w.checkpoint()
        assert w.signed_size == w.size
        _same_copies(w)
        w.append([("note", {"text": "asked"})], checkpoint=lambda: False)
        assert w.signed_size == w.size - 1
        w.append([("note", {"text": "asked"})], checkpoint=lambda: True)
        assert w.signed_size == w.size
        _same_copies(w)
    verify_clean(world)


async def test_close_serves_a_caller_that_arrived_during_a_deferred_checkpoint(appender, monkeypatch):
    """Broken if close() drops or strands a caller queued while the appender was signing a deferred
    checkpoint: that caller must hear its record's seq, and the ledger must end signed."""
    import threading

    world, w, a = appender
    loop = asyncio.get_running_loop()
    monkeypatch.setattr(a, "_checkpoint_now", lambda: False)  # leave an unsigned tail after each batch
    entered, release = threading.Event(), threading.Event()
    real_checkpoint = w.checkpoint

    def slow_checkpoint():
        entered.set()
        release.wait(30)
        return real_checkpoint()

    monkeypatch.setattr(w, "checkpoint", slow_checkpoint)
    await a.append([("note", {"text": "first"})])
    assert await loop.run_in_executor(None, entered.wait, 30), "the deferred checkpoint never ran"
    second = asyncio.ensure_future(a.append([("note", {"text": "second"})]))
    await asyncio.sleep(0)  # let it queue (a yield, not a wait)
    closing = asyncio.ensure_future(a.close())
    await asyncio.sleep(0)
    release.set()
    done = await asyncio.wait_for(second, 30)
    await asyncio.wait_for(closing, 30)
    assert done[0].seq == w.size - 1 and w.signed_size == w.size
