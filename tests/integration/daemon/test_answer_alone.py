"""A request that comes alone is answered without waiting for company (issue 11 item 2, docs/design.md §4.6).

Once a batch is durable the group commit's writer thread waits a moment (CHECKPOINT_WAIT_S) for another
caller before it signs the checkpoint, so that a burst signs once. That wait must delay only the
checkpoint, never the answer. Here the wait is held open until the test lets it go: a daemon that
answered only after it (or after the checkpoint) would never answer the request.
"""

from __future__ import annotations

import asyncio
import threading
import time

from gatehelp import SMALL_POLICY

import forge_tui.daemon.appender as appender_mod


class HeldArrival(threading.Event):
    """The appender's "a caller arrived" event, whose timed wait (the wait for company) is held until
    `release` is set and then says nobody came."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def wait(self, timeout: float | None = None) -> bool:
        self.entered.set()
        self.release.wait(60)
        return False


async def test_a_lone_request_is_answered_while_the_writer_still_waits_for_company(
    make_world, start_daemon, connect, monkeypatch
):
    w = make_world(SMALL_POLICY)
    d = await start_daemon(w)
    await d.appender.flushed()
    monkeypatch.setattr(appender_mod, "CHECKPOINT_EVERY_S", 3600.0)  # so the writer always waits
    held = HeldArrival()
    d.appender._arrived = held
    agent = await connect(w.sock)
    try:
        size_before = d.writer.size
        res = await agent.call(
            "gate.request",
            {"action": {"kind": "shell.exec", "command": "pytest -q"}, "actor": {"id": "a", "session": "s"}},
            timeout=30,
        )
        assert res["status"] == "allowed" and res["decided_by"] == "policy"
        assert d.writer.size >= size_before + 2, "answered before its records were written"
        deadline = time.monotonic() + 30
        while not held.entered.is_set():  # the writer thread reaches its wait (if it has not yet)
            assert time.monotonic() < deadline, "the writer never waited for company"
            await asyncio.sleep(0.01)
        assert d.writer.signed_size < d.writer.size, "the checkpoint was signed before the wait ended"
        assert d.offload is None or d.offload.starts == 0, "a lone request went to the policy worker"
    finally:
        held.release.set()
    await asyncio.wait_for(d.appender.flushed(), 30)
    assert d.writer.signed_size == d.writer.size, "the checkpoint after the wait was never signed"
