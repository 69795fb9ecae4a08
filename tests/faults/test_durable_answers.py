"""A caller hears what the ledger says once its records are durable (docs/faults.md, issue 7 §7): a
failure AFTER the batch went through fdatasync (the checkpoint, the tracked copy, anything raising
there) must not answer "ledger unavailable" (counted as denied) for a decision the ledger holds as
`allowed`. The faults at each system call are in test_write_path_faults.py; here the failure is one
they do not reach: an exception of another kind than the writer's own, after the records are durable."""

from __future__ import annotations

import errno

from gatehelp import SMALL_POLICY as POLICY
from gatehelp import verify_clean
from test_write_path_faults import Agent, check_ledger_matches_answers, wait_health


async def test_a_failure_after_fdatasync_answers_the_durable_decision(
    make_world, start_daemon, connect, monkeypatch
):
    """Broken if the agent is told 5001 (denied) while the ledger records its request as allowed."""
    world = make_world(POLICY)
    d = await start_daemon(world)
    agent = Agent(await connect(world.sock))
    assert await agent.ask() == "allowed"
    real_commit = d.writer.commit
    broken = {"left": 1}

    def commit_then_fail(batch, **kw):
        written = real_commit(batch, **kw)  # durable: fdatasync returned
        if broken["left"]:
            broken["left"] -= 1
            raise RuntimeError("a bug after the write")
        return written

    monkeypatch.setattr(d.writer, "commit", commit_then_fail)
    assert await agent.ask() == "allowed"  # the ledger says allowed: so is the answer
    assert await agent.ask() == "allowed"
    await d.stop()
    check_ledger_matches_answers(world, agent)
    verify_clean(world)


async def test_an_os_error_in_the_checkpoint_after_the_write_is_a_fault_not_a_lie(
    make_world, start_daemon, connect, monkeypatch
):
    """An OSError the checkpoint does not turn into its own error (fstat of the ledger, say): the batch
    is durable, so its caller hears `allowed`; the writer is in a fault (the next request is refused
    while the tail is unsigned) and heals by itself."""
    world = make_world(POLICY)
    d = await start_daemon(world)
    agent = Agent(await connect(world.sock))
    real_checkpoint = d.writer.checkpoint
    broken = {"left": 1}

    def checkpoint():
        if broken["left"]:
            broken["left"] -= 1
            raise OSError(errno.EIO, "Input/output error")
        return real_checkpoint()

    monkeypatch.setattr(d.writer, "checkpoint", checkpoint)
    assert await agent.ask() == "allowed"
    # The checkpoint follows the answer (the writer signs after replying): wait for it to have failed
    # and healed, bounded; a checkpoint failure nobody counted never gets there.
    health = await wait_health(d, lambda h: h["faults"] >= 1 and h["state"] == "ok")
    assert health["faults"] == 1, "the failed checkpoint was not a fault (an unsigned tail went unnoticed)"
    assert await agent.ask() == "allowed"
    await d.stop()
    check_ledger_matches_answers(world, agent)
    statuses = [r["body"]["status"] for r in world.records() if r["type"] == "decision"]
    assert statuses == ["allowed"] * len(agent.told)
    verify_clean(world)
