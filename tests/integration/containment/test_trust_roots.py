"""Trust roots change only with a reviewer's signature (issue 7, item 2; issue 10, stable policy reads).

The reviewers in force and the policy in force come from the ledger and the daemon's own state; the
working tree (reviewers.toml, policy.toml, whatever branch is checked out) only proposes.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import subprocess

import pytest
from gatehelp import req, reviewer_key, sign, verify_clean

from forge_tui.core.reviewers import Reviewer, load_reviewers, save_reviewers
from forge_tui.core.trust import (
    policy_statement,
    project_trust,
    reviewer_statement,
    sign_policy_statement,
    sign_reviewer_statement,
)
from forge_tui.daemon.policy_watch import stable_read
from forge_tui.protocol import BAD_SIGNATURE, NOT_PENDING, POLICY_APPROVE, REVIEWER_ENROL, UNAUTHORIZED

STRICT = """\
version = 1
default = "ask"
approval_timeout = "10m"

[[rule]]
id = "no-env"
match = { kind = "file.read", paths = [".env"] }
decision = "deny"
reason = "secrets stay put"
"""

LOOSE = """\
version = 1
default = "allow"
"""

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def violations(world, kind: str) -> list[dict]:
    return [r["body"] for r in world.records() if r["type"] == "violation" and r["body"]["kind"] == kind]


def policy_records(world) -> list[dict]:
    return [r["body"] for r in world.records() if r["type"] == "policy"]


def git(root, *args: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
        "HOME": str(root),
        "PATH": "/usr/bin:/bin:/usr/local/bin",
    }
    return subprocess.run(
        ["git", "-C", str(root), *args], check=True, capture_output=True, text=True, env=env
    ).stdout


def read_env(session: str = "s") -> dict:
    return req(kind="file.read", paths=[".env"], session=session)


@needs_git
async def test_reviewers_toml_rewritten_through_git_log_does_not_enrol_the_agent(
    make_world, start_daemon, connect
):
    """Attack (issue 7): the agent commits a message holding reviewers.toml plus a reviewer of its own
    and writes it back with `git log -1 --format=%B --output=.forge/reviewers.toml`, then approves its
    request with its own key. Refused (4001, unknown_reviewer violation); the request stays pending."""
    w = make_world(STRICT)
    root = w.project.root
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "init")
    await start_daemon(w)
    agent, rev = await connect(w.sock), await connect(w.rsock)
    r = await agent.call("gate.request", req("make deploy"))
    assert r["status"] == "pending"

    mallory = reviewer_key("mallory")
    w.keys["mallory"] = mallory
    forged = load_reviewers(w.project.reviewers_path)
    forged["mallory"] = Reviewer("mallory", mallory.verifier)
    save_reviewers(w.project.reviewers_path, forged)
    message = w.project.reviewers_path.read_text()
    git(root, "checkout", "-q", "--", ".forge/reviewers.toml")
    git(root, "commit", "-q", "--allow-empty", "-m", message)
    git(root, "log", "-1", "--format=%B", "--output=.forge/reviewers.toml")
    assert "mallory" in w.project.reviewers_path.read_text(), "the attack did not rewrite the file"

    (item,) = (await rev.call("queue.list"))["pending"]
    err = await rev.error("queue.decide", sign(w, "mallory", item))
    assert err["code"] == UNAUTHORIZED and "not an enrolled reviewer" in err["message"], err
    assert violations(w, "unknown_reviewer"), "the refusal is not in the ledger"
    assert len((await rev.call("queue.list"))["pending"]) == 1
    assert "mallory" not in project_trust(w.project).reviewers


async def test_enrolment_needs_an_existing_reviewers_signature(make_world, start_daemon, connect):
    """Attack: the agent sends reviewer.enrol for its own key, self-signed, or signed in alice's name
    with its own key. Refused and recorded; signed by alice it is accepted and takes effect at once."""
    w = make_world(STRICT)
    await start_daemon(w)
    rev = await connect(w.rsock)
    mallory = reviewer_key("mallory")
    pid = w.project.project_id
    own = sign_reviewer_statement(
        mallory, reviewer_statement("enrol", "mallory", mallory.verifier.vkey, pid, "mallory")
    )
    err = await rev.error(REVIEWER_ENROL, own)
    assert err["code"] == UNAUTHORIZED and "self-signed" not in err["message"], err
    posing = sign_reviewer_statement(
        mallory, reviewer_statement("enrol", "mallory", mallory.verifier.vkey, pid, "alice")
    )
    err = await rev.error(REVIEWER_ENROL, posing)
    assert err["code"] == UNAUTHORIZED and "does not verify" in err["message"], err
    assert len(violations(w, "forged_enrolment")) == 2
    agent = await connect(w.sock)
    err = await agent.error(REVIEWER_ENROL, own)
    assert err["code"] == UNAUTHORIZED and "reviewer socket" in err["message"], (
        "enrolment over the agent socket"
    )

    good = sign_reviewer_statement(
        w.keys["alice"], reviewer_statement("enrol", "dave", reviewer_key("dave").verifier.vkey, pid, "alice")
    )
    assert (await rev.call(REVIEWER_ENROL, good))["seq"] > 0
    assert "dave" in load_reviewers(w.project.reviewers_path), "reviewers.toml is not exported"
    assert "dave" in project_trust(w.project).active()
    verify_clean(w)


@needs_git
async def test_branch_switch_to_an_older_looser_policy_waits_for_a_reviewer(
    make_world, start_daemon, connect
):
    """Attack (issue 7): `git stash; git switch -c x OLD` brings back a looser policy.toml. It becomes a
    pending policy change, shown with its diff; the strict policy stays in force (.env still denied)
    until a reviewer signs the new digest; an approval by a non-reviewer or for another digest fails."""
    w = make_world(LOOSE)
    root = w.project.root
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "loose")
    old = git(root, "rev-parse", "HEAD").strip()
    w.write_policy(STRICT)
    git(root, "commit", "-qam", "strict")
    await start_daemon(w)  # the init policy: the file's at first start
    agent, rev = await connect(w.sock), await connect(w.rsock)
    await rev.call("queue.subscribe")
    assert (await agent.call("gate.request", read_env()))["status"] == "denied"

    git(root, "switch", "-q", "-c", "x", old)
    ev = await rev.event("policy.pending")
    loose_digest = hashlib.sha256(LOOSE.encode()).hexdigest()
    assert (
        ev["digest"] == loose_digest
        and '-default = "ask"' in ev["diff"]
        and '+default = "allow"' in ev["diff"]
    )
    res = await agent.call("gate.request", read_env())
    assert (res["status"], res["rule"]) == ("denied", "no-env"), "the looser policy took effect unsigned"
    st = await agent.call("status")
    assert st["policy"]["pending"]["digest"] == loose_digest
    assert st["policy"]["digest"] == hashlib.sha256(STRICT.encode()).hexdigest()
    assert policy_records(w)[-1]["event"] == "pending"

    pid = w.project.project_id
    mallory = reviewer_key("mallory")
    forged = sign_policy_statement(mallory, policy_statement(loose_digest, "alice", pid))
    assert (await rev.error(POLICY_APPROVE, forged))["code"] == BAD_SIGNATURE
    assert violations(w, "forged_policy_approval")
    other = sign_policy_statement(w.keys["alice"], policy_statement("0" * 64, "alice", pid))
    assert (await rev.error(POLICY_APPROVE, other))["code"] == NOT_PENDING
    err = await agent.error(
        POLICY_APPROVE, sign_policy_statement(w.keys["alice"], policy_statement(loose_digest, "alice", pid))
    )
    assert err["code"] == UNAUTHORIZED, "a policy approval went through the agent socket"

    ok = await rev.call(
        POLICY_APPROVE, sign_policy_statement(w.keys["alice"], policy_statement(loose_digest, "alice", pid))
    )
    assert ok["status"] == "in_force"
    assert (await agent.call("gate.request", read_env()))["status"] == "allowed", (
        "the approved policy is not in force"
    )
    assert (w.project.forge_dir / "policies" / f"{loose_digest}.toml").read_text() == LOOSE, (
        "policy text not archived"
    )
    verify_clean(w)


async def test_a_pending_change_survives_a_restart_and_the_approved_policy_stays(
    make_world, start_daemon, connect
):
    """Restarting the daemon with an unapproved policy.toml does not put it in force: the last policy in
    force is read back from the archive and the file's digest waits as pending again."""
    w = make_world(STRICT)
    d = await start_daemon(w)
    agent = await connect(w.sock)
    assert (await agent.call("gate.request", read_env()))["status"] == "denied"
    w.write_policy(LOOSE)
    await agent.call("status")
    deadline = asyncio.get_running_loop().time() + 20
    while d.policies.pending is None:
        assert asyncio.get_running_loop().time() < deadline, "the change never became pending"
        await asyncio.sleep(0.02)  # polling a condition with a deadline
    await agent.close()
    await d.stop()
    d2 = await start_daemon(w)
    assert (
        d2.policies.pending is not None
        and d2.policies.current.digest == hashlib.sha256(STRICT.encode()).hexdigest()
    )
    agent = await connect(w.sock)
    assert (await agent.call("gate.request", read_env()))["status"] == "denied", "a restart enforced the edit"
    verify_clean(w)


async def test_setup_mode_is_said_plainly_and_changes_take_effect(make_world, start_daemon, connect):
    """With no reviewer enrolled the project is in setup mode: status says policy changes are
    unprotected, and an edit takes effect (there is nobody to approve it)."""
    w = make_world(STRICT, reviewers=())
    d = await start_daemon(w)
    c = await connect(w.sock)
    st = await c.call("status")
    assert st["trust"]["setup_mode"] and "unprotected" in st["trust"]["warning"]
    w.write_policy(LOOSE)
    deadline = asyncio.get_running_loop().time() + 20
    while d.policies.current.digest != hashlib.sha256(LOOSE.encode()).hexdigest():
        assert asyncio.get_running_loop().time() < deadline, "setup mode did not load the edit"
        await asyncio.sleep(0.02)  # polling a condition with a deadline
    assert policy_records(w)[-1]["protected"] is False


# ---- stable reads (issue 10) -----------------------------------------------------------------------


def test_a_file_written_in_two_chunks_is_never_read_as_its_prefix(tmp_path):
    """An editor's in-place write in two chunks: the first chunk alone is a valid, looser policy. The
    second lands while the reader waits out its settle window; the reader returns only the whole file."""
    path = tmp_path / "policy.toml"
    whole = STRICT.encode()
    cut = whole.index(b"[[rule]]")
    path.write_bytes(whole[:cut])
    writes = [whole]

    def sleep(_s: float) -> None:  # the settle window, with the editor's second chunk landing in it
        if writes:
            path.write_bytes(writes.pop())

    got = stable_read(path, 0.0, sleep=sleep)
    assert got is not None and got.data == whole, "a prefix was returned"


def test_a_file_cut_mid_line_never_settles(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_bytes(STRICT.encode()[:-5])
    assert stable_read(path, 0.0, sleep=lambda s: None) is None
    path.write_bytes(STRICT.encode())
    assert stable_read(path, 0.0, sleep=lambda s: None).data == STRICT.encode()


HALF_PREFIX = b'version = 1\ndefault = "allow"\n'  # whole lines, a valid policy: reading .env allowed
HALF_REST = (
    b'\n[[rule]]\nid = "no-env"\nmatch = { kind = "file.read", paths = [".env"] }\ndecision = "deny"\n'
)


@pytest.mark.parametrize("pause", [0.1, 1.0], ids=["pause-100ms", "pause-1s"])
@pytest.mark.parametrize("reviewers", [("alice",), ()], ids=["protected", "setup-mode"])
async def test_half_written_policy_in_two_chunks_is_never_in_force(
    make_world, start_daemon, connect, reviewers, pause
):
    """Issue 10's reproduction: `.forge/policy.toml` written in place in two chunks 100 ms (or 1 s)
    apart, the first a valid looser policy cut at a line boundary. In setup mode (no reviewer: a parsed
    change goes in force at once) the prefix was loaded 15 of 15 times. Broken if the prefix is ever in
    force, recorded (loaded or pending), or reading .env is ever allowed."""
    w = make_world(STRICT, reviewers=reviewers)
    d = await start_daemon(w)
    agent = await connect(w.sock)
    prefix_digest = hashlib.sha256(HALF_PREFIX).hexdigest()
    whole_digest = hashlib.sha256(HALF_PREFIX + HALF_REST).hexdigest()
    seen: set[str] = set()
    for _ in range(2):
        with open(w.project.policy_path, "wb") as fh:
            fh.write(HALF_PREFIX)
            fh.flush()
            deadline = asyncio.get_running_loop().time() + pause  # the editor's pause (the attack itself)
            while asyncio.get_running_loop().time() < deadline:
                seen.add(d.policies.current.digest)
                res = await agent.call("gate.request", read_env())
                assert res["status"] != "allowed", "a half-written policy was enforced"
                await asyncio.sleep(0.02)
            fh.write(HALF_REST)
    recorded = {b["digest"] for b in policy_records(w) if b.get("digest")}
    deadline = asyncio.get_running_loop().time() + 20
    while whole_digest not in recorded:  # the whole file is read (pending, or in force in setup mode)
        assert asyncio.get_running_loop().time() < deadline, "the whole file was never read"
        await asyncio.sleep(0.02)  # polling a condition with a deadline
        recorded = {b["digest"] for b in policy_records(w) if b.get("digest")}
    res = await agent.call("gate.request", read_env())
    assert res["status"] != "allowed"
    assert prefix_digest not in seen, "the prefix was in force"
    assert prefix_digest not in recorded and prefix_digest not in {
        b.get("in_force") for b in policy_records(w)
    }
    if not reviewers:
        assert d.policies.current.digest == whole_digest
