"""forge-tui browse"""

from __future__ import annotations

import argparse

NAME = "browse"
HELP = "browse, filter and inspect the ledger in the terminal (no daemon needed)"
DESCRIPTION = """\
Open the ledger view alone: every record of this machine's ledger (or --ledger ID, or --file PATH),
newest first, with filters (type, actor, path, status, rule, time), text search, jump to a seq (g)
and a detail panel (Enter) that checks the record's signature against the ledger's public key in
.forge/keys/. Reads the files only; the daemon need not run. Escape or q quits."""


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ledger", help="ledger id (default: this machine's, or the only one)")
    p.add_argument(
        "--file", help="a ledger file to open directly (signatures are checked only inside a project)"
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from forge_tui.errors import ConfigError

    project = None
    if args.file:
        path = Path(args.file)
        if not path.is_file():
            raise ConfigError(f"no ledger file {path}")
        from forge_tui.core.project import find_project
        from forge_tui.errors import NotAProject

        try:
            project = find_project(path.resolve().parent)
        except NotAProject:
            project = None
    else:
        from forge_tui.core.project import find_project

        project = find_project()
        path = project.tracked_ledger(_ledger_id(project, args.ledger))
        if not path.is_file():
            raise ConfigError(f"no ledger {path.stem} in {project.ledger_dir}")

    from forge_tui.tui.browse_app import BrowseApp

    BrowseApp(path, project).run()
    return 0


def _ledger_id(project, wanted: str | None) -> str:
    from forge_tui.errors import ConfigError

    if wanted:
        return wanted
    try:
        return project.local_ledger_id()
    except ConfigError:
        ids = project.ledger_ids()
        if len(ids) == 1:
            return ids[0]
        if not ids:
            raise ConfigError(f"no ledger in {project.ledger_dir}") from None
        raise ConfigError(
            "this machine has no ledger of its own here", hint=f"choose one with --ledger: {', '.join(ids)}"
        ) from None
