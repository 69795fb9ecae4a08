"""forge-tui approve"""

from __future__ import annotations

import argparse

NAME = "approve"
HELP = "approve a pending request, signed with your reviewer key"
DESCRIPTION = """\
Sign an approval of request ID with reviewer NAME's key and send it to the daemon. The passphrase is
read from the terminal, or from FORGE_PASSPHRASE when set (for scripts: anyone who can read that
variable can approve as NAME, so keep it out of agents' environments). The daemon refuses approvals of
your own requests (exit 1, recorded as a violation)."""


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("request_id", metavar="ID", help="the request id (see the console or `forge-tui log`)")
    p.add_argument("--as", dest="reviewer", required=True, metavar="NAME", help="your reviewer name")
    p.add_argument("--reason", default="", help="why (optional for approvals)")


def run(args: argparse.Namespace) -> int:
    from forge_tui.core.project import find_project
    from forge_tui.review import review_cli

    return review_cli(find_project(), args.request_id, args.reviewer, "approve", args.reason)
