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
import os
import subprocess
from pathlib import Path

from fake_anthropic import FakeAnthropic
from hostkit import Hooked, host_binary

from forge_tui.cli import main as cli_main


def run_claude(claude: Path, api: FakeAnthropic, root: Path, home: Path) -> list[dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE_", "PYTEST"))}
    env.update(
        ANTHROPIC_BASE_URL=api.url,
        ANTHROPIC_API_KEY="sk-ant-test-not-a-key",
        HOME=str(home),
        DISABLE_TELEMETRY="1",
        DISABLE_AUTOUPDATER="1",
        DISABLE_ERROR_REPORTING="1",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
    )
    p = subprocess.run(
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
        cwd=root,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert p.returncode == 0, f"claude exited {p.returncode}: {p.stderr[-2000:]}"
    return [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]


def test_claude_code_runs_the_allowed_command_and_not_the_denied_one(
    unstarted: Hooked, markers: tuple[Path, Path], tmp_path: Path
) -> None:
    claude = host_binary("claude")
    assert cli_main(["init", "--claude-code", str(unstarted.root)]) == 0  # on the existing project
    unstarted.start()
    denied, allowed = markers
    denied_cmd = f"echo bad > {denied}; git push --force origin main"
    allowed_cmd = f"echo good > {allowed}"
    home = tmp_path / "claude-home"
    home.mkdir()
    with FakeAnthropic([denied_cmd, allowed_cmd]) as api:
        events = run_claude(claude, api, unstarted.root, home)
        results = api.script.tool_results
    assert not denied.exists(), "Claude Code ran a command the gate denied"
    assert allowed.read_text() == "good\n", "the command the gate allowed did not run"

    hooks = [e for e in events if e.get("subtype") == "hook_response"]
    assert {h["hook_event"] for h in hooks} >= {"PreToolUse", "PostToolUse"}
    assert results[0]["is_error"] is True and "rule no-force-push" in str(results[0]["content"])

    reqs = {r["body"]["action"]["command"]: r["body"] for r in unstarted.records("request")}
    assert set(reqs) >= {denied_cmd, allowed_cmd}
    decisions = {d["body"]["request_id"]: d["body"] for d in unstarted.records("decision")}
    assert decisions[reqs[denied_cmd]["request_id"]]["status"] == "denied"
    assert decisions[reqs[allowed_cmd]["request_id"]]["status"] == "allowed"
    outcomes = [o["body"] for o in unstarted.records("outcome")]
    assert [o["request_id"] for o in outcomes] == [reqs[allowed_cmd]["request_id"]]
    assert outcomes[0]["tool_use_id"] == "toolu_fake_01"
    assert outcomes[0]["input_digest"] == reqs[allowed_cmd]["action"]["input_digest"]
    assert {r["body"]["actor"]["session"] for r in unstarted.records("request")} == {
        next(e["session_id"] for e in events if e.get("type") == "system")
    }
    assert not unstarted.records("violation")


def test_claude_code_runs_nothing_when_the_daemon_is_down(
    unstarted: Hooked, markers: tuple[Path, Path], tmp_path: Path
) -> None:
    """Fail closed in the real host: no daemon, so even a command the policy allows must not run."""
    claude = host_binary("claude")
    assert cli_main(["init", "--claude-code", str(unstarted.root)]) == 0
    _, allowed = markers
    home = tmp_path / "claude-home"
    home.mkdir()
    with FakeAnthropic([f"echo good > {allowed}"]) as api:
        events = run_claude(claude, api, unstarted.root, home)
        results = api.script.tool_results
    assert not allowed.exists(), "Claude Code ran a tool call although the gate was unreachable"
    assert results and results[0]["is_error"] is True
    assert "daemon is unreachable" in str(results[0]["content"])
    assert any(e.get("hook_event") == "PreToolUse" and e.get("exit_code") == 2 for e in events)
