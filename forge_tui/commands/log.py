"""forge-tui log"""

from __future__ import annotations

import argparse

NAME = "log"
HELP = "show ledger records as a table (newest last) or JSON lines"
DESCRIPTION = """\
Print the records of this machine's ledger (or --ledger ID / --all) as a table, newest last, or
with --json as JSON Lines (the records verbatim, except that control, C1 and bidi characters
are written as JSON escapes such as \\u202e: the same values, nothing that can repaint a terminal). Filters combine with AND. Times accept prefixes of
RFC 3339 (2026-11-23, 2026-11-23T20:12). Reads the files only; the daemon need not run."""


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--since", help="records at or after this time")
    p.add_argument("--until", help="records at or before this time")
    p.add_argument("--type", action="append", help="record type (repeatable): request, decision, approval, …")
    p.add_argument("--actor", help="actor id (requests), reviewer (approvals) or author (notes)")
    p.add_argument("--path", help="a glob over the action's paths, e.g. 'src/auth/**'")
    p.add_argument("--status", help="allowed, denied, pending, succeeded, failed …")
    p.add_argument("--rule", help="the deciding rule id")
    p.add_argument("--request", help="records about one request id")
    p.add_argument("--tail", type=int, metavar="N", help="only the last N matching records")
    p.add_argument("--ledger", help="ledger id (default: this machine's)")
    p.add_argument("--all", action="store_true", help="every ledger of the project")
    p.add_argument(
        "--json",
        action="store_true",
        help="JSON Lines, the records verbatim (unsafe characters as JSON escapes)",
    )


def run(args: argparse.Namespace) -> int:
    import collections
    import mmap
    import sys

    from forge_tui.core.jcs import CanonicalError, loads_strict
    from forge_tui.core.project import find_project
    from forge_tui.core.query import Filters, checked_cli_filters, record_actor, record_summary
    from forge_tui.core.tail import iter_lines_reversed
    from forge_tui.errors import ConfigError
    from forge_tui.textsafe import json_text

    project = find_project()
    if args.tail is not None and args.tail < 0:
        raise ConfigError("--tail takes a non-negative number")
    if args.all:
        ids = project.ledger_ids()
    else:
        ids = [args.ledger or project.local_ledger_id()]
    types, since, until = checked_cli_filters(args.type, args.since, args.until)
    f = Filters(
        since=since,
        until=until,
        types=types,
        actor=args.actor,
        path=args.path,
        status=args.status,
        rule=args.rule,
        request_id=args.request,
    )
    rows: collections.deque = collections.deque(maxlen=args.tail)
    warned = set()

    def parsed(lid: str, lines):
        for _off, line in lines:
            try:
                yield line, loads_strict(line)
            except CanonicalError:
                if lid not in warned:
                    warned.add(lid)
                    print(
                        f"forge-tui: warning: unreadable record in {lid} (run forge-tui verify)",
                        file=sys.stderr,
                    )

    for lid in ids:
        path = project.tracked_ledger(lid)
        if not path.is_file():
            raise ConfigError(f"no ledger {lid} in {project.ledger_dir}")
        if args.tail is not None and len(ids) == 1:
            # From the end: the cost follows N, not the ledger's size.
            newest = []
            if args.tail:
                for line, rec in parsed(lid, iter_lines_reversed(path)):
                    if f.matches(rec):
                        newest.append((line, rec))
                        if len(newest) >= args.tail:
                            break
            rows.extend(reversed(newest))
            continue
        from forge_tui.core.ledger import iter_lines  # (not for --tail: the writer's imports are heavy)

        with open(path, "rb") as fh:
            data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if path.stat().st_size else b""
        for line, rec in parsed(lid, iter_lines(data)):
            if f.matches(rec):
                rows.append((line, rec))
    if args.tail == 0:
        rows.clear()
    out = sys.stdout
    if args.json:
        for line, _rec in rows:
            out.write(json_text(line.decode("utf-8")) + "\n")
        return 0
    out.write(
        f"{'SEQ':>7}  {'TIME (UTC)':<23}  {'TYPE':<9}  {'ACTOR':<16}  {'STATUS':<9}  {'RULE':<16}  SUMMARY\n"
    )
    for _line, rec in rows:
        b = rec.get("body") or {}
        status = b.get("status") or (b.get("approval") or {}).get("verdict") or ""
        out.write(
            f"{rec.get('seq', ''):>7}  {rec.get('ts', ''):<23}  {rec.get('type', ''):<9}  "
            f"{_clip(record_actor(rec) or '', 16):<16}  {_clip(str(status), 9):<9}  "
            f"{_clip(str(b.get('rule') or ''), 16):<16}  {_clip(record_summary(rec), 80)}\n"
        )
    return 0


def _clip(s: str, n: int) -> str:
    """One cell: agent text escaped (textsafe: control, C1, bidi), cut to `n` characters."""
    from forge_tui.textsafe import clean

    s = clean(s, one_line=True)
    return s if len(s) <= n else s[: n - 1] + "…"
