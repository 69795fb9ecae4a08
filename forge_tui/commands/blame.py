"""forge-tui blame"""

from __future__ import annotations

import argparse

NAME = "blame"
HELP = "git blame joined with the ledger: which lines came from a governed agent action"
DESCRIPTION = """\
For each range of lines of FILE that one commit last changed: the commit, and whether it came from a
governed action (its Forge-Request trailer names a request in the ledger: the agent, session, request,
decision, the reviewers who approved and the policy rule) or from no recorded action (a hand-made
change, or one made outside the gate). Reads git and the ledger files only.
Exit codes: 0 shown, 2 not a file under git."""


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="a file in the repository")
    p.add_argument("--rev", default="HEAD", help="blame as of this revision (default HEAD)")
    p.add_argument("--json", action="store_true", help="one object per line range")


def run(args: argparse.Namespace) -> int:
    import json

    from forge_tui.core.blame import blame
    from forge_tui.core.project import find_project

    project = find_project()
    ranges = blame(project, args.file, args.rev)
    if args.json:
        print(json.dumps([r.to_json() for r in ranges], indent=1))
        return 0
    for r in ranges:
        lines = f"{r.start}" if r.start == r.end else f"{r.start}-{r.end}"
        if r.request is None:
            who = "no recorded action" + (
                f" (trailer names unknown {', '.join(r.unknown)})" if r.unknown else ""
            )
        else:
            q = r.request
            revs = ", ".join(q["reviewers"]) or "no reviewer"
            who = (
                f"agent {q['agent']} (session {q['session']}), request {q['request_id']} "
                f"{q['status']} by {q['decided_by']} rule {q['rule']}, approved by {revs}"
            )
        text = f"{lines:>9}  {r.commit[:10]}  {r.author}  {who}"
        print("".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text))
    return 0
