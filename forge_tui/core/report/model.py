"""The report as one JSON-ready dict (format `forge-tui.report/v1`, docs/report.md); the Markdown and
HTML pages are renderings of it, so the three never disagree."""

from __future__ import annotations

from collections import Counter
from typing import Any

from forge_tui.core.records import parse_ts
from forge_tui.core.report.controls import ControlResult, Framework, evaluate
from forge_tui.core.report.evidence import Evidence, Request
from forge_tui.core.report.queries import (
    Context,
    ExceptionItem,
    Status,
    Verification,
    build_context,
    run_queries,
)
from forge_tui.core.report.sample import Sample, draw_sample

FORMAT = "forge-tui.report/v1"
STATUS_ORDER = (Status.GAP, Status.PARTIAL, Status.ORGANISATION, Status.PRESENT, Status.NOT_APPLICABLE)
SEVERITY_ORDER = {"error": 0, "exception": 1, "warning": 2, "notice": 3}
LATENCY_BUCKETS = (
    (60, "< 1 min"),
    (300, "1–5 min"),
    (900, "5–15 min"),
    (3600, "15–60 min"),
    (14400, "1–4 h"),
)

CANNOT_SHOW = (
    "Actions that never passed the gate: an agent run without the hook, the MCP proxy or `forge-tui run`, "
    "a person's own commands, other tools. The ledger only sees what asked it.",
    "The design of controls: whether the policy asks for a human where it should, whether the reviewers "
    "are the right people, whether the change process is adequate. That is the auditor's judgement.",
    "Clock synchronisation: records carry UTC times that never run backwards, but whether the clock was "
    "right is shown by the machine's time-source configuration, not by the ledger.",
    "That a person approved, beyond their key: an approval proves the holder of the reviewer's key signed "
    "it; how keys are issued and guarded is the organisation's to show.",
    "What happened before a ledger's genesis, or in a ledger not committed to the repository.",
    "Compliance: this report is evidence for an assessor. It never states that a control is met.",
)

SHOWN_EXCEPTIONS = 100  # the report lists the worst this many (with counts by code); exceptions.csv all
CSV_FILES = ("requests.csv", "approvals.csv", "sample.csv", "exceptions.csv", "policy.csv", "access.csv")


def build_report(
    ev: Evidence, verification: Verification, framework: Framework, generated_at: str
) -> tuple[dict[str, Any], Context, list[dict[str, Any]]]:
    """The report dict, the context it came from and every exception, worst first (the CSVs are
    written from those two; the dict lists only the first SHOWN_EXCEPTIONS)."""
    bad = {(f.ledger, f.seq) for f in verification.findings if f.seq is not None and f.severity == "error"}
    sample = draw_sample(ev, bad)
    ctx = build_context(ev, verification, sample)
    results = run_queries(ctx)
    controls = evaluate(framework, results)
    exceptions = all_exceptions(results.values(), controls)
    counts = Counter(c.status for c in controls)
    data = {
        "format": FORMAT,
        "framework": {"id": framework.id, "name": framework.name, "scope": framework.scope},
        "generated_at": generated_at,
        "project": {"id": ev.project_id, "name": ev.project_name},
        "period": {"since": ev.period.since, "until": ev.period.until},
        "ledgers": [
            {
                "ledger": f.ledger_id,
                "origin": f.origin,
                "records": f.records,
                "root": f.root,
                "first_ts": f.first_ts,
                "last_ts": f.last_ts,
            }
            for f in ev.ledgers
        ],
        "verification": _verification(verification),
        "summary": {
            "controls": {s.value: counts.get(s, 0) for s in STATUS_ORDER},
            "requests": len(ev.requests),
            "changes": len(ev.changes),
            "approvals": len(ev.approvals),
            "exceptions": len([e for e in exceptions if e["severity"] != "notice"]),
        },
        "controls": [_control(c) for c in controls],
        "exceptions": exceptions[:SHOWN_EXCEPTIONS],
        "exceptions_total": len(exceptions),
        "exceptions_by_code": dict(sorted(Counter(e["code"] for e in exceptions).items())),
        "sample": _sample(sample),
        "charts": {
            "decisions_per_day": decisions_per_day(ev.requests),
            "approval_latency": latency_buckets(ev),
        },
        "cannot_show": list(CANNOT_SHOW),
        "files": list(CSV_FILES),
    }
    return data, ctx, exceptions


def _verification(v: Verification) -> dict[str, Any]:
    sev = Counter(str(f.severity) for f in v.findings)
    return {
        "verified": v.verified,
        "exit_code": v.exit_code,
        "signatures_checked": v.signatures_checked,
        "errors": sev.get("error", 0),
        "warnings": sev.get("warning", 0),
        "notices": sev.get("notice", 0),
    }


def _control(c: ControlResult) -> dict[str, Any]:
    return {
        "id": c.control.id,
        "aliases": list(c.control.aliases),
        "title": c.control.title,
        "text": c.control.text,
        "status": c.status.value,
        "organisation": c.control.organisation,
        "evidence": [
            {"query": r.id, "title": r.title, "status": r.status.value, "note": r.note, "figures": r.figures}
            for r in c.results
        ],
    }


def all_exceptions(results, controls: list[ControlResult]) -> list[dict[str, Any]]:
    items: list[ExceptionItem] = [i for r in results for i in r.exceptions]
    items.sort(
        key=lambda i: (SEVERITY_ORDER.get(i.severity, 9), i.ledger, i.seq if i.seq is not None else -1)
    )
    by_query: dict[str, list[str]] = {}
    for c in controls:
        for q in c.control.queries:
            by_query.setdefault(q, []).append(c.control.id)
    return [
        {
            "severity": i.severity,
            "code": i.code,
            "ledger": i.ledger,
            "seq": i.seq,
            "ts": i.ts,
            "message": i.message,
            "query": i.query,
            "controls": by_query.get(i.query, []),
        }
        for i in items
    ]


def approvals_text(row_request: Request, bad: frozenset[int]) -> list[dict[str, Any]]:
    return [
        {
            "seq": a.seq,
            "reviewer": a.reviewer,
            "verdict": a.verdict,
            "ts": a.ts,
            "signature": "finding" if a.seq in bad else "verified",
        }
        for a in row_request.approvals
    ]


def _sample(s: Sample) -> dict[str, Any]:
    rows = []
    for row in s.rows:
        r = row.request
        fin = r.final
        rows.append(
            {
                "ledger": r.ledger,
                "seq": r.seq,
                "ts": r.ts,
                "request_id": r.request_id,
                "actor": r.actor,
                "kind": r.kind,
                "summary": r.summary,
                "decision": fin.status if fin else "",
                "decided_by": fin.decided_by if fin else "",
                "rule": fin.rule if fin else "",
                "approvals": approvals_text(r, row.bad_approvals),
                "outcome": r.outcomes[0].status if r.outcomes else "",
            }
        )
    return {"seed": s.seed, "population": s.population, "size": s.size, "rows": rows}


def decisions_per_day(reqs: list[Request]) -> list[dict[str, Any]]:
    days: dict[str, Counter] = {}
    for r in reqs:
        fin = r.final
        if fin is None or fin.status == "pending":
            key = "pending"
        elif fin.status == "allowed":
            key = "allowed by reviewers" if fin.decided_by == "reviewers" else "allowed by policy"
        else:
            key = "denied"
        days.setdefault(r.ts[:10], Counter())[key] += 1
    keys = ("allowed by policy", "allowed by reviewers", "denied", "pending")
    return [{"day": d, **{k: days[d].get(k, 0) for k in keys}} for d in sorted(days)]


def latency_buckets(ev: Evidence) -> list[dict[str, Any]]:
    counts = Counter()
    for r in ev.requests:
        if not r.approvals:
            continue
        secs = max(0, (parse_ts(r.approvals[0].ts) - parse_ts(r.ts)) // 1000)
        label = next((name for limit, name in LATENCY_BUCKETS if secs < limit), "> 4 h")
        counts[label] += 1
    labels = [name for _, name in LATENCY_BUCKETS] + ["> 4 h"]
    return [{"bucket": b, "count": counts.get(b, 0)} for b in labels]
