"""Pending requests live independently of the connection that made them and of the daemon process:
each one ends with a decision record (expired, denied at shutdown, or closed at the next start)."""

from __future__ import annotations

import os
import signal

import pytest
from gatehelp import SMALL_POLICY as POLICY
from gatehelp import spawn_daemon, verify_clean, wait_for_socket

from forge_tui.client import Client
from forge_tui.core.ledger import LedgerWriter


def decisions_for(world, rid: str) -> list[dict]:
    return [r["body"] for r in world.records() if r["type"] == "decision" and r["body"]["request_id"] == rid]


async def hang_up_during_the_write(d, c, monkeypatch, command: str) -> None:
    """Send a gate.request for `command` on `c`, hold the ledger's fdatasync, hang up, wait until the
    daemon has seen the hang-up (and cancelled the request's task), then let the write go on."""
    import asyncio
    import contextlib
    import threading
    import time

    from forge_tui.core import oscalls

    release = threading.Event()
    entered = threading.Event()
    hold = {"on": True}

    def before(call: str, site: str) -> None:
        if hold["on"] and (call, site) == ("fdatasync", "ledger"):
            entered.set()
            assert release.wait(30), "the test never released the write"

    monkeypatch.setattr(oscalls.DEFAULT, "before", before)
    call = asyncio.create_task(
        c.raw("gate.request", {"action": {"kind": "shell.exec", "command": command}, "actor": {"id": "a"}})
    )
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(None, entered.wait, 30)
    await c.close()  # the client hangs up while its records are being written
    with contextlib.suppress(Exception):
        await call
    deadline = time.monotonic() + 10
    while d.connections:
        assert time.monotonic() < deadline, "the daemon never saw the hang-up"
        await asyncio.sleep(0.01)  # polling interval of a bounded condition loop
    hold["on"] = False
    release.set()


def test_a_request_left_pending_by_a_killed_daemon_is_closed_at_the_next_start(make_world):
    """kill -9 leaves a `pending` decision with nothing after it; the next writer closes it (denied,
    fallback) so `verify` has no request that stays pending forever."""
    world = make_world(POLICY)
    proc = spawn_daemon(world)
    try:
        wait_for_socket(world.sock, proc)
        with Client(world.sock, timeout=20) as c:
            res = c.call(
                "gate.request",
                {
                    "action": {"kind": "shell.exec", "command": "make deploy"},
                    "actor": {"id": "a"},
                    "wait_s": 0,
                },
            )
        assert res["status"] == "pending"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=20)
    assert [d["status"] for d in decisions_for(world, res["request_id"])] == ["pending"]
    with LedgerWriter.open(world.project):
        pass
    closing = decisions_for(world, res["request_id"])
    assert [d["status"] for d in closing] == ["pending", "denied"]
    assert closing[-1]["decided_by"] == "fallback"
    with LedgerWriter.open(world.project):  # closed once, not at every start
        pass
    assert len(decisions_for(world, res["request_id"])) == 2
    verify_clean(world)


@pytest.mark.parametrize("end", ["shutdown", "expiry"])
async def test_a_client_that_hangs_up_during_the_write_does_not_orphan_its_request(
    make_world, start_daemon, connect, monkeypatch, end
):
    """Before: the request's records were written but the request never entered the queue: not listed,
    never expired, not closed at shutdown, and `verify` passed. Now it is admitted all the same, listed,
    and closed with a decision record: denied by `timeout` when it expires, by `fallback` at shutdown."""
    import asyncio
    import time

    # long enough that a loaded machine's pause cannot expire it before it is seen listed
    timeout = '"4s"' if end == "expiry" else '"10m"'
    world = make_world(POLICY.replace('approval_timeout = "10m"', f"approval_timeout = {timeout}"))
    d = await start_daemon(world)
    await hang_up_during_the_write(d, await connect(world.sock), monkeypatch, "make deploy")
    deadline = time.monotonic() + 10
    while not d.gate.pending:
        assert time.monotonic() < deadline, "the request never entered the queue"
        await asyncio.sleep(0.01)  # polling interval of a bounded condition loop
    (rid,) = list(d.gate.pending)
    assert d.gate.describe(d.gate.pending[rid])["request_id"] == rid  # listed
    rev = await connect(world.rsock)
    assert rid in [p["request_id"] for p in (await rev.call("queue.list"))["pending"]]
    if end == "expiry":
        deadline = time.monotonic() + 20
        while len(decisions_for(world, rid)) < 2:
            assert time.monotonic() < deadline, "the orphaned request never expired"
            await asyncio.sleep(0.05)  # polling interval of a bounded condition loop
        assert rid not in d.gate.pending
    await d.stop()
    closing = decisions_for(world, rid)
    assert [x["status"] for x in closing] == ["pending", "denied"]
    assert closing[-1]["decided_by"] == ("timeout" if end == "expiry" else "fallback")
    verify_clean(world)


async def test_an_allowed_decision_whose_client_hung_up_gets_a_correction_note(
    make_world, start_daemon, connect, monkeypatch
):
    """A client that gives up while its records are written (a hook past its deadline tells its host no)
    never hears `allowed`: the ledger must not leave that decision standing as if the caller acted on
    it. A `correction` note names the request and its seq; a request answered normally gets none."""
    import asyncio
    import time

    world = make_world(POLICY)
    d = await start_daemon(world)
    c = await connect(world.sock)
    answered = await c.call(
        "gate.request", {"action": {"kind": "shell.exec", "command": "pytest -q"}, "actor": {"id": "a"}}
    )
    assert answered["status"] == "allowed"
    await hang_up_during_the_write(d, c, monkeypatch, "pytest -x")

    def corrections() -> list[dict]:
        return [
            r["body"]
            for r in world.records()
            if r["type"] == "note" and r["body"].get("kind") == "correction"
        ]

    deadline = time.monotonic() + 20
    while not corrections():
        assert time.monotonic() < deadline, "no correction note for the decision nobody heard"
        await asyncio.sleep(0.02)  # polling interval of a bounded condition loop
    await d.stop()
    (note,) = corrections()
    untold = [
        r
        for r in world.records()
        if r["type"] == "decision" and r["body"]["request_id"] not in (answered["request_id"],)
    ]
    (dec,) = untold
    assert dec["body"]["status"] == "allowed"
    assert note["request_id"] == dec["body"]["request_id"]
    assert note["seqs"] == [dec["seq"], dec["seq"]]
    assert note["told"] == "nothing"
    verify_clean(world)
