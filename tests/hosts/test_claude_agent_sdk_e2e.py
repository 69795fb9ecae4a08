"""examples/claude_agent_hooks.py run for real: the Claude Agent SDK (its bundled Claude Code) against the
stand-in Messages API, in a project where `forge-tui init --claude-code` installed the gate's hooks.

What would be wrong if this failed: the example's `setting_sources=["project"]` does not load the
committed hooks (so an SDK-driven agent is ungated), the SDK runs a command the gate denied, or the
ledger misses a decision or the outcome. The SDK (about 450 MB with its bundled CLI) is not in the
test extra: the test runs where `claude_agent_sdk` imports or in the interpreter named by
FORGE_TEST_CLAUDE_AGENT_SDK_PYTHON (.ci/run installs one), and skips elsewhere, saying so.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fake_anthropic import FakeAnthropic
from hostkit import Hooked, assert_gate_held, claude_env, scripted_commands

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "claude_agent_hooks.py"


def sdk_python() -> str:
    if os.environ.get("FORGE_TEST_CLAUDE_AGENT_SDK_PYTHON"):
        return os.environ["FORGE_TEST_CLAUDE_AGENT_SDK_PYTHON"]
    if importlib.util.find_spec("claude_agent_sdk") is not None:
        return sys.executable
    pytest.skip(
        "claude-agent-sdk is not importable and FORGE_TEST_CLAUDE_AGENT_SDK_PYTHON is unset "
        "(not in the test extra: about 450 MB with its bundled CLI; .ci/run installs it)"
    )


def run_example(python: str, api: FakeAnthropic, root: Path, home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE_", "PYTEST"))}
    env.update(claude_env(api.url, home), PYTHONPATH=str(REPO))
    return subprocess.run(
        [python, str(EXAMPLE), "Run the scripted steps."],
        cwd=root,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_the_sdk_example_is_gated_by_the_project_hooks(
    unstarted: Hooked, markers: tuple[Path, Path], tmp_path: Path
) -> None:
    from forge_tui.cli import main as cli_main

    python = sdk_python()
    assert cli_main(["init", "--claude-code", str(unstarted.root)]) == 0
    home = tmp_path / "sdk-home"
    home.mkdir()
    unstarted.start()
    denied, allowed = markers
    denied_cmd, allowed_cmd = scripted_commands(markers)
    with FakeAnthropic([denied_cmd, allowed_cmd]) as api:
        done = run_example(python, api, unstarted.root, home)
        results = api.script.tool_results
    assert done.returncode == 0, done.stderr[-3000:]
    assert not denied.exists(), "the SDK's agent ran a command the gate denied"
    assert allowed.read_text() == "good\n", "the command the gate allowed did not run"
    assert results[0]["is_error"] is True and "rule no-force-push" in str(results[0]["content"])
    assert_gate_held(unstarted, denied_cmd, allowed_cmd, only=False)


def test_the_sdk_example_refuses_a_project_without_the_gate(tmp_path: Path) -> None:
    python = sdk_python()
    root = tmp_path / "bare"
    (root / ".forge").mkdir(parents=True)
    (root / ".forge" / "project.toml").write_text('project_id = "x"\n')
    with FakeAnthropic([]) as api:
        done = run_example(python, api, root, tmp_path)
    assert done.returncode == 2 and "no gate hooks found" in done.stderr
    assert not api.script.requests, "the agent ran although the project has no gate hooks"
