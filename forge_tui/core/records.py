"""Ledger records, version 1 (docs/design.md §4.1–4.3): construction, signing and field checks.

A record is one line: the JCS bytes of {v, log, seq, ts, type, prev, kid, body, sig}. The signature is
Ed25519 over b"forge-tui record v1\\n" + JCS(record without sig); the leaf hash is
SHA-256(0x00 ‖ line bytes).
"""

from __future__ import annotations

import functools
import json
import re
import time
from datetime import UTC, datetime
from typing import Any

from forge_tui.core.jcs import MAX_SAFE_INT, canonical, jcs_dumps, normalized_checked
from forge_tui.core.merkle import leaf_hash
from forge_tui.core.note import Signer, Verifier, b64, b64decode_strict
from forge_tui.errors import CanonicalError

VERSION = 1
RECORD_CONTEXT = b"forge-tui record v1\n"
ZERO_HASH = "0" * 64
FIELDS = ("v", "log", "seq", "ts", "type", "prev", "kid", "body", "sig")
TYPES = frozenset(
    {
        "genesis",
        "request",
        "decision",
        "approval",
        "outcome",
        "policy",
        "key",
        "reviewer",
        "violation",
        "recovery",
        "note",
    }
)
# ASCII digits only (`\d` would take any Unicode digit) and nothing after the end (`$` would allow a
# final newline): the text is exactly what the daemon writes.
TS_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z\Z")
HEX64_RE = re.compile(r"[0-9a-f]{64}\Z")

# Fields each body must carry (more may be present); checked by verify and at append.
REQUIRED_BODY: dict[str, tuple[str, ...]] = {
    "genesis": ("project_id", "ledger_id", "vkey"),
    "request": ("request_id", "actor", "action", "client"),
    "decision": ("request_id", "request_hash", "status", "decided_by", "rule", "reason", "policy_digest"),
    "approval": ("approval", "reviewer_kid", "reviewer_sig"),
    "outcome": ("request_id", "status"),
    "policy": ("digest", "path"),
    "key": ("action", "vkey", "from_seq"),
    "reviewer": ("action", "name", "vkey", "from_seq"),
    "violation": ("kind", "detail"),
    "recovery": ("torn_bytes", "torn_sha256"),
    "note": ("text",),
}

_REQUIRED_SETS = {t: frozenset(fields) for t, fields in REQUIRED_BODY.items()}


def origin_for(project_id: str, ledger_id: str) -> str:
    return f"forge-tui.local/{project_id}/{ledger_id}"


def format_ts(epoch_ms: int) -> str:
    global _last_second
    second, prefix = _last_second  # one tuple, read and replaced whole: safe across threads
    if second != epoch_ms // 1000:  # the date and time down to the second, made once per second
        dt = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
        prefix = dt.strftime("%Y-%m-%dT%H:%M:%S.")
        _last_second = (epoch_ms // 1000, prefix)
    return f"{prefix}{epoch_ms % 1000:03d}Z"


_last_second: tuple[int | None, str] = (None, "")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def parse_ts(ts: str) -> int:
    """Milliseconds since the epoch of an RFC 3339 `...T..:..:..mmmZ` stamp."""
    if not TS_RE.match(ts):
        raise CanonicalError(f"timestamp {ts!r} is not RFC 3339 UTC with milliseconds")
    dt = datetime.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    return int(dt.timestamp()) * 1000 + int(ts[20:23])


def signing_message(record: dict[str, Any]) -> bytes:
    unsigned = {k: v for k, v in record.items() if k != "sig"}
    return RECORD_CONTEXT + canonical(unsigned)


def build_record(
    *, log: str, seq: int, ts: str, type_: str, prev: str, signer: Signer, body: dict[str, Any]
) -> tuple[dict[str, Any], bytes]:
    """Make, sign and encode a record; returns (record, line bytes without LF)."""
    if type_ not in TYPES:
        raise CanonicalError(f"unknown record type {type_!r}")
    body, astral = normalized_checked(body, depth=1)  # walked once: normalised and checked
    if not _REQUIRED_SETS[type_] <= body.keys():
        missing = [f for f in REQUIRED_BODY[type_] if f not in body]
        raise CanonicalError(f"{type_} body lacks {', '.join(missing)}")
    kid = signer.kid
    rec: dict[str, Any] = {
        "v": VERSION,
        "log": log,
        "seq": seq,
        "ts": ts,
        "type": type_,
        "prev": prev,
        "kid": kid,
        "body": body,
    }
    if (
        _plain(log)
        and _plain(ts)
        and _plain(prev)
        and _plain(kid)
        and type(seq) is int
        and 0 <= seq <= MAX_SAFE_INT
    ):
        # JCS of the record is its sorted fields written inline: {"body":<JCS of the body>,"kid":..,
        # "log":..,"prev":..,"seq":..,("sig":..,)"ts":..,"type":..,"v":1} (a nested object's canonical
        # text is its own; the other fields are ASCII strings, a safe integer and the constant v). So
        # the body is encoded alone and the envelope around it is written piece by piece.
        head = b"".join(
            (
                b'{"body":',
                jcs_dumps(body, astral),
                _envelope(kid, log),
                _json_str(prev).encode(),
                b',"seq":',
                str(seq).encode(),
            )
        )
        tail = f',"ts":{_json_str(ts)},"type":{_json_str(type_)},"v":{VERSION}}}'.encode()
        sig = b64(signer.sign(b"".join((RECORD_CONTEXT, head, tail))))
        line = b"".join((head, b',"sig":"', sig.encode(), b'"', tail))
        rec["sig"] = sig
    else:  # not reached for records this package builds; kept so the line is canonical whatever comes in
        rec["sig"] = b64(signer.sign(RECORD_CONTEXT + canonical(rec)))
        line = canonical(rec)
    if len(line) > (1 << 20):
        raise CanonicalError(f"record would be {len(line)} bytes, over the 1 MiB limit")
    return rec, line


_json_str = json.encoder.encode_basestring  # the C encoder's own string writer (ensure_ascii=False)


@functools.lru_cache(maxsize=64)
def _envelope(kid: str, log: str) -> bytes:
    """The fields between the body and `prev`'s value, the same for every record of one key and log."""
    return f',"kid":{_json_str(kid)},"log":{_json_str(log)},"prev":'.encode()


def _plain(field: str) -> bool:
    return type(field) is str and field.isascii()


def check_shape(rec: dict[str, Any]) -> None:
    """Field-level checks of a parsed record (types, formats); raises CanonicalError."""
    if set(rec) != set(FIELDS):
        extra = sorted(set(rec) - set(FIELDS))
        missing = sorted(set(FIELDS) - set(rec))
        raise CanonicalError(f"record fields wrong (missing {missing}, extra {extra})")
    if rec["v"] != VERSION or type(rec["v"]) is not int:
        raise CanonicalError(f"unsupported record version {rec['v']!r}")
    if type(rec["seq"]) is not int or rec["seq"] < 0:
        raise CanonicalError("seq is not a non-negative integer")
    for f in ("log", "ts", "type", "prev", "kid", "sig"):
        if type(rec[f]) is not str:
            raise CanonicalError(f"{f} is not a string")
    if rec["type"] not in TYPES:
        raise CanonicalError(f"unknown record type {rec['type']!r}")
    if not TS_RE.match(rec["ts"]):
        raise CanonicalError(f"timestamp {rec['ts']!r} is not RFC 3339 UTC with milliseconds")
    if not HEX64_RE.match(rec["prev"]):
        raise CanonicalError("prev is not 64 lowercase hex digits")
    if type(rec["body"]) is not dict:
        raise CanonicalError("body is not an object")
    missing = [f for f in REQUIRED_BODY[rec["type"]] if f not in rec["body"]]
    if missing:
        raise CanonicalError(f"{rec['type']} body lacks {', '.join(missing)}")
    sig = b64decode_strict(rec["sig"], "record signature")
    if len(sig) != 64:
        raise CanonicalError("record signature is not 64 bytes")


def verify_record_sig(rec: dict[str, Any], verifier: Verifier) -> None:
    verifier.verify(signing_message(rec), b64decode_strict(rec["sig"], "record signature"))


def record_leaf_hex(line: bytes) -> str:
    return leaf_hash(line).hex()
