"""forge-tui (no command): the approval console"""

from __future__ import annotations

import argparse

NAME = "console"
HELP = "open the approval console (what `forge-tui` with no command does)"
DESCRIPTION = """\
Open the approval console for the project around the current folder. When no daemon answers on the
project's reviewer socket, one is started in the background first (its log goes to the project's
private state folder) and keeps running after you quit. Keys: Enter inspect, a approve, r reject, l ledger,
v verify, p policy, k lock the reviewer key, u hand over (unlock another reviewer's key), ctrl+p
commands, q quit. The key locks itself after lock_after (default 5 minutes) without a key press and
when the terminal session goes away. Rebind keys in the [keymap] table of the user config file (see
docs/console.md). It needs a terminal: from scripts use `forge-tui status`, `approve` and `reject`.

A reviewer on another machine runs it there over ssh (`ssh -t host forge-tui -C PROJECT`), or forwards
the reviewer socket (`ssh -L LOCAL.sock:REMOTE.sock host`) and runs `forge-tui console --no-start
--review-socket LOCAL.sock`."""


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--socket", help="agent socket of a daemon started here (default: FORGE_SOCKET or the runtime folder)"
    )
    p.add_argument(
        "--review-socket",
        help="reviewer socket to connect to (default: FORGE_REVIEW_SOCKET or the runtime folder)",
    )
    p.add_argument("--no-start", action="store_true", help="do not start a daemon; wait for one instead")
    p.add_argument("--as", dest="reviewer", metavar="NAME", help="sign with this reviewer key")


def has_terminal() -> bool:
    """Both standard input and output are a terminal (the console draws on one and reads keys)."""
    import sys

    return sys.stdin.isatty() and sys.stdout.isatty()


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from forge_tui.errors import ForgeError

    if not has_terminal():
        raise ForgeError(
            "the console needs a terminal (standard input and output are not one)",
            hint="from a script use `forge-tui status`, `forge-tui approve` or `forge-tui reject`",
        )

    from forge_tui.core.project import find_project
    from forge_tui.daemon.spawn import daemon_answers, start_daemon
    from forge_tui.paths import review_socket_path, socket_path

    project = find_project()
    # `forge-tui` with no command arrives here without this module's options: use the defaults.
    sock_arg = getattr(args, "socket", None)
    review_arg = getattr(args, "review_socket", None)
    sock = Path(sock_arg) if sock_arg else socket_path(project.project_id)
    review = Path(review_arg) if review_arg else review_socket_path(project.project_id)
    if not getattr(args, "no_start", False) and not _answers(review, daemon_answers):
        log_path = project.state_dir / "daemon.log"
        print(f"starting the daemon for {project.name} (log: {log_path})")
        start_daemon(project.root, sock, log_path=log_path, review_sock=review)

    from forge_tui.tui.app import ForgeApp

    app = ForgeApp.for_project(project, socket=review, reviewer=getattr(args, "reviewer", None))
    app.run()
    return 0


def _answers(sock, daemon_answers) -> bool:
    from forge_tui.client import RPCError

    try:
        return daemon_answers(sock)
    except RPCError:  # a daemon is there (shutting down or refusing): do not start a second one
        return True
