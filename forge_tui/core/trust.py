"""The trust roots as the ledger holds them (docs/trust-model.md, docs/formats.md "Trust records").

Who the reviewers are and which policy digests a reviewer approved is read from the ledger, never from
the working tree: `.forge/reviewers.toml` is only an exported view. Two kinds of signed statements:

- a reviewer statement, signed by an EXISTING active reviewer (the first one by its own key):
  b"forge-tui reviewer v1\\n" + JCS({action, name, vkey, project_id, signer, ts}), action enrol|retire,
  written as a `reviewer` record {action, name, vkey, statement, signer_kid, signer_sig};
- a policy approval, signed by an active reviewer:
  b"forge-tui policy v1\\n" + JCS({policy_digest, verdict: "approve", reviewer, project_id, ts}),
  written as a `policy` record {event: "approved", digest, approval, reviewer_kid, reviewer_sig}.

`replay(records)` walks them in ledger order and returns a `TrustState`; a statement that does not
verify, or is signed by someone who was not an active reviewer at that point, is ignored and listed in
`TrustState.problems` (verify reports those).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from forge_tui.core.jcs import canonical
from forge_tui.core.note import NoteError, Verifier, b64, b64decode_strict
from forge_tui.core.records import TS_RE, format_ts, now_ms
from forge_tui.errors import CanonicalError, ConfigError, SignatureError

REVIEWER_CONTEXT = b"forge-tui reviewer v1\n"
POLICY_CONTEXT = b"forge-tui policy v1\n"
REVIEWER_FIELDS = ("action", "name", "vkey", "project_id", "signer", "ts")
POLICY_FIELDS = ("policy_digest", "verdict", "reviewer", "project_id", "ts")
REVIEWER_ACTIONS = ("enrol", "retire")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


# ---- statements ---------------------------------------------------------------------------------------


def reviewer_statement(action: str, name: str, vkey: str, project_id: str, signer: str) -> dict[str, Any]:
    return {
        "action": action,
        "name": name,
        "vkey": vkey,
        "project_id": project_id,
        "signer": signer,
        "ts": format_ts(now_ms()),
    }


def policy_statement(
    digest: str, reviewer: str, project_id: str, checkpoint: dict[str, Any] | None = None
) -> dict[str, Any]:
    """`checkpoint`: the ledger checkpoint {size, root} the reviewer's side verified (a witness)."""
    st = {
        "policy_digest": digest,
        "verdict": "approve",
        "reviewer": reviewer,
        "project_id": project_id,
        "ts": format_ts(now_ms()),
    }
    if checkpoint is not None:
        st["checkpoint"] = checkpoint
    return st


def check_reviewer_statement(st: Any) -> None:
    if type(st) is not dict or set(st) != set(REVIEWER_FIELDS):
        raise CanonicalError(f"a reviewer statement has exactly the fields {', '.join(REVIEWER_FIELDS)}")
    if st["action"] not in REVIEWER_ACTIONS:
        raise CanonicalError("reviewer statement action must be enrol or retire")
    for k in ("name", "vkey", "project_id", "signer"):
        if type(st[k]) is not str or not st[k]:
            raise CanonicalError(f"reviewer statement {k} must be a non-empty string")
    if type(st["ts"]) is not str or not TS_RE.match(st["ts"]):
        raise CanonicalError("reviewer statement ts is not RFC 3339 UTC with milliseconds")


def check_policy_statement(st: Any) -> None:
    from forge_tui.core.approvals import check_witness

    if type(st) is not dict or not set(POLICY_FIELDS) <= set(st) <= {*POLICY_FIELDS, "checkpoint"}:
        raise CanonicalError(
            f"a policy approval has exactly the fields {', '.join(POLICY_FIELDS)} (and optionally checkpoint)"
        )
    if "checkpoint" in st:
        check_witness(st["checkpoint"], "policy approval")
    if type(st["policy_digest"]) is not str or not _HEX64.match(st["policy_digest"]):
        raise CanonicalError("policy approval policy_digest is not 64 lowercase hex digits")
    if st["verdict"] != "approve":
        raise CanonicalError("policy approval verdict must be approve")
    for k in ("reviewer", "project_id"):
        if type(st[k]) is not str or not st[k]:
            raise CanonicalError(f"policy approval {k} must be a non-empty string")
    if type(st["ts"]) is not str or not TS_RE.match(st["ts"]):
        raise CanonicalError("policy approval ts is not RFC 3339 UTC with milliseconds")


def reviewer_message(st: dict[str, Any]) -> bytes:
    check_reviewer_statement(st)
    return REVIEWER_CONTEXT + canonical({k: st[k] for k in REVIEWER_FIELDS})


def policy_message(st: dict[str, Any]) -> bytes:
    check_policy_statement(st)
    return POLICY_CONTEXT + canonical({k: st[k] for k in (*POLICY_FIELDS, "checkpoint") if k in st})


def sign_reviewer_statement(key, st: dict[str, Any]) -> dict[str, Any]:
    """The `reviewer` record body for `st`, signed by reviewer key `key` (a ReviewerKey)."""
    sig = key.signer.sign(reviewer_message(st))
    return {
        "action": st["action"],
        "name": st["name"],
        "vkey": st["vkey"],
        "from_seq": None,  # null: the change takes effect at this record's own seq
        "statement": st,
        "signer_kid": key.verifier.kid,
        "signer_sig": b64(sig),
    }


def sign_policy_statement(key, st: dict[str, Any]) -> dict[str, Any]:
    """`policy.approve` params for `st`, signed by reviewer key `key`."""
    return {"approval": st, "reviewer_sig": b64(key.signer.sign(policy_message(st)))}


# ---- the state the records build ------------------------------------------------------------------


@dataclass(frozen=True)
class Enrolled:
    name: str
    verifier: Verifier
    enrolled_at: int  # seq of the enrolling record
    retired_at: int | None = None  # seq of the retiring record (approvals from it on are refused)

    @property
    def active(self) -> bool:
        return self.retired_at is None

    def active_at(self, seq: int) -> bool:
        return self.enrolled_at < seq and (self.retired_at is None or seq < self.retired_at)


@dataclass
class TrustState:
    project_id: str
    reviewers: dict[str, Enrolled] = field(default_factory=dict)
    approved: dict[str, int] = field(default_factory=dict)  # policy digest -> seq of its first approval
    in_force: str | None = None  # digest of the policy last put in force
    initial: str | None = None  # the first policy ever in force (the init policy)
    problems: list[tuple[int, str]] = field(default_factory=list)  # (seq, what was ignored and why)
    protected_since: int | None = None  # seq of the first enrolment (setup mode before it)
    witnesses: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)  # policy approvals'

    @property
    def setup_mode(self) -> bool:
        """No active reviewer: policy changes are unprotected until the first one is enrolled."""
        return not any(r.active for r in self.reviewers.values())

    def active(self) -> dict[str, Enrolled]:
        return {n: r for n, r in self.reviewers.items() if r.active}

    # ---- checks, shared by the daemon (before writing) and replay (after) --------------------------

    def check_reviewer_body(self, body: Any) -> tuple[dict[str, Any], Verifier]:
        """Raise ConfigError unless `body` is a valid next `reviewer` record; returns (statement, vkey)."""
        from forge_tui.core.keys import parse_reviewer_vkey

        if type(body) is not dict or type(body.get("statement")) is not dict:
            raise ConfigError("a reviewer record needs a signed statement")
        st = body["statement"]
        try:
            check_reviewer_statement(st)
            verifier = parse_reviewer_vkey(st["name"], st["vkey"])
        except (CanonicalError, ConfigError) as exc:
            raise ConfigError(f"reviewer statement is malformed: {exc}") from None
        if (body.get("action"), body.get("name"), body.get("vkey")) != (st["action"], st["name"], st["vkey"]):
            raise ConfigError("the reviewer record does not repeat its statement")
        if st["project_id"] != self.project_id:
            raise ConfigError("the reviewer statement names another project")
        active = self.active()
        if not active:
            if st["action"] != "enrol" or st["signer"] != st["name"]:
                raise ConfigError("the first reviewer must enrol themself (self-signed)")
            signer_key = verifier
        else:
            signer = active.get(st["signer"])
            if signer is None:
                raise ConfigError(f"{st['signer']!r} is not an active reviewer: only one can sign this")
            signer_key = signer.verifier
        sig = body.get("signer_sig")
        if type(sig) is not str:
            raise ConfigError("the reviewer record has no signer_sig")
        try:
            signer_key.verify(reviewer_message(st), b64decode_strict(sig, "signer_sig"))
        except (SignatureError, CanonicalError, NoteError):
            raise ConfigError(
                f"the reviewer statement's signature does not verify for {st['signer']!r}"
            ) from None
        if st["action"] == "enrol":
            cur = active.get(st["name"])
            if cur is not None:
                raise ConfigError(f"{st['name']!r} is already an active reviewer")
        else:
            cur = active.get(st["name"])
            if cur is None or cur.verifier.vkey != st["vkey"]:
                raise ConfigError(f"{st['name']!r} is not an active reviewer with that key")
            if len(active) == 1:
                raise ConfigError(
                    "the last active reviewer cannot be retired (it would unprotect the project)"
                )
        return st, verifier

    def check_policy_body(self, params: Any) -> tuple[dict[str, Any], Enrolled]:
        """Raise ConfigError unless `params` {approval, reviewer_sig} is a valid policy approval."""
        if type(params) is not dict:
            raise ConfigError("a policy approval is {approval, reviewer_sig}")
        st, sig = params.get("approval"), params.get("reviewer_sig")
        try:
            check_policy_statement(st)
        except CanonicalError as exc:
            raise ConfigError(f"policy approval is malformed: {exc}") from None
        if st["project_id"] != self.project_id:
            raise ConfigError("the policy approval names another project")
        rev = self.active().get(st["reviewer"])
        if rev is None:
            raise ConfigError(f"{st['reviewer']!r} is not an active reviewer")
        if type(sig) is not str:
            raise ConfigError("reviewer_sig must be a base64 string")
        try:
            rev.verifier.verify(policy_message(st), b64decode_strict(sig, "reviewer_sig"))
        except (SignatureError, CanonicalError, NoteError):
            raise ConfigError(
                f"the policy approval signature does not verify for {st['reviewer']!r}"
            ) from None
        return st, rev

    # ---- applying records ------------------------------------------------------------------------

    def apply(self, seq: int, rtype: str, body: Any) -> None:
        if type(body) is not dict:
            return
        if rtype == "reviewer":
            self._apply_reviewer(seq, body)
        elif rtype == "policy":
            self._apply_policy(seq, body)

    def _apply_reviewer(self, seq: int, body: dict[str, Any]) -> None:
        try:
            st, verifier = self.check_reviewer_body(body)
        except ConfigError as exc:
            self.problems.append((seq, f"reviewer record ignored: {exc}"))
            return
        if st["action"] == "enrol":
            if self.protected_since is None:
                self.protected_since = seq
            self.reviewers[st["name"]] = Enrolled(st["name"], verifier, seq)
        else:
            cur = self.reviewers[st["name"]]
            self.reviewers[st["name"]] = Enrolled(cur.name, cur.verifier, cur.enrolled_at, seq)

    def _apply_policy(self, seq: int, body: dict[str, Any]) -> None:
        event = body.get("event")
        digest = body.get("digest")
        if event == "approved":
            try:
                st, _rev = self.check_policy_body(body)
            except ConfigError as exc:
                self.problems.append((seq, f"policy approval ignored: {exc}"))
                return
            if digest != st["policy_digest"]:
                self.problems.append((seq, "policy approval ignored: its digest differs from the signed one"))
                return
            self.approved.setdefault(digest, seq)
            self.in_force = digest
            if "checkpoint" in st:
                self.witnesses.append((seq, st["reviewer"], st["checkpoint"]))
        elif event in ("loaded", None) and body.get("loaded") and type(digest) is str:
            # In force: the init policy, a change while in setup mode, or an approved digest.
            if self.initial is None:
                self.initial = digest
            self.in_force = digest

    def may_enforce(self, digest: str) -> bool:
        """Whether the daemon may put `digest` in force without a new approval."""
        return self.setup_mode or digest in self.approved or digest == self.in_force or self.in_force is None


def replay(project_id: str, records: Iterable[tuple[int, str, Any]]) -> TrustState:
    """The TrustState after `records` ((seq, type, body), in ledger order)."""
    state = TrustState(project_id)
    for seq, rtype, body in records:
        state.apply(seq, rtype, body)
    return state


def read_trust_lines(path) -> list[tuple[str, dict[str, Any]]]:
    """(line, record) of the `reviewer` and `policy` records of the ledger file at `path`, in order."""
    import json

    out: list[tuple[str, dict[str, Any]]] = []
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return out
    for line in data.split(b"\n"):
        if b'"type":"reviewer"' not in line and b'"type":"policy"' not in line:
            continue
        try:
            text = line.decode("utf-8")
            rec = json.loads(text)
        except ValueError:
            continue
        if type(rec) is dict and rec.get("type") in ("reviewer", "policy"):
            out.append((text, rec))
    return out


def read_ledger_records(path) -> list[tuple[int, str, Any]]:
    """(seq, type, body) of the `reviewer` and `policy` records of the ledger file at `path`."""
    return [(rec.get("seq"), rec["type"], rec.get("body")) for _line, rec in read_trust_lines(path)]


def project_trust(project) -> TrustState:
    """The trust state of this machine's authoritative ledger of `project`."""
    from forge_tui.core.ledger import authoritative_dir

    lid = project.local_ledger_id()
    return replay(project.project_id, read_ledger_records(authoritative_dir(project) / f"{lid}.jsonl"))
