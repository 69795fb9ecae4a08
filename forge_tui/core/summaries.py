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


def summarise(rec: dict[str, Any], line: bytes, leaf: str | None = None) -> Summary | None:
    """The summary of a parsed, shape-checked record (`line`: its bytes without the LF; `leaf`: its
    leaf hash in hex when the caller has it already), or None for the types no rule reads (notes,
    recoveries)."""
    t = rec["type"]
    b = rec["body"]
    ts = rec["ts"]
    if t == "request":
        actor = _dict(b.get("actor"))
        return RequestSummary(
            ts,
            b.get("request_id"),
            actor.get("id"),
            actor.get("kind"),
            b.get("principal"),
            actor.get("session"),
            leaf if leaf is not None else hashlib.sha256(b"\x00" + line).hexdigest(),
            _dict(b.get("action")),
            b.get("requirement"),
            _dict(b.get("process")).get("sandboxed"),
        )
    if t == "decision":
        return DecisionSummary(
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
        return ApprovalSummary(
            ts, appr if isinstance(appr, dict) else None, b.get("reviewer_kid"), b.get("reviewer_sig")
        )
    if t == "outcome":
        return OutcomeSummary(
            ts,
            b.get("request_id"),
            b.get("status"),
            b.get("commit"),
            b.get("tool_use_id"),
            b.get("input_digest"),
        )
    if t == "policy":
        return PolicySummary(ts, b.get("digest"), b.get("error"), b.get("path"))
    if t in ("key", "reviewer"):
        return KeySummary(ts, t, b.get("action"), b.get("vkey"), b.get("from_seq"), b.get("name"))
    if t == "genesis":
        return GenesisSummary(ts, b.get("vkey"))
    if t == "violation":
        return ViolationSummary(ts, b.get("kind"), b.get("request_id"), b.get("detail"))
    if t == "note" and b.get("kind") == "clock":
        return ClockSummary(ts, b.get("previous_ts"))
    return None
