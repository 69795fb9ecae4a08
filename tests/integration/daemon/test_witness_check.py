"""The daemon refuses an approval that cosigns a checkpoint its ledger never had (daemon/witness_book.py,
docs/formats.md "Witnessed checkpoints"): the reviewer must learn at once that the tree it checked is not
the one being written, not only when `verify` runs later."""

from __future__ import annotations

import asyncio
import hashlib

from gatehelp import req, verify_clean

from forge_tui.core.merkle import leaf_hash, root_from_leaves
from forge_tui.core.trust import policy_statement, sign_policy_statement
from forge_tui.protocol import BAD_SIGNATURE, LEDGER_CHECKPOINT
from forge_tui.review import build_approval

POLICY = """\
version = 1
default = "ask"
approval_timeout = "10m"

[[rule]]
id = "deploy"
match = { kind = "shell.exec", command = ["make deploy*"] }
decision = "ask"
"""


def signed(w, name: str, item: dict, checkpoint: dict | None) -> dict:
    approval = build_approval(item["request_id"], item["request_hash"], "approve", "", name)
    if checkpoint is not None:
        approval["checkpoint"] = checkpoint
    return {"approval": approval, "reviewer_sig": w.keys[name].sign_approval(approval)}


def root_of_first(w, size: int) -> str:
    return root_from_leaves([leaf_hash(line) for line in w.ledger_lines()[:size]]).hex()


def witness_violations(w) -> list[dict]:
    return [
        r["body"] for r in w.records() if r["type"] == "violation" and r["body"]["kind"] == "witness_mismatch"
    ]


async def pending_item(agent, rev, command: str = "make deploy") -> tuple[asyncio.Task, dict]:
    waiting = asyncio.create_task(agent.call("gate.request", req(command, wait_s=30), timeout=40))
    return waiting, (await rev.event("request.new"))["request"]


async def test_a_forged_checkpoint_is_refused_and_a_true_one_accepted(make_world, start_daemon, connect):
    w = make_world(POLICY)
    await start_daemon(w)
    agent, rev = await connect(w.sock), await connect(w.rsock)
    await rev.call("queue.subscribe")
    waiting, item = await pending_item(agent, rev)
    seen = await rev.call(LEDGER_CHECKPOINT, {"since": 0})
    size, root = seen["size"], seen["root"]

    forged = {"size": size, "root": ("0" if root[0] != "0" else "1") + root[1:]}
    err = await rev.error("queue.decide", signed(w, "alice", item, forged))
    assert err["code"] == BAD_SIGNATURE and f"size {size}" in err["message"], (
        "an approval cosigning a root this ledger never had was accepted"
    )
    beyond = {"size": size + 1000, "root": root}
    err = await rev.error("queue.decide", signed(w, "alice", item, beyond))
    assert err["code"] == BAD_SIGNATURE and "holds" in err["message"], "a size beyond the ledger was accepted"
    kinds = witness_violations(w)
    assert len(kinds) == 2 and all(v["request_id"] == item["request_id"] for v in kinds), (
        "the refused witnesses are not in the ledger as violations"
    )
    assert not waiting.done(), "a refused approval decided the request"

    ok = await rev.call("queue.decide", signed(w, "alice", item, {"size": size, "root": root}))
    assert ok["status"] == "allowed", "the checkpoint the daemon handed out was refused"
    assert (await waiting)["status"] == "allowed"
    verify_clean(w)


async def test_an_older_size_never_handed_out_is_checked_against_the_file(make_world, start_daemon, connect):
    """After a restart (or for any size the daemon does not remember) the root is rehashed from the
    ledger file: a true one passes, a wrong one is refused."""
    w = make_world(POLICY)
    await start_daemon(w)
    agent, rev = await connect(w.sock), await connect(w.rsock)
    await rev.call("queue.subscribe")
    waiting, item = await pending_item(agent, rev)
    old = 2
    wrong = {"size": old, "root": root_of_first(w, old + 1)}
    err = await rev.error("queue.decide", signed(w, "alice", item, wrong))
    assert err["code"] == BAD_SIGNATURE, "a root of another size was accepted for size 2"
    ok = await rev.call(
        "queue.decide", signed(w, "alice", item, {"size": old, "root": root_of_first(w, old)})
    )
    assert ok["status"] == "allowed", "a true root of an earlier size was refused"
    await waiting
    without = await pending_item(agent, rev, "make deploy again")
    ok = await rev.call("queue.decide", signed(w, "alice", without[1], None))
    assert ok["status"] == "allowed", "an approval with no checkpoint (still valid) was refused"
    await without[0]
    verify_clean(w)


async def test_a_policy_approval_with_a_forged_checkpoint_is_refused(make_world, start_daemon, connect):
    w = make_world(POLICY)
    await start_daemon(w)
    rev = await connect(w.rsock)
    await rev.call("queue.subscribe")
    looser = POLICY.replace('decision = "ask"', 'decision = "allow"')
    w.write_policy(looser)
    digest = hashlib.sha256(looser.encode()).hexdigest()
    assert (await rev.event("policy.pending"))["digest"] == digest
    seen = await rev.call(LEDGER_CHECKPOINT, {"since": 0})
    forged = {"size": seen["size"], "root": "ab" * 32}
    st = policy_statement(digest, "alice", w.project.project_id, forged)
    err = await rev.error("policy.approve", sign_policy_statement(w.keys["alice"], st))
    assert err["code"] == BAD_SIGNATURE, (
        "a policy approval cosigning a forged checkpoint put the policy in force"
    )
    assert witness_violations(w), "the refusal is not in the ledger"
    status = await rev.call("status")
    assert (status["policy"].get("pending") or {}).get("digest") == digest, (
        "the change left the pending state"
    )
    st = policy_statement(digest, "alice", w.project.project_id, {"size": seen["size"], "root": seen["root"]})
    assert (await rev.call("policy.approve", sign_policy_statement(w.keys["alice"], st)))[
        "status"
    ] == "in_force"
