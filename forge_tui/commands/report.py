"""forge-tui report"""

from __future__ import annotations

import argparse

NAME = "report"
HELP = "write a compliance evidence report (EU AI Act, SOC 2, ISO 27001, NIST 800-53) with signed CSVs"
FRAMEWORK_CHOICES = ("eu-ai-act", "soc2", "iso27001", "nist-800-53")
DESCRIPTION = """\
Write, per control of the framework, the evidence the ledgers hold: populations, counts, exceptions, a
reproducible sample of 25 changes with their approvals, the verification result and the retention span.
Each control gets a status: evidence present, partial, gap, not applicable or needs organisation input
(never "compliant": assessors decide that). The report says what it cannot show (actions that never
passed the gate, the design of controls, clock synchronisation). Format: docs/report.md.

The folder (--out, default ./forge-report-FRAMEWORK) receives report.md / report.json / report.html
(--format, repeatable), the population CSVs and manifest.json with every file's SHA-256, the ledgers'
sizes and roots, signed with this machine's ledger key; `forge-tui verify-report DIR` checks it.

  forge-tui report --framework soc2 --since 2026-07-01 --until 2026-12-31 --format html --format md

Exit codes: 0 written (also when the evidence shows exceptions), 2 usage error (unknown framework, bad
time, no ledger key on this machine, an --out folder holding other files)."""

OWN_FILES = ("report.md", "report.json", "report.html")


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--framework", required=True, choices=FRAMEWORK_CHOICES)
    p.add_argument("--since", help="the period's start (RFC 3339 or a prefix, e.g. 2026-07-01)")
    p.add_argument("--until", help="the period's end (inclusive)")
    p.add_argument(
        "--format",
        action="append",
        choices=("md", "json", "html"),
        help="report format (repeatable; default md)",
    )
    p.add_argument("--out", metavar="DIR", help="the folder to write (default ./forge-report-FRAMEWORK)")
    p.add_argument("--no-local", action="store_true", help="verify without this machine's cached checkpoints")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from forge_tui.core.keys import load_ledger_key
    from forge_tui.core.project import find_project
    from forge_tui.core.query import checked_cli_filters
    from forge_tui.core.records import format_ts, now_ms
    from forge_tui.core.report.build import make_report

    project = find_project()
    _, since, until = checked_cli_filters(None, args.since, args.until)
    out = Path(args.out or f"forge-report-{args.framework}")
    signer = load_ledger_key(project.local_ledger_id())
    written = make_report(
        project,
        framework_id=args.framework,
        since=since,
        until=until,
        formats=tuple(dict.fromkeys(args.format or ["md"])),
        out=out,
        signer=signer,
        generated_at=format_ts(now_ms()),
        use_local_state=not args.no_local,
    )
    print(f"wrote {out}/: {', '.join(written.files)}; manifest.json signed by {signer.kid}")
    print(f"controls: {written.status_line}; verification exit {written.verify_exit}")
    return 0
