"""The ledger read as typed rows for the report: requests with their decisions, approvals and outcomes,
policy loads, reviewer and key changes, recorded violations, and each ledger's size and Merkle root.

Every complete line of every tracked ledger is read; rows are kept when their time falls inside the
report's period (`since`/`until`, inclusive), while sizes, roots and the retention span always cover
the whole ledger. Lines that do not parse are skipped here: `verify` reports them.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from forge_tui.core.merkle import leaf_hash, root_from_leaves

# Action kinds that change the system; any other action counts as a change when the policy held it for a
# reviewer (the policy says it matters), so `pytest -q` is not a change and an approved `git push` is.
CHANGE_KINDS = frozenset({"file.write", "file.delete", "git.commit", "git.push", "deploy"})


@dataclass(frozen=True, slots=True)
class Period:
    since: str | None = None
    until: str | None = None

    def holds(self, ts: str) -> bool:
        return (self.since is None or ts >= self.since) and (self.until is None or ts <= self.until)


@dataclass(frozen=True, slots=True)
class Decision:
    seq: int
    ts: str
    status: str
    decided_by: str
    rule: str
    reason: str


@dataclass(frozen=True, slots=True)
class Approval:
    ledger: str
    seq: int
    ts: str
    request_id: str
    reviewer: str
    verdict: str
    reason: str
    reviewer_kid: str


@dataclass(frozen=True, slots=True)
class Outcome:
    seq: int
    ts: str
    status: str
    detail: str
    commit: str


@dataclass(slots=True)
class Request:
    """One request and what the ledger holds about it (decisions, approvals, outcomes, in order)."""

    ledger: str
    seq: int
    ts: str
    request_id: str
    actor: str
    actor_kind: str
    session: str
    principal: str
    kind: str
    tool: str
    summary: str
    paths: tuple[str, ...]
    requirement: str
    client: str
    decisions: list[Decision] = field(default_factory=list)
    approvals: list[Approval] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def final(self) -> Decision | None:
        """The allowing or denying decision (the first one), else the last pending one."""
        done = [d for d in self.decisions if d.status in ("allowed", "denied")]
        return done[0] if done else (self.decisions[-1] if self.decisions else None)

    @property
    def is_change(self) -> bool:
        return self.kind in CHANGE_KINDS or self.needed_review

    @property
    def needed_review(self) -> bool:
        return any(d.status == "pending" or d.decided_by in ("reviewers", "timeout") for d in self.decisions)


@dataclass(frozen=True, slots=True)
class PolicyEvent:
    ledger: str
    seq: int
    ts: str
    path: str
    digest: str
    error: str


@dataclass(frozen=True, slots=True)
class AccessEvent:
    """A `reviewer` or `key` record: who may approve, which key signs."""

    ledger: str
    seq: int
    ts: str
    type: str
    action: str
    name: str
    from_seq: str


@dataclass(frozen=True, slots=True)
class Violation:
    ledger: str
    seq: int
    ts: str
    kind: str
    request_id: str
    detail: str


@dataclass
class LedgerFacts:
    ledger_id: str
    origin: str
    records: int
    root: str  # hex Merkle root (RFC 6962) over every complete line
    first_ts: str | None
    last_ts: str | None
    starts_at_genesis: bool


@dataclass
class Evidence:
    project_id: str
    project_name: str
    period: Period
    ledgers: list[LedgerFacts] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)  # requested inside the period
    approvals: list[Approval] = field(default_factory=list)  # given inside the period
    policies: list[PolicyEvent] = field(default_factory=list)
    access: list[AccessEvent] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    clock_notes: int = 0
    type_counts: Counter = field(default_factory=Counter)  # records inside the period, by type
    ts_of: dict[tuple[str, int], str] = field(default_factory=dict)  # (ledger, seq) -> ts, of `wanted`

    @property
    def changes(self) -> list[Request]:
        return [r for r in self.requests if r.is_change]


def _s(value: Any) -> str:
    return "" if value is None else str(value)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def load_evidence(project, period: Period, wanted: set[tuple[str, int]] | None = None) -> Evidence:
    """Read every tracked ledger of `project` (see the module docstring). `wanted`: the (ledger, seq)
    whose time the caller needs later (`ts_of`), such as those verify has findings about."""
    ev = Evidence(project.project_id, project.name, period)
    for lid in project.ledger_ids():
        ev.ledgers.append(
            _read_ledger(ev, lid, project.origin(lid), _lines(project.tracked_ledger(lid)), wanted or set())
        )
    for r in ev.requests:
        r.approvals.sort(key=lambda a: a.seq)
    ev.requests.sort(key=lambda r: (r.ts, r.ledger, r.seq))
    ev.approvals.sort(key=lambda a: (a.ts, a.ledger, a.seq))
    return ev


def _lines(path):
    """The file's complete lines without their LF, one at a time (a torn last line is left out, as
    verify reports it), so a million-record ledger is never held in memory whole."""
    with open(path, "rb") as fh:
        for line in fh:
            if line.endswith(b"\n"):
                yield line[:-1]


def _read_ledger(ev: Evidence, lid: str, origin: str, lines, wanted: set[tuple[str, int]]) -> LedgerFacts:
    by_id: dict[str, Request] = {}
    leaves: list[bytes] = []
    late: list[tuple[str, dict[str, Any], int, str]] = []  # records naming a request read later
    first_ts = last_ts = None
    genesis = False
    seq = -1
    for seq, line in enumerate(lines):
        leaves.append(leaf_hash(line))
        try:
            rec = json.loads(line)
            t, ts, body = rec["type"], rec["ts"], _dict(rec["body"])
        except (ValueError, KeyError, TypeError):
            continue
        if not isinstance(ts, str):
            continue
        if (lid, seq) in wanted:
            ev.ts_of[(lid, seq)] = ts
        first_ts = first_ts or ts
        last_ts = ts
        genesis = genesis or (seq == 0 and t == "genesis")
        inside = ev.period.holds(ts)
        if inside:
            ev.type_counts[t] += 1
        if t == "request":
            req = _request(lid, seq, ts, body)
            by_id.setdefault(req.request_id, req)
            if inside:
                ev.requests.append(req)
        elif t in ("decision", "outcome", "approval"):
            late.append((t, body, seq, ts))
        elif t == "policy" and inside:
            ev.policies.append(
                PolicyEvent(lid, seq, ts, _s(body.get("path")), _s(body.get("digest")), _s(body.get("error")))
            )
        elif t in ("reviewer", "key") and inside:
            ev.access.append(
                AccessEvent(
                    lid, seq, ts, t, _s(body.get("action")), _s(body.get("name")), _s(body.get("from_seq"))
                )
            )
        elif t == "violation" and inside:
            ev.violations.append(
                Violation(
                    lid,
                    seq,
                    ts,
                    _s(body.get("kind")),
                    _s(body.get("request_id")),
                    _s(body.get("detail")),
                )
            )
        elif t == "note" and body.get("kind") == "clock" and inside:
            ev.clock_notes += 1
    for t, body, seq, ts in late:
        _attach(ev, lid, by_id, t, body, seq, ts)
    root = root_from_leaves(leaves).hex()
    return LedgerFacts(lid, origin, seq + 1, root, first_ts, last_ts, genesis)


def _request(lid: str, seq: int, ts: str, body: dict[str, Any]) -> Request:
    actor = _dict(body.get("actor"))
    action = _dict(body.get("action"))
    paths = action.get("paths") if isinstance(action.get("paths"), list) else []
    summary = (
        action.get("summary") or action.get("command") or ", ".join(map(str, paths)) or action.get("tool")
    )
    return Request(
        ledger=lid,
        seq=seq,
        ts=ts,
        request_id=_s(body.get("request_id")),
        actor=_s(actor.get("id")),
        actor_kind=_s(actor.get("kind")),
        session=_s(actor.get("session")),
        principal=_s(body.get("principal")),
        kind=_s(action.get("kind")),
        tool=_s(action.get("tool")),
        summary=_s(summary),
        paths=tuple(map(str, paths)),
        requirement=_s(body.get("requirement")),
        client=_s(body.get("client")),
    )


def _attach(ev, lid, by_id, t, body, seq, ts) -> None:
    if t == "approval":
        appr = _dict(body.get("approval"))
        a = Approval(
            lid,
            seq,
            ts,
            _s(appr.get("request_id")),
            _s(appr.get("reviewer")),
            _s(appr.get("verdict")),
            _s(appr.get("reason")),
            _s(body.get("reviewer_kid")),
        )
        if ev.period.holds(ts):
            ev.approvals.append(a)
        if a.request_id in by_id:
            by_id[a.request_id].approvals.append(a)
        return
    req = by_id.get(_s(body.get("request_id")))
    if req is None:
        return  # an orphan: verify's forensic rules name it
    if t == "decision":
        req.decisions.append(
            Decision(
                seq,
                ts,
                _s(body.get("status")),
                _s(body.get("decided_by")),
                _s(body.get("rule")),
                _s(body.get("reason")),
            )
        )
    else:
        req.outcomes.append(
            Outcome(seq, ts, _s(body.get("status")), _s(body.get("detail")), _s(body.get("commit")))
        )
