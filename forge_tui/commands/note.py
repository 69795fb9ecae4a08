"""forge-tui note"""

from __future__ import annotations

import argparse

NAME = "note"
HELP = "append a signed note record to the ledger"
DESCRIPTION = """\
Append a signed `note` record (free text, e.g. "rotated the deploy key", "incident 42 closed").
When the daemon runs it owns the ledger and the note goes through it; otherwise it is written directly."""


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("text", help="the note text")
    p.add_argument("--author", help="who writes the note (default: $USER)")


def run(args: argparse.Namespace) -> int:
    import getpass

    from forge_tui.core.project import find_project
    from forge_tui.errors import ConfigError, LedgerBusy

    if not args.text.strip():
        raise ConfigError("the note is empty")
    project = find_project()
    author = args.author or getpass.getuser()
    try:
        from forge_tui.core.ledger import append_note

        rec = append_note(project, args.text, author=author)
        print(f"note recorded at seq {rec.seq}")
        return 0
    except LedgerBusy:
        pass
    # The daemon holds the ledger: send the note through it.
    from forge_tui.client import Client, DaemonUnavailable
    from forge_tui.paths import review_socket_path

    try:
        with Client(review_socket_path(project.project_id), client="cli") as c:
            res = c.call("ledger.note", {"text": args.text, "author": author})
    except DaemonUnavailable as exc:
        raise ConfigError(f"the ledger is locked by another process but no daemon answers: {exc}") from None
    print(f"note recorded at seq {res['seq']}")
    return 0
