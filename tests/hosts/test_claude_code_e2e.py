"""End to end with the real Claude Code CLI (npm @anthropic-ai/claude-code, pinned in package.json and
installed by .ci/install-hosts) run headless against a local stand-in for the Messages API.

The stand-in asks for two Bash calls: one the solo pack denies (it would write a marker file before a
force push) and one it allows (it writes another marker). What would be wrong if this failed: the hook
settings that `init --claude-code` writes do not make Claude Code ask the gate (wrong file, shape,
matcher or command), Claude Code runs a command the gate denied, or the ledger misses either decision
or the outcome. Claude Code runs in `--permission-mode default` without `--allowedTools`: in headless
mode it would refuse Bash on its own, so the allowed command runs only because the hook said allow.
"""

from __future__ import annotations

import json
from pathlib import Path

from fake_anthropic import FakeAnthropic
from hostkit import Hooked, assert_gate_held, claude_env, init_host, run_host, scripted_commands


def run_claude(claude: Path, api: FakeAnthropic, root: Path, home: Path) -> list[dict]:
    out = run_host(
        [
            str(claude),
            "-p",
            "Run the scripted steps.",
            "--output-format",
            "stream-json",
            "--verbose",
            "--include-hook-events",
            "--permission-mode",
            "default",
        ],
        root,
        ("ANTHROPIC_", "CLAUDE_"),
        **claude_env(api.url, home),
    )
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_claude_code_runs_the_allowed_command_and_not_the_denied_one(
    unstarted: Hooked, markers: tuple[Path, Path], tmp_path: Path
) -> None:
    claude, home = init_host(unstarted, "claude", "claude-code", tmp_path)
    unstarted.start()
    denied, allowed = markers
    denied_cmd, allowed_cmd = scripted_commands(markers)
    with FakeAnthropic([denied_cmd, allowed_cmd]) as api:
        events = run_claude(claude, api, unstarted.root, home)
        results = api.script.tool_results
    assert not denied.exists(), "Claude Code ran a command the gate denied"
    assert allowed.read_text() == "good\n", "the command the gate allowed did not run"

    hooks = [e for e in events if e.get("subtype") == "hook_response"]
    assert {h["hook_event"] for h in hooks} >= {"PreToolUse", "PostToolUse"}
    assert results[0]["is_error"] is True and "rule no-force-push" in str(results[0]["content"])

    outcome = assert_gate_held(unstarted, denied_cmd, allowed_cmd, only=False)
    assert outcome["tool_use_id"] == "toolu_fake_01"
    assert {r["body"]["actor"]["session"] for r in unstarted.records("request")} == {
        next(e["session_id"] for e in events if e.get("type") == "system")
    }


def test_claude_code_runs_nothing_when_the_daemon_is_down(
    unstarted: Hooked, markers: tuple[Path, Path], tmp_path: Path
) -> None:
    """Fail closed in the real host: no daemon, so even a command the policy allows must not run."""
    claude, home = init_host(unstarted, "claude", "claude-code", tmp_path)
    _, allowed = markers
    with FakeAnthropic([scripted_commands(markers)[1]]) as api:
        events = run_claude(claude, api, unstarted.root, home)
        results = api.script.tool_results
    assert not allowed.exists(), "Claude Code ran a tool call although the gate was unreachable"
    assert results and results[0]["is_error"] is True
    assert "daemon is unreachable" in str(results[0]["content"])
    assert any(e.get("hook_event") == "PreToolUse" and e.get("exit_code") == 2 for e in events)
