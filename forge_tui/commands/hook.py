"""forge-tui hook (standard library only: it runs on every agent tool call)"""

from __future__ import annotations

import argparse

NAME = "hook"
HELP = "the agent hook for Claude Code, Codex or Gemini CLI (reads the host's JSON on stdin)"
DESCRIPTION = """\
Gate one tool call of an agent host. The host runs this with its hook payload (PreToolUse /
BeforeTool, PostToolUse / AfterTool, PermissionRequest) on standard input; the daemon maps the tool to
an action, the policy or a reviewer decides, and the answer is printed in the host's format with the
rule or reviewer and the ledger seq. PostToolUse records the outcome in the ledger.

Fails closed: no project, no daemon, a timeout, garbage input or any error prints the host's deny and
exits 2 (the only exit code every host treats as "block"). --deadline must be below the timeout in
the host's settings; `forge-tui init --claude-code|--codex|--gemini` writes both (the settings run
the same code as `python3 -I -S …/forge_tui/hooks/run.py HOST`, which starts faster).
Exit codes: 0 allowed or recorded, 2 denied or failed (the reason is on standard error)."""


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("host", choices=["claude-code", "codex", "gemini"], help="the agent host")
    p.add_argument(
        "--deadline",
        type=float,
        default=None,
        metavar="SECONDS",
        help="give up (deny) after this long; default 570, below Claude Code's 600 s hook timeout",
    )


def run(args: argparse.Namespace) -> int:
    from forge_tui.hooks.agent import main

    argv = [args.host]
    if args.deadline is not None:
        argv += ["--deadline", str(args.deadline)]
    return main(argv)
