"""The gate: turns requests into policy decisions, keeps the approval queue, checks approvals.

Every decision is appended to the ledger (and durable) before anyone hears of it. Everything that goes
wrong denies: a policy that raises, a ledger that cannot be written, a timeout, a shutdown.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from forge_tui.core.approvals import WITNESS_FIELD, check_approval_shape, verify_approval
from forge_tui.core.ledger import Appended, untold_body
from forge_tui.core.note import NoteError
from forge_tui.core.policy import decide
from forge_tui.core.policy.model import ACTION_KINDS
from forge_tui.core.records import format_ts, now_ms
from forge_tui.daemon.admission import distinct_by_of, same_account, user_name
from forge_tui.daemon.peer import sandboxed as peer_sandboxed
from forge_tui.errors import CanonicalError, LedgerError, SignatureError
from forge_tui.protocol import (
    BAD_PARAMS,
    BAD_SIGNATURE,
    LEDGER_UNAVAILABLE,
    MAX_CONTENT,
    NOT_PENDING,
    SELF_APPROVAL,
    TOO_LARGE,
    UNAUTHORIZED,
    UNKNOWN_REQUEST,
    GateError,
)

ACTOR_KINDS = frozenset({"agent", "human", "ci"})
ACTION_FIELDS = frozenset({"kind", "tool", "command", "paths", "url", "summary", "input_digest"})
EXECUTED = ("succeeded", "failed")  # outcomes saying the action ran ("skipped": it did not)
DECIDED_MEMORY = 20_000
SESSION_MEMORY = 10_000
# A gate.request that comes within this long of the one before counts as under load (its evaluation goes
# to the policy worker): under load a batch's callers are all answered at once, and the first of the next
# wave would otherwise find nobody in progress and be decided on the event loop. At 2 ms, 6% of a
# 32-client run's decisions were still made on the loop on a loaded machine (a fifth of its CPU then);
# an agent's own requests come much further apart than 10 ms, so one alone is still decided in-process.
BUSY_WINDOW_S = 0.010


class LRU(OrderedDict):
    """A dict of at most `limit` keys; setting or `setdefault` makes a key the newest, the oldest goes."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def __setitem__(self, key, value) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)

    def setdefault(self, key, default=None):
        if key in self:
            self.move_to_end(key)
            return self[key]
        self[key] = default
        return default


@dataclass
class Pending:
    request_id: str
    seq: int
    request_hash: str
    received_ms: int
    expires_ms: int
    body: dict[str, Any]
    evaluation: Any
    content: dict[str, Any] | None
    approvals: list[dict[str, Any]] = field(default_factory=list)
    approval_seqs: list[int] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    result: dict[str, Any] | None = None
    timer: asyncio.TimerHandle | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one decision step at a time
    distinct_by: list[str] = field(default_factory=lambda: ["reviewer"])  # pair review (admission.py)
    approval_uids: list[int | None] = field(default_factory=list)  # the OS account of each approval


def _str_or_none(v: Any, name: str, limit: int = 4096) -> str | None:
    if v is None:
        return None
    if type(v) is not str:
        raise GateError(BAD_PARAMS, f"{name} must be a string")
    if len(v) > limit:
        raise GateError(BAD_PARAMS, f"{name} is longer than {limit} characters")
    return v


def validate_action(raw: Any) -> dict[str, Any]:
    if type(raw) is not dict:
        raise GateError(BAD_PARAMS, "action must be an object")
    unknown = raw.keys() - ACTION_FIELDS
    if unknown:
        raise GateError(BAD_PARAMS, f"unknown action fields: {', '.join(sorted(unknown))}")
    kind = raw.get("kind")
    if kind not in ACTION_KINDS:
        raise GateError(BAD_PARAMS, f"action.kind must be one of {', '.join(sorted(ACTION_KINDS))}")
    paths = raw.get("paths") or []
    if (
        type(paths) is not list
        or not all(type(p) is str and p and len(p) <= 4096 for p in paths)
        or len(paths) > 1000
    ):
        raise GateError(BAD_PARAMS, "action.paths must be a list of non-empty strings")
    action = {
        "kind": kind,
        "tool": _str_or_none(raw.get("tool"), "action.tool", 256),
        "command": _str_or_none(raw.get("command"), "action.command", 65536),
        "paths": paths,
        "url": _str_or_none(raw.get("url"), "action.url"),
        "summary": _str_or_none(raw.get("summary"), "action.summary"),
        "input_digest": _str_or_none(raw.get("input_digest"), "action.input_digest", 128),
    }
    if kind == "shell.exec" and not action["command"]:
        raise GateError(BAD_PARAMS, "a shell.exec action needs a command")
    return action


def validate_actor(raw: Any) -> dict[str, Any]:
    """The actor as recorded. Every request is an agent's (docs/design.md §6.1): `kind` is always
    "agent"; another kind the client claimed is kept as `claimed_kind`, never used to decide."""
    if type(raw) is not dict:
        raise GateError(BAD_PARAMS, "actor must be an object {id, kind, session}")
    aid = _str_or_none(raw.get("id"), "actor.id", 256)
    if not aid:
        raise GateError(BAD_PARAMS, "actor.id is required")
    kind = raw.get("kind", "agent")
    if kind not in ACTOR_KINDS:
        raise GateError(BAD_PARAMS, "actor.kind must be agent, human or ci")
    actor = {"id": aid, "kind": "agent"}
    if kind != "agent":
        actor["claimed_kind"] = kind  # recorded, never used to decide
    actor["session"] = _str_or_none(raw.get("session"), "actor.session", 256) or "default"
    return actor


def normalise_identity(who: str | None) -> str:
    """One canonical spelling per person: NFC, surrounding whitespace stripped, case folded."""
    if not who:
        return ""
    import unicodedata

    return unicodedata.normalize("NFC", who).strip().casefold()


def daemon_principal() -> str:
    """The human the daemon serves: the OS user it runs as (its pwd name, normalised), never a claim."""
    import pwd

    try:
        name = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        name = f"uid{os.getuid()}"
    return normalise_identity(name)


def parse_wait(raw: Any, limit: float) -> float:
    if raw is None:
        return 0.0
    if type(raw) not in (int, float) or raw != raw or raw < 0:
        raise GateError(BAD_PARAMS, "wait_s must be a non-negative number")
    return float(min(raw, limit))


_id_pool: list[bytes] = []


def new_request_id() -> str:
    """'r-' and 16 random hex digits (os.urandom, drawn 512 at a time: one system call per 512 ids)."""
    if not _id_pool:
        raw = secrets.token_bytes(8 * 512)
        _id_pool.extend(raw[i : i + 8] for i in range(0, len(raw), 8))
    return "r-" + _id_pool.pop().hex()


class Gate:
    """The daemon's decision state. All methods run on the event loop thread."""

    def __init__(
        self,
        project,
        appender,
        policy_holder,
        *,
        protected_dirs: tuple[Path, ...] = (),
        clock: Callable[[], int] = now_ms,
        emit: Callable[[dict[str, Any]], None] = lambda ev: None,
        principal: str | None = None,
        trust=None,
        offload=None,
        log: Callable[[str], None] = lambda text: None,
        witnesses=None,
    ) -> None:
        from forge_tui.core.policy.model import Context
        from forge_tui.core.trust import TrustState

        self.trust = trust if trust is not None else TrustState(project.project_id)
        self.principal = normalise_identity(principal) or daemon_principal()
        self.project = project
        self.appender = appender
        self.policies = policy_holder
        self.protected_dirs = protected_dirs
        self.clock = clock
        self.emit = emit
        self.pending: OrderedDict[str, Pending] = OrderedDict()
        self.decided: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.requests: OrderedDict[str, dict[str, Any]] = OrderedDict()  # request_id -> summary for history
        # Per-session state is bounded (least recently used sessions are forgotten): a flood of session
        # ids costs neither memory nor time.
        self.session_successes: dict[str, set[str]] = LRU(SESSION_MEMORY)
        self.session_history: dict[str, list[str]] = LRU(SESSION_MEMORY)
        self.counts = {"allowed": 0, "denied": 0, "pending": 0}
        self.sandbox_counts = {"sandboxed": 0, "unsandboxed": 0}  # gate.requests by peer (daemon/peer.py)
        # The context every decision is made in, built once (Policy.evaluate builds the same per call);
        # a request adds only its session's prior succeeded steps.
        self.context = Context.for_project(project.root, protected_dirs=tuple(protected_dirs))
        self.offload = offload  # a PolicyOffload: evaluations under load leave the event loop
        self._background: set[asyncio.Task] = set()  # correction notes being written
        self.log = log
        self.witnesses = witnesses  # a WitnessBook (daemon/witness_book.py): cosigned checkpoints are checked
        self._last_request_at = float("-inf")  # time.monotonic() of the last gate.request (see _busy)

    # ---- gate.request -----------------------------------------------------------------------------

    async def request(
        self, params: dict[str, Any], peer: dict[str, Any], client: str, *, peer_key: str | None = None
    ) -> dict[str, Any]:
        action = validate_action(params.get("action"))
        actor = validate_actor(params.get("actor"))
        claimed_principal = normalise_identity(_str_or_none(params.get("principal"), "principal", 256))
        requirement = _str_or_none(params.get("requirement"), "requirement")
        content = params.get("content")
        if content is not None:
            if type(content) is not dict or type(content.get("text")) is not str:
                raise GateError(BAD_PARAMS, "content must be {kind, text}")
            text = content["text"]
            if len(text.encode("utf-8", "surrogatepass")) > MAX_CONTENT:
                raise GateError(TOO_LARGE, "content is over 1 MiB")
            digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
            action["input_digest"] = action["input_digest"] or f"sha256:{digest}"
            content = {"kind": str(content.get("kind") or "text")[:16], "text": text, "size": len(text)}
        policy = self.policies.current
        wait_s = parse_wait(params.get("wait_s"), float(policy.approval_timeout_s))
        rid = new_request_id()
        session = actor["session"]
        limit_key = peer_key or f"uid:{peer.get('uid')}"
        body = {
            "request_id": rid,
            "actor": actor,
            "principal": self.principal,
            "process": peer,
            "action": dict(action),
            "requirement": requirement,
            "client": client,
        }
        if claimed_principal and claimed_principal != self.principal:
            body["claimed_principal"] = claimed_principal  # a claim only adds to who may not approve
        if content is not None:
            body["content_size"] = content["size"]
        ev = await self._evaluate(policy, action, session, limit_key)
        status = {"allow": "allowed", "deny": "denied", "ask": "pending"}[ev.decision]
        decided_by = "policy"
        needed = max(1, int(getattr(ev, "approvals", 1) or 1))
        distinct = sorted(set(getattr(ev, "distinct_from", ()) or ()) | {"requester"})

        def decision_body(done: list[Appended]) -> dict[str, Any]:
            b = {
                "request_id": rid,
                "request_hash": done[0].leaf,
                "status": status,
                "decided_by": decided_by,
                "rule": ev.rule,
                "rules": list(ev.rules),
                "reason": ev.reason,
                "policy_digest": policy.digest,
            }
            if status == "pending":
                b["approvals_needed"] = needed
                b["distinct_from"] = distinct
                distinct_by = distinct_by_of(policy, ev.rules)  # only a pending request needs it
                if distinct_by != ["reviewer"]:
                    b["distinct_by"] = distinct_by
            return b

        def admit(written: list[Appended]) -> dict[str, Any] | Pending:
            """The request's records are durable: remember it and, if pending, queue it."""
            return self._admit(
                written, rid, body, ev, status, decided_by, policy, content, needed, distinct, limit_key, peer
            )

        # The client may hang up while its records are being written: they are written all the same, so
        # the request is still admitted (listed, expires, closed at shutdown), never orphaned: the
        # appender calls `untold` with them once durable (or, if they were answered in the same moment
        # as the hang-up, the except clause below does).
        fut = None
        try:
            fut = self.appender.submit(
                [("request", body), ("decision", decision_body)],
                untold=lambda done: self._admit_untold(admit, done),
            )
            written = await fut
        except asyncio.CancelledError:
            if fut is not None and fut.done() and not fut.cancelled() and fut.exception() is None:
                self._admit_untold(admit, fut.result())
            raise
        except LedgerError as exc:
            raise GateError(LEDGER_UNAVAILABLE, f"denied: {exc}") from None
        admitted = admit(written)
        if isinstance(admitted, dict):
            return admitted
        return await self.wait_for(admitted, wait_s)

    def _admit_untold(self, admit: Callable[[list[Appended]], Any], written: list[Appended]) -> None:
        """Admit a request whose client hung up before its answer. An `allowed` decision it never heard
        gets a correction note (the caller, a hook past its deadline say, treated it as denied), so the
        ledger says what the caller was told."""
        admitted = admit(written)
        if isinstance(admitted, dict) and admitted["status"] == "allowed":
            task = asyncio.ensure_future(self._note_untold(admitted["request_id"], admitted["seq"]))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _note_untold(self, rid: str, seq: int) -> None:
        try:
            await self.appender.append_durably([("note", untold_body(rid, seq))])
        except LedgerError as exc:  # shutting down first: the daemon's log says so
            self.log(f"could not record that request {rid} (seq {seq}) was never told allowed: {exc}")

    def _admit(
        self, written, rid, body, ev, status, decided_by, policy, content, needed, distinct, limit_key, peer
    ) -> dict[str, Any] | Pending:
        req_rec, dec_rec = written
        self._remember_request(rid, body, ev, limit_key)
        result = {
            "request_id": rid,
            "status": status,
            "decided_by": decided_by,
            "rule": ev.rule,
            "reason": ev.reason,
            "seq": dec_rec.seq,
        }
        self.counts[status] += 1
        self.sandbox_counts["sandboxed" if peer.get("sandboxed") else "unsandboxed"] += 1
        if status != "pending":
            self._finish(rid, result)
            return result
        now = self.clock()
        p = Pending(
            request_id=rid,
            seq=req_rec.seq,
            request_hash=req_rec.leaf,
            received_ms=now,
            expires_ms=now + policy.approval_timeout_s * 1000,
            body=body,
            evaluation=ev,
            content=content,
        )
        p.result = result
        p.needed = needed  # type: ignore[attr-defined]
        p.distinct = distinct  # type: ignore[attr-defined]
        p.distinct_by = distinct_by_of(policy, ev.rules)
        self.pending[rid] = p
        loop = asyncio.get_running_loop()
        p.timer = loop.call_later(policy.approval_timeout_s, lambda: loop.create_task(self._expire(rid)))
        self.emit({"type": "request.new", "request": self.describe(p)})
        return p

    async def _evaluate(self, policy, action, session: str, limit_key: str):
        # The rate limit keys on the peer the kernel names (its uid), not on the session string the
        # client picks: rotating session ids does not buy a fresh budget.
        if not self.policies.limiter.allow(limit_key):
            why = f"{limit_key} exceeded max_per_minute={policy.max_per_minute}: circuit breaker open"
            return _builtin_deny("builtin:rate-limit", why)
        prior = frozenset(self.session_successes.get(self._prior_key(limit_key, session), ()))
        try:
            if self._busy() and self.offload.available():
                # Other requests are in progress: decide in the worker process meanwhile (the same
                # decide(), the same policy object and context; policy_offload.py).
                return await self.offload.evaluate(policy, self.context, action, prior)
            context = replace(self.context, prior_succeeded=prior) if prior else self.context
            return decide(policy, action, context)
        except Exception as exc:  # a policy bug, or the worker stopped: deny, never let the action through
            return _builtin_deny(
                "builtin:policy-error", f"policy evaluation failed: {type(exc).__name__}: {exc}"
            )

    def _busy(self) -> bool:
        """Whether to evaluate in the worker: other callers wait for their records to be durable, or for
        an evaluation there, or the last request came less than BUSY_WINDOW_S ago. A request that comes
        alone is decided in-process (no round trip)."""
        if self.offload is None:
            return False
        now = time.monotonic()
        last, self._last_request_at = self._last_request_at, now
        return (
            self.offload.pending > 0 or getattr(self.appender, "waiting", 0) > 0 or now - last < BUSY_WINDOW_S
        )

    @staticmethod
    def _prior_key(peer_key: str, session: str) -> str:
        return f"{peer_key} {session}"

    def _remember_request(self, rid: str, body: dict[str, Any], ev, peer_key: str) -> None:
        self.requests[rid] = {
            "peer_key": peer_key,
            "request_id": rid,
            "ts": format_ts(self.clock()),
            "kind": body["action"]["kind"],
            # What really ran or was touched, never the agent's own summary (docs/trust-model.md)
            "summary": body["action"].get("command")
            or ", ".join(body["action"]["paths"])
            or body["action"].get("url")
            or body["action"].get("summary")
            or "",
            "session": body["actor"]["session"],
            "rules": list(ev.rules),
            "status": None,
            "outcome": None,
            "input_digest": body["action"].get("input_digest"),
        }
        self.session_history.setdefault(body["actor"]["session"], []).append(rid)
        while len(self.requests) > DECIDED_MEMORY:
            old, info = self.requests.popitem(last=False)
            hist = self.session_history.get(info["session"])
            if hist and hist[0] == old:
                hist.pop(0)

    def remember_closed(self, records: list[Appended]) -> None:
        """The decisions the ledger wrote when it opened, closing requests a stopped daemon left pending
        (denied, fallback): `gate.wait` for one answers that decision, and an approval sent for one is
        refused as a replay (recorded), instead of "unknown request"."""
        for r in records:
            b = r.record["body"]
            self._finish(
                b["request_id"],
                {
                    "request_id": b["request_id"],
                    "status": b["status"],
                    "decided_by": b["decided_by"],
                    "rule": b.get("rule"),
                    "reason": b.get("reason"),
                    "seq": r.seq,
                },
            )

    def _finish(self, rid: str, result: dict[str, Any]) -> None:
        self.decided[rid] = result
        if rid in self.requests:
            self.requests[rid]["status"] = result["status"]
        while len(self.decided) > DECIDED_MEMORY:
            self.decided.popitem(last=False)

    async def wait_for(self, p: Pending, wait_s: float) -> dict[str, Any]:
        if wait_s > 0 and not p.done.is_set():
            try:
                await asyncio.wait_for(p.done.wait(), timeout=wait_s)
            except TimeoutError:
                pass
        assert p.result is not None
        return dict(p.result)

    async def wait(self, params: dict[str, Any]) -> dict[str, Any]:
        rid = params.get("request_id")
        if type(rid) is not str:
            raise GateError(BAD_PARAMS, "request_id must be a string")
        if rid in self.decided:
            return dict(self.decided[rid])
        p = self.pending.get(rid)
        if p is None:
            raise GateError(UNKNOWN_REQUEST, f"unknown request {rid}")
        return await self.wait_for(p, parse_wait(params.get("wait_s"), 3600.0))

    # ---- decisions by time and by reviewers ------------------------------------------------------

    async def _decide(self, p: Pending, status: str, decided_by: str, reason: str, extra_records=()) -> dict:
        """Decide a pending request: write `extra_records` (an approval) and the decision in one batch.
        Shielded: a reviewer who hangs up mid-write does not leave the request half decided."""
        task = asyncio.ensure_future(self._decide_now(p, status, decided_by, reason, extra_records))
        return await asyncio.shield(task)

    async def _decide_now(self, p: Pending, status: str, decided_by: str, reason: str, extra_records) -> dict:
        policy = self.policies.current

        def decision(done: list[Appended]) -> dict[str, Any]:
            seqs = [*p.approval_seqs, *(r.seq for r in done if r.record["type"] == "approval")]
            by = {"distinct_by": p.distinct_by} if p.distinct_by != ["reviewer"] else {}
            return {
                **by,
                "request_id": p.request_id,
                "request_hash": p.request_hash,
                "status": status,
                "decided_by": decided_by,
                "rule": p.evaluation.rule,
                "reason": reason,
                "policy_digest": policy.digest,
                "approvals_needed": p.needed,  # type: ignore[attr-defined]
                "distinct_from": p.distinct,  # type: ignore[attr-defined]
                "approval_seqs": seqs,
            }

        # The request leaves the queue before the write, so nothing else can decide it meanwhile.
        self.pending.pop(p.request_id, None)
        if p.timer:
            p.timer.cancel()
        try:
            written = await self.appender.append([*extra_records, ("decision", decision)])
            seq = written[-1].seq
        except LedgerError as exc:
            # Not durable: the agent must not act. Waiters hear "denied" (the ledger is unavailable).
            status, decided_by, seq, reason = "denied", "fallback", None, f"denied: {exc}"
        result = {
            "request_id": p.request_id,
            "status": status,
            "decided_by": decided_by,
            "rule": p.evaluation.rule,
            "reason": reason,
            "seq": seq,
        }
        p.result = result
        self.counts["pending"] = max(0, self.counts["pending"] - 1)
        self.counts[status] = self.counts.get(status, 0) + 1
        self._finish(p.request_id, result)
        p.done.set()
        self.emit({"type": "request.decided", **result})
        return result

    async def _expire(self, rid: str) -> None:
        p = self.pending.get(rid)
        if p is None:
            return
        async with p.lock:
            if self.pending.get(rid) is p:
                await self._decide(p, "denied", "timeout", "no reviewer decided before the approval timeout")

    async def shutdown(self) -> None:
        """Deny and record everything still pending (decided_by fallback)."""
        for p in list(self.pending.values()):
            async with p.lock:
                if self.pending.get(p.request_id) is p:
                    await self._decide(
                        p, "denied", "fallback", "the daemon shut down before a reviewer decided"
                    )

    async def decide(self, params: dict[str, Any], peer: dict[str, Any]) -> dict[str, Any]:
        approval = params.get("approval")
        sig = params.get("reviewer_sig")
        try:
            check_approval_shape(approval)
        except CanonicalError as exc:
            raise GateError(BAD_PARAMS, f"approval is malformed: {exc}") from None
        if type(sig) is not str:
            raise GateError(BAD_PARAMS, "reviewer_sig must be a base64 string")
        rid = approval["request_id"]
        name = approval["reviewer"]
        p = self.pending.get(rid)
        if p is None:
            if rid in self.decided:
                await self._violation(
                    "replayed_approval", rid, f"approval by {name!r} for a request already decided"
                )
                raise GateError(
                    NOT_PENDING, f"request {rid} is no longer pending ({self.decided[rid]['status']})"
                )
            raise GateError(UNKNOWN_REQUEST, f"unknown request {rid}")
        async with p.lock:  # concurrent approvals of one request are checked and counted one by one
            if self.pending.get(rid) is not p:
                raise GateError(NOT_PENDING, f"request {rid} is no longer pending")
            return await self._decide_locked(p, approval, sig, peer)

    async def _decide_locked(
        self, p: Pending, approval: dict[str, Any], sig: str, peer: dict[str, Any]
    ) -> dict[str, Any]:
        rid = p.request_id
        name = approval["reviewer"]
        # The reviewers in force come from the ledger (enrolment records), never from reviewers.toml.
        rev = self.trust.reviewers.get(name)
        if rev is None:
            await self._violation(
                "unknown_reviewer", rid, f"approval signed as {name!r}, who is not an enrolled reviewer"
            )
            raise GateError(UNAUTHORIZED, f"{name!r} is not an enrolled reviewer")
        if not rev.active:
            await self._violation("retired_reviewer", rid, f"approval by retired reviewer {name!r}")
            raise GateError(UNAUTHORIZED, f"reviewer {name!r} is retired")
        try:
            verify_approval(approval, sig, rev.verifier)
        except (SignatureError, NoteError, CanonicalError):
            await self._violation(
                "forged_approval", rid, f"approval for {name!r} whose signature does not verify"
            )
            raise GateError(
                BAD_SIGNATURE, f"the approval signature does not verify for reviewer {name!r}"
            ) from None
        if approval["request_hash"] != p.request_hash:
            await self._violation(
                "unbound_approval", rid, f"approval by {name!r} bound to another request hash"
            )
            raise GateError(
                BAD_SIGNATURE, "the approval is bound to a different request (request_hash mismatch)"
            )
        if self.witnesses is not None and WITNESS_FIELD in approval:
            problem = await self.witnesses.problem(approval[WITNESS_FIELD])
            if problem is not None:
                await self._violation("witness_mismatch", rid, f"approval by {name!r}: {problem}")
                raise GateError(BAD_SIGNATURE, problem)
        actor = p.body["actor"]
        requester = _identities(actor["id"])
        principal: set[str] = set()
        if "principal" in p.distinct:  # type: ignore[attr-defined]
            principal = _identities(p.body.get("principal")) | _identities(p.body.get("claimed_principal"))
        me = normalise_identity(name)
        if me in requester | principal:
            who = "requester" if me in requester else "principal"
            why = "" if who == "requester" else " (the agent acts for them)"
            await self._violation(
                "self_approval", rid, f"{name!r} tried to decide a request where they are the {who}{why}"
            )
            raise GateError(SELF_APPROVAL, f"self-approval refused: {name} is the {who} of {rid}{why}")
        if any(a["reviewer"] == name for a in p.approvals):
            raise GateError(NOT_PENDING, f"{name} has already approved {rid}; another reviewer is needed")
        uid = peer.get("uid")
        twice = same_account(p.distinct_by, p.approval_uids, uid) if approval["verdict"] == "approve" else ""
        if twice:
            await self._violation(
                "same_account_approval", rid, f"approval by {name!r} refused: {twice}", peer=peer
            )
            raise GateError(
                NOT_PENDING,
                f"{twice} {rid}: distinct_by uid needs an approval from another person's OS account",
            )
        record = (
            "approval",
            {
                "approval": approval,
                "reviewer_kid": rev.verifier.kid,
                "reviewer_sig": sig,
                "peer": {**peer, "user": user_name(uid)},
            },
        )
        if approval["verdict"] == "reject":
            reason = f"rejected by {name}" + (f": {approval['reason']}" if approval["reason"] else "")
            res = await self._decide(p, "denied", "reviewers", reason, extra_records=[record])
            return {
                "status": res["status"],
                "seq": res["seq"],
                "approvals": len(p.approvals),
                "needed": p.needed,
            }  # type: ignore[attr-defined]
        if len(p.approvals) + 1 >= p.needed:  # type: ignore[attr-defined]
            names = ", ".join([*(a["reviewer"] for a in p.approvals), name])
            p.approvals.append(approval)
            p.approval_uids.append(uid)
            res = await self._decide(
                p, "allowed", "reviewers", f"approved by {names}", extra_records=[record]
            )
            return {
                "status": res["status"],
                "seq": res["seq"],
                "approvals": len(p.approvals),
                "needed": p.needed,
            }  # type: ignore[attr-defined]
        try:
            written = await self.appender.append([record])
        except LedgerError as exc:
            raise GateError(LEDGER_UNAVAILABLE, str(exc)) from None
        p.approvals.append(approval)
        p.approval_uids.append(uid)
        p.approval_seqs.append(written[0].seq)
        self.emit({"type": "request.updated", "request": self.describe(p)})
        return {"status": "pending", "seq": written[0].seq, "approvals": len(p.approvals), "needed": p.needed}  # type: ignore[attr-defined]

    async def record_violation(
        self, kind: str, rid: str | None, detail: str, *, peer: dict[str, Any] | None = None
    ) -> None:
        """Write a refusal as a `violation` record (a failed write does not lift the refusal)."""
        await self._violation(kind, rid, detail, peer=peer)

    async def _violation(
        self, kind: str, rid: str | None, detail: str, *, peer: dict[str, Any] | None = None
    ) -> None:
        body: dict[str, Any] = {"kind": kind, "request_id": rid, "detail": detail}
        if peer is not None:
            body["peer"] = peer
        try:
            await self.appender.append([("violation", body)])
        except LedgerError:
            pass  # the refusal itself still stands
        self.emit({"type": "violation", "kind": kind, "request_id": rid, "detail": detail})

    # ---- outcomes, notes, descriptions ----------------------------------------------------------

    async def outcome(
        self, params: dict[str, Any], *, reported_by: str = "agent", peer_key: str | None = None
    ) -> dict[str, Any]:
        """Record an outcome. Over the agent socket it is the agent's own report (`reported_by`
        "agent"): it counts for `requires_prior` only for a request this daemon allowed, reported by the
        same peer, first report only (docs/trust-model.md says what that does and does not prove)."""
        rid = params.get("request_id")
        if type(rid) is not str or not rid or len(rid) > 128:
            raise GateError(BAD_PARAMS, "request_id must be a string")
        status = params.get("status")
        if status not in ("succeeded", "failed", "skipped"):
            raise GateError(BAD_PARAMS, "status must be succeeded, failed or skipped")
        body = {
            "request_id": rid,
            "status": status,
            "detail": _str_or_none(params.get("detail"), "detail"),
            "commit": _str_or_none(params.get("commit"), "commit", 64),
            "tool_use_id": _str_or_none(params.get("tool_use_id"), "tool_use_id", 256),
            "reported_by": reported_by,
        }
        digest = _str_or_none(params.get("input_digest"), "input_digest", 128)
        if digest is not None:  # what actually ran, to compare with the request's (docs/hooks.md)
            body["input_digest"] = digest
        info = self.requests.get(rid)
        flags = self._outcome_flags(rid, info, status, digest)
        ran = info is not None and status in EXECUTED
        if ran:  # counted before the write: two reports arriving together cannot both be the first
            info["executions"] = info.get("executions", 0) + 1
        try:
            written = await self.appender.append([("outcome", body), *(("violation", v) for v in flags)])
        except LedgerError as exc:
            if ran:
                info["executions"] -= 1
            raise GateError(LEDGER_UNAVAILABLE, str(exc)) from None
        for v in flags:
            self.emit({"type": "violation", **v})
        if info is not None and info["outcome"] is None:
            info["outcome"] = status
            same_peer = peer_key is None or peer_key == info["peer_key"]
            allowed = self.decided.get(rid, {}).get("status") == "allowed"
            if status == "succeeded" and same_peer and allowed and not flags:
                key = self._prior_key(info["peer_key"], info["session"])
                self.session_successes.setdefault(key, set()).update(info["rules"])
        result: dict[str, Any] = {"seq": written[0].seq}
        if flags:
            result["violations"] = [v["kind"] for v in flags]
        return result

    @staticmethod
    def _outcome_flags(rid: str, info, status: str, digest: str | None) -> list[dict[str, Any]]:
        """`violation` bodies for an outcome that contradicts its decision: another input than the one
        decided (the approval bound that input), or a second run of one request (a decision allows one
        run). Recorded with the outcome; verify reports both from the records alone as well."""
        if info is None:
            return []
        flags = []
        asked = info.get("input_digest")
        if digest and asked and digest != asked:
            flags.append(
                {
                    "kind": "outcome_input_mismatch",
                    "request_id": rid,
                    "detail": f"outcome for {rid} ran input {digest[:19]}, not the decided {asked[:19]}",
                }
            )
        if status in EXECUTED and info.get("executions"):
            flags.append(
                {
                    "kind": "reused_approval",
                    "request_id": rid,
                    "detail": f"a second run of {rid} reported: an allowed request is used once",
                }
            )
        return flags

    async def note(self, params: dict[str, Any]) -> dict[str, Any]:
        text = _str_or_none(params.get("text"), "text", 65536)
        if not text:
            raise GateError(BAD_PARAMS, "text is required")
        body = {"text": text}
        author = _str_or_none(params.get("author"), "author", 256)
        if author:
            body["author"] = author
        try:
            written = await self.appender.append([("note", body)])
        except LedgerError as exc:
            raise GateError(LEDGER_UNAVAILABLE, str(exc)) from None
        return {"seq": written[0].seq}

    def describe(self, p: Pending) -> dict[str, Any]:
        """The PendingItem the TUI shows (docs/design.md §9 queue.list)."""
        b = p.body
        session = b["actor"]["session"]
        history = []
        for rid in self.session_history.get(session, [])[-20:]:
            info = self.requests.get(rid)
            if info is None or rid == p.request_id:
                continue
            history.append({k: info[k] for k in ("request_id", "ts", "kind", "summary", "status", "outcome")})
        ev = p.evaluation
        return {
            "request_id": p.request_id,
            "seq": p.seq,
            "request_hash": p.request_hash,
            "received_at": format_ts(p.received_ms),
            "expires_at": format_ts(p.expires_ms),
            "actor": b["actor"],
            "principal": b.get("principal"),
            "claimed_principal": b.get("claimed_principal"),
            "process": b.get("process"),
            "action": b["action"],
            "content": p.content,
            "requirement": b.get("requirement"),
            "client": b.get("client"),
            "rule": ev.rule,
            "rules": list(ev.rules),
            "reason": ev.reason,
            "approvals_needed": p.needed,  # type: ignore[attr-defined]
            "approvals": [
                {
                    "reviewer": a["reviewer"],
                    "verdict": a["verdict"],
                    "ts": a["ts"],
                    "uid": u,
                    "user": user_name(u),
                }
                for a, u in zip(p.approvals, p.approval_uids, strict=False)
            ],
            "distinct_from": p.distinct,  # type: ignore[attr-defined]
            "distinct_by": p.distinct_by,
            "session_history": history,
        }


def _builtin_deny(rule: str, reason: str):
    from forge_tui.core.policy import Evaluation

    return Evaluation(
        decision="deny",
        rule=rule,
        rules=(rule,),
        reason=reason,
        approvals=1,
        distinct_from=frozenset({"requester"}),
        missing_prior=(),
        matches=(),
    )


def _identities(who: str | None) -> set[str]:
    """The reviewer names a requester or principal id stands for, normalised: the id itself and, for a
    prefixed id such as `cli:alice` (what `forge-tui request` sends), the name after the prefix."""
    if not who:
        return set()
    return {normalise_identity(who), normalise_identity(who.rsplit(":", 1)[-1])} - {""}


def peer_process(pid: int | None, uid: int | None) -> dict[str, Any]:
    exe = None
    if pid:
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            exe = None
    return {"pid": pid, "uid": uid, "exe": exe, "sandboxed": peer_sandboxed(pid)}


def monotonic() -> float:
    return time.monotonic()
