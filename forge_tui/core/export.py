"""Evidence bundles for one request (`forge-tui export`, `verify-export`; docs/forensics.md).

A bundle is a JSON object:

    {"format": "forge-tui.export/v1",
     "dsse": {"payloadType": "application/vnd.in-toto+json", "payload": <base64 Statement>,
              "signatures": [{"keyid": <ledger kid>, "sig": <base64 Ed25519 over the DSSE PAE>}]},
     "log": <origin>, "checkpoint": <the signed checkpoint note>,
     "records": [{"seq": N, "line": <the record's canonical line>, "proof": [<hex RFC 6962 path>]}]}

The Statement (in-toto v1) has one subject, the request record, named `<origin>#<seq>` with the
SHA-256 leaf hash as its digest; its predicate (`PREDICATE_TYPE`) carries the request, every decision,
the approvals verbatim (with each reviewer's own signature) and the outcomes. Each of those records
comes with its line and an inclusion proof against the checkpoint, so a verifier holding only the
ledger's public key (and the reviewers' keys) checks: the DSSE signature, the checkpoint signature,
each line's own signature and inclusion, that the predicate is exactly those records' bodies, and each
reviewer's signature over the approval.
"""

from __future__ import annotations

import base64
import json
import mmap
from dataclasses import dataclass
from typing import Any

from forge_tui.core.approvals import verify_approval
from forge_tui.core.jcs import canonical, parse_canonical
from forge_tui.core.merkle import ProofError, inclusion_proof, leaf_hash, verify_inclusion
from forge_tui.core.note import NoteError, Signer, Verifier, b64, b64decode_strict, open_checkpoint
from forge_tui.core.records import check_shape, signing_message
from forge_tui.errors import CanonicalError, ConfigError, ForgeError, SignatureError

FORMAT = "forge-tui.export/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://forge-tui.local/gate-decision/v1"


class ExportError(ForgeError):
    """The bundle does not verify (exit 1)."""

    exit_code = 1


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding."""
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


@dataclass(frozen=True)
class LedgerLines:
    origin: str
    lines: list[bytes]  # every complete line, without LF
    leaves: list[bytes]


def read_lines(path) -> list[bytes]:
    with open(path, "rb") as fh:
        size = fh.seek(0, 2)
        if not size:
            return []
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
            complete = data.rfind(b"\n") + 1
            return data[:complete].split(b"\n")[:-1]


def _related(lines: list[bytes], rid: str) -> list[int]:
    """Seqs of the request, its decisions, approvals and outcomes (a byte scan, then a parse)."""
    needle = json.dumps(rid).encode()
    out = []
    for seq, line in enumerate(lines):
        if needle not in line:
            continue
        rec = parse_canonical(line)
        body = rec.get("body") or {}
        appr = body.get("approval") if isinstance(body.get("approval"), dict) else {}
        if (
            rec.get("type") in ("request", "decision", "outcome")
            and body.get("request_id") == rid
            or rec.get("type") == "approval"
            and appr.get("request_id") == rid
        ):
            out.append(seq)
    return out


def build_bundle(
    lines: list[bytes], origin: str, checkpoint_note: str, cp_size: int, rid: str, signer: Signer
):
    """The bundle for request `rid`; ConfigError when the request is unknown or not yet covered by the
    signed checkpoint (`cp_size` records)."""
    seqs = _related(lines, rid)
    recs = {s: parse_canonical(lines[s]) for s in seqs}
    req = [s for s in seqs if recs[s]["type"] == "request"]
    if not req:
        raise ConfigError(f"no request {rid!r} in the ledger")
    if max(seqs) >= cp_size:
        raise ConfigError(
            f"request {rid} has records after the signed checkpoint (size {cp_size}): export it once signed"
        )
    leaves = [leaf_hash(line) for line in lines[:cp_size]]
    rseq = req[0]
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": f"{origin}#{rseq}", "digest": {"sha256": leaves[rseq].hex()}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": _predicate(recs, seqs),
    }
    payload = canonical(statement)
    envelope = {
        "payloadType": PAYLOAD_TYPE,
        "payload": b64(payload),
        "signatures": [{"keyid": signer.kid, "sig": b64(signer.sign(pae(PAYLOAD_TYPE, payload)))}],
    }
    records = [
        {
            "seq": s,
            "line": lines[s].decode("utf-8"),
            "proof": [h.hex() for h in inclusion_proof(leaves, s)],
        }
        for s in seqs
    ]
    return {
        "format": FORMAT,
        "dsse": envelope,
        "log": origin,
        "checkpoint": checkpoint_note,
        "records": records,
    }


def _predicate(recs: dict[int, dict], seqs: list[int]) -> dict[str, Any]:
    def of(t: str) -> list[dict[str, Any]]:
        return [{"seq": s, "ts": recs[s]["ts"], **recs[s]["body"]} for s in seqs if recs[s]["type"] == t]

    (request,) = of("request")[:1]
    decisions = of("decision")
    final = [d for d in decisions if d.get("status") in ("allowed", "denied")]
    return {
        "request": request,
        "decision": final[0] if final else (decisions[-1] if decisions else None),
        "decisions": decisions,
        "approvals": of("approval"),
        "outcomes": of("outcome"),
    }


# ---- verification -------------------------------------------------------------------------------


@dataclass
class ExportCheck:
    request_id: str
    status: str | None
    seqs: list[int]
    checkpoint_size: int
    reviewers_verified: list[str]


def verify_bundle(
    bundle: Any, ledger_keys: list[Verifier], reviewer_keys: dict[str, Verifier]
) -> ExportCheck:
    """Check a bundle with public keys only; raises ExportError naming the first thing that fails."""
    try:
        return _verify(bundle, ledger_keys, reviewer_keys)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        if isinstance(exc, ExportError):
            raise
        raise ExportError(f"malformed bundle: {type(exc).__name__}: {exc}") from None


def _verify(bundle, ledger_keys, reviewer_keys) -> ExportCheck:
    if bundle.get("format") != FORMAT:
        raise ExportError(f"not a {FORMAT} bundle")
    env = bundle["dsse"]
    if env["payloadType"] != PAYLOAD_TYPE:
        raise ExportError(f"payloadType is {env['payloadType']!r}, not {PAYLOAD_TYPE}")
    payload = b64decode_strict(env["payload"], "payload")
    by_kid = {k.kid: k for k in ledger_keys}
    signed = False
    for sig in env["signatures"]:
        key = by_kid.get(sig["keyid"])
        if key is None:
            continue
        try:
            key.verify(pae(PAYLOAD_TYPE, payload), b64decode_strict(sig["sig"], "signature"))
        except (SignatureError, NoteError) as exc:
            raise ExportError(f"the envelope signature by {sig['keyid']} does not verify: {exc}") from None
        signed = True
    if not signed:
        raise ExportError("the envelope is signed by no trusted ledger key")
    statement = json.loads(payload)
    if statement.get("_type") != STATEMENT_TYPE or statement.get("predicateType") != PREDICATE_TYPE:
        raise ExportError("the payload is not a forge-tui in-toto Statement v1")
    try:
        cp, _ = open_checkpoint(bundle["checkpoint"], ledger_keys)
    except (NoteError, SignatureError) as exc:
        raise ExportError(f"checkpoint rejected: {exc}") from None
    if cp.origin != bundle["log"]:
        raise ExportError(f"the checkpoint is for log {cp.origin!r}, not {bundle['log']!r}")
    recs: dict[int, dict] = {}
    for item in bundle["records"]:
        seq, line = item["seq"], item["line"].encode("utf-8")
        rec = _checked_record(line, seq, cp.origin, by_kid)
        try:
            verify_inclusion(
                seq, cp.size, leaf_hash(line), [bytes.fromhex(h) for h in item["proof"]], cp.root
            )
        except ProofError as exc:
            raise ExportError(f"record {seq} is not in the signed ledger: {exc}") from None
        recs[seq] = rec
    seqs = sorted(recs)
    if _predicate(recs, seqs) != statement["predicate"]:
        raise ExportError("the predicate is not exactly the bodies of the included records")
    req = statement["predicate"]["request"]
    subject = statement["subject"][0]
    if subject["digest"]["sha256"] != leaf_hash(bundle_line(bundle, req["seq"])).hex():
        raise ExportError("the subject digest is not the request record's leaf hash")
    names = _check_reviewers(statement["predicate"], reviewer_keys, subject["digest"]["sha256"])
    dec = statement["predicate"]["decision"]
    return ExportCheck(req["request_id"], dec.get("status") if dec else None, seqs, cp.size, names)


def bundle_line(bundle, seq: int) -> bytes:
    return next(i["line"] for i in bundle["records"] if i["seq"] == seq).encode("utf-8")


def _checked_record(line: bytes, seq: int, origin: str, by_kid: dict[str, Verifier]) -> dict:
    try:
        rec = parse_canonical(line)
        check_shape(rec)
    except (CanonicalError, NoteError) as exc:
        raise ExportError(f"record {seq} is malformed: {exc}") from None
    if rec["seq"] != seq or rec["log"] != origin:
        raise ExportError(f"record {seq} names seq {rec['seq']} of log {rec['log']!r}")
    key = by_kid.get(rec["kid"])
    if key is None:
        raise ExportError(f"record {seq} is signed by untrusted key {rec['kid']!r}")
    try:
        key.verify(signing_message(rec), base64.b64decode(rec["sig"]))
    except SignatureError as exc:
        raise ExportError(f"record {seq}: signature does not verify: {exc}") from None
    return rec


def _check_reviewers(predicate: dict, reviewer_keys: dict[str, Verifier], request_hash: str) -> list[str]:
    names = []
    for a in predicate["approvals"]:
        appr = a["approval"]
        name = appr.get("reviewer")
        key = reviewer_keys.get(name)
        if key is None:
            raise ExportError(f"no public key for reviewer {name!r} (give --reviewers)")
        try:
            verify_approval(appr, a["reviewer_sig"], key)
        except (SignatureError, CanonicalError, NoteError) as exc:
            raise ExportError(f"the approval by {name!r} does not verify: {exc}") from None
        if appr.get("request_hash") != request_hash:
            raise ExportError(f"the approval by {name!r} is bound to another request")
        names.append(name)
    return names
