"""Make a report folder from a project: read, verify, evaluate, render, sign (what `forge-tui report`
runs; tests call it with a fixed `generated_at`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from forge_tui.core.note import Signer
from forge_tui.core.report.bundle import MANIFEST, population_csvs, write_bundle
from forge_tui.core.report.controls import load_framework
from forge_tui.core.report.evidence import Period, load_evidence
from forge_tui.core.report.model import CSV_FILES, build_report
from forge_tui.core.report.queries import Verification
from forge_tui.core.report.render_html import render_html
from forge_tui.core.report.render_md import render_markdown
from forge_tui.errors import ConfigError

REPORT_FILES = {"md": "report.md", "json": "report.json", "html": "report.html"}


@dataclass(frozen=True)
class Written:
    files: list[str]
    status_line: str
    verify_exit: int


def verification_of(project, use_local_state: bool = True) -> Verification:
    from forge_tui.core.verify import verify_project

    rep = verify_project(project, use_local_state=use_local_state, update_seen=False)
    return Verification(
        exit_code=rep.exit_code(),
        signatures_checked=sum(lr.signatures_checked for lr in rep.ledgers),
        checkpoint_sizes={lr.ledger_id: lr.checkpoint_size for lr in rep.ledgers},
        findings=list(rep.findings),
    )


def render(data: dict, fmt: str) -> bytes:
    if fmt == "md":
        return render_markdown(data).encode("utf-8")
    if fmt == "html":
        return render_html(data).encode("utf-8")
    return (json.dumps(data, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def check_out_dir(out: Path) -> None:
    """Refuse a folder holding anything a report does not write (verify-report would flag it)."""
    if not out.exists():
        return
    if not out.is_dir():
        raise ConfigError(f"--out {out} is not a folder")
    ours = {*REPORT_FILES.values(), *CSV_FILES, MANIFEST}
    other = sorted(p.name for p in out.iterdir() if p.name not in ours)
    if other:
        raise ConfigError(f"--out {out} holds other files ({', '.join(other[:3])}): choose an empty folder")


def make_report(
    project,
    *,
    framework_id: str,
    since: str | None,
    until: str | None,
    formats: tuple[str, ...],
    out: Path,
    signer: Signer,
    generated_at: str,
    use_local_state: bool = True,
) -> Written:
    framework = load_framework(framework_id)
    check_out_dir(out)
    if not project.ledger_ids():
        raise ConfigError("the project has no ledger in .forge/ledger/")
    # Verify first: its worker processes start before the evidence fills this one's memory.
    verification = verification_of(project, use_local_state)
    wanted = {(f.ledger, f.seq) for f in verification.findings if f.seq is not None}
    ev = load_evidence(project, Period(since, until), wanted)
    data, ctx, exceptions = build_report(ev, verification, framework, generated_at)
    files = population_csvs(ctx, data, exceptions)
    for fmt in formats:
        files[REPORT_FILES[fmt]] = render(data, fmt)
    for stale in REPORT_FILES.values():  # a format an earlier run wrote into this folder
        if stale not in files and (out / stale).exists():
            (out / stale).unlink()
    write_bundle(out, files, data, signer)
    counts = data["summary"]["controls"]
    return Written(
        sorted(files),
        ", ".join(f"{n} {k}" for k, n in counts.items() if n),
        data["verification"]["exit_code"],
    )
