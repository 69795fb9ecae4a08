"""forge-tui query"""

from __future__ import annotations

import argparse

NAME = "query"
HELP = "find ledger records by time, actor, path, status, rule, requirement or reviewer (table, JSONL, CSV)"
DESCRIPTION = """\
Search every ledger of the project (or --ledger ID) with the filters of `log` plus --requirement
(the ticket, issue or URL a request names) and --reviewer (approvals by that reviewer). Filters combine
with AND. The search scans the file's bytes through the console's offset index and parses only the
candidate lines, so it answers on a million-record ledger in about a second (BENCHMARKS.md).
Output: a table (default), --format jsonl (the records verbatim, one a line, with control, C1 and
bidi characters as JSON escapes) or --format csv
(seq, ts, type, actor, status, rule, request_id, summary). Exit codes: 0 (also when nothing matches),
2 usage error."""


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--since", help="records at or after this time")
    p.add_argument("--until", help="records at or before this time")
    p.add_argument("--type", action="append", help="record type (repeatable)")
    p.add_argument("--actor", help="actor id (requests), reviewer (approvals) or author (notes)")
    p.add_argument("--path", help="a glob over the action's paths, e.g. 'src/auth/**'")
    p.add_argument("--status", help="allowed, denied, pending, succeeded, failed …")
    p.add_argument("--rule", help="the deciding rule id")
    p.add_argument("--request", help="records about one request id")
    p.add_argument("--requirement", help="requests naming this requirement (ticket, issue, URL)")
    p.add_argument("--reviewer", help="approvals by this reviewer")
    p.add_argument("--ledger", help="one ledger id (default: every ledger)")
    p.add_argument("--format", choices=("table", "jsonl", "csv"), default="table")


def run(args: argparse.Namespace) -> int:
    import csv
    import json
    import sys

    from forge_tui.core.project import find_project
    from forge_tui.core.query import (
        QuerySpec,
        checked_cli_filters,
        query_ledger,
        record_actor,
        record_summary,
    )
    from forge_tui.errors import ConfigError
    from forge_tui.textsafe import json_text

    project = find_project()
    types, since, until = checked_cli_filters(args.type, args.since, args.until)
    spec = QuerySpec(
        since=since,
        until=until,
        types=types,
        actor=args.actor,
        path=args.path,
        status=args.status,
        rule=args.rule,
        request_id=args.request,
        requirement=args.requirement,
        reviewer=args.reviewer,
    )
    ids = [args.ledger] if args.ledger else project.ledger_ids()
    out = sys.stdout
    writer = csv.writer(out) if args.format == "csv" else None
    if writer:
        writer.writerow(["ledger", "seq", "ts", "type", "actor", "status", "rule", "request_id", "summary"])
    for lid in ids:
        path = project.tracked_ledger(lid)
        if not path.is_file():
            raise ConfigError(f"no ledger {lid} in {project.ledger_dir}")
        for seq, line in query_ledger(path, spec):
            if args.format == "jsonl":
                out.write(json_text(line.decode("utf-8", "replace")) + "\n")
                continue
            rec = json.loads(line)
            body = rec.get("body") or {}
            rid = body.get("request_id") or (body.get("approval") or {}).get("request_id") or ""
            cells = [
                lid,
                seq,
                rec.get("ts", ""),
                rec.get("type", ""),
                record_actor(rec) or "",
                body.get("status") or "",
                body.get("rule") or "",
                rid,
                record_summary(rec),
            ]
            if writer:
                writer.writerow([_safe(c) for c in cells])
            else:
                out.write(_printable("  ".join(str(c) for c in cells[1:])) + "\n")
    return 0


def _safe(cell) -> str:
    """A CSV cell a spreadsheet will not run as a formula, with control, C1 and bidi characters
    escaped (agent text is untrusted)."""
    from forge_tui.textsafe import clean

    s = str(cell)
    s = "'" + s if s[:1] in ("=", "+", "-", "@", "\t", "\r") else s
    return clean(s, one_line=True)


def _printable(text: str) -> str:
    """A table line: agent text escaped (textsafe: control, C1, bidi, newlines)."""
    from forge_tui.textsafe import clean

    return clean(text, one_line=True)
