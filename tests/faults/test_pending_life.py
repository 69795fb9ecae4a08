"""Pending requests live independently of the connection that made them and of the daemon process:
each one ends with a decision record (expired, denied at shutdown, or closed at the next start)."""

from __future__ import annotations

import os
import signal

from gatehelp import SMALL_POLICY as POLICY
from gatehelp import spawn_daemon, verify_clean, wait_for_socket

from forge_tui.client import Client
from forge_tui.core.ledger import LedgerWriter


def decisions_for(world, rid: str) -> list[dict]:
    return [r["body"] for r in world.records() if r["type"] == "decision" and r["body"]["request_id"] == rid]


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
