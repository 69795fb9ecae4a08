"""Every `pending` is closed by a decision (issue 7 §6): a request left pending by a daemon that died
(kill -9) is closed as denied (`decided_by: fallback`) when the daemon starts again, its agent hears
"denied" when it asks, and a reviewer's approval sent after the restart cannot bring it back."""

from __future__ import annotations

import os
import signal

from gatehelp import sign, spawn_daemon, verify_clean, wait_for_socket

from forge_tui.client import Client, RPCError
from forge_tui.protocol import NOT_PENDING

POLICY = 'version = 1\ndefault = "ask"\napproval_timeout = "10m"\n'


def decisions(world, rid: str) -> list[dict]:
    return [r["body"] for r in world.records() if r["type"] == "decision" and r["body"]["request_id"] == rid]


def test_an_orphaned_pending_is_closed_as_denied_when_the_daemon_restarts(make_world):
    w = make_world(POLICY)
    first = spawn_daemon(w)
    try:
        wait_for_socket(w.sock, first)
        with Client(w.sock) as agent:
            asked = agent.call(
                "gate.request",
                {
                    "action": {"kind": "shell.exec", "command": "make deploy"},
                    "actor": {"id": "a"},
                    "wait_s": 0,
                },
            )
        with Client(w.rsock) as rev:
            (item,) = rev.call("queue.list")["pending"]
    finally:
        os.kill(first.pid, signal.SIGKILL)  # no shutdown: nothing closes the request
        first.communicate(timeout=30)
    rid = asked["request_id"]
    assert [d["status"] for d in decisions(w, rid)] == ["pending"]
    second = spawn_daemon(w)
    try:
        wait_for_socket(w.sock, second)
        closing = decisions(w, rid)
        assert [(d["status"], d.get("decided_by")) for d in closing] == [
            ("pending", "policy"),
            ("denied", "fallback"),
        ]
        with Client(w.sock) as agent:  # the agent that waits for it hears the truth, not "unknown"
            heard = agent.call("gate.wait", {"request_id": rid, "wait_s": 1})
        assert (heard["status"], heard["decided_by"]) == ("denied", "fallback")
        with Client(w.rsock) as rev:
            assert rev.call("queue.list")["pending"] == []
            try:
                rev.call("queue.decide", sign(w, "alice", item))
                raise AssertionError("an approval revived a request closed at restart")
            except RPCError as exc:
                assert exc.code == NOT_PENDING
    finally:
        second.terminate()
        second.communicate(timeout=30)
    assert len(decisions(w, rid)) == 2, "closed more than once"
    replays = [r["body"] for r in w.records() if r["type"] == "violation"]
    assert [(v["kind"], v["request_id"]) for v in replays] == [("replayed_approval", rid)]
    verify_clean(w)
