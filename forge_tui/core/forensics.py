"""The forensic rules over one ledger's record summaries (docs/design.md §7).

`verify` builds the typed summaries (`forge_tui.core.summaries`) while it parses and checks signatures;
`ledger_forensics` walks them in seq order and returns the findings. Each rule names the records
involved (the finding's seq) and a stable code from `forge_tui.core.findings`.

Rules: time running backwards; duplicate request ids; decisions for unknown requests, bound to another
request hash, made twice, or under a policy no `policy` record loaded; `fallback`/`timeout` decisions
that do not deny; reviewers' decisions whose `approvals_needed` is 0 or differs from the rule's;
approvals that are forged, by unknown or retired reviewers, unbound, for unknown requests, after the
outcome, or by the requester/principal; quorum; outcomes without an allowing decision (or for no request
at all: a bypassed gate), for other input than decided, or a second run of one request; pending requests never closed; and a `policy` decision that re-evaluating the
recorded action under the recorded policy does not reproduce (see `forge_tui.core.reevaluate`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from forge_tui.core.findings import Code, recorded
from forge_tui.core.summaries import (
    ApprovalSummary,
    ClockSummary,
    DecisionSummary,
    OutcomeSummary,
    PolicySummary,
    RequestSummary,
    Summaries,
    ViolationSummary,
)
from forge_tui.errors import CanonicalError, ConfigError

FINAL = ("allowed", "denied")
EXECUTED = ("succeeded", "failed")  # outcomes that say the action ran ("skipped" says it did not)
# A pending request whose approval timeout passed this long before the ledger's last record should
# have been closed (timeout) by the daemon; less than that may still be in flight.
PENDING_GRACE_MS = 60_000

Add = Callable[..., None]


@dataclass
class _Request:
    seq: int
    s: RequestSummary
    first_decision: tuple[int, DecisionSummary] | None = None
    final: tuple[int, DecisionSummary] | None = None
    approvals: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    outcome_seq: int | None = None
    execution_seq: int | None = None  # the first succeeded/failed outcome: the run the decision allowed


def ledger_forensics(
    summaries: Summaries,
    stamps: list[tuple[int, str, str]],
    reviewers_text: str | dict | None,
    add: Add,
    reevaluator=None,
    last_ts: str | None = None,
    witnesses: list | None = None,
) -> dict[str, _Request]:
    """Apply the rules; `add(seq, code, message)` receives each finding. `reevaluator` (a
    `forge_tui.core.reevaluate.Reevaluator`, or None to skip) re-decides policy decisions; `last_ts`
    is the ledger's last record's time (what a pending request's timeout is measured against).
    `reviewers_text` is reviewers.toml, or the reviewers already built (the ledger's enrolment chain,
    `forge_tui.core.trust.Enrolled` by name). `witnesses`, when given, receives (seq, reviewer,
    checkpoint) for each approval with a valid signature that cosigned a checkpoint. Returns the requests by id (what `trace` and the reports build on)."""
    walk = LedgerWalk(reviewers_text, reevaluator, witnesses)
    walk.feed(summaries)
    return walk.finish(summaries, stamps, add, last_ts)


class LedgerWalk:
    """`ledger_forensics` fed a part at a time: `feed` the summaries in seq order as they come (verify
    feeds each worker's range while the others still check theirs), then `finish` once. The findings
    come out in `finish`, in the same order `ledger_forensics` gives them."""

    def __init__(self, reviewers_text: str | dict | None, reevaluator=None, witnesses: list | None = None):
        from forge_tui.core.reviewers import parse_reviewers

        # The rules' findings wait here until `finish`. Kept through a closure over the list, not a
        # bound method: walk -> rules -> method -> walk would be a cycle, and everything the rules
        # hold (every request of the ledger) would wait for the cyclic collector to be freed.
        found: list[tuple] = []
        self._found = found

        def keep(*finding) -> None:
            found.append(finding)

        self._reviewers_error: str | None = None
        if isinstance(reviewers_text, dict):
            reviewers = reviewers_text
        else:
            try:
                reviewers = parse_reviewers(reviewers_text or "")
            except ConfigError as exc:
                self._reviewers_error = f"reviewers.toml is invalid: {exc}"
                reviewers = {}
        self._walk = _Walk(keep, reviewers, reevaluator)
        self._walk.witnesses = witnesses

    def feed(self, summaries: Summaries) -> None:
        """The next summaries, all after those fed before."""
        step = self._walk.step
        for seq in sorted(summaries):
            step(seq, summaries[seq])

    def finish(
        self, summaries: Summaries, stamps: list[tuple[int, str, str]], add: Add, last_ts: str | None
    ) -> dict[str, _Request]:
        """`summaries`: all of them (a clock note explains a time step); `stamps`: (seq, ts, previous
        ts) wherever time ran backwards."""
        for s1, t1, t0 in sorted(stamps):
            clock = summaries.get(s1)
            if isinstance(clock, ClockSummary) and clock.previous_ts == t0:  # announced by the writer
                add(s1, Code.CLOCK_STEP, f"the wall clock went back from {t0} to {t1} (recorded)")
                continue
            add(s1, Code.TIME_BACKWARDS, f"timestamp {t1} is earlier than the previous record's {t0}")
        if self._reviewers_error is not None:
            add(None, Code.REVIEWERS, self._reviewers_error)
        walk = self._walk
        walk.finish(last_ts or walk.last_ts)
        for finding in self._found:
            add(*finding)
        self._found.clear()
        return walk.requests


class _Walk:
    def __init__(self, add: Add, reviewers: dict, reevaluator) -> None:
        self.add = add
        self.reviewers = reviewers
        self.reeval = reevaluator
        self.requests: dict[str, _Request] = {}
        self.policy_digests: set[str] = set()
        self.session_rules: dict[Any, set[str]] = {}  # rules of succeeded allowed requests per session
        self.last_ts: str | None = None
        self.witnesses: list | None = None

    def step(self, seq: int, s) -> None:
        self.last_ts = s.ts
        kind = type(s)
        if kind is RequestSummary:
            self.request(seq, s)
        elif kind is DecisionSummary:
            self.decision(seq, s)
        elif kind is ApprovalSummary:
            self.approval(seq, s)
        elif kind is OutcomeSummary:
            self.outcome(seq, s)
        elif kind is PolicySummary:
            if s.digest and not s.error:
                self.policy_digests.add(s.digest)
        elif kind is ViolationSummary:
            if s.kind == "bypass":  # the host reported a tool run the gate never allowed
                self.add(seq, Code.BYPASSED_GATE, f"the gate was bypassed: {s.detail}")
            else:
                self.add(seq, recorded(s.kind), f"gate refused: {s.detail}")

    # ---- requests and decisions ---------------------------------------------------------------

    def request(self, seq: int, s: RequestSummary) -> None:
        rid = s.request_id
        if rid in self.requests:
            self.add(
                seq,
                Code.DUPLICATE_REQUEST,
                f"request id {rid!r} was already used at seq {self.requests[rid].seq}",
            )
            return
        self.requests[rid] = _Request(seq, s)

    def decision(self, seq: int, s: DecisionSummary) -> None:
        add = self.add
        rid = s.request_id
        req = self.requests.get(rid)
        if req is None:
            add(seq, Code.ORPHAN_DECISION, f"decision for unknown request {rid!r}")
        if (
            s.policy_digest
            and s.policy_digest not in self.policy_digests
            and s.decided_by
            in (
                "policy",
                "reviewers",
                "timeout",
            )
        ):
            add(
                seq,
                Code.UNRECORDED_POLICY,
                f"decision made under policy {str(s.policy_digest)[:12]} with no policy record before it",
            )
        if req is not None and s.request_hash != req.s.leaf:
            add(
                seq,
                Code.UNBOUND_DECISION,
                f"decision names request hash {str(s.request_hash)[:12]}, not that of request {rid} at seq {req.seq}",
            )
        if s.decided_by in ("fallback", "timeout") and s.status != "denied":
            add(
                seq,
                Code.FALLBACK_ALLOWED,
                f"a {s.decided_by} decision with status {s.status!r}: only denial is",
            )
        if s.decided_by == "reviewers":
            self._approvals_needed(seq, s, req)
        if req is not None and req.first_decision is None:
            req.first_decision = (seq, s)
            if s.decided_by == "policy" and self.reeval is not None:
                self.reeval.check(seq, s, req.s, frozenset(self.session_rules.get(req.s.session, ())), add)
        if s.status in FINAL:
            if req is not None:
                if req.final is not None:
                    add(seq, Code.DOUBLE_DECISION, f"request {rid} was already decided at seq {req.final[0]}")
                req.final = (seq, s)
            if s.status == "allowed" and s.decided_by == "reviewers":
                _check_quorum(add, seq, rid, s, req)

    def _approvals_needed(self, seq: int, s: DecisionSummary, req: _Request | None) -> None:
        needed = s.approvals_needed
        if needed is None and s.status != "allowed":
            return  # a rejection needs no count
        if type(needed) is not int or needed < 1:
            self.add(seq, Code.APPROVALS_NEEDED, f"reviewers' decision with approvals_needed {needed!r}")
            return
        first = req.first_decision[1] if req is not None and req.first_decision else None
        asked = first.approvals_needed if first is not None and first.status == "pending" else None
        if type(asked) is int and needed < asked:
            self.add(
                seq,
                Code.APPROVALS_NEEDED,
                f"decided with approvals_needed {needed} where the pending decision at seq "
                f"{req.first_decision[0]} asked for {asked}",
            )

    # ---- approvals and outcomes ---------------------------------------------------------------

    def approval(self, seq: int, s: ApprovalSummary) -> None:
        add = self.add
        appr = s.approval
        if appr is None:
            add(seq, Code.FORGED_APPROVAL, "approval record holds no approval object")
            return
        rid = appr.get("request_id")
        name = appr.get("reviewer")
        rev = self.reviewers.get(name)
        clean = True  # any finding below makes the approval count for nothing in the quorum
        if rev is None:
            add(seq, Code.UNKNOWN_REVIEWER, f"approval by {name!r}, who is not a registered reviewer")
            clean = False
        elif not rev.active_at(seq) and getattr(rev, "enrolled_at", -1) >= seq:
            add(seq, Code.UNKNOWN_REVIEWER, f"approval by {name!r} before the reviewer was enrolled")
            clean = False
        elif not rev.active_at(seq):
            add(seq, Code.RETIRED_REVIEWER, f"approval by {name!r} after the reviewer was retired")
            clean = False
        else:
            err = s.sig_error if s.sig_checked else _sig_error(appr, s.reviewer_sig, self.reviewers, seq)
            if err:
                add(seq, Code.FORGED_APPROVAL, f"approval signature by {name!r} does not verify: {err}")
                clean = False
            elif self.witnesses is not None and isinstance(appr.get("checkpoint"), dict):
                self.witnesses.append((seq, name, appr["checkpoint"]))
        req = self.requests.get(rid)
        if req is None:
            add(seq, Code.ORPHAN_APPROVAL, f"approval for unknown request {rid!r}")
            clean = False
        elif appr.get("request_hash") != req.s.leaf:
            add(seq, Code.UNBOUND_APPROVAL, f"approval is not bound to request {rid} at seq {req.seq}")
            clean = False
        if req is not None:
            if clean:
                req.approvals.append((seq, appr))
            if req.outcome_seq is not None:
                add(
                    seq,
                    Code.APPROVAL_AFTER_EXECUTION,
                    f"approval for {rid} after its outcome at seq {req.outcome_seq}",
                )

    def outcome(self, seq: int, s: OutcomeSummary) -> None:
        rid = s.request_id
        req = self.requests.get(rid)
        if req is None:
            if s.tool_use_id:  # the host reported a tool run (PostToolUse) that no request asked for
                self.add(
                    seq,
                    Code.BYPASSED_GATE,
                    f"tool run {str(s.tool_use_id)[:64]!r} reported for {rid!r}, which no request record "
                    "holds: the gate was bypassed",
                )
            else:
                self.add(
                    seq, Code.UNAUTHORIZED_EXECUTION, f"outcome for {rid!r} with no earlier allowing decision"
                )
            return
        if req.final is None or req.final[1].status != "allowed":
            self.add(
                seq, Code.UNAUTHORIZED_EXECUTION, f"outcome for {rid!r} with no earlier allowing decision"
            )
        else:
            asked = req.s.action.get("input_digest")
            if s.input_digest and asked and s.input_digest != asked:
                self.add(
                    seq,
                    Code.OUTCOME_INPUT_MISMATCH,
                    f"outcome for {rid} ran input {str(s.input_digest)[:19]}, not the decided "
                    f"{str(asked)[:19]} of the request at seq {req.seq}",
                )
        if (
            req.final is not None
            and req.final[1].status == "allowed"
            and s.status == "succeeded"
            and req.first_decision
        ):
            self.session_rules.setdefault(req.s.session, set()).update(req.first_decision[1].rules)
        if s.status in EXECUTED:
            if req.execution_seq is not None:
                self.add(
                    seq,
                    Code.REUSED_APPROVAL,
                    f"a second run of {rid} reported (the first at seq {req.execution_seq}): "
                    "an allowed request is used once",
                )
            else:
                req.execution_seq = seq
        if req.outcome_seq is None:
            req.outcome_seq = seq

    # ---- at the end ---------------------------------------------------------------------------

    def finish(self, last_ts: str | None) -> None:
        from forge_tui.core.records import parse_ts

        last_ms = _ms(last_ts, parse_ts)
        for rid, req in self.requests.items():
            if req.final is not None or req.first_decision is None:
                continue
            seq, first = req.first_decision
            if first.status != "pending":
                continue
            timeout_s = self.reeval.timeout_s(first.policy_digest) if self.reeval is not None else None
            start = _ms(first.ts, parse_ts)
            # A request still inside its approval timeout may be in flight: no finding. Without the
            # policy text the timeout is unknown and the rule cannot judge (reevaluation_skipped says so).
            if timeout_s is None or start is None or last_ms is None:
                continue
            if last_ms > start + timeout_s * 1000 + PENDING_GRACE_MS:
                self.add(
                    seq,
                    Code.PENDING_UNCLOSED,
                    f"request {rid} is still pending although its approval timeout ({timeout_s} s) "
                    "passed before the ledger's last record",
                )


def _ms(ts: str | None, parse) -> int | None:
    try:
        return parse(ts) if ts else None
    except (CanonicalError, ValueError, TypeError):
        return None


def _sig_error(appr: dict[str, Any], sig: Any, reviewers: dict, seq: int) -> str | None:
    from forge_tui.core.verify import _approval_sig_error

    return _approval_sig_error({"approval": appr, "reviewer_sig": sig}, reviewers, seq)


def _check_quorum(add: Add, seq: int, rid: Any, dec: DecisionSummary, req: _Request | None) -> None:
    needed = dec.approvals_needed if isinstance(dec.approvals_needed, int) else 1
    distinct = set(dec.distinct_from) | {"requester"}
    requester = req.s.actor_id if req else None
    principal = req.s.principal if req else None
    ok: set[str] = set()
    for aseq, appr in req.approvals if req else ():
        name = appr.get("reviewer")
        if appr.get("verdict") != "approve":
            continue
        if name == requester or ("principal" in distinct and principal and name == principal):
            add(aseq, Code.SELF_APPROVAL, f"{name!r} approved a request they made or that acts for them")
            continue
        ok.add(name)
    if len(ok) < needed:
        add(seq, Code.QUORUM, f"allowed with {len(ok)} valid approval(s) where {needed} were needed")
