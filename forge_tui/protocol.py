"""The wire protocol between agents, reviewers and the daemon, defined once (docs/design.md §9).

JSON-RPC 2.0, one UTF-8 JSON object per line, at most `MAX_LINE` bytes per line, over Unix sockets.
Method names, which socket (role) may call them, error codes and the client-side errors live here and
nowhere else: the sync client, the daemon, the console's link, `forge-tui request`, the hooks and the
tests import them. Standard library only, and cheap to import (no json, no enum): the agent-side paths
load it on every agent tool call.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs more to import than the whole hook: annotations only
if TYPE_CHECKING:
    from typing import Any

PROTOCOL_VERSION = 1
MAX_LINE = 1 << 20  # bytes in one message line, without its LF
MAX_CONTENT = 1 << 20  # bytes of content (a diff, a file) attached to one request

# ---- methods -----------------------------------------------------------------------------------------
HELLO = "hello"
STATUS = "status"
GATE_REQUEST = "gate.request"
GATE_WAIT = "gate.wait"
GATE_OUTCOME = "gate.outcome"
LEDGER_QUERY = "ledger.query"
QUEUE_LIST = "queue.list"
QUEUE_SUBSCRIBE = "queue.subscribe"
QUEUE_DECIDE = "queue.decide"
LEDGER_NOTE = "ledger.note"
POLICY_RELOAD = "policy.reload"
POLICY_APPROVE = "policy.approve"  # a reviewer signs a pending policy change's digest
REVIEWER_ENROL = "reviewer.enrol"  # a reviewer record (enrol/retire) signed by an active reviewer
# The ledger's `reviewer` records verbatim, for a reviewer's CLI without the ledger (another OS account)
# to check itself (forge_tui/core/trust_proof.py).
REVIEWER_PROOF = "reviewer.proof"
# The latest signed checkpoint {ledger_id, note, size, root} and a consistency proof from `since`: what a
# reviewer checks and cosigns with each approval (forge_tui/core/witness.py).
LEDGER_CHECKPOINT = "ledger.checkpoint"
HOOK_RUN = "hook.run"  # a host's hook payload in, the bytes to print and the exit code out (docs/hooks.md)
EVENT = "event"  # the notification method of queue.subscribe

# What the agent socket answers (docs/design.md §6.1): everything else is the reviewer socket's.
AGENT_METHODS = frozenset({HELLO, STATUS, GATE_REQUEST, GATE_WAIT, GATE_OUTCOME, LEDGER_QUERY, HOOK_RUN})

# ---- error codes -------------------------------------------------------------------------------------
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
BAD_PARAMS = -32602
INTERNAL = -32603
UNAUTHORIZED = 4001
SELF_APPROVAL = 4002
BAD_SIGNATURE = 4003
UNKNOWN_REQUEST = 4004
NOT_PENDING = 4005
TOO_LARGE = 4013
LEDGER_UNAVAILABLE = 5001

# A short title for each application code, as the console and the CLI show a refusal.
ERROR_TITLES: dict[int, str] = {
    UNAUTHORIZED: "Not authorized",
    SELF_APPROVAL: "Self-approval refused",
    BAD_SIGNATURE: "Approval signature refused",
    UNKNOWN_REQUEST: "Unknown request",
    NOT_PENDING: "No longer pending",
    TOO_LARGE: "Message too large",
    LEDGER_UNAVAILABLE: "Ledger unavailable",
}
# Refusals the daemon writes to the ledger as `violation` records.
RECORDED_REFUSALS = frozenset({UNAUTHORIZED, SELF_APPROVAL, BAD_SIGNATURE})
# Codes that mean the caller sent something malformed (a usage error, exit 2, rather than a denial).
USAGE_CODES = frozenset({PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, BAD_PARAMS})

# ---- decisions -------------------------------------------------------------------------------------
ALLOWED, DENIED, PENDING = "allowed", "denied", "pending"


# ---- errors ------------------------------------------------------------------------------------------
class DaemonUnavailable(Exception):
    """No daemon answers on the socket (not running, stale socket, or it went away mid-call)."""


class RPCError(Exception):
    """The daemon answered with a JSON-RPC error."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


class GateError(RPCError):
    """A refusal the daemon raises with a JSON-RPC application code; sent to the caller as an error."""


# ---- framing -----------------------------------------------------------------------------------------
def error_message(rid: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    """The JSON-RPC error response object for request id `rid`."""
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return {"jsonrpc": "2.0", "id": rid, "error": err}


def is_refusal(msg: Any) -> bool:
    """A null-id UNAUTHORIZED error: the daemon refusing the whole connection (another uid, or one the
    pair socket does not admit), sent before it closes. It answers every call waiting on the link."""
    if type(msg) is not dict or msg.get("id") is not None or type(msg.get("error")) is not dict:
        return False
    return msg["error"].get("code") == UNAUTHORIZED


def request_message(rid: int | str, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "method": method, "params": params or {}}
