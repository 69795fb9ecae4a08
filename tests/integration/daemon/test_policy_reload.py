"""Policy hot reload (docs/design.md §8, docs/trust-model.md): a good edit becomes a pending change, recorded, and
takes effect once a reviewer signs its digest; a broken one keeps the last good policy in force, is shown
as an event and recorded. Editors save in place or by rename: both are tested."""

from __future__ import annotations

import hashlib
import os

import pytest

ALLOW = """\
version = 1
default = "ask"

[[rule]]
id = "build"
match = { kind = "shell.exec", command = ["make*"] }
decision = "allow"
"""

DENY = ALLOW.replace('decision = "allow"', 'decision = "deny"\nreason = "builds are frozen"')
BROKEN = ALLOW.replace('decision = "allow"', 'decision = "perhaps"')


def save_in_place(path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:  # truncate + write, like `echo > file`
        fh.write(text)


def save_by_rename(path, text: str) -> None:
    tmp = path.with_name(".policy.toml.swp")  # like vim / VS Code: write a temp file, rename over
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def policy_records(world) -> list[dict]:
    return [r["body"] for r in world.records() if r["type"] == "policy"]


async def approve(w, rev, digest: str) -> None:
    """alice signs the pending change's digest on the reviewer socket."""
    from forge_tui.core.trust import policy_statement, sign_policy_statement

    st = policy_statement(digest, "alice", w.project.project_id)
    assert (await rev.call("policy.approve", sign_policy_statement(w.keys["alice"], st)))[
        "status"
    ] == "in_force"


async def build(c) -> dict:
    return await c.call(
        "gate.request", {"action": {"kind": "shell.exec", "command": "make all"}, "actor": {"id": "a"}}
    )


@pytest.mark.parametrize("save", [save_in_place, save_by_rename], ids=["in-place", "rename"])
async def test_good_then_bad_policy_edits(make_world, start_daemon, connect, save):
    w = make_world(ALLOW)
    await start_daemon(w)
    c = await connect(w.rsock)  # the reviewer socket: policy events are the reviewers'
    await c.call("queue.subscribe")
    assert (await build(c))["status"] == "allowed"

    save(w.project.policy_path, DENY)
    digest = hashlib.sha256(DENY.encode()).hexdigest()
    pending = await c.event("policy.pending")
    assert pending["digest"] == digest and '+decision = "deny"' in pending["diff"], pending
    assert policy_records(w)[-1]["event"] == "pending", "the pending change is not in the ledger"
    assert (await build(c))["status"] == "allowed", "an unapproved edit took effect"
    await approve(w, c, digest)
    ev = await c.event("policy.reloaded")
    assert ev["digest"] == digest, "the reload event names another policy"
    assert policy_records(w)[-1]["digest"] == digest and policy_records(w)[-1]["event"] == "approved", (
        "the approval is not in the ledger"
    )
    res = await build(c)
    assert (res["status"], res["reason"]) == ("denied", "builds are frozen"), "the new rule did not apply"

    save(w.project.policy_path, BROKEN)
    err = await c.event("policy.error")
    assert "perhaps" in err["error"] or "decision" in err["error"], err
    rec = policy_records(w)[-1]
    assert rec["loaded"] is False and rec["error"] and rec["in_force"] == digest, (
        "the broken edit is not recorded"
    )
    assert (await build(c))["status"] == "denied", "a broken policy replaced the last good one"
    st = await c.call("status")
    assert st["policy"]["digest"] == digest and st["policy"]["error"], "status hides the policy error"

    save(w.project.policy_path, ALLOW)
    back = hashlib.sha256(ALLOW.encode()).hexdigest()
    assert (await c.event("policy.pending"))["digest"] == back, (
        "going back to an older policy is a change too"
    )
    await approve(w, c, back)
    ev = await c.event("policy.reloaded")
    assert ev["digest"] == back
    assert (await build(c))["status"] == "allowed", "fixing the policy did not bring the rule back"
    from gatehelp import verify_clean

    verify_clean(w)


async def test_a_policy_broken_at_start_fails_closed(make_world, start_daemon, connect):
    w = make_world(BROKEN)
    await start_daemon(w)
    c = await connect(w.sock)
    res = await build(c)
    assert res["status"] == "pending", "with no valid policy the gate must ask, not allow"
    rec = policy_records(w)[-1]
    assert rec["loaded"] is False and rec["error"], "the start-up policy error is not recorded"


async def test_a_reload_that_raises_is_logged_and_shown_in_status(make_world, start_daemon, connect):
    """Issue 12: the policy watch dropped a reload's exception in silence. Broken if a reload that raises
    is not written to the daemon's log and shown in `status` (and `forge-tui status`), if the watch
    stops after it, or if the failure is still shown once reloads work again."""
    import asyncio
    import io
    import time

    from forge_tui.commands.status import gather, long_text

    w = make_world(ALLOW)
    log = io.StringIO()
    d = await start_daemon(w, log_file=log)
    rev = await connect(w.rsock)
    real_read = d.policies.read

    def broken_read():
        raise RuntimeError("disk on fire")

    d.policies.read = broken_read
    deadline = time.monotonic() + 20
    while not (policy := (await rev.call("status"))["policy"])["watch_error"]:
        assert time.monotonic() < deadline, "the failed reload never showed in status"
        await asyncio.sleep(0.02)  # polling a condition with a deadline
    assert "reload failed: RuntimeError: disk on fire" in policy["watch_error"]
    assert policy["watch_failures"] >= 1
    assert "disk on fire" in log.getvalue(), "the failure is not in the daemon's log"
    shown = await asyncio.to_thread(gather, [w.rsock], "proj", time.time())  # what `forge-tui status` prints
    assert "disk on fire" in long_text(shown)

    d.policies.read = real_read  # the next recheck works: the failure is no longer shown
    while (await rev.call("status"))["policy"]["watch_error"]:
        assert time.monotonic() < deadline + 20, "the watch stopped after a failed reload"
        await asyncio.sleep(0.02)
