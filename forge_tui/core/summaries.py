"""Typed summaries of ledger records: the few fields the forensic rules, `verify --git`, `trace` and the
reports need, one small record per record type (docs/design.md §4.3).

`verify`'s worker processes build them while they parse and return them to the parent, so they are
NamedTuples (cheap to pickle) holding plain values. Every summary carries the record's `ts`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
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


def _strs(value: Any) -> tuple[str, ...]:
    """The strings of a list, in order ((): not a list)."""
    if type(value) is list:
        try:
            "".join(value)  # the common list, strings only, is kept whole (checked by one C call)
        except TypeError:
            pass
        else:
            return tuple(value)
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
    puts it in (`summarise`), or builds the row with it (`request_row`)."""
    row = _ROWS.get(t)
    return None if row is None else row(b, ts)


def request_row(b: dict[str, Any], ts: str, leaf: str | None) -> tuple:
    """The fields of a request's summary, `leaf` its leaf hash (hex)."""
    actor = b.get("actor")
    if not isinstance(actor, dict):
        actor = _NO_FIELDS
    action = b.get("action")
    process = b.get("process")
    return (
        ts,
        b.get("request_id"),
        actor.get("id"),
        actor.get("kind"),
        b.get("principal"),
        actor.get("session"),
        leaf,
        action if isinstance(action, dict) else {},
        b.get("requirement"),
        process.get("sandboxed") if isinstance(process, dict) else None,
    )


_NO_FIELDS: dict[str, Any] = {}  # read only: stands for a field that is not an object


def _request(b: dict[str, Any], ts: str) -> tuple[int, tuple]:
    return REQUEST, request_row(b, ts, None)


def _decision(b: dict[str, Any], ts: str) -> tuple[int, tuple]:
    g = b.get
    return DECISION, (
        ts,
        g("request_id"),
        g("request_hash"),
        g("status"),
        g("decided_by"),
        g("rule"),
        g("policy_digest"),
        g("approvals_needed"),
        _strs(g("distinct_from")),
        _strs(g("rules")),
    )


def _approval(b: dict[str, Any], ts: str) -> tuple[int, tuple]:
    appr = b.get("approval")
    return APPROVAL, (
        ts,
        appr if isinstance(appr, dict) else None,
        b.get("reviewer_kid"),
        b.get("reviewer_sig"),
        False,
        None,
    )


def _outcome(b: dict[str, Any], ts: str) -> tuple[int, tuple]:
    g = b.get
    return OUTCOME, (ts, g("request_id"), g("status"), g("commit"), g("tool_use_id"), g("input_digest"))


def _policy(b: dict[str, Any], ts: str) -> tuple[int, tuple]:
    return POLICY, (ts, b.get("digest"), b.get("error"), b.get("path"))


def _key(b: dict[str, Any], ts: str) -> tuple[int, tuple]:
    return KEY, (ts, "key", b.get("action"), b.get("vkey"), b.get("from_seq"), b.get("name"))


def _reviewer(b: dict[str, Any], ts: str) -> tuple[int, tuple]:
    return KEY, (ts, "reviewer", b.get("action"), b.get("vkey"), b.get("from_seq"), b.get("name"))


def _genesis(b: dict[str, Any], ts: str) -> tuple[int, tuple]:
    return GENESIS, (ts, b.get("vkey"))


def _violation(b: dict[str, Any], ts: str) -> tuple[int, tuple]:
    return VIOLATION, (ts, b.get("kind"), b.get("request_id"), b.get("detail"))


def _note(b: dict[str, Any], ts: str) -> tuple[int, tuple] | None:
    return (CLOCK, (ts, b.get("previous_ts"))) if b.get("kind") == "clock" else None


# The row of each record type a rule reads, by type.
_ROWS: dict[str, Callable[[dict[str, Any], str], tuple[int, tuple] | None]] = {
    "request": _request,
    "decision": _decision,
    "approval": _approval,
    "outcome": _outcome,
    "policy": _policy,
    "key": _key,
    "reviewer": _reviewer,
    "genesis": _genesis,
    "violation": _violation,
    "note": _note,
}
