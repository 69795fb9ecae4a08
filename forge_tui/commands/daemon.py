"""forge-tui daemon"""

from __future__ import annotations

import argparse

NAME = "daemon"
HELP = "run the gate daemon for this project in the foreground"
DESCRIPTION = """\
Serve the gate for this project on two Unix sockets. The agent socket (FORGE_SOCKET, or
<runtime dir>/<project id>.sock) answers only hello, status, gate.request, gate.wait, gate.outcome and
ledger.query; the reviewer socket (FORGE_REVIEW_SOCKET, or <runtime dir>/review/<project id>.sock, in its
own 0700 folder) answers everything, and is the one the console, approve, reject and note use. Agents
send requests, the policy decides, reviewers approve or reject, and every decision is durable in the
ledger before anyone hears of it. One daemon per project: a second one refuses to start.
SIGTERM / SIGINT stop it cleanly; requests still pending are denied (decided_by fallback) and recorded.
`forge-tui` with no command starts it in the background when needed."""


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--socket", help="agent socket path (default: FORGE_SOCKET or the runtime folder)")
    p.add_argument(
        "--review-socket",
        help="reviewer socket path, in a private folder (default: FORGE_REVIEW_SOCKET or <runtime dir>/review/)",
    )
    p.add_argument("--log", metavar="FILE", help="append log lines to FILE (default: standard error)")


def run(args: argparse.Namespace) -> int:
    import asyncio
    import sys
    from pathlib import Path

    from forge_tui.core.project import find_project
    from forge_tui.daemon.server import run_daemon
    from forge_tui.paths import review_socket_path, socket_path

    project = find_project()
    path = Path(args.socket) if args.socket else socket_path(project.project_id)
    review = Path(args.review_socket) if args.review_socket else review_socket_path(project.project_id)
    log = open(args.log, "a", encoding="utf-8") if args.log else sys.stderr  # noqa: SIM115
    from forge_tui.errors import LedgerUnavailable

    fix = "free some space or fix the disk, then start it again"
    try:
        asyncio.run(run_daemon(project, path, review_socket_path=review, log_file=log))
    except OSError as exc:  # a full disk or an I/O error while starting: a clear error (3), not 70
        where = exc.filename or project.state_dir
        raise LedgerUnavailable(
            f"the daemon cannot start: {where}: {exc.strerror or exc}", hint=fix
        ) from None
    except LedgerUnavailable as exc:  # the start's first records could not be written: name the file
        raise LedgerUnavailable(
            f"the daemon cannot start: {_ledger_file(project)}: {exc}", hint=fix
        ) from None
    finally:
        if log is not sys.stderr:
            log.close()
    return 0


def _ledger_file(project) -> str:
    from forge_tui.core.ledger import authoritative_dir

    try:
        return str(authoritative_dir(project) / f"{project.local_ledger_id()}.jsonl")
    except Exception:  # the ledger's own name is unreadable: the folder is the best we can say
        return str(project.state_dir)
