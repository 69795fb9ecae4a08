"""forge-tui reject"""

from __future__ import annotations

import argparse

NAME = "reject"
HELP = "reject a pending request with a reason, signed with your reviewer key"
DESCRIPTION = """\
Sign a rejection of request ID with reviewer NAME's key; the agent is denied with your reason.
The passphrase comes from the terminal or FORGE_PASSPHRASE."""


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("request_id", metavar="ID", help="the request id")
    p.add_argument("--as", dest="reviewer", required=True, metavar="NAME", help="your reviewer name")
    p.add_argument("--reason", required=True, help="why it is rejected (shown to the agent)")


def run(args: argparse.Namespace) -> int:
    from forge_tui.core.project import find_project
    from forge_tui.errors import ConfigError
    from forge_tui.review import review_cli

    if not args.reason.strip():
        raise ConfigError("a rejection needs a reason")
    return review_cli(find_project(), args.request_id, args.reviewer, "reject", args.reason)
