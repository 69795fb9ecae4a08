"""EIO and ENOSPC at each system call of an append, injected through the writer's os-call seam
(forge_tui/core/oscalls.py) into a daemon serving real requests.

After each fault, and once it is cleared, these must hold (docs/faults.md):
- nothing acknowledged is missing: every request answered `allowed` has its decision at the seq it was told;
- no record contradicts what a caller was told: the ledger holds no request that was answered 5001;
- while the write path is broken the gate denies (5001), and the daemon heals by itself (no restart);
- a fault in the tracked copy never denies, but it is reported until the copy is brought up to date;
- `verify` passes.
"""

from __future__ import annotations

import asyncio
import errno
import time
from collections.abc import Callable

import pytest
from gatehelp import SMALL_POLICY as POLICY
from gatehelp import req, verify_clean

from forge_tui.protocol import LEDGER_UNAVAILABLE

# (call, site) of every system call an append makes (tracked-copy sites: its append or full copy, and
# its checkpoint's temp file, fsync, rename and folder fsync).
POINTS = [
    ("write", "ledger"),
    ("fdatasync", "ledger"),
    ("write", "checkpoint"),
    ("fsync", "checkpoint"),
    ("replace", "checkpoint"),
    ("fsync_dir", "checkpoint"),
    ("write", "tracked"),
    ("fsync", "tracked"),
    ("replace", "tracked"),
    ("fsync_dir", "tracked"),
]
ERRNOS = {"EIO": errno.EIO, "ENOSPC": errno.ENOSPC}


class Agent:
    """gate.request for an allowed command; remembers what each caller was told."""

    def __init__(self, conn) -> None:
        self.conn = conn
        self.told: dict[str, dict] = {}
        self.refused = 0

    async def ask(self) -> str:
        resp = await self.conn.raw("gate.request", req("pytest -q"))
        if "result" in resp:
            self.told[resp["result"]["request_id"]] = resp["result"]
            return resp["result"]["status"]
        assert resp["error"]["code"] == LEDGER_UNAVAILABLE, resp
        self.refused += 1
        return "unavailable"


async def wait_health(daemon, ok: Callable[[dict], bool], timeout: float = 20.0) -> dict:
    """Poll the daemon's write-path health until `ok(health)` (bounded, not a sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        health = daemon.appender.health()
        if ok(health):
            return health
        assert time.monotonic() < deadline, f"health stayed {health}"
        await asyncio.sleep(0.02)  # polling interval of a bounded condition loop


async def wait_state(daemon, state: str, timeout: float = 20.0) -> dict:
    """Poll the daemon's write-path health until it reaches `state` (bounded, not a sleep)."""
    return await wait_health(daemon, lambda h: h["state"] == state, timeout)


def check_ledger_matches_answers(world, agent: Agent) -> None:
    recs = world.records()
    decisions = {r["body"]["request_id"]: r for r in recs if r["type"] == "decision"}
    requests = {r["body"]["request_id"] for r in recs if r["type"] == "request"}
    for rid, res in agent.told.items():  # nothing acknowledged is missing
        assert rid in decisions, f"{rid} was answered {res['status']} but is not in the ledger"
        assert decisions[rid]["seq"] == res["seq"]
        assert decisions[rid]["body"]["status"] == res["status"]
    corrected = {
        s
        for r in recs
        if r["type"] == "note" and r["body"].get("kind") == "correction"
        for s in range(r["body"]["seqs"][0], r["body"]["seqs"][1] + 1)
    }
    unanswered = [
        r["seq"] for r in recs if r["type"] == "request" and r["body"]["request_id"] not in agent.told
    ]
    assert not [s for s in unanswered if s not in corrected], "a caller told 5001 has records in the ledger"
    assert requests >= set(agent.told)


@pytest.mark.parametrize("err", list(ERRNOS), ids=list(ERRNOS))
@pytest.mark.parametrize(("call", "site"), POINTS, ids=[f"{c}@{s}" for c, s in POINTS])
async def test_a_fault_at_each_call_denies_heals_and_contradicts_nothing(
    make_world, start_daemon, connect, faults, call, site, err
):
    world = make_world(POLICY)
    d = await start_daemon(world)
    agent = Agent(await connect(world.sock))
    for _ in range(3):
        assert await agent.ask() == "allowed"
    await d.appender.flushed()  # the last answer's checkpoint follows it: let it land before the fault
    faults.arm(call, site, ERRNOS[err])
    burst = await asyncio.gather(*(agent.ask() for _ in range(8)))
    await d.appender.flushed()  # the checkpoint and the tracked copy follow the answers
    after = await agent.ask()
    await d.appender.flushed()
    assert faults.hits, f"the fault at {call}@{site} was never reached"
    if site == "tracked":
        # A derived copy: decisions go on, the lag is reported.
        assert set(burst) == {"allowed"} and after == "allowed"
        health = d.appender.health()
        assert health["state"] == "tracked_stale" and health["tracked_error"]
    else:
        # Broken: the gate denies (5001) until the fault is gone; a batch already durable when only its
        # checkpoint failed was answered `allowed`, which the ledger says too.
        assert after == "unavailable"
        assert "unavailable" in burst or site == "checkpoint"
        health = d.appender.health()
        assert health["state"] == "degraded" and health["fault"], health
    faults.clear()
    await wait_state(d, "ok")
    assert await agent.ask() == "allowed"  # healed, no restart
    await d.stop()
    check_ledger_matches_answers(world, agent)
    lid = world.project.local_ledger_id()
    assert world.project.tracked_ledger(lid).read_bytes() == b"".join(x + b"\n" for x in world.ledger_lines())
    verify_clean(world)


async def test_a_write_whose_undo_fails_is_taken_out_when_the_disk_heals(
    make_world, start_daemon, connect, faults
):
    """fdatasync fails and so does the ftruncate that should take the batch back out: its bytes may be on
    disk, so the gate denies until a retry truncates them; the callers told 5001 find nothing of
    theirs in the ledger."""
    world = make_world(POLICY)
    d = await start_daemon(world)
    agent = Agent(await connect(world.sock))
    assert await agent.ask() == "allowed"
    size = d.writer.size
    faults.arm("fdatasync", "ledger")
    faults.arm("ftruncate", "ledger")
    assert await agent.ask() == "unavailable"
    assert "could not be undone" in d.appender.health()["fault"]
    assert d.writer.unacked_path.exists()  # the marker a restart would read
    assert await agent.ask() == "unavailable"
    faults.clear()
    await wait_state(d, "ok")
    assert not d.writer.unacked_path.exists()
    assert d.writer.size == size
    assert await agent.ask() == "allowed"
    await d.stop()
    check_ledger_matches_answers(world, agent)
    verify_clean(world)


async def test_the_request_in_flight_when_the_checkpoint_rename_fails_is_told_the_truth(
    make_world, start_daemon, connect, faults
):
    """The reproduction: a rename EIO on the checkpoint answered the request in flight 5001 while the
    ledger recorded it allowed, and the gate stayed off until a restart (16,898 denials)."""
    world = make_world(POLICY)
    d = await start_daemon(world)
    agent = Agent(await connect(world.sock))
    faults.arm("replace", "checkpoint")
    assert await agent.ask() == "allowed"  # durable before the checkpoint failed: so it is allowed
    await d.appender.flushed()  # its checkpoint follows the answer (and fails)
    assert await agent.ask() == "unavailable"  # then denied while the checkpoint cannot be written
    faults.clear()
    await wait_state(d, "ok")
    assert await agent.ask() == "allowed"
    await d.stop()
    check_ledger_matches_answers(world, agent)
    verify_clean(world)


async def test_enospc_then_space_freed_heals_without_a_restart(make_world, start_daemon, connect, faults):
    """The reproduction: ENOSPC, then space freed: 24,971 denials until a restart. Now the denials stop
    within the back-off once the disk takes writes again."""
    world = make_world(POLICY)
    d = await start_daemon(world)
    agent = Agent(await connect(world.sock))
    faults.arm("write", "ledger", errno.ENOSPC)
    for _ in range(5):
        assert await agent.ask() == "unavailable"
    assert d.appender.health()["retries"] >= 0
    faults.clear()
    health = await wait_state(d, "ok")
    assert health["faults"] == 1
    for _ in range(3):
        assert await agent.ask() == "allowed"
    await d.stop()
    check_ledger_matches_answers(world, agent)
    verify_clean(world)
