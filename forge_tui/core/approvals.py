"""Reviewer-signed approvals (docs/design.md §6).

A reviewer signs b"forge-tui approval v1\\n" + JCS({request_id, request_hash, verdict, reason, reviewer, ts}).
The daemon stores the signed object verbatim in an `approval` record, so anyone can check later that the
named reviewer, and not the daemon, approved that exact request.
"""

from __future__ import annotations

import re
from typing import Any

from forge_tui.core.jcs import canonical
from forge_tui.core.note import Verifier, b64decode_strict
from forge_tui.core.records import HEX64_RE, TS_RE
from forge_tui.errors import CanonicalError

APPROVAL_CONTEXT = b"forge-tui approval v1\n"
APPROVAL_FIELDS = ("request_id", "request_hash", "verdict", "reason", "reviewer", "ts")
# Optional: the ledger checkpoint {size, root} the reviewer's side verified before signing, which makes
# every reviewer a witness of the ledger (docs/formats.md "Witnessed checkpoints").
WITNESS_FIELD = "checkpoint"
VERDICTS = ("approve", "reject")
_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def approval_message(approval: dict[str, Any]) -> bytes:
    check_approval_shape(approval)
    return APPROVAL_CONTEXT + canonical(
        {k: approval[k] for k in (*APPROVAL_FIELDS, WITNESS_FIELD) if k in approval}
    )


def check_witness(cp: Any, what: str = "approval") -> None:
    """A witnessed checkpoint is exactly {size: a non-negative integer, root: 64 lowercase hex}."""
    if type(cp) is not dict or set(cp) != {"size", "root"}:
        raise CanonicalError(f"{what} checkpoint must be {{size, root}}")
    if type(cp["size"]) is not int or cp["size"] < 0:
        raise CanonicalError(f"{what} checkpoint size must be a non-negative integer")
    if type(cp["root"]) is not str or not HEX64_RE.match(cp["root"]):
        raise CanonicalError(f"{what} checkpoint root is not 64 lowercase hex digits")


def check_approval_shape(approval: Any) -> None:
    if type(approval) is not dict or not set(APPROVAL_FIELDS) <= set(approval) <= {
        *APPROVAL_FIELDS,
        WITNESS_FIELD,
    }:
        raise CanonicalError(
            f"an approval has exactly the fields {', '.join(APPROVAL_FIELDS)} (and optionally {WITNESS_FIELD})"
        )
    if WITNESS_FIELD in approval:
        check_witness(approval[WITNESS_FIELD])
    if type(approval["request_id"]) is not str or not _ID_RE.match(approval["request_id"]):
        raise CanonicalError("approval request_id is malformed")
    if type(approval["request_hash"]) is not str or not HEX64_RE.match(approval["request_hash"]):
        raise CanonicalError("approval request_hash is not 64 lowercase hex digits")
    if approval["verdict"] not in VERDICTS:
        raise CanonicalError("approval verdict must be approve or reject")
    if type(approval["reason"]) is not str or type(approval["reviewer"]) is not str:
        raise CanonicalError("approval reason and reviewer must be strings")
    if type(approval["ts"]) is not str or not TS_RE.match(approval["ts"]):
        raise CanonicalError("approval ts is not RFC 3339 UTC with milliseconds")


def verify_approval(approval: dict[str, Any], signature_b64: str, verifier: Verifier) -> None:
    """Raises SignatureError/CanonicalError unless `verifier` signed exactly this approval."""
    sig = b64decode_strict(signature_b64, "approval signature")
    verifier.verify(approval_message(approval), sig)


def identities(who: str | None) -> set[str]:
    """The reviewer names a requester or principal id stands for: the id itself and, for a prefixed id
    such as `cli:alice` (what `forge-tui request` sends for a human), the name after the prefix."""
    if not who:
        return set()
    return {who, who.rsplit(":", 1)[-1]}
