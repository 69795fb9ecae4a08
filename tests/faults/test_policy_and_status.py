"""A policy change that cannot be recorded is not enforced until it is; `status` reports the write
path's state (ok / degraded / tracked_stale) and the daemon announces each change as an event."""

from __future__ import annotations

import asyncio
import errno
import time

from gatehelp import SMALL_POLICY as POLICY
from gatehelp import req, verify_clean

NEW_POLICY = POLICY.replace('command = ["pytest*"]', 'command = ["pytest*", "make*"]')


async def test_a_policy_change_is_enforced_only_once_recorded(make_world, start_daemon, connect, faults):
    """Before: one failed fdatasync and the daemon logged "could not record policy change", decided
    under the new policy anyway and never retried (every later decision: unrecorded_policy)."""
    # Setup mode (no reviewer enrolled): a parsed change goes in force once recorded, with no approval
    # (docs/trust-model.md); with reviewers it would wait as a pending change.
    world = make_world(POLICY, reviewers=())
    d = await start_daemon(world)
    c = await connect(world.sock)
    old = d.policies.current.digest
    faults.arm("fdatasync", "ledger")
    world.write_policy(NEW_POLICY)
    reload = asyncio.create_task(d._reload())
    deadline = time.monotonic() + 10
    while not faults.hits:
        assert time.monotonic() < deadline, "the policy record was never attempted"
        await asyncio.sleep(0.01)  # polling interval of a bounded condition loop
    assert d.policies.current.digest == old  # not enforced while unrecorded
    assert not reload.done()  # still retrying
    faults.clear()
    await asyncio.wait_for(reload, 30)
    assert d.policies.current.digest != old
    res = await c.call("gate.request", req("make build"))
    assert res["status"] == "allowed"  # under the new policy, now recorded
    await d.stop()
    digests = [r["body"]["digest"] for r in world.records() if r["type"] == "policy"]
    assert digests[-1] == d.policies.current.digest
    verify_clean(world)


async def test_status_shows_a_degraded_ledger_and_its_healing(make_world, start_daemon, connect, faults):
    world = make_world(POLICY)
    d = await start_daemon(world)
    c = await connect(world.sock)
    assert (await c.call("status"))["ledger"]["health"]["state"] == "ok"
    events: list[dict] = []
    d.subscribers.add(type("Sink", (), {"push_event": lambda self, ev: events.append(ev)})())
    faults.arm("write", "ledger", errno.ENOSPC)
    assert "error" in await c.raw("gate.request", req("pytest -q"))
    health = (await c.call("status"))["ledger"]["health"]
    assert health["state"] == "degraded" and "No space left on device" in health["fault"]
    assert health["since"] and health["faults"] == 1
    faults.clear()
    deadline = time.monotonic() + 20
    while (await c.call("status"))["ledger"]["health"]["state"] != "ok":
        assert time.monotonic() < deadline, "the ledger never healed"
        await asyncio.sleep(0.02)  # polling interval of a bounded condition loop
    while "ledger.healed" not in [e["type"] for e in events]:  # sent once the heal task reports it
        assert time.monotonic() < deadline, "no ledger.healed event"
        await asyncio.sleep(0.02)  # polling interval of a bounded condition loop
    assert [e["type"] for e in events if e["type"].startswith("ledger.")] == [
        "ledger.degraded",
        "ledger.healed",
    ]
    faults.arm("replace", "tracked", errno.EROFS)
    assert (await c.call("gate.request", req("pytest -q")))["status"] == "allowed"
    health = (await c.call("status"))["ledger"]["health"]
    assert health["state"] == "tracked_stale" and "Read-only file system" in health["tracked_error"]
