"""The evidence queries a control mapping can name (docs/report.md, "Evidence queries").

Each query reads the `Evidence` and the verification result and answers with a status, a few
figures (counts, spans, latencies) and the exceptions that belong to it. A query's status is:
`evidence present` (the ledger holds it and shows no exception), `partial` (it holds some, or shows
exceptions an auditor must look at), `gap` (the ledger holds none) or `not applicable` (nothing in
the period it could apply to). Verify findings are exceptions of the query their code belongs to
(`CODE_QUERY`, else by check: chain, signatures, checkpoint and anchors go to `log_protection`).
"""

from __future__ import annotations

import enum
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from forge_tui.core.findings import Check, Code
from forge_tui.core.records import parse_ts
from forge_tui.core.report.evidence import Evidence, Request
from forge_tui.core.report.sample import Sample

SIX_MONTHS_DAYS = 183


class Status(enum.StrEnum):
    PRESENT = "evidence present"
    PARTIAL = "partial"
    GAP = "gap"
    NOT_APPLICABLE = "not applicable"
    ORGANISATION = "needs organisation input"


@dataclass(frozen=True)
class ExceptionItem:
    severity: str  # error | warning | notice (a verify finding's), or "exception" for a report rule
    code: str
    ledger: str
    seq: int | None
    ts: str
    message: str
    query: str


@dataclass
class QueryResult:
    id: str
    title: str
    status: Status
    figures: dict[str, Any]
    note: str
    exceptions: list[ExceptionItem] = field(default_factory=list)


@dataclass
class Verification:
    """What `verify` found over the whole of every ledger (not only the period)."""

    exit_code: int
    signatures_checked: int
    checkpoint_sizes: dict[str, int | None]
    findings: list[Any]  # forge_tui.core.verify.Finding

    @property
    def verified(self) -> bool:
        return self.exit_code == 0


# Forensic finding codes and the query whose exceptions they are.
CODE_QUERY: dict[str, str] = {
    Code.TIME_BACKWARDS: "timestamps",
    Code.CLOCK_STEP: "timestamps",
    Code.SELF_APPROVAL: "segregation",
    Code.RECORDED_SELF_APPROVAL: "segregation",
    Code.FORGED_APPROVAL: "non_repudiation",
    Code.UNKNOWN_REVIEWER: "non_repudiation",
    Code.RETIRED_REVIEWER: "non_repudiation",
    Code.UNBOUND_APPROVAL: "non_repudiation",
    Code.ORPHAN_APPROVAL: "non_repudiation",
    Code.RECORDED_FORGED_APPROVAL: "non_repudiation",
    Code.RECORDED_UNKNOWN_REVIEWER: "non_repudiation",
    Code.RECORDED_RETIRED_REVIEWER: "non_repudiation",
    Code.RECORDED_UNBOUND_APPROVAL: "non_repudiation",
    Code.RECORDED_REPLAYED_APPROVAL: "non_repudiation",
    Code.QUORUM: "human_oversight",
    Code.APPROVALS_NEEDED: "human_oversight",
    Code.APPROVAL_AFTER_EXECUTION: "human_oversight",
    Code.PENDING_UNCLOSED: "human_oversight",
    Code.FALLBACK_ALLOWED: "human_oversight",
    Code.UNRECORDED_POLICY: "policy_changes",
    Code.POLICY_MISMATCH: "policy_changes",
    Code.REEVALUATION_SKIPPED: "policy_changes",
    Code.REVIEWERS: "access_changes",
    Code.UNAUTHORIZED_EXECUTION: "anomalies",
    Code.BYPASSED_GATE: "anomalies",
    Code.OUTCOME_INPUT_MISMATCH: "anomalies",
    Code.RECORDED_VIOLATION: "anomalies",
}
_INTEGRITY_CHECKS = {Check.CHAIN, Check.SIGNATURES, Check.CHECKPOINT, Check.ANCHORS}


def query_of(code: str) -> str:
    c = Code(code)
    if c in CODE_QUERY:
        return CODE_QUERY[c]
    return "log_protection" if c.check in _INTEGRITY_CHECKS else "anomalies"


@dataclass
class Context:
    ev: Evidence
    verification: Verification
    sample: Sample
    exceptions: dict[str, list[ExceptionItem]]  # by query id


def build_context(ev: Evidence, verification: Verification, sample: Sample) -> Context:
    """Sort the findings into their queries. Forensic findings about records outside the period are
    left out; integrity findings always count (they concern the whole ledger)."""
    out: dict[str, list[ExceptionItem]] = {}
    for f in verification.findings:
        q = query_of(f.code)
        ts = ev.ts_of.get((f.ledger, f.seq), "") if f.seq is not None else ""
        if q != "log_protection" and ts and not ev.period.holds(ts):
            continue
        out.setdefault(q, []).append(
            ExceptionItem(str(f.severity), str(f.code), f.ledger, f.seq, ts, f.message, q)
        )
    return Context(ev, verification, sample, out)


def _serious(items: list[ExceptionItem]) -> bool:
    return any(i.severity in ("error", "warning", "exception") for i in items)


def _worse(status: Status, items: list[ExceptionItem]) -> Status:
    return Status.PARTIAL if status == Status.PRESENT and _serious(items) else status


def _days(first: str | None, last: str | None) -> int:
    if not first or not last:
        return 0
    return (parse_ts(last) - parse_ts(first)) // 86_400_000


def _latencies(reqs: list[Request]) -> list[int]:
    """Seconds from each request to its first approval (approved or rejected)."""
    out = []
    for r in reqs:
        if r.approvals:
            out.append(max(0, (parse_ts(r.approvals[0].ts) - parse_ts(r.ts)) // 1000))
    return out


# ---- the queries ---------------------------------------------------------------------------------


def q_event_logging(c: Context) -> QueryResult:
    ev = c.ev
    figures = {
        "records in period": sum(ev.type_counts.values()),
        **{f"{t} records": n for t, n in sorted(ev.type_counts.items())},
        "ledgers": len(ev.ledgers),
        "agents (actor ids)": len({r.actor for r in ev.requests}),
        "sessions": len({r.session for r in ev.requests if r.session}),
    }
    status = Status.PRESENT if ev.requests else Status.GAP
    note = (
        "Every action an agent asked the gate about is a signed request record, followed by its decision."
        if ev.requests
        else "No request was recorded in the period."
    )
    return QueryResult("event_logging", "Events recorded by the gate", status, figures, note)


def q_record_content(c: Context) -> QueryResult:
    reqs = c.ev.requests
    full = [r for r in reqs if r.actor and r.kind and r.summary and r.client and r.final is not None]
    allowed = [r for r in reqs if r.final is not None and r.final.status == "allowed"]
    with_outcome = [r for r in allowed if r.outcomes]
    figures = {
        "requests": len(reqs),
        "with who, what, where, source and a decision": len(full),
        "allowed": len(allowed),
        "allowed with a recorded outcome": len(with_outcome),
    }
    if not reqs:
        return QueryResult("record_content", "Content of each record", Status.GAP, figures, "No requests.")
    status = (
        Status.PRESENT if len(full) == len(reqs) and len(with_outcome) == len(allowed) else Status.PARTIAL
    )
    note = (
        "Each request names the actor (agent, session, principal), the action (kind, tool, command or "
        "paths), the client it came through and the time; its decision names the rule and policy digest. "
        "Outcomes are recorded when the host reports the tool run."
    )
    return QueryResult("record_content", "Content of each record", status, figures, note)


def q_log_protection(c: Context) -> QueryResult:
    v = c.verification
    items = c.exceptions.get("log_protection", [])
    figures = {
        "verify exit code (every check)": v.exit_code,
        "record signatures checked": v.signatures_checked,
        **{f"checkpoint of {lid} covers": n for lid, n in sorted(v.checkpoint_sizes.items())},
        "integrity findings": len(items),
    }
    if any(i.severity == "error" for i in items):
        status = Status.GAP
    elif items:
        status = Status.PARTIAL
    else:
        status = Status.PRESENT
    note = (
        "Each record is Ed25519-signed and hash-chained; a signed checkpoint covers the Merkle tree of "
        "all records. `forge-tui verify` re-checks all of it offline."
    )
    return QueryResult("log_protection", "Protection of the log", status, figures, note, items)


def q_timestamps(c: Context) -> QueryResult:
    items = c.exceptions.get("timestamps", [])
    figures = {
        "records in period": sum(c.ev.type_counts.values()),
        "clock steps recorded": c.ev.clock_notes,
        "time-order findings": len(items),
    }
    status = Status.GAP if any(i.severity == "error" for i in items) else Status.PRESENT
    if status == Status.PRESENT and (items or c.ev.clock_notes):
        status = Status.PARTIAL
    note = (
        "Every record carries a UTC time with milliseconds; verify checks that time never runs backwards. "
        "Whether the machine's clock was synchronised to a reliable source is not in the ledger."
    )
    return QueryResult("timestamps", "Time stamps", status, figures, note, items)


def q_human_oversight(c: Context) -> QueryResult:
    reqs = c.ev.requests
    reviewed = [r for r in reqs if r.needed_review]
    approved = [r for r in reviewed if r.final and r.final.status == "allowed"]
    rejected = [
        r for r in reviewed if r.final and r.final.status == "denied" and r.final.decided_by != "timeout"
    ]
    expired = [r for r in reviewed if r.final and r.final.decided_by == "timeout"]
    open_ = [r for r in reviewed if r.final is None or r.final.status == "pending"]
    lat = _latencies(reviewed)
    figures = {
        "requests": len(reqs),
        "held for a human": len(reviewed),
        "approved by reviewers": len(approved),
        "rejected by reviewers": len(rejected),
        "expired (denied by timeout)": len(expired),
        "still pending": len(open_),
        "denied by policy": sum(
            1 for r in reqs if r.final and r.final.status == "denied" and r.final.decided_by == "policy"
        ),
        "reviewers who decided": len({a.reviewer for r in reviewed for a in r.approvals}),
        "median seconds to first approval": statistics.median_low(lat) if lat else "-",
        "longest seconds to first approval": max(lat) if lat else "-",
    }
    items = c.exceptions.get("human_oversight", [])
    status = Status.PRESENT if reviewed else (Status.PARTIAL if reqs else Status.GAP)
    note = (
        "Actions the policy marks `ask` wait for a reviewer, who approves or rejects them with their own "
        "signing key; unanswered requests expire as denials."
        + ("" if reviewed else " No request in the period needed a human, so oversight was not exercised.")
    )
    return QueryResult(
        "human_oversight", "Human oversight of agent actions", _worse(status, items), figures, note, items
    )


def q_approvals_sample(c: Context) -> QueryResult:
    s = c.sample
    reviewed = [row for row in s.rows if row.request.needed_review]
    unsupported = [
        row
        for row in reviewed
        if row.request.final and row.request.final.status == "allowed" and not row.approvals_ok
    ]
    figures = {
        "changes in period": s.population,
        "sampled": len(s.rows),
        "sampled, decided by reviewers": len(reviewed),
        "sampled, allowed by a policy rule": sum(1 for row in s.rows if not row.request.needed_review),
        "sampled, allowed without a valid approval": len(unsupported),
        "seed": s.seed[:16],
    }
    items = [
        ExceptionItem(
            "exception",
            "sample_unapproved",
            row.request.ledger,
            row.request.seq,
            row.request.ts,
            f"sampled change {row.request.request_id} was allowed by reviewers without a valid approval",
            "approvals_sample",
        )
        for row in unsupported
    ]
    if not s.population:
        return QueryResult(
            "approvals_sample",
            "Sample of changes",
            Status.NOT_APPLICABLE,
            figures,
            "No change in the period.",
        )
    note = (
        f"{len(s.rows)} changes drawn from the {s.population} of the period, ordered by SHA-256(seed ‖ ledger ‖ "
        "seq) with the seed taken from the ledgers' roots (reproducible); each with its decision, approvals "
        "and outcome (sample.csv)."
    )
    return QueryResult(
        "approvals_sample", "Sample of changes", _worse(Status.PRESENT, items), figures, note, items
    )


def q_segregation(c: Context) -> QueryResult:
    appr = c.ev.approvals
    items = c.exceptions.get("segregation", [])
    refused = [i for i in items if i.code == Code.RECORDED_SELF_APPROVAL]
    figures = {
        "approvals": len(appr),
        "distinct reviewers": len({a.reviewer for a in appr}),
        "distinct requesters": len({r.actor for r in c.ev.requests}),
        "self-approvals found": len(items) - len(refused),
        "self-approvals the gate refused": len(refused),
    }
    if not appr:
        status = Status.NOT_APPLICABLE
        note = "No approval in the period."
    else:
        status = _worse(Status.PRESENT, items)
        note = (
            "The gate refuses an approval by the requester (or by the principal the rule excludes); verify "
            "re-checks every approval against the request it is bound to."
        )
    return QueryResult("segregation", "Segregation of duties", status, figures, note, items)


def q_non_repudiation(c: Context) -> QueryResult:
    appr = c.ev.approvals
    items = c.exceptions.get("non_repudiation", [])
    bad = {(i.ledger, i.seq) for i in items if i.severity == "error"}
    figures = {
        "approvals": len(appr),
        "signed by the reviewer's own key, verified": sum(1 for a in appr if (a.ledger, a.seq) not in bad),
        "approval findings": len(items),
    }
    if not appr:
        return QueryResult(
            "non_repudiation",
            "Reviewers' own signatures",
            Status.NOT_APPLICABLE,
            figures,
            "No approval in the period.",
            items,
        )
    note = (
        "Each approval carries the reviewer's Ed25519 signature over the request's hash, checked against "
        "the reviewer's enrolled public key; the daemon's signature alone would not show who approved."
    )
    return QueryResult(
        "non_repudiation", "Reviewers' own signatures", _worse(Status.PRESENT, items), figures, note, items
    )


def q_access_changes(c: Context) -> QueryResult:
    acc = c.ev.access
    items = c.exceptions.get("access_changes", [])
    figures = {
        "reviewer enrolments": sum(1 for a in acc if a.type == "reviewer" and a.action != "retire"),
        "reviewer retirements": sum(1 for a in acc if a.type == "reviewer" and a.action == "retire"),
        "ledger key changes": sum(1 for a in acc if a.type == "key"),
    }
    status = Status.PRESENT if acc else Status.PARTIAL
    note = (
        "Who may approve is recorded in the ledger (`reviewer` records), so each change of the approver "
        "list is itself signed and dated (access.csv)."
        + ("" if acc else " No such change was recorded in the period.")
    )
    return QueryResult(
        "access_changes", "Changes to who may approve", _worse(status, items), figures, note, items
    )


def q_policy_changes(c: Context) -> QueryResult:
    pol = c.ev.policies
    items = c.exceptions.get("policy_changes", [])
    figures = {
        "policy loads": len(pol),
        "distinct policy digests": len({p.digest for p in pol}),
        "loads refused (invalid policy)": sum(1 for p in pol if p.error),
        "policy findings": len([i for i in items if i.severity != "notice"]),
    }
    status = Status.PRESENT if pol else Status.PARTIAL
    note = (
        "Each policy the gate loads is recorded with its digest; every decision names the digest it was "
        "made under, and verify re-evaluates policy decisions against the recorded policy (policy.csv)."
    )
    return QueryResult(
        "policy_changes", "Changes to the gate's policy", _worse(status, items), figures, note, items
    )


def q_anomalies(c: Context) -> QueryResult:
    reqs = c.ev.requests
    items = c.exceptions.get("anomalies", [])
    figures = {
        "denied requests": sum(1 for r in reqs if r.final and r.final.status == "denied"),
        "violations the gate recorded": len(c.ev.violations),
        "forensic findings (all rules)": sum(
            1
            for f in c.verification.findings
            if Code(f.code).check == Check.FORENSICS and f.severity == "error"
        ),
        "execution or bypass findings": len([i for i in items if i.severity == "error"]),
    }
    note = (
        "Refusals and recorded violations show what the gate stopped; verify's forensic rules look for "
        "executions without an allowing decision and tool runs the gate never saw a request for."
    )
    status = Status.PRESENT if reqs else Status.GAP
    return QueryResult(
        "anomalies", "Anomalies detected and recorded", _worse(status, items), figures, note, items
    )


def q_retention(c: Context) -> QueryResult:
    facts = c.ev.ledgers
    first = min((f.first_ts for f in facts if f.first_ts), default=None)
    last = max((f.last_ts for f in facts if f.last_ts), default=None)
    whole = bool(facts) and all(f.starts_at_genesis for f in facts)
    span = _days(first, last)
    figures = {
        "first record": first or "-",
        "last record": last or "-",
        "span in days": span,
        "every ledger complete from its genesis": "yes" if whole else "no",
        "six months (183 days) covered": "yes" if span >= SIX_MONTHS_DAYS else "no",
    }
    if not facts or not whole:
        status = Status.GAP
        note = "A ledger does not start at its genesis record: older records are missing."
    elif span >= SIX_MONTHS_DAYS:
        status = Status.PRESENT
        note = f"The ledgers hold {span} days of records, complete from their genesis."
    else:
        status = Status.PARTIAL
        note = (
            f"The ledgers are complete from their genesis but hold only {span} days: six months of "
            "retention cannot be shown yet."
        )
    return QueryResult("retention", "Retention of the logs", status, figures, note)


QUERIES: dict[str, Callable[[Context], QueryResult]] = {
    "event_logging": q_event_logging,
    "record_content": q_record_content,
    "log_protection": q_log_protection,
    "timestamps": q_timestamps,
    "human_oversight": q_human_oversight,
    "approvals_sample": q_approvals_sample,
    "segregation": q_segregation,
    "non_repudiation": q_non_repudiation,
    "access_changes": q_access_changes,
    "policy_changes": q_policy_changes,
    "anomalies": q_anomalies,
    "retention": q_retention,
}


def run_queries(c: Context) -> dict[str, QueryResult]:
    return {qid: fn(c) for qid, fn in QUERIES.items()}
