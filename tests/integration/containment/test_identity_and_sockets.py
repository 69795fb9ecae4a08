"""Identity comes from the connection, not the message (issue 7, items 1 and 7).

Each test is one attack an agent running as the reviewer's OS user can try with what it has (the agent
socket, any message it likes): the exact attack, the refusal, and what the ledger records.
"""

from __future__ import annotations

import asyncio
import os
import stat

import pytest
from gatehelp import req, sign, verify_clean

from forge_tui.daemon.gate import daemon_principal
from forge_tui.errors import ConfigError
from forge_tui.protocol import AGENT_METHODS, SELF_APPROVAL, UNAUTHORIZED

POLICY = """\
version = 1
default = "ask"
approval_timeout = "10m"

[[rule]]
id = "tests"
match = { kind = "shell.exec", command = ["pytest*"] }
decision = "allow"

[[rule]]
id = "everything-else"
match = { kind = ["file.write", "file.read"] }
decision = "allow"

[[rule]]
id = "prod"
match = { kind = "deploy" }
decision = "ask"
distinct_from = ["principal"]
"""


def violations(world) -> list[dict]:
    return [r["body"] for r in world.records() if r["type"] == "violation"]


def requests(world) -> list[dict]:
    return [r["body"] for r in world.records() if r["type"] == "request"]


async def test_reviewer_methods_on_the_agent_socket_are_refused_and_recorded(
    make_world, start_daemon, connect
):
    """Attack: the agent, which can reach the agent socket, sends queue.list / queue.decide / ledger.note /
    policy.reload there, with a valid reviewer signature it obtained somehow. Refused 4001 naming the
    reviewer socket; one `wrong_socket` violation per connection; the request stays pending."""
    w = make_world(POLICY)
    await start_daemon(w)
    agent = await connect(w.sock)
    pending = await agent.call("gate.request", req("make release"))
    assert pending["status"] == "pending"
    rev = await connect(w.rsock)
    (item,) = (await rev.call("queue.list"))["pending"]

    for method, params in (
        ("queue.list", {}),
        ("queue.subscribe", {}),
        ("queue.decide", sign(w, "alice", item)),
        ("ledger.note", {"text": "all fine"}),
        ("policy.reload", {}),
    ):
        err = await agent.error(method, params)
        assert err["code"] == UNAUTHORIZED, (method, err)
        assert "reviewer socket" in err["message"], err["message"]
    for method in sorted(AGENT_METHODS - {"gate.request", "gate.wait", "gate.outcome"}):
        await agent.call(method, {})  # what the agent socket does answer still works
    assert len((await rev.call("queue.list"))["pending"]) == 1, "a refused decide decided the request"
    found = [v for v in violations(w) if v["kind"] == "wrong_socket"]
    assert len(found) == 1 and found[0]["peer"]["pid"] == os.getpid(), found
    verify_clean(w)


async def test_claimed_human_writing_the_policy_is_still_an_agent(make_world, start_daemon, connect):
    """Attack: `forge-tui request --kind file.write --path .forge/policy.toml` with actor.kind "human".
    Denied by the built-in rule; the request records kind agent and the claim as claimed_kind."""
    w = make_world(POLICY)
    await start_daemon(w)
    c = await connect(w.sock)
    res = await c.call(
        "gate.request",
        {
            "action": {"kind": "file.write", "paths": [".forge/policy.toml"]},
            "actor": {"id": "cli:alice", "kind": "human", "session": "s"},
        },
    )
    assert (res["status"], res["rule"]) == ("denied", "builtin:protect-forge"), res
    (body,) = [b for b in requests(w) if b["request_id"] == res["request_id"]]
    assert body["actor"]["kind"] == "agent" and body["actor"]["claimed_kind"] == "human", body["actor"]
    verify_clean(w)


@pytest.mark.parametrize("claim", [None, "", "  " + "X" * 3, "Alice ", "ALICE"], ids=repr)
async def test_principal_comes_from_the_daemon_and_claims_only_add(make_world, start_daemon, connect, claim):
    """Attack: the agent omits `principal`, sends a blank one, someone else's, or "Alice " / "ALICE"
    to let alice approve a rule with distinct_from = ["principal"]. The principal recorded is the daemon's
    OS user; a claim is kept beside it and also excluded; alice, when she is either, is refused 4002 and
    a self_approval violation is written."""
    me = daemon_principal()
    w = make_world(POLICY, reviewers=("alice", me, "carol"))
    await start_daemon(w)
    agent, rev = await connect(w.sock), await connect(w.rsock)
    params: dict = {"action": {"kind": "deploy", "summary": "ship"}, "actor": {"id": "bot", "session": "s"}}
    if claim is not None:
        params["principal"] = claim
    r = await agent.call("gate.request", params)
    assert r["status"] == "pending"
    (item,) = (await rev.call("queue.list"))["pending"]
    assert item["principal"] == me, "the principal is not the OS user the daemon runs as"

    err = await rev.error("queue.decide", sign(w, me, item))
    assert err["code"] == SELF_APPROVAL, "the daemon's own user approved a principal-excluded request"
    if claim and claim.strip().casefold() == "alice":
        assert item["claimed_principal"] == "alice", "the claim is not normalised"
        err = await rev.error("queue.decide", sign(w, "alice", item))
        assert err["code"] == SELF_APPROVAL, f"principal claim {claim!r} let alice approve"
    assert [v["kind"] for v in violations(w)].count("self_approval") >= 1
    ok = await rev.call("queue.decide", sign(w, "carol", item))
    assert ok["status"] == "allowed", "an uninvolved reviewer could not approve"
    verify_clean(w)


async def test_requester_claims_are_normalised(make_world, start_daemon, connect):
    """Attack: the agent names itself "Bob " so that reviewer bob can approve its request. Refused."""
    w = make_world(POLICY)
    await start_daemon(w)
    c = await connect(w.rsock)
    r = await c.call(
        "gate.request", {"action": {"kind": "deploy"}, "actor": {"id": "cli:Bob ", "session": "s"}}
    )
    (item,) = (await c.call("queue.list"))["pending"]
    assert item["request_id"] == r["request_id"]
    assert (await c.error("queue.decide", sign(w, "bob", item)))["code"] == SELF_APPROVAL


# ---- hygiene (item 7) ----------------------------------------------------------------------------------


async def test_a_file_at_the_socket_path_is_never_deleted(make_world, start_daemon):
    """Attack: a regular file (or a symlink to one) where the socket goes. The daemon refuses to start
    and the file is still there, unchanged."""
    w = make_world(POLICY)
    w.sock.write_text("precious\n")
    with pytest.raises(ConfigError, match="not a socket"):
        await start_daemon(w)
    assert w.sock.read_text() == "precious\n"
    w.sock.unlink()
    target = w.home / "target"
    target.write_text("also precious\n")
    w.sock.symlink_to(target)
    with pytest.raises(ConfigError, match="not a socket"):
        await start_daemon(w)
    assert w.sock.is_symlink() and target.read_text() == "also precious\n"


async def test_an_existing_folder_is_never_chmodded(make_world, start_daemon, connect):
    """The agent socket's folder keeps its mode (0755 here); the reviewer socket's folder, when open to
    others, makes the daemon refuse to start instead of changing it."""
    w = make_world(POLICY)
    shared = w.home / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    w.sock = shared / "a.sock"
    open_review = w.home / "open"
    open_review.mkdir()
    os.chmod(open_review, 0o755)
    w.review_sock = open_review / "r.sock"
    with pytest.raises(ConfigError, match="open to others"):
        await start_daemon(w)
    assert stat.S_IMODE(os.stat(open_review).st_mode) == 0o755, "the daemon chmodded a folder it found"
    w.review_sock = w.home / "fresh" / "r.sock"
    await start_daemon(w)
    assert stat.S_IMODE(os.stat(shared).st_mode) == 0o755, "the daemon chmodded the agent socket's folder"
    assert stat.S_IMODE(os.stat(w.review_sock.parent).st_mode) == 0o700, "a folder it made is not private"
    for path in (w.sock, w.review_sock):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


async def test_partial_lines_and_idle_connections_are_closed(make_world, start_daemon):
    """A peer that starts a line and never finishes it, or connects and says nothing, is cut off after
    its timeout; a peer with a request in flight is not."""
    w = make_world(POLICY)
    await start_daemon(w, idle_timeout_s=0.5, partial_timeout_s=0.3)
    r1, w1 = await asyncio.open_unix_connection(str(w.sock))
    w1.write(b'{"jsonrpc": "2.0", "id": 1, "meth')
    await w1.drain()
    r2, _w2 = await asyncio.open_unix_connection(str(w.sock))
    line = await asyncio.wait_for(r1.readline(), 10)
    assert b"partial line" in line, line
    assert await asyncio.wait_for(r1.read(), 10) == b"", "the half-line connection stayed open"
    line = await asyncio.wait_for(r2.readline(), 10)
    assert b"idle" in line, line
    assert await asyncio.wait_for(r2.read(), 10) == b""


async def test_connections_per_peer_are_capped(make_world, start_daemon, connect):
    """One process opening connection after connection: past the cap the next is refused at once, and
    closing one makes room again."""
    w = make_world(POLICY)
    d = await start_daemon(w, max_conn_per_peer=4)
    held = [await connect(w.sock) for _ in range(4)]
    for c in held:
        await c.call("hello")
    reader, writer = await asyncio.open_unix_connection(str(w.sock))
    reply = await asyncio.wait_for(reader.readline(), 10)
    assert b"too many connections" in reply, reply
    assert await asyncio.wait_for(reader.read(), 10) == b"", "the refused connection stayed open"
    writer.close()
    await held[0].close()
    deadline = asyncio.get_running_loop().time() + 10
    while sum(1 for c in d.connections if c.role == "agent") > 3:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)  # polling a condition with a deadline
    again = await connect(w.sock)
    assert (await again.call("hello"))["protocol"] == 1
    rev = await connect(w.rsock)  # the reviewer socket has its own count
    assert (await rev.call("hello"))["protocol"] == 1
