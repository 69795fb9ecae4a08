"""A disk that stalls longer than the hook waits, for real: strace holds the daemon's fdatasync of the
ledger for STALL seconds while the real agent hook (`hooks/run.py`, as Claude Code runs it) asks for an
action its policy allows. The hook's deadline (below the host's timeout) passes first; in production the
same happens with a stall longer than the deadline init writes (the approval timeout plus a margin).

What would be wrong if this failed: the hook would exit 0 or 1, or outlive the host's timeout, and the
host would run the tool ungated; or the ledger would hold an `allowed` decision that nobody heard with
nothing saying so, and a reader of the ledger would believe the agent was told "allowed" (docs/faults.md,
"told nothing"); or the daemon would stay stuck after the disk came back."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
from gatehelp import SMALL_POLICY as POLICY
from gatehelp import spawn_daemon, verify_clean, wait_for_socket
from test_strace_each_call import _auth, attach
from test_strace_faults import strace_unavailable

from forge_tui.client import Client
from forge_tui.hooks.settings import DEADLINE_MARGIN_S, HOOK_SCRIPT, TIMEOUT_MARGIN_S

DEADLINE = 2.0  # the hook's own deadline (init writes the host's timeout above it)
HOST_TIMEOUT = DEADLINE + TIMEOUT_MARGIN_S - DEADLINE_MARGIN_S
STALL = 10  # seconds the ledger's fdatasync is held: well past the hook's deadline
assert STALL > DEADLINE + 2


def pre_tool_use(command: str, cwd: str) -> bytes:
    return json.dumps(
        {
            "session_id": "sess-stall",
            "transcript_path": "/dev/null",
            "cwd": cwd,
            "hook_event_name": "PreToolUse",
            "permission_mode": "default",
            "tool_name": "Bash",
            "tool_input": {"command": command},
            "tool_use_id": "toolu_stall",
        }
    ).encode()


def test_a_stall_longer_than_the_hooks_deadline_is_a_deny_and_the_ledger_says_so(make_world, tmp_path):
    reason = strace_unavailable()
    if reason:
        pytest.skip(reason)
    world = make_world(POLICY)
    daemon = spawn_daemon(world)
    tracer = None
    try:
        wait_for_socket(world.sock, daemon, timeout=60)
        with Client(world.sock, timeout=30) as c:
            warm = c.call(
                "gate.request", {"action": {"kind": "shell.exec", "command": "pytest"}, "actor": {"id": "a"}}
            )
            assert warm["status"] == "allowed"
            c.call("status")  # its checkpoint is written: the next fdatasync of the ledger is the hook's
        lid, auth = _auth(world)
        tracer = attach(
            daemon.pid,
            "fdatasync",
            auth / f"{lid}.jsonl",
            "",
            tmp_path / "strace.log",
            inject=f"delay_enter={STALL}s:when=1",
        )
        t0 = time.monotonic()
        hook = subprocess.run(
            [sys.executable, "-I", "-S", str(HOOK_SCRIPT), "claude-code", "--deadline", str(DEADLINE)],
            input=pre_tool_use("pytest -q tests/", str(world.project.root)),
            capture_output=True,
            cwd=world.project.root,
            env=world.env(),
            timeout=HOST_TIMEOUT + 30,
        )
        elapsed = time.monotonic() - t0
        assert hook.returncode == 2, (hook.returncode, hook.stdout, hook.stderr)
        out = json.loads(hook.stdout)["hookSpecificOutput"]
        assert out["permissionDecision"] == "deny" and "deadline" in out["permissionDecisionReason"], out
        assert elapsed < HOST_TIMEOUT, f"the hook ran {elapsed:.1f} s, past the host's timeout"
        assert elapsed < STALL, "the hook waited for the stalled disk instead of its deadline"

        # The disk comes back by itself; the decision lands, and a note says the caller heard nothing.
        deadline = time.monotonic() + STALL + 60
        while True:
            recs = world.records()
            notes = [
                r
                for r in recs
                if r["type"] == "note"
                and r["body"].get("kind") == "correction"
                and r["body"].get("told") == "nothing"
            ]
            if notes:
                break
            assert time.monotonic() < deadline, "no correction note for the decision nobody heard"
            time.sleep(0.05)  # polling a condition with a deadline
        (note,) = notes
        decision = next(
            r
            for r in recs
            if r["type"] == "decision" and r["body"]["request_id"] == note["body"]["request_id"]
        )
        assert decision["body"]["status"] == "allowed" and decision["seq"] < note["seq"]
        request = next(
            r
            for r in recs
            if r["type"] == "request" and r["body"]["request_id"] == note["body"]["request_id"]
        )
        assert request["body"]["action"]["command"] == "pytest -q tests/", "the note names another request"

        with Client(world.sock, timeout=30) as c:  # healed: the next caller is answered at once
            after = c.call(
                "gate.request",
                {"action": {"kind": "shell.exec", "command": "pytest -x"}, "actor": {"id": "a"}},
            )
            assert after["status"] == "allowed"
            assert c.call("status")["ledger"]["health"]["state"] == "ok"
    finally:
        if tracer is not None:
            tracer.send_signal(signal.SIGTERM)
            tracer.wait(timeout=30)
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.communicate()
    verify_clean(world)
