"""forge-tui note"""

from __future__ import annotations

import argparse

from forge_tui.protocol import LEDGER_NOTE

NAME = "note"
HELP = "append a signed note record to the ledger"
DESCRIPTION = """\
Append a signed `note` record (free text, e.g. "rotated the deploy key", "incident 42 closed").
When the daemon runs it owns the ledger and the note goes through it; otherwise it is written directly.
Exit codes: 0 recorded; 2 usage or no daemon answers while the ledger is locked; 3 the ledger cannot be
written now, or the daemon did not confirm in time (the note may then still be recorded: check
`forge-tui log --type note` before sending it again)."""


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("text", help="the note text")
    p.add_argument("--author", help="who writes the note (default: $USER)")
    p.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="how long to wait for the daemon to confirm the note (default 10); after it the command"
        " exits 3 and says the note may still be recorded",
    )


def run(args: argparse.Namespace) -> int:
    import getpass

    from forge_tui.core.project import find_project
    from forge_tui.errors import ConfigError, LedgerBusy, LedgerUnavailable

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

    client = Client(review_socket_path(project.project_id), client="cli", timeout=args.timeout)
    try:
        client.connect()
    except DaemonUnavailable as exc:
        raise ConfigError(f"the ledger is locked by another process but no daemon answers: {exc}") from None
    try:
        res = client.call(LEDGER_NOTE, {"text": args.text, "author": author})
    except DaemonUnavailable as exc:
        # Sent, but not confirmed: the daemon may still write it (a slow disk). Say so, never "not written".
        raise LedgerUnavailable(
            f"the daemon did not confirm the note ({exc}): it may still be recorded",
            hint="check with `forge-tui log --type note --tail 5` before sending it again",
        ) from None
    finally:
        client.close()
    print(f"note recorded at seq {res['seq']}")
    return 0
