"""The group commit's threads (forge_tui/daemon/appender.py) under seeded random schedules: every
caller's future resolves; `allowed` (a result) only for records that are in the ledger at the seqs it
was told; a body that raises or a record that cannot be built fails only its own caller; a caller that
hung up gets `untold` once with records that are in the ledger; the loop-only state is touched only on
the loop; `flushed()` returns with everything signed (docs/design.md §4.6, docs/faults.md)."""

from __future__ import annotations

import asyncio
import random
import threading
from dataclasses import dataclass, field
from typing import Any

import pytest
from gatehelp import started_appender, verify_clean

from forge_tui.core.jcs import parse_canonical
from forge_tui.core.ledger import Appended, LedgerWriter
from forge_tui.daemon.appender import GroupAppender
from forge_tui.errors import LedgerError

POLICY = 'version = 1\ndefault = "ask"\n'
DEADLINE_S = 60  # a caller never answered fails the test here instead of hanging it
KINDS = ("plain", "chained", "raises", "unbuildable", "hangs_up")


@dataclass
class Caller:
    """One submit of a random schedule and what it expects."""

    kind: str
    tag: str
    fut: asyncio.Future | None = None
    untold: list[list[Appended]] = field(default_factory=list)

    def items(self) -> list[tuple[str, Any]]:
        first = ("note", {"text": f"{self.tag}.0"})
        if self.kind == "chained":  # a callable body: it sees its own caller's first record
            return [first, ("note", lambda done: {"text": f"{self.tag}.1", "after": done[0].leaf})]
        if self.kind == "raises":
            return [first, ("note", _raise_value_error)]
        if self.kind == "unbuildable":
            return [first, ("note", {"no_text": True})]  # a note without its required field
        return [first]


def _raise_value_error(done: list[Appended]) -> dict[str, Any]:
    raise ValueError("this body cannot be computed")


def _ledger_texts(writer: LedgerWriter) -> dict[int, dict[str, Any]]:
    recs = [parse_canonical(line) for line in writer.path.read_bytes().splitlines()]
    return {r["seq"]: r for r in recs}


class LoopOnly:
    """Records the thread each loop-only method of the appender ran on."""

    def __init__(self, appender: GroupAppender, monkeypatch) -> None:
        self.threads: list[tuple[str, int]] = []
        for name in ("_answer", "_fail", "_settled", "_hand_over", "_watch_faults"):
            real = getattr(appender, name)
            monkeypatch.setattr(appender, name, self._wrap(name, real))

    def _wrap(self, name, real):
        def wrapped(*args, **kw):
            self.threads.append((name, threading.get_ident()))
            return real(*args, **kw)

        return wrapped

    def off_loop(self, loop_thread: int) -> list[str]:
        return [name for name, ident in self.threads if ident != loop_thread]


async def _run_schedule(appender: GroupAppender, rng: random.Random, rounds: int) -> list[Caller]:
    """Rounds of 1-24 callers submitted in one loop iteration (one burst), some hanging up at once,
    some only after a few loop iterations (racing their durability)."""
    callers: list[Caller] = []
    for r in range(rounds):
        burst = [Caller(rng.choice(KINDS), f"r{r}c{i}") for i in range(rng.randint(1, 24))]
        for c in burst:
            untold = c.untold.append if c.kind == "hangs_up" else None
            c.fut = appender.submit(c.items(), untold=untold)
        for _ in range(rng.randint(0, 3)):
            await asyncio.sleep(0)  # yields only: lets some batches become durable before the hang-ups
        for c in burst:
            if c.kind == "hangs_up":
                c.fut.cancel()
        callers += burst
        if rng.random() < 0.5:
            await asyncio.sleep(0)
    await asyncio.wait([c.fut for c in callers], timeout=DEADLINE_S)  # (no cancel: _check says who)
    return callers


def _check(callers: list[Caller], writer: LedgerWriter) -> None:
    ledger = _ledger_texts(writer)
    by_text = {r["body"].get("text"): r for r in ledger.values()}
    for c in callers:
        fut = c.fut
        assert fut is not None and fut.done(), (c, "a caller's future never resolved")
        if c.kind == "hangs_up":
            if fut.cancelled():
                assert len(c.untold) == 1, (c, "a hung-up caller's records were not reported untold")
                got = c.untold[0]
            else:
                assert not c.untold, (c, "told and untold")
                got = fut.result()
        elif c.kind in ("raises", "unbuildable"):
            assert isinstance(fut.exception(), LedgerError), (c, fut)
            assert f"{c.tag}.0" not in by_text, (c, "a failed caller's records are in the ledger")
            continue
        else:
            got = fut.result()
        want = [it[0] for it in c.items()]
        assert [a.record["type"] for a in got] == want
        for a in got:  # told records are exactly the durable ones, at the seqs it was told
            assert ledger[a.seq]["sig"] == a.record["sig"], (c, a.seq)
        assert got[0].record["body"]["text"] == f"{c.tag}.0"
        if c.kind == "chained":
            assert got[1].record["body"]["after"] == got[0].leaf


@pytest.mark.parametrize("seed", range(6))
async def test_random_bursts_answer_each_caller_with_its_durable_records(make_world, monkeypatch, seed):
    world = make_world(POLICY)
    w = LedgerWriter.open(world.project)
    a = GroupAppender(w)
    spy = LoopOnly(a, monkeypatch)
    loop = asyncio.get_running_loop()
    loop.set_debug(True)  # a future or event touched from a thread raises there (asyncio's own check)
    a.start()
    try:
        callers = await _run_schedule(a, random.Random(seed), rounds=12)
        await asyncio.wait_for(a.flushed(), DEADLINE_S)
        assert a.waiting == 0 and not a._untold
        assert w.signed_size == w.size, "flushed() returned before everything was signed"
        _check(callers, w)  # (a hung-up caller hears untold before flushed() returns)
    finally:
        loop.set_debug(False)
        await asyncio.wait_for(a.close(), DEADLINE_S)
        w.close()
    _check(callers, w)  # again after close: nothing answered was lost
    assert spy.off_loop(threading.get_ident()) == [], "loop-only state touched from a thread"
    verify_clean(world)


class _Boom(BaseException):
    """Stands for any BaseException escaping a record body (or a bug in the preparer)."""


def _boom(done: list[Appended]) -> dict[str, Any]:
    raise _Boom()


def _split_then_boom(appender: GroupAppender) -> list[asyncio.Future]:
    """One burst whose whole-batch build fails (a ValueError: the preparer splits it per caller), then,
    in the split, a caller's body raises a BaseException after the first caller was already prepared
    (and chained: LedgerWriter._spec points past it)."""
    return [
        appender.submit([("note", {"text": "ok"})]),
        appender.submit([("note", _raise_value_error)]),
        appender.submit([("note", _boom)]),
    ]


async def _close_anyway(a: GroupAppender, w: LedgerWriter) -> None:
    if a.waiting != 0:  # the bug under test: idle is never set, close() would wait forever
        a._idle.set()
    await asyncio.wait_for(a.close(), DEADLINE_S)
    w.close()


async def test_a_base_exception_in_the_preparer_does_not_wedge_the_chain(make_world):
    world = make_world(POLICY)
    w, a = started_appender(world)
    try:
        burst = _split_then_boom(a)
        results = await asyncio.gather(*burst, return_exceptions=True)
        assert all(isinstance(r, LedgerError) for r in results[1:]), results
        after = await asyncio.wait_for(a.append([("note", {"text": "after"})]), DEADLINE_S)
        assert after[0].seq == w.size - 1
    finally:
        await _close_anyway(a, w)
    verify_clean(world)


async def test_a_base_exception_in_the_preparer_counts_each_caller_once(make_world):
    world = make_world(POLICY)
    w, a = started_appender(world)
    try:
        await asyncio.gather(*_split_then_boom(a), return_exceptions=True)
        assert a.waiting == 0, f"waiting is {a.waiting} with every caller answered"
        await asyncio.wait_for(a.flushed(), DEADLINE_S)
    finally:
        await _close_anyway(a, w)


def _raise_ledger_error(done: list[Appended]) -> dict[str, Any]:
    raise LedgerError("a body that could not read what it needs")


async def test_a_body_raising_a_ledger_error_fails_only_its_own_caller(make_world):
    world = make_world(POLICY)
    w, a = started_appender(world)
    try:
        burst = [
            a.submit([("note", {"text": "ok1"})]),
            a.submit([("note", _raise_ledger_error)]),
            a.submit([("note", {"text": "ok2"})]),
        ]
        results = await asyncio.wait_for(asyncio.gather(*burst, return_exceptions=True), DEADLINE_S)
        assert isinstance(results[1], LedgerError)
        assert not isinstance(results[0], BaseException), results[0]
        assert not isinstance(results[2], BaseException), results[2]
    finally:
        await asyncio.wait_for(a.close(), DEADLINE_S)
        w.close()
    verify_clean(world)
