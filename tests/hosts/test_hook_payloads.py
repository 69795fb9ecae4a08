"""Each host's documented hook payloads piped through the real hook process against a real daemon.

What would be wrong if these failed: the gate would not be in the agent's path (an allow that does not
parse, a deny the host does not read as a block, an error that exits 1 and so lets the tool run), or
the ledger would not hold the evidence (outcomes unbound to their decision, bypasses unrecorded).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from hostkit import SHELL_TOOL, Hooked, make_project, payload

from forge_tui.core.project import find_project
from forge_tui.core.verify import verify_project
from forge_tui.hooks.actions import input_digest
from forge_tui.hooks.agent import WAIT_MARGIN_S

HOSTS = ("claude-code", "codex", "gemini")


def decision_of(host: str, stdout: bytes) -> tuple[str, str]:
    """(decision, reason) as the host reads the hook's standard output."""
    doc = json.loads(stdout)
    if host == "gemini":
        return doc["decision"], doc["reason"]
    out = doc["hookSpecificOutput"]
    assert out["hookEventName"] == "PreToolUse"
    return out["permissionDecision"], out["permissionDecisionReason"]


@pytest.mark.parametrize("host", HOSTS)
def test_allowed_command_is_allowed_in_the_hosts_format(hooked: Hooked, host: str) -> None:
    r = hooked.hook(host, payload(host, "pre", SHELL_TOOL[host], {"command": "ls -la"}))
    assert r.returncode == 0, r.stderr
    decision, reason = decision_of(host, r.stdout)
    assert decision == "allow"
    decisions = hooked.records("decision")
    assert "rule inspect" in reason and f"seq {decisions[-1]['seq']}" in reason
    req = hooked.records("request")[-1]["body"]
    assert req["client"] == "hook"
    assert (req["actor"]["id"], req["actor"]["kind"], req["actor"]["session"]) == (host, "agent", "sess-1")
    assert req["action"]["kind"] == "shell.exec" and req["action"]["command"] == "ls -la"


@pytest.mark.parametrize("host", HOSTS)
def test_denied_command_blocks_with_exit_2_and_names_rule_and_seq(hooked: Hooked, host: str) -> None:
    r = hooked.hook(host, payload(host, "pre", SHELL_TOOL[host], {"command": "sudo ls"}))
    assert r.returncode == 2
    decision, reason = decision_of(host, r.stdout)
    assert decision == "deny"
    seq = hooked.records("decision")[-1]["seq"]
    for text in (reason, r.stderr.decode()):
        assert "rule no-root" in text and f"seq {seq}" in text


def test_denial_carries_the_rules_instead(tmp_path, monkeypatch) -> None:
    from forge_tui.core import policy as policy_engine

    if "instead" not in policy_engine.RULE_KEYS:
        pytest.skip(
            "the policy engine does not accept `instead` yet (docs/design.md §8; the policy engineer's)"
        )
    policy = (
        'version = 1\ndefault = "ask"\n\n[[rule]]\nid = "no-force-push"\n'
        'match = { kind = "shell.exec", command = ["git push --force*"] }\ndecision = "deny"\n'
        'reason = "force pushes rewrite shared history"\n'
        'instead = "push to a branch and open a pull request"\n'
    )
    h = make_project(tmp_path, policy)
    monkeypatch.chdir(h.root)
    h.start()
    try:
        r = h.hook("claude-code", payload("claude-code", "pre", "Bash", {"command": "git push --force"}))
    finally:
        h.stop()
    assert r.returncode == 2
    assert "Instead: push to a branch and open a pull request" in decision_of("claude-code", r.stdout)[1]


def enrol_alice(hooked: Hooked) -> dict[str, str]:
    """Enrol reviewer alice (the daemon stopped meanwhile); the environment her commands run with."""
    hooked.stop()
    env = dict(os.environ, FORGE_PASSPHRASE="alice reviews hooks")
    add = subprocess.run(
        [sys.executable, "-m", "forge_tui", "reviewer", "add", "alice"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert add.returncode == 0, add.stderr
    hooked.start()
    return env


@pytest.mark.parametrize("host", HOSTS)
def test_pending_request_waits_and_a_reviewers_approval_allows(hooked: Hooked, host: str) -> None:
    env = enrol_alice(hooked)
    p = hooked.hook_async(host, payload(host, "pre", SHELL_TOOL[host], {"command": "git push origin main"}))
    try:
        pending = hooked.wait_for(
            lambda: [d for d in hooked.records("decision") if d["body"]["status"] == "pending"],
            what="a pending decision",
        )
        rid = pending[0]["body"]["request_id"]
        assert p.poll() is None, "the hook must wait for the reviewer, not answer at once"
        ok = subprocess.run(
            [sys.executable, "-m", "forge_tui", "approve", rid, "--as", "alice"],
            env=env,
            capture_output=True,
            text=True,
        )
        assert ok.returncode == 0, ok.stderr
        p.wait(timeout=30)
        out, err = p.stdout.read(), p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    decision, reason = decision_of(host, out)
    assert decision == "allow" and "approved by alice" in reason and rid in reason


# A deadline no longer than the hook's wait margin: the daemon waits 0 s for a reviewer and answers "still
# pending" at once, and the hook has the whole margin for that answer (a 1 s deadline was sometimes spent
# on a loaded machine before the daemon's first answer, and the hook then denied for its deadline instead).
SHORT_DEADLINE = WAIT_MARGIN_S


def test_the_hooks_own_deadline_denies_a_request_still_pending(hooked: Hooked) -> None:
    call = payload("codex", "pre", "Bash", {"command": "git push origin main"})
    r = hooked.hook("codex", call, deadline=SHORT_DEADLINE)
    assert r.returncode == 2
    decision, reason = decision_of("codex", r.stdout)
    assert decision == "deny" and "still waiting for a reviewer" in reason


def test_asking_again_after_the_deadline_waits_on_the_same_request(hooked: Hooked) -> None:
    """Broken if the retry of a call whose hook gave up makes a second request (the reviewer would
    approve one the host never runs), or if an approval given in between is not the retry's answer."""
    env = enrol_alice(hooked)
    call = payload("codex", "pre", "Bash", {"command": "git push origin main"})
    for _ in range(2):
        r = hooked.hook("codex", call, deadline=SHORT_DEADLINE)
        assert r.returncode == 2 and "still waiting for a reviewer" in decision_of("codex", r.stdout)[1]
    pending = [d for d in hooked.records("decision") if d["body"]["status"] == "pending"]
    assert len(pending) == 1, "the retry made a second request"
    rid = pending[0]["body"]["request_id"]
    ok = subprocess.run(
        [sys.executable, "-m", "forge_tui", "approve", rid, "--as", "alice"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    r = hooked.hook("codex", call, deadline=30)
    decision, reason = decision_of("codex", r.stdout)
    assert r.returncode == 0 and decision == "allow" and rid in reason
    assert len([d for d in hooked.records("decision") if d["body"]["status"] == "pending"]) == 1


@pytest.mark.parametrize("host", HOSTS)
def test_approval_timeout_denies(tmp_path, monkeypatch, host: str) -> None:
    h = make_project(tmp_path, 'version = 1\ndefault = "ask"\napproval_timeout = "1s"\n')
    monkeypatch.chdir(h.root)
    h.start()
    try:
        r = h.hook(host, payload(host, "pre", SHELL_TOOL[host], {"command": "make deploy"}), deadline=30)
    finally:
        h.stop()
    assert r.returncode == 2
    decision, reason = decision_of(host, r.stdout)
    assert decision == "deny" and "approval timeout" in reason
    final = [d["body"] for d in h.records("decision") if d["body"]["status"] == "denied"]
    assert final and final[-1]["decided_by"] == "timeout"


@pytest.mark.parametrize("host", HOSTS)
def test_daemon_down_denies_with_exit_2(unstarted: Hooked, host: str) -> None:
    r = unstarted.hook(host, payload(host, "pre", SHELL_TOOL[host], {"command": "ls"}))
    assert r.returncode == 2
    decision, reason = decision_of(host, r.stdout)
    assert decision == "deny" and "daemon is unreachable" in reason
    assert b"daemon is unreachable" in r.stderr


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize(
    "data",
    [b"", b"garbage", b"\xff\xfe{", b"[1, 2]", b'{"tool_name": "Bash"', b'{"hook_event_name": "Stop"}'],
    ids=["empty", "text", "binary", "array", "truncated", "not-a-tool-event"],
)
def test_garbage_on_stdin_denies_with_exit_2(hooked: Hooked, host: str, data: bytes) -> None:
    r = hooked.hook(host, data)
    assert r.returncode == 2
    assert decision_of(host, r.stdout)[0] == "deny"
    assert r.stderr.strip()


def test_outside_a_project_denies(tmp_path) -> None:
    from forge_tui.hooks.settings import HOOK_SCRIPT

    env = {k: v for k, v in os.environ.items() if k != "CLAUDE_PROJECT_DIR"}
    r = subprocess.run(
        [sys.executable, "-I", "-S", str(HOOK_SCRIPT), "claude-code"],
        input=json.dumps(payload("claude-code", "pre", "Bash", {"command": "ls"})).encode(),
        capture_output=True,
        cwd=tmp_path,
        env=env,
    )
    assert r.returncode == 2 and b"not inside a forge-tui project" in r.stderr


def test_bad_arguments_deny(hooked: Hooked) -> None:
    from forge_tui.hooks.settings import HOOK_SCRIPT

    for argv in (["claude-code", "--deadline", "soon"], ["cursor"], []):
        r = subprocess.run(
            [sys.executable, "-I", "-S", str(HOOK_SCRIPT), *argv],
            input=b"{}",
            capture_output=True,
            cwd=hooked.root,
        )
        assert r.returncode == 2 and b"usage" in r.stderr


@pytest.mark.parametrize("host", HOSTS)
def test_post_tool_use_records_the_outcome_with_the_same_digest(hooked: Hooked, host: str) -> None:
    tool_input = {"command": "ls -la", "description": "list"}
    pre = hooked.hook(host, payload(host, "pre", SHELL_TOOL[host], tool_input, tool_use_id="toolu_A"))
    assert pre.returncode == 0
    post = hooked.hook(host, payload(host, "post", SHELL_TOOL[host], tool_input, tool_use_id="toolu_A"))
    assert post.returncode == 0, post.stderr
    req = hooked.records("request")[-1]["body"]
    out = hooked.records("outcome")[-1]["body"]
    assert out["request_id"] == req["request_id"]
    assert out["status"] == "succeeded"
    assert out["input_digest"] == req["action"]["input_digest"] == input_digest(SHELL_TOOL[host], tool_input)
    if host != "gemini":
        assert out["tool_use_id"] == "toolu_A"
    assert not hooked.records("violation")


def test_a_failed_tool_is_recorded_as_failed(hooked: Hooked) -> None:
    tool_input = {"command": "ls nowhere"}
    hooked.hook("gemini", payload("gemini", "pre", "run_shell_command", tool_input))
    r = hooked.hook(
        "gemini",
        payload("gemini", "post", "run_shell_command", tool_input, tool_response={"error": "exit 2"}),
    )
    assert r.returncode == 0
    assert hooked.records("outcome")[-1]["body"]["status"] == "failed"


@pytest.mark.parametrize("host", HOSTS)
def test_post_tool_use_without_a_decision_is_recorded_as_a_bypass(hooked: Hooked, host: str) -> None:
    tool_input = {"command": "curl x | sh"}
    extra = {} if host == "gemini" else {"tool_use_id": "toolu_Z"}
    r = hooked.hook(host, payload(host, "post", SHELL_TOOL[host], tool_input, **extra))
    assert r.returncode == 0
    (v,) = hooked.records("violation")
    assert v["body"]["kind"] == "bypass" and v["body"]["host"] == host
    assert v["body"]["tool_use_id"] == extra.get("tool_use_id")
    assert v["body"]["input_digest"] == input_digest(SHELL_TOOL[host], tool_input)
    hooked.stop()
    report = verify_project(find_project(hooked.root), update_seen=False)
    assert any("bypass" in f.code for f in report.findings), [f.line() for f in report.findings]


def test_verify_fails_on_a_recorded_bypass(hooked: Hooked) -> None:
    hooked.hook(
        "claude-code",
        payload("claude-code", "post", "Bash", {"command": "curl x | sh"}, tool_use_id="toolu_Z"),
    )
    hooked.stop()
    assert verify_project(find_project(hooked.root), update_seen=False).exit_code() == 1


def test_a_denied_call_that_ran_anyway_is_an_unauthorized_execution(hooked: Hooked) -> None:
    tool_input = {"command": "sudo ls"}
    assert (
        hooked.hook(
            "claude-code", payload("claude-code", "pre", "Bash", tool_input, tool_use_id="toolu_D")
        ).returncode
        == 2
    )
    hooked.hook("claude-code", payload("claude-code", "post", "Bash", tool_input, tool_use_id="toolu_D"))
    assert hooked.records("violation")[-1]["body"]["kind"] == "bypass"
    hooked.stop()
    report = verify_project(find_project(hooked.root), update_seen=False)
    assert report.exit_code() == 1
    assert any(f.code == "unauthorized_execution" for f in report.findings)


def test_permission_request_follows_the_gates_decision_for_the_same_input(hooked: Hooked) -> None:
    def permission(cmd: str) -> dict:
        p = payload("claude-code", "pre", "Bash", {"command": cmd})
        p["hook_event_name"] = "PermissionRequest"
        del p["tool_use_id"]  # PermissionRequest carries none
        return p

    hooked.hook("claude-code", payload("claude-code", "pre", "Bash", {"command": "ls"}))
    ok = hooked.hook("claude-code", permission("ls"))
    assert ok.returncode == 0
    assert json.loads(ok.stdout)["hookSpecificOutput"]["decision"]["behavior"] == "allow"
    unknown = hooked.hook("claude-code", permission("make deploy"))
    assert unknown.returncode == 2
    assert json.loads(unknown.stdout)["hookSpecificOutput"]["decision"]["behavior"] == "deny"


def test_a_write_is_gated_as_file_write_with_its_digest(hooked: Hooked) -> None:
    target = hooked.root / "src.txt"
    target.write_text("one\ntwo\n")
    tool_input = {"file_path": str(target), "old_string": "two", "new_string": "three"}
    r = hooked.hook("claude-code", payload("claude-code", "pre", "Edit", tool_input))
    assert r.returncode == 0, r.stderr
    req = hooked.records("request")[-1]["body"]
    assert req["action"]["kind"] == "file.write" and req["action"]["paths"] == [str(target)]
    assert req["action"]["input_digest"] == input_digest("Edit", tool_input)
    assert req["content_size"] > 0  # the diff went to the daemon; only its size is in the ledger
    assert "three" not in json.dumps(hooked.records())


def test_an_edit_of_the_hook_settings_is_denied(hooked: Hooked) -> None:
    path = hooked.root / ".claude" / "settings.json"
    r = hooked.hook(
        "claude-code", payload("claude-code", "pre", "Write", {"file_path": str(path), "content": "{}"})
    )
    assert r.returncode == 2 and "hook-settings" in decision_of("claude-code", r.stdout)[1]


def test_an_oversized_payload_denies(hooked: Hooked) -> None:
    from forge_tui.hooks.agent import MAX_PAYLOAD

    big = payload(
        "claude-code", "pre", "Write", {"file_path": str(hooked.root / "a"), "content": "x" * MAX_PAYLOAD}
    )
    r = hooked.hook("claude-code", big)
    assert r.returncode == 2 and b"more than the gate accepts" in r.stderr


def test_a_pending_write_shows_the_reviewer_the_whole_diff(tmp_path, monkeypatch) -> None:
    """Broken if the reviewer approves a write blind: while pending, the queue holds the full diff the
    hook computed from the Edit (the ledger keeps only its size and the input digest)."""
    from forge_tui.client import Client
    from forge_tui.paths import review_socket_path
    from forge_tui.protocol import QUEUE_LIST

    h = make_project(tmp_path, 'version = 1\ndefault = "ask"\n')
    monkeypatch.chdir(h.root)
    target = h.root / "app.py"
    target.write_text("def main():\n    return 1\n")
    tool_input = {"file_path": str(target), "old_string": "return 1", "new_string": "return 2"}
    h.start()
    try:
        p = h.hook_async("claude-code", payload("claude-code", "pre", "Edit", tool_input), deadline=15)
        try:
            rid = h.wait_for(
                lambda: [
                    d["body"]["request_id"] for d in h.records("decision") if d["body"]["status"] == "pending"
                ],
                what="a pending decision",
            )[0]
            with Client(review_socket_path(h.project.project_id), client="test", timeout=10) as c:
                item = next(q for q in c.call(QUEUE_LIST, {})["pending"] if q["request_id"] == rid)
        finally:
            p.kill()
            p.wait(timeout=30)
            p.stdout.close()
            p.stderr.close()
    finally:
        h.stop()
    diff = item["content"]["text"]
    assert "-    return 1" in diff and "+    return 2" in diff and "def main():" in diff, diff
    assert "return 2" not in json.dumps(h.records()), "the diff itself went into the ledger"
