"""Where a pending request stands with its quorum: who approved (and when), who still may, and what is
still needed. Pure: the queue column, Inspect and the tests share it.

"Who may still approve" follows the daemon's rules (docs/design.md §6): never the requester, not the principal
when the rule's `distinct_from` names it, not a reviewer who already approved; with `distinct_by`
holding "uid", an approval must also come from an OS account that has not approved yet, which the
console can only say in words (it does not know which account a reviewer will sign from).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from forge_tui.core.approvals import identities


@dataclass(frozen=True)
class Vote:
    """One reviewer's approval of the request, as the daemon describes it."""

    reviewer: str
    ts: str
    uid: int | None = None
    user: str | None = None


@dataclass(frozen=True)
class Quorum:
    needed: int
    votes: tuple[Vote, ...]
    eligible: tuple[str, ...]  # registered reviewers who may still approve, in name order
    excluded: dict[str, str] = field(default_factory=dict)  # reviewer name -> why they may not
    distinct_by: tuple[str, ...] = ("reviewer",)

    @property
    def have(self) -> int:
        return len(self.votes)

    @property
    def missing(self) -> int:
        return max(0, self.needed - self.have)

    @property
    def stuck(self) -> bool:
        """Fewer reviewers may still approve than approvals are missing: nobody here can complete it."""
        return self.missing > len(self.eligible)

    @property
    def uids(self) -> tuple[int, ...]:
        return tuple(sorted({v.uid for v in self.votes if v.uid is not None}))


def _vote(raw: dict[str, Any]) -> Vote:
    peer = raw.get("peer") if isinstance(raw.get("peer"), dict) else {}
    uid = raw.get("uid", peer.get("uid"))
    user = raw.get("user", peer.get("user"))
    return Vote(
        reviewer=str(raw.get("reviewer") or "?"),
        ts=str(raw.get("ts") or ""),
        uid=uid if type(uid) is int else None,
        user=user if isinstance(user, str) else None,
    )


def quorum_of(item: dict[str, Any], reviewers: Iterable[str]) -> Quorum:
    """The quorum of pending request `item` (a queue.list entry) given the active reviewer names."""
    votes = tuple(
        _vote(a) for a in item.get("approvals") or [] if isinstance(a, dict) and a.get("verdict") == "approve"
    )
    distinct = set(item.get("distinct_from") or []) | {"requester"}
    requester = identities((item.get("actor") or {}).get("id"))
    principal = identities(item.get("principal")) if "principal" in distinct else set()
    done = {v.reviewer for v in votes}
    excluded: dict[str, str] = {}
    eligible: list[str] = []
    for name in sorted(set(reviewers)):
        if name in requester:
            excluded[name] = "the requester"
        elif name in principal:
            excluded[name] = "the principal"
        elif name in done:
            excluded[name] = "already approved"
        else:
            eligible.append(name)
    by = item.get("distinct_by")
    distinct_by = tuple(str(b) for b in by) if isinstance(by, list) and by else ("reviewer",)
    return Quorum(
        needed=max(1, int(item.get("approvals_needed") or 1)),
        votes=votes,
        eligible=tuple(eligible),
        excluded=excluded,
        distinct_by=distinct_by,
    )


def who_may(q: Quorum) -> str:
    """Who may still approve, in words: `bob, carol`, `bob (another OS account)`, or `nobody here`."""
    if not q.missing:
        return "complete"
    if not q.eligible:
        return "nobody here"
    names = ", ".join(q.eligible)
    if "uid" in q.distinct_by and q.uids:
        names += " (another OS account)"
    return names


@dataclass(frozen=True)
class ApprovalCheck:
    """One approval record of the ledger, checked here against the project's reviewer keys."""

    reviewer: str
    verdict: str
    ts: str
    seq: int | None
    uid: int | None
    user: str | None
    status: str  # "verified", or what is wrong with it
    kid: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "verified"


def check_approvals(
    records: Iterable[dict[str, Any]], request_hash: str, verifiers: dict[str, Any]
) -> list[ApprovalCheck]:
    """The `approval` records among `records`, oldest first, each with its signature status: verified
    against `verifiers` (reviewer name -> Verifier), bound to `request_hash`, or why not."""
    from forge_tui.core.approvals import verify_approval
    from forge_tui.errors import ForgeError

    out: list[ApprovalCheck] = []
    for rec in sorted(records, key=lambda r: r.get("seq") or 0):
        body = rec.get("body") or {}
        if rec.get("type") != "approval" or not isinstance(body.get("approval"), dict):
            continue
        appr = body["approval"]
        name = str(appr.get("reviewer") or "?")
        verifier = verifiers.get(name)
        if verifier is None:
            status = "unknown reviewer key"
        elif appr.get("request_hash") != request_hash:
            status = "bound to another request"
        else:
            try:
                verify_approval(appr, str(body.get("reviewer_sig") or ""), verifier)
                status = "verified"
            except (ForgeError, ValueError):
                status = "signature does not verify"
        peer = body.get("peer") if isinstance(body.get("peer"), dict) else {}
        uid = peer.get("uid")
        user = peer.get("user")
        out.append(
            ApprovalCheck(
                reviewer=name,
                verdict=str(appr.get("verdict") or "?"),
                ts=str(appr.get("ts") or ""),
                seq=rec.get("seq") if type(rec.get("seq")) is int else None,
                uid=uid if type(uid) is int else None,
                user=user if isinstance(user, str) else None,
                status=status,
                kid=str(body.get("reviewer_kid") or ""),
            )
        )
    return out
