"""Headless review: sign an approval or rejection with a reviewer key and send it to the daemon.

The same path the TUI uses: the approval binds to the request's hash as the daemon reports it, and the
daemon re-checks everything (registered reviewer, signature, pending state, self-approval, quorum).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from forge_tui.client import Client, DaemonUnavailable, RPCError
from forge_tui.core.keys import ReviewerKey
from forge_tui.core.records import format_ts, now_ms
from forge_tui.errors import ConfigError, ForgeError
from forge_tui.protocol import QUEUE_DECIDE, QUEUE_LIST

PASSPHRASE_ENV = "FORGE_PASSPHRASE"


class ReviewRefused(ForgeError):
    exit_code = 1


def read_passphrase(name: str, *, confirm: bool = False) -> str:
    """FORGE_PASSPHRASE when set (scripts, CI), else a prompt on the terminal; never a silent default."""
    env = os.environ.get(PASSPHRASE_ENV)
    if env is not None:
        return env
    if not sys.stdin.isatty():
        raise ConfigError(f"no terminal to ask for {name}'s passphrase", hint=f"set {PASSPHRASE_ENV}")
    import getpass

    first = getpass.getpass(f"passphrase for reviewer {name}: ")
    if confirm and getpass.getpass("again: ") != first:
        raise ConfigError("the passphrases differ")
    return first


def build_approval(
    request_id: str, request_hash: str, verdict: str, reason: str, reviewer: str
) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "request_hash": request_hash,
        "verdict": verdict,
        "reason": reason,
        "reviewer": reviewer,
        "ts": format_ts(now_ms()),
    }


def find_pending(c: Client, request_id: str) -> dict[str, Any]:
    pending = c.call(QUEUE_LIST, {})["pending"]
    for item in pending:
        if item["request_id"] == request_id:
            return item
    raise ReviewRefused(f"request {request_id} is not pending (unknown, or already decided)")


def witness(project, c: Client) -> dict[str, Any]:
    """The checkpoint {size, root} this reviewer cosigns: the daemon's latest, checked here against the
    project's ledger key and what this reviewer last witnessed (forge_tui/core/witness.py). Raises
    ConfigError when it does not check out: nothing is signed then."""
    from forge_tui.core.witness import check_reply, request_params
    from forge_tui.protocol import HELLO, LEDGER_CHECKPOINT

    ledger = c.call(HELLO, {"client": "review"}).get("ledger") or {}
    params = request_params(project, ledger.get("id") if isinstance(ledger, dict) else None)
    return check_reply(project, c.call(LEDGER_CHECKPOINT, params)).cosigned()


def send_decision(
    c: Client,
    key: ReviewerKey,
    item: dict[str, Any],
    verdict: str,
    reason: str,
    checkpoint: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`checkpoint`: the witnessed {size, root} to cosign (see `witness`)."""
    approval = build_approval(item["request_id"], item["request_hash"], verdict, reason, key.name)
    if checkpoint is not None:
        approval["checkpoint"] = checkpoint
    try:
        return c.call(QUEUE_DECIDE, {"approval": approval, "reviewer_sig": key.sign_approval(approval)})
    except RPCError as exc:
        raise ReviewRefused(f"refused: {exc.message} (error {exc.code})") from None


def owns_ledger(project, hello_result: Any) -> bool:
    """Whether this account holds the authoritative copy of the ledger the daemon writes (its `hello`
    names it): the owner does; a second OS account on the pair socket does not."""
    from forge_tui.core.ledger import authoritative_dir

    ledger = (hello_result or {}).get("ledger") if isinstance(hello_result, dict) else None
    lid = ledger.get("id") if isinstance(ledger, dict) else None
    return type(lid) is str and bool(lid) and (authoritative_dir(project) / f"{lid}.jsonl").exists()


def daemon_trust(project, c: Client):
    """The reviewer set of the ledger the daemon on `c` writes: read from this account's own copy of
    that ledger when it has one (the owner), else from the daemon's `reviewer.proof`, checked here
    against the committed keys and reviewer view (a second OS account: forge_tui/core/trust_proof.py)."""
    from forge_tui.core.trust import project_trust
    from forge_tui.core.trust_proof import ReviewerProof, verify_reviewer_proof
    from forge_tui.protocol import HELLO, REVIEWER_PROOF

    if owns_ledger(project, c.call(HELLO, {"client": "review"})):
        return project_trust(project)
    return verify_reviewer_proof(project, ReviewerProof.from_wire(c.call(REVIEWER_PROOF, {})))


def review_cli(project, request_id: str, reviewer: str, verdict: str, reason: str) -> int:
    from forge_tui.core.reviewers import ReviewerStore
    from forge_tui.paths import review_socket_path

    sock = review_socket_path(project.project_id)
    try:
        with Client(sock, client="review") as c:
            trust = daemon_trust(project, c)
        # The passphrase is asked only after the reviewer set checked out, on a fresh connection.
        key = ReviewerStore(project, trust).unlock(reviewer, read_passphrase(reviewer))
        with Client(sock, client="review") as c:
            item = find_pending(c, request_id)
            res = send_decision(c, key, item, verdict, reason, witness(project, c))
    except DaemonUnavailable as exc:
        raise ConfigError(f"daemon unreachable: {exc}") from None
    if res["status"] == "pending":
        print(
            f"recorded {verdict} by {reviewer} at seq {res['seq']}: {res['approvals']} of {res['needed']} approvals"
        )
    else:
        print(f"{request_id} {res['status']} (seq {res['seq']})")
    return 0
