"""forge-tui doctor"""

from __future__ import annotations

import argparse

NAME = "doctor"
HELP = "check that agents really go through the gate here, and say how to fix what does not"
DESCRIPTION = """\
A checklist, each line ok / warn / FAIL with the fix:
- the agent hosts' settings (.claude/settings.json, .codex/hooks.json, .gemini/settings.json): valid
  JSON (Claude Code silently ignores an invalid file in headless mode and then runs no hook at all),
  hooks for every tool event with a matcher covering every tool including mcp__ tools, pointing at a
  command that exists, with numeric timeouts above the policy's approval timeout;
- nothing switching the hooks off: disableAllHooks in the project, local or user settings (~/.claude
  or $CLAUDE_CONFIG_DIR), one of those files that Claude Code cannot read; Codex runs project hooks
  only in a project trusted in $CODEX_HOME/config.toml, Gemini CLI loads project settings only in a
  folder trusted in ~/.gemini/trustedFolders.json;
- managed settings recommended where a repository commit must not be able to remove the hooks;
- the daemon answers, the ledger key is readable, the policy is valid, the ledger verifies;
- whether the agents' requests came from inside `forge-tui run` (the sandbox), as the daemon saw them.
Exit codes: 0 every check passed (warnings allowed), 1 a check failed, 2 not a forge-tui project."""


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", nargs="?", default=".", help="project folder (default: search upwards from here)")
    p.add_argument("--claude-code", action="store_true", help="require the Claude Code hooks")
    p.add_argument("--codex", action="store_true", help="require the Codex CLI hooks")
    p.add_argument("--gemini", action="store_true", help="require the Gemini CLI hooks")
    p.add_argument("--json", action="store_true", help="print the checks as JSON")


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from forge_tui.core.project import find_project
    from forge_tui.hooks.checks import FAIL, run_checks

    project = find_project(Path(args.dir))
    required = [
        h
        for h, on in (("claude-code", args.claude_code), ("codex", args.codex), ("gemini", args.gemini))
        if on
    ]
    checks = run_checks(project, required)
    if args.json:
        print(json.dumps([c.to_json() for c in checks], indent=2))
    else:
        for c in checks:
            print(c.line())
    failed = sum(c.status == FAIL for c in checks)
    if not args.json:
        print(f"{len(checks)} checks, {failed} failed" if failed else f"{len(checks)} checks, all passed")
    return 1 if failed else 0
