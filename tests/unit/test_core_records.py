"""Ledger records (docs/design.md §4.1–4.3): construction, the exact signed bytes, leaf hashes, field checks."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import nacl.signing
import pytest

from forge_tui.core.jcs import canonical, parse_canonical
from forge_tui.core.note import NoteError, Signer
from forge_tui.core.records import (
    FIELDS,
    REQUIRED_BODY,
    TYPES,
    ZERO_HASH,
    build_record,
    check_shape,
    format_ts,
    origin_for,
    parse_ts,
    record_leaf_hex,
    signing_message,
    verify_record_sig,
)
from forge_tui.errors import CanonicalError, SignatureError

ORIGIN = "forge-tui.local/00000000-0000-4000-8000-000000000000/0123456789abcdef"
SIGNER = Signer(ORIGIN, bytes(range(32)))
TS = "2026-11-23T20:12:19.123Z"


def make(type_="note", body=None, seq=0, prev=ZERO_HASH, ts=TS, signer=SIGNER):
    return build_record(
        log=ORIGIN, seq=seq, ts=ts, type_=type_, prev=prev, signer=signer, body=body or {"text": "hi"}
    )


def test_line_is_the_canonical_record_with_every_field():
    rec, line = make()
    assert list(rec) == list(FIELDS)
    assert line == canonical(rec)
    assert parse_canonical(line) == rec
    assert rec["v"] == 1 and rec["log"] == ORIGIN and rec["kid"] == SIGNER.kid
    assert rec["kid"].startswith(ORIGIN + "+") and len(rec["kid"].split("+")[1]) == 8
    check_shape(rec)


def test_signature_is_ed25519_over_the_context_and_the_unsigned_record():
    rec, _ = make(body={"text": "sign me", "author": "ann"})
    unsigned = {k: v for k, v in rec.items() if k != "sig"}
    message = b"forge-tui record v1\n" + canonical(unsigned)
    assert signing_message(rec) == message
    vk = nacl.signing.VerifyKey(SIGNER.verifier.public_key)
    vk.verify(message, base64.b64decode(rec["sig"]))  # raises if it does not verify
    assert base64.b64encode(base64.b64decode(rec["sig"])).decode() == rec["sig"]  # standard, padded
    verify_record_sig(rec, SIGNER.verifier)


def test_leaf_hash_is_rfc6962_over_the_line_without_lf():
    _, line = make()
    assert record_leaf_hex(line) == hashlib.sha256(b"\x00" + line).hexdigest()
    assert not line.endswith(b"\n")


@pytest.mark.parametrize(
    "field,value",
    [
        ("seq", 1),
        ("ts", "2026-11-23T20:12:19.124Z"),
        ("type", "violation"),
        ("prev", "1" * 64),
        ("log", ORIGIN + "x"),
        ("body", {"text": "hI"}),
        ("v", 2),
    ],
)
def test_any_change_breaks_the_signature(field, value):
    rec, _ = make()
    rec[field] = value
    with pytest.raises(SignatureError):
        verify_record_sig(rec, SIGNER.verifier)


def test_other_key_does_not_verify():
    rec, _ = make()
    with pytest.raises(SignatureError):
        verify_record_sig(rec, Signer(ORIGIN, bytes(32)).verifier)


def test_bodies_are_nfc_normalised():
    rec, line = make(body={"text": "caf\u0065\u0301", "e\u0301": "x"})
    assert rec["body"] == {"text": "caf\u00e9", "\u00e9": "x"}
    assert parse_canonical(line)["body"]["text"] == "caf\u00e9"


@pytest.mark.parametrize("type_", sorted(TYPES))
def test_required_body_fields(type_):
    body = {f: "x" for f in REQUIRED_BODY[type_]}
    rec, _ = make(type_, body)
    check_shape(rec)
    if REQUIRED_BODY[type_]:
        missing = dict(body)
        missing.pop(REQUIRED_BODY[type_][0])
        with pytest.raises(CanonicalError, match="lacks"):
            make(type_, missing or {"other": 1})


def test_design_lists_exactly_these_types():
    assert {
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
    } == TYPES


def test_unknown_type_and_floats_refused():
    with pytest.raises(CanonicalError):
        make("gossip")
    with pytest.raises(CanonicalError):
        make(body={"text": "x", "n": 0.5})


def test_line_limit():
    with pytest.raises(CanonicalError, match="1 MiB"):
        make(body={"text": "x" * (1 << 20)})


def _shape_error(mutate) -> None:
    rec, _ = make()
    mutate(rec)
    with pytest.raises((CanonicalError, NoteError)):  # a malformed signature is a NoteError
        check_shape(rec)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda r: r.pop("sig"),
        lambda r: r.update(extra=1),
        lambda r: r.update(v=2),
        lambda r: r.update(v=True),
        lambda r: r.update(seq=-1),
        lambda r: r.update(seq=True),
        lambda r: r.update(seq="0"),
        lambda r: r.update(ts="2026-11-23T20:12:19Z"),
        lambda r: r.update(ts="2026-11-23T20:12:19.123+00:00"),
        lambda r: r.update(ts="2026-11-23 20:12:19.123Z"),
        lambda r: r.update(prev="0" * 63),
        lambda r: r.update(prev="A" * 64),
        lambda r: r.update(type="gossip"),
        lambda r: r.update(body=[]),
        lambda r: r.update(body={}),
        lambda r: r.update(kid=1),
        lambda r: r.update(sig=base64.b64encode(bytes(63)).decode()),
        lambda r: r.update(sig=r["sig"].rstrip("=")),
    ],
)
def test_check_shape_refusals(mutate):
    _shape_error(mutate)


def test_timestamps():
    assert format_ts(0) == "1970-01-01T00:00:00.000Z"
    ms = int(datetime(2026, 11, 23, 20, 12, 19, tzinfo=UTC).timestamp()) * 1000 + 123
    assert format_ts(ms) == TS
    assert parse_ts(TS) == ms
    assert parse_ts(format_ts(ms + 1)) == ms + 1
    for bad in ("2026-11-23T20:12:19.12Z", "2026-11-23T20:12:19.123", "yesterday"):
        with pytest.raises(CanonicalError):
            parse_ts(bad)


def test_origin_format():
    assert origin_for("p", "l") == "forge-tui.local/p/l"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ts", TS + "\n"),  # `$` matched before a final newline
        ("ts", "\u0662\u0660\u0662\u0666" + TS[4:]),  # Arabic-Indic digits: `\d` took any Unicode digit
        ("ts", TS.replace("19", "\uff11\uff19")),  # fullwidth digits
        ("prev", ZERO_HASH + "\n"),
    ],
    ids=["ts-newline", "ts-arabic-digits", "ts-fullwidth", "prev-newline"],
)
def test_only_the_exact_ascii_text_passes_the_shape_check(field, value):
    """If this fails, a record whose ts or prev is not exactly what the daemon writes passes the check."""
    rec, _ = make()
    check_shape(rec)
    rec[field] = value
    with pytest.raises(CanonicalError):
        check_shape(rec)
