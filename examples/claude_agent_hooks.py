"""Claude Agent SDK: the agent it runs is Claude Code, so the gate is Claude Code's own hooks.

    forge-tui init --claude-code         # the gate's PreToolUse/PostToolUse hooks in .claude/settings.json
    pip install claude-agent-sdk
    python examples/claude_agent_hooks.py "run the tests and fix what fails"

`setting_sources=["project"]` makes the SDK load exactly the committed project settings, where init put
the hooks: not a user's or a local settings file that could turn them off (`disableAllHooks`). Every
tool call, MCP tools included, then goes through `forge-tui hook claude-code`, which fails closed.
Needs Claude Code's credentials (ANTHROPIC_API_KEY or a login); tests/hosts/test_claude_agent_sdk_e2e.py
runs it for real against a local stand-in for the Messages API instead.
"""

from __future__ import annotations

import asyncio
import json
import sys

from claude_agent_sdk import ClaudeAgentOptions, query

from forge_tui.paths import find_project_root


def gate_hooks_installed(root) -> bool:
    try:
        settings = json.loads((root / ".claude" / "settings.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    hooks = json.dumps(settings.get("hooks", {}))
    return "forge_tui" in hooks or "forge-tui" in hooks


async def main(prompt: str) -> int:
    root = find_project_root()
    if root is None or not gate_hooks_installed(root):
        print("run `forge-tui init --claude-code` in the project first: no gate hooks found", file=sys.stderr)
        return 2
    options = ClaudeAgentOptions(cwd=str(root), setting_sources=["project"])
    async for message in query(prompt=prompt, options=options):
        print(message)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(" ".join(sys.argv[1:]) or "list the files in this project")))
