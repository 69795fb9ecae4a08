"""Every gate path against a real in-process daemon on a real Unix socket (docs/design.md §6, §8, §9).

Each test says in its assertions' messages what would be wrong if it failed.
"""

from __future__ import annotations

import asyncio
import hashlib

from gatehelp import req, reviewer_key, sign, verify_clean

POLICY = """\
version = 1
default = "ask"
approval_timeout = "10m"

[[rule]]
id = "read"
match = { kind = "file.read" }
decision = "allow"

[[rule]]
id = "no-force-push"
match = { kind = "shell.exec", command = ["git push --force*"] }
decision = "deny"
reason = "force pushes rewrite shared history"

[[rule]]
id = "tests"
match = { kind = "shell.exec", command = ["pytest*"] }
decision = "allow"

[[rule]]
id = "protect-auth"
match = { kind = "file.write", paths = ["src/auth/**"] }
decision = "ask"
approvals = 2
distinct_from = ["requester", "principal"]

[[rule]]
id = "infra"
match = { kind = "file.write", paths = ["infra/**"] }
decision = "ask"
approvals = 3

[[rule]]
id = "deploy-after-tests"
match = { kind = "deploy" }
requires_prior = ["tests"]
decision = "ask"
"""

PENDING_ITEM_KEYS = {
    "request_id", "seq", "request_hash", "received_at", "expires_at", "actor", "principal", "claimed_principal",
    "process",
    "action", "content", "requirement", "client", "rule", "rules", "reason", "approvals_needed",
    "approvals", "distinct_from", "distinct_by", "session_history",
}  # fmt: skip


def leaf(line: bytes) -> str:
    return hashlib.sha256(b"\x00" + line).hexdigest()


def by_request(world) -> dict[str, dict[str, list]]:
    """request_id -> {record type -> [(seq, record, leaf)]} from the ledger file."""
    out: dict[str, dict[str, list]] = {}
    for line in world.ledger_lines():
        import json

        rec = json.loads(line)
        body = rec["body"]
        rid = body.get("request_id") or (body.get("approval") or {}).get("request_id")
        if rid:
            out.setdefault(rid, {}).setdefault(rec["type"], []).append((rec["seq"], rec, leaf(line)))
    return out


def violations(world) -> list[dict]:
    return [r["body"] for r in world.records() if r["type"] == "violation"]


async def test_allow_deny_and_ask_are_recorded_before_the_answer(make_world, start_daemon, connect):
    w = make_world(POLICY)
    await start_daemon(w)
    c = await connect(w.sock)  # the agent socket
    hello = await c.call("hello", {"client": "test", "version": "0"})
    assert hello["protocol"] == 1 and hello["project_id"] == w.project.project_id

    allowed = await c.call("gate.request", req(kind="file.read", paths=["README.md"]))
    denied = await c.call("gate.request", req("git push --force origin main"))
    asked = await c.call("gate.request", req("make build"))
    assert (allowed["status"], allowed["rule"], allowed["decided_by"]) == ("allowed", "read", "policy")
    assert (denied["status"], denied["rule"]) == ("denied", "no-force-push"), "a deny rule did not deny"
    assert denied["reason"] == "force pushes rewrite shared history", "the deny reason is not passed on"
    assert (asked["status"], asked["decided_by"]) == ("pending", "policy"), "default ask did not queue"

    recs = by_request(w)
    for res in (allowed, denied, asked):
        r = recs[res["request_id"]]
        (rseq, _rrec, rleaf), (dseq, drec, _dl) = r["request"][0], r["decision"][0]
        assert dseq == res["seq"] and rseq < dseq, "the answer's seq is not its durable decision record"
        assert drec["body"]["status"] == res["status"], "the ledger says something else than the agent heard"
        assert drec["body"]["request_hash"] == rleaf, "the decision does not bind to its request's hash"
        assert r["request"][0][1]["body"]["process"]["pid"] is not None, "peer credentials not recorded"

    rev = await connect(w.rsock)  # the queue is the reviewers'
    (item,) = (await rev.call("queue.list"))["pending"]
    assert set(item) == PENDING_ITEM_KEYS, "PendingItem shape changed (the TUI depends on it)"
    assert item["request_id"] == asked["request_id"] and item["request_hash"] == leaf(
        w.ledger_lines()[recs[asked["request_id"]]["request"][0][0]]
    )
    status = await c.call("status")
    assert status["pending"] == 1 and status["counts"]["allowed"] == 1 and status["counts"]["denied"] == 1
    verify_clean(w)


async def test_concurrent_decisions_each_bind_to_their_own_request(make_world, start_daemon, connect):
    """Group commit batches many callers into one write; each decision must still name its own request
    hash, or approvals (which bind to the hash the queue shows) fail verification as unbound."""
    w = make_world(POLICY)
    await start_daemon(w)
    conns = [await connect(w.sock) for _ in range(8)]
    cmds = ["pytest -q", "make build", "git push --force x"]
    results = await asyncio.gather(
        *(conns[i % 8].call("gate.request", req(cmds[i % 3], session=f"s{i}")) for i in range(96))
    )
    recs = by_request(w)
    for res in results:
        r = recs[res["request_id"]]
        assert r["decision"][0][1]["body"]["request_hash"] == r["request"][0][2], (
            "a batched decision names another request's hash"
        )
        assert r["decision"][0][0] == res["seq"]
    verify_clean(w)


async def test_two_approvals_distinct_from_requester_and_principal(make_world, start_daemon, connect):
    w = make_world(POLICY)
    await start_daemon(w)
    agent, rev = await connect(w.sock), await connect(w.rsock)
    await rev.call("queue.subscribe")
    waiting = asyncio.create_task(
        agent.call(
            "gate.request",
            req(kind="file.write", paths=["src/auth/session.py"], principal="alice", wait_s=30),
            timeout=40,
        )
    )
    new = await rev.event("request.new")
    item = new["request"]
    assert item["approvals_needed"] == 2 and item["distinct_from"] == ["principal", "requester"]

    err = await rev.error("queue.decide", sign(w, "alice", item))
    assert err["code"] == 4002, "the principal approved a request made on their behalf"
    assert violations(w)[-1]["kind"] == "self_approval", "a self-approval attempt is not in the ledger"

    first = await rev.call("queue.decide", sign(w, "bob", item))
    assert (first["status"], first["approvals"], first["needed"]) == ("pending", 1, 2), (
        "one approval of two decided"
    )
    upd = await rev.event("request.updated")
    assert upd["request"]["approvals"][0]["reviewer"] == "bob"
    again = await rev.error("queue.decide", sign(w, "bob", item))
    assert again["code"] == 4005, "one reviewer counted twice"
    assert not waiting.done(), "the agent heard a decision before the quorum"

    final = await rev.call("queue.decide", sign(w, "carol", item))
    assert final["status"] == "allowed"
    res = await waiting
    assert (res["status"], res["decided_by"]) == ("allowed", "reviewers"), (
        "the waiting agent did not hear the approval"
    )
    decided = await rev.event("request.decided")
    assert decided["request_id"] == item["request_id"] and decided["status"] == "allowed"
    dec = by_request(w)[item["request_id"]]["decision"][-1][1]["body"]
    assert len(dec["approval_seqs"]) == 2
    verify_clean(w)


async def test_concurrent_approvals_reach_the_quorum(make_world, start_daemon, connect):
    """Two reviewers approving at the same moment: the second must see the first and decide."""
    w = make_world(POLICY)
    await start_daemon(w)
    agent, bob, carol = (
        (await connect(w.rsock) for _ in range(3))
        if False
        else (await connect(w.rsock), await connect(w.rsock), await connect(w.rsock))
    )
    for round_ in range(5):
        r = await agent.call("gate.request", req(kind="file.write", paths=[f"src/auth/f{round_}.py"]))
        (item,) = [
            p for p in (await agent.call("queue.list"))["pending"] if p["request_id"] == r["request_id"]
        ]
        a, b = await asyncio.gather(
            bob.call("queue.decide", sign(w, "bob", item)), carol.call("queue.decide", sign(w, "carol", item))
        )
        assert {a["status"], b["status"]} == {"pending", "allowed"}, f"quorum lost in a race: {a} {b}"
        done = await agent.call("gate.wait", {"request_id": r["request_id"], "wait_s": 5})
        assert done["status"] == "allowed", "two approvals at once left the request pending"
    verify_clean(w)


async def test_one_reviewer_approving_twice_at_once_counts_once(make_world, start_daemon, connect):
    w = make_world(POLICY)
    await start_daemon(w)
    agent, b1, b2 = await connect(w.rsock), await connect(w.rsock), await connect(w.rsock)
    r = await agent.call("gate.request", req(kind="file.write", paths=["infra/main.tf"]))
    (item,) = (await agent.call("queue.list"))["pending"]
    assert item["approvals_needed"] == 3
    x, y = await asyncio.gather(
        b1.raw("queue.decide", sign(w, "bob", item)), b2.raw("queue.decide", sign(w, "bob", item))
    )
    assert sorted(("error" in x, "error" in y)) == [False, True], f"bob's approval counted twice: {x} {y}"
    third = await agent.call("queue.decide", sign(w, "carol", item))
    assert third["status"] == "pending", "3 approvals needed, allowed with 2 distinct reviewers"
    final = await agent.call("queue.decide", sign(w, "alice", item))
    assert final["status"] == "allowed"
    assert (await agent.call("gate.wait", {"request_id": r["request_id"]}))["status"] == "allowed"
    verify_clean(w)


async def test_forged_replayed_and_unknown_approvals_are_refused_and_recorded(
    make_world, start_daemon, connect
):
    w = make_world(POLICY)
    await start_daemon(w)
    c = await connect(w.rsock)
    ra = await c.call("gate.request", req("make a"))
    rb = await c.call("gate.request", req("make b"))
    items = {p["request_id"]: p for p in (await c.call("queue.list"))["pending"]}
    a, b = items[ra["request_id"]], items[rb["request_id"]]

    w.keys["mallory"] = reviewer_key("mallory")  # a key nobody registered
    forged = await c.error("queue.decide", sign(w, "mallory", a, as_name="bob"))
    assert forged["code"] == 4003, "an approval signed with the wrong key was accepted"
    unknown = await c.error("queue.decide", sign(w, "mallory", a))
    assert unknown["code"] == 4001, "an unregistered reviewer was accepted"
    replay = await c.error("queue.decide", sign(w, "bob", b, request_hash=a["request_hash"]))
    assert replay["code"] == 4003, "an approval bound to another request's hash was accepted"
    assert (await c.call("queue.decide", sign(w, "bob", a)))["status"] == "allowed"
    again = await c.error("queue.decide", sign(w, "carol", a))
    assert again["code"] == 4005, "a decided request accepted another approval"
    nothing = await c.error("queue.decide", sign(w, "bob", {**a, "request_id": "r-0000000000000000"}))
    assert nothing["code"] == 4004
    bad = await c.error("queue.decide", {"approval": {"request_id": "x"}, "reviewer_sig": "AA=="})
    assert bad["code"] == -32602

    kinds = [v["kind"] for v in violations(w)]
    assert kinds == ["forged_approval", "unknown_reviewer", "unbound_approval", "replayed_approval"], kinds
    assert (await c.call("gate.wait", {"request_id": b["request_id"]}))["status"] == "pending"
    verify_clean(w)


async def test_requester_cannot_approve_even_under_a_prefixed_actor_id(make_world, start_daemon, connect):
    """`forge-tui request` names a human requester `cli:<user>`; that user is still the requester."""
    w = make_world(POLICY)
    await start_daemon(w)
    c = await connect(w.rsock)
    for aid, who in (("bob", "bob"), ("cli:bob", "bob")):
        r = await c.call(
            "gate.request",
            {
                "action": {"kind": "shell.exec", "command": "make"},
                "actor": {"id": aid, "kind": "human", "session": "h"},
            },
        )
        (item,) = [p for p in (await c.call("queue.list"))["pending"] if p["request_id"] == r["request_id"]]
        err = await c.error("queue.decide", sign(w, who, item))
        assert err["code"] == 4002, f"{who} approved their own request made as {aid}"
    assert [v["kind"] for v in violations(w)] == ["self_approval", "self_approval"]


async def test_reject_with_reason_denies_the_waiting_agent(make_world, start_daemon, connect):
    w = make_world(POLICY)
    await start_daemon(w)
    agent, rev = await connect(w.sock), await connect(w.rsock)
    await rev.call("queue.subscribe")
    waiting = asyncio.create_task(agent.call("gate.request", req("make deploy-ish", wait_s=30), timeout=40))
    item = (await rev.event("request.new"))["request"]
    res = await rev.call(
        "queue.decide", sign(w, "carol", item, verdict="reject", reason="not during the freeze")
    )
    assert res["status"] == "denied"
    heard = await waiting
    assert (heard["status"], heard["decided_by"]) == ("denied", "reviewers"), "a rejection did not deny"
    assert "not during the freeze" in heard["reason"], "the reviewer's reason did not reach the agent"
    dec = by_request(w)[item["request_id"]]["decision"][-1][1]["body"]
    assert dec["status"] == "denied" and "not during the freeze" in dec["reason"]
    verify_clean(w)


async def test_pending_request_expires_denied_by_timeout(make_world, start_daemon, connect):
    w = make_world(POLICY.replace('approval_timeout = "10m"', 'approval_timeout = "1s"'))
    await start_daemon(w)
    agent, rev = await connect(w.sock), await connect(w.rsock)
    await rev.call("queue.subscribe")
    r = await agent.call("gate.request", req("make slow"))
    assert r["status"] == "pending"
    res = await agent.call("gate.wait", {"request_id": r["request_id"], "wait_s": 10}, timeout=15)
    assert (res["status"], res["decided_by"]) == ("denied", "timeout"), "an expired request was not denied"
    ev = await rev.event("request.decided")
    assert ev["request_id"] == r["request_id"] and ev["decided_by"] == "timeout"
    dec = by_request(w)[r["request_id"]]["decision"][-1]
    assert dec[0] == res["seq"] and dec[1]["body"]["decided_by"] == "timeout", (
        "the expiry is not in the ledger"
    )
    assert (await rev.call("queue.list"))["pending"] == []
    verify_clean(w)


async def test_requires_prior_needs_a_succeeded_tests_outcome_in_the_same_session(
    make_world, start_daemon, connect
):
    w = make_world(POLICY)
    await start_daemon(w)
    c = await connect(w.sock)
    deploy = {"kind": "deploy", "summary": "ship it"}
    first = await c.call("gate.request", {"action": deploy, "actor": {"id": "agent-1", "session": "s1"}})
    assert first["status"] == "denied" and "tests" in first["reason"], (
        "deploy before tests was not denied naming the step"
    )

    failed = await c.call("gate.request", req("pytest -q", session="s1"))
    await c.call("gate.outcome", {"request_id": failed["request_id"], "status": "failed"})
    still = await c.call("gate.request", {"action": deploy, "actor": {"id": "agent-1", "session": "s1"}})
    assert still["status"] == "denied", "a failed test run satisfied requires_prior"

    tests = await c.call("gate.request", req("pytest -q", session="s1"))
    assert tests["status"] == "allowed"
    await c.call("gate.outcome", {"request_id": tests["request_id"], "status": "succeeded"})
    after = await c.call("gate.request", {"action": deploy, "actor": {"id": "agent-1", "session": "s1"}})
    assert after["status"] == "pending" and after["rule"] == "deploy-after-tests", (
        "passing tests did not unlock deploy"
    )
    other = await c.call("gate.request", {"action": deploy, "actor": {"id": "agent-1", "session": "s2"}})
    assert other["status"] == "denied", "another session's tests unlocked this session's deploy"
    verify_clean(w)


async def test_max_per_minute_opens_the_circuit_breaker_per_peer_not_per_session(
    make_world, start_daemon, connect
):
    """The breaker keys on the peer the kernel names (its uid), so a new session id (the agent picks
    it) does not buy a fresh budget; nor does a new connection."""
    w = make_world(POLICY.replace('approval_timeout = "10m"', 'approval_timeout = "10m"\nmax_per_minute = 3'))
    await start_daemon(w)
    c = await connect(w.sock)
    got = [await c.call("gate.request", req("pytest", session="busy")) for _ in range(5)]
    assert [g["status"] for g in got] == ["allowed"] * 3 + ["denied"] * 2, "the breaker did not trip at 3"
    assert got[3]["rule"] == "builtin:rate-limit"
    rotated = await c.call("gate.request", req("pytest", session="calm"))
    assert rotated["status"] == "denied", "a fresh session id reset the rate limit"
    other = await connect(w.sock)
    again = await other.call("gate.request", req("pytest", session="fresh-conn"))
    assert again["status"] == "denied" and again["rule"] == "builtin:rate-limit", "a new connection reset it"
    verify_clean(w)


async def test_built_in_rules_hold_even_when_the_policy_allows_everything(make_world, start_daemon, connect):
    w = make_world(
        'version = 1\ndefault = "allow"\n\n[[rule]]\nid = "all"\nmatch = { kind = ["file.write", "shell.exec"] }\ndecision = "allow"\n'
    )
    await start_daemon(w)
    c = await connect(w.sock)
    ok = await c.call("gate.request", req(kind="file.write", paths=["src/app.py"]))
    assert ok["status"] == "allowed"
    pol = await c.call("gate.request", req(kind="file.write", paths=[".forge/policy.toml"]))
    assert (pol["status"], pol["rule"]) == ("denied", "builtin:protect-forge"), "an agent rewrote the policy"
    appr = await c.call("gate.request", req("forge-tui approve r-1234 --as bob"))
    assert (appr["status"], appr["rule"]) == ("denied", "builtin:no-self-review"), (
        "an agent ran forge-tui approve"
    )
    sneaky = await c.call("gate.request", req("echo ok && forge-tui reject r-1 --as bob --reason x"))
    assert sneaky["status"] == "denied"
    verify_clean(w)
