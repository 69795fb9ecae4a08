"""Typed summaries of ledger records: the few fields the forensic rules, `verify --git`, `trace` and the
reports need, one small record per record type (docs/design.md §4.3).

`verify`'s worker processes build them while they parse and return them to the parent, so they are
NamedTuples (cheap to pickle) holding plain values. Every summary carries the record's `ts`.
"""

from __future__ import annotations

import hashlib
from typing import Any, NamedTuple


class RequestSummary(NamedTuple):
    ts: str
    request_id: Any
    actor_id: Any
    actor_kind: Any
    principal: Any
    session: Any
    leaf: str  # the request record's leaf hash (hex): decisions and approvals must name it
    action: dict[str, Any]  # the recorded action ({} when the record holds none)
    requirement: Any = None
    sandboxed: Any = None  # process.sandboxed as the daemon saw the peer (docs/sandbox.md)


class DecisionSummary(NamedTuple):
    ts: str
    request_id: Any
    request_hash: Any
    status: Any  # allowed | denied | pending
    decided_by: Any  # policy | reviewers | timeout | fallback
    rule: Any
    policy_digest: Any
    approvals_needed: Any
    distinct_from: tuple[str, ...]
    rules: tuple[str, ...] = ()


class ApprovalSummary(NamedTuple):
    ts: str
    approval: dict[str, Any] | None  # the object the reviewer signed, verbatim (None if not an object)
    reviewer_kid: Any
    reviewer_sig: Any
    sig_checked: bool = False  # whether `sig_error` was computed (by a worker holding the reviewers)
    sig_error: str | None = None  # None: the signature verifies; "": not judged here; else why not


class OutcomeSummary(NamedTuple):
    ts: str
    request_id: Any
    status: Any
    commit: Any = None
    tool_use_id: Any = None
    input_digest: Any = None


class PolicySummary(NamedTuple):
    ts: str
    digest: Any
    error: Any
    path: Any = None


class KeySummary(NamedTuple):
    """A `key` or `reviewer` record."""

    ts: str
    type: str
    action: Any
    vkey: Any
    from_seq: Any
    name: Any


class GenesisSummary(NamedTuple):
    ts: str
    vkey: Any


class ViolationSummary(NamedTuple):
    ts: str
    kind: Any
    request_id: Any
    detail: Any


class ClockSummary(NamedTuple):
    """A `note` of kind clock: the writer's record of a wall clock gone back (docs/faults.md)."""

    ts: str
    previous_ts: Any


Summary = (
    RequestSummary
    | DecisionSummary
    | ApprovalSummary
    | OutcomeSummary
    | PolicySummary
    | KeySummary
    | GenesisSummary
    | ViolationSummary
    | ClockSummary
)
Summaries = dict[int, Summary]  # by seq


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _strs(value: Any) -> tuple[str, ...]:
    return tuple(x for x in value if isinstance(x, str)) if isinstance(value, list) else ()


# The summary classes by index: a worker sends each summary as (its class's index, its fields as a
# plain tuple), which pickles at about half the cost of the NamedTuple, and the parent builds the
# NamedTuples back with C calls only (`unpack`).
CLASSES = (
    RequestSummary,
    DecisionSummary,
    ApprovalSummary,
    OutcomeSummary,
    PolicySummary,
    KeySummary,
    GenesisSummary,
    ViolationSummary,
    ClockSummary,
)
REQUEST, DECISION, APPROVAL, OUTCOME, POLICY, KEY, GENESIS, VIOLATION, CLOCK = range(len(CLASSES))


def summarise(rec: dict[str, Any], line: bytes, leaf: str | None = None) -> Summary | None:
    """The summary of a parsed, shape-checked record (`line`: its bytes without the LF; `leaf`: its
    leaf hash in hex when the caller has it already), or None for the types no rule reads (notes,
    recoveries)."""
    got = summary_row(rec["type"], rec["body"], rec["ts"])
    if got is None:
        return None
    kind, row = got
    if kind == REQUEST:
        row = _with_leaf(row, leaf if leaf is not None else hashlib.sha256(b"\x00" + line).hexdigest())
    return tuple.__new__(CLASSES[kind], row)


def _with_leaf(row: tuple, leaf: str) -> tuple:
    """A request's row with its leaf hash in its place (`summary_row` leaves it None)."""
    return (*row[:6], leaf, *row[7:])


def unpack(seqs: list[int], kinds: bytes, rows: list[tuple]) -> Summaries:
    """The summaries by seq from what a worker sent: seq, class index and fields of each."""
    return dict(zip(seqs, map(tuple.__new__, map(CLASSES.__getitem__, kinds), rows), strict=True))


def summary_row(t: str, b: dict[str, Any], ts: str) -> tuple[int, tuple] | None:
    """(class index, fields) of the summary of a shape-checked record of type `t`, body `b` and time
    `ts`; None for the types no rule reads. A request's leaf hash (field 6) is None here: the caller
    puts it in (`summarise`)."""
    if t == "request":
        actor = _dict(b.get("actor"))
        return REQUEST, (
            ts,
            b.get("request_id"),
            actor.get("id"),
            actor.get("kind"),
            b.get("principal"),
            actor.get("session"),
            None,
            _dict(b.get("action")),
            b.get("requirement"),
            _dict(b.get("process")).get("sandboxed"),
        )
    if t == "decision":
        return DECISION, (
            ts,
            b.get("request_id"),
            b.get("request_hash"),
            b.get("status"),
            b.get("decided_by"),
            b.get("rule"),
            b.get("policy_digest"),
            b.get("approvals_needed"),
            _strs(b.get("distinct_from")),
            _strs(b.get("rules")),
        )
    if t == "approval":
        appr = b.get("approval")
        return APPROVAL, (
            ts,
            appr if isinstance(appr, dict) else None,
            b.get("reviewer_kid"),
            b.get("reviewer_sig"),
            False,
            None,
        )
    if t == "outcome":
        return OUTCOME, (
            ts,
            b.get("request_id"),
            b.get("status"),
            b.get("commit"),
            b.get("tool_use_id"),
            b.get("input_digest"),
        )
    if t == "policy":
        return POLICY, (ts, b.get("digest"), b.get("error"), b.get("path"))
    if t in ("key", "reviewer"):
        return KEY, (ts, t, b.get("action"), b.get("vkey"), b.get("from_seq"), b.get("name"))
    if t == "genesis":
        return GENESIS, (ts, b.get("vkey"))
    if t == "violation":
        return VIOLATION, (ts, b.get("kind"), b.get("request_id"), b.get("detail"))
    if t == "note" and b.get("kind") == "clock":
        return CLOCK, (ts, b.get("previous_ts"))
    return None
