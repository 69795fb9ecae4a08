"""`normalized_checked` + `jcs_dumps` (one walk of a record body) against the reference pair,
`canonical(normalize(value))`: byte-identical where the reference encodes, CanonicalError where it refuses,
over many values (non-ASCII text to normalise, escapes, keys beyond the BMP, integers at the limits,
deep nesting, types a record may not hold). And `build_record` against a record built the reference way.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forge_tui.core.jcs import MAX_SAFE_INT, canonical, jcs_dumps, normalize, normalized_checked
from forge_tui.core.note import Signer, b64
from forge_tui.core.records import RECORD_CONTEXT, REQUIRED_BODY, TYPES, build_record
from forge_tui.errors import CanonicalError

SIGNER = Signer.generate("forge-tui.local/p/l")
# Characters that NFC changes or composes, escapes JSON must write, and astral ones (UTF-16 key order).
TRICKY = 'e\u0301\u212bK\u212a\u00c5A\u030a"\\\n\t\x00\x1f\x7f\u2028\U0001f600\U00010000\ufb01\u1e9b\u0323'
text = st.text(alphabet=st.sampled_from(TRICKY) | st.characters(), max_size=10)
ints = st.integers(-MAX_SAFE_INT - 2, MAX_SAFE_INT + 2) | st.sampled_from([2**63, -(2**64), 0, -1])
scalars = st.none() | st.booleans() | ints | text | st.floats(allow_nan=False) | st.just(b"x")
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(text, inner, max_size=4)
        | st.dictionaries(st.integers(0, 3), inner, min_size=1, max_size=2)
    ),
    max_leaves=16,
)


def reference(value, depth: int = 0):
    """(bytes, None) or (None, "refused") the way build_record did before the fused walk."""
    try:
        v = value
        for _ in range(depth):  # sit the value `depth` levels down, as a body sits in its record
            v = [v]
        out = canonical(normalize(v))
        return out[depth:-depth] if depth else out, None
    except CanonicalError:
        return None, "refused"


def fused(value, depth: int = 0):
    try:
        v, astral = normalized_checked(value, depth)
        return jcs_dumps(v, astral), None
    except CanonicalError:
        return None, "refused"


@settings(max_examples=3000, deadline=None)
@given(values)
def test_the_fused_walk_encodes_and_refuses_exactly_as_the_reference(value):
    assert fused(value) == reference(value)


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(text, values, max_size=6))
def test_the_same_for_bodies_one_level_down(body):
    assert fused(body, 1) == reference(body, 1)


@pytest.mark.parametrize("depth", [62, 63, 64, 65, 66])
def test_the_nesting_limit_is_the_same(depth):
    value: object = "leaf"
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    assert fused(value) == reference(value)
    assert fused(value, 1) == reference(value, 1)


def test_colliding_keys_after_nfc_are_refused_both_ways():
    for body in ({"\u212a": 1, "K": 2}, {"K": 1, "\u212a": 2}, {"A\u030a": 1, "\u00c5": 2}):
        assert fused(body) == reference(body) == (None, "refused")


def test_lone_surrogates_are_refused_both_ways():
    for body in ({"a": "\ud800"}, {"\udfff": 1}, ["x\ud83d"]):
        assert fused(body) == reference(body) == (None, "refused")


def old_build_record(*, log, seq, ts, type_, prev, signer, body) -> bytes:
    """build_record as it was: normalize, then canonical of the unsigned and of the signed record."""
    rec = {"v": 1, "log": log, "seq": seq, "ts": ts, "type": type_, "prev": prev, "kid": signer.kid}
    rec["body"] = normalize(body)
    sig = signer.sign(RECORD_CONTEXT + canonical(rec))
    rec["sig"] = b64(sig)
    return canonical(rec)


def assert_reference_line(args: dict) -> None:
    """build_record(**args) writes the reference's line (and its record encodes to it), or both refuse."""
    try:
        want = old_build_record(**args)
    except CanonicalError:
        with pytest.raises(CanonicalError):
            build_record(**args)
        return
    rec, line = build_record(**args)
    assert line == want
    assert canonical(rec) == line


@settings(max_examples=1000, deadline=None)
@given(st.dictionaries(text, values, max_size=6), st.sampled_from(sorted(TYPES)), st.integers(0, 2**53 - 1))
def test_build_record_writes_the_line_the_reference_build_wrote(body, type_, seq):
    body = {**{k: "x" for k in REQUIRED_BODY[type_]}, **body}
    args = dict(
        log="forge-tui.local/p/l", seq=seq, ts="2026-11-25T14:00:00.123Z", type_=type_,
        prev="a" * 64, signer=SIGNER, body=body,
    )  # fmt: skip
    assert_reference_line(args)


def test_a_gate_request_body_is_the_same_line():
    body = {
        "request_id": "r-0123456789abcdef",
        "actor": {"id": "bench-3", "kind": "agent", "session": "s\u00e9ance"},
        "principal": "ren\u00e9e",
        "process": {"pid": 12345, "uid": 0, "exe": "/usr/bin/python3", "sandboxed": False},
        "action": {"kind": "shell.exec", "tool": None, "command": 'echo "caf\u0065\u0301" \\ \U0001f600',
                   "paths": ["a", "\u212b"], "url": None, "summary": None, "input_digest": None},
        "requirement": None,
        "client": "bench",
    }  # fmt: skip
    args = dict(
        log="forge-tui.local/p/l", seq=7, ts="2026-11-25T14:00:00.123Z", type_="request",
        prev="b" * 64, signer=SIGNER, body=body,
    )  # fmt: skip
    assert build_record(**args)[1] == old_build_record(**args)


# Envelope fields (log, ts, prev, seq, the key's name) that need escapes, are not ASCII, not strings or
# out of range: build_record writes the envelope around the body's encoding itself when every field is
# a plain ASCII string (else it encodes the whole record); either way the line must be the reference's.
envelope_text = (
    st.sampled_from(["forge-tui.local/p/l", 'a"b', "a\\b", "t\tx", "caf\u00e9", "\ud800", ""]) | text
)
envelope_seq = st.sampled_from([0, 1, 2**53 - 1, 2**53, -1, True]) | st.integers(0, 2**53 - 1)


@settings(max_examples=1000, deadline=None)
@given(envelope_text, envelope_text, envelope_text, envelope_seq, st.sampled_from(sorted(TYPES)), values)
def test_build_record_writes_the_reference_line_whatever_the_envelope_holds(log, ts, prev, seq, type_, extra):
    body = {**{k: "x" for k in REQUIRED_BODY[type_]}, "extra": extra}
    args = dict(log=log, seq=seq, ts=ts, type_=type_, prev=prev, signer=SIGNER, body=body)
    assert_reference_line(args)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-MAX_SAFE_INT, MAX_SAFE_INT) | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=16,
)


@settings(max_examples=1000, deadline=None)
@given(json_values)
def test_the_encoder_made_once_writes_what_a_json_encoder_writes(value):
    """jcs._dumps_fast calls the C encoder made once; the text must be json's own compact sorted text."""
    import json

    from forge_tui.core.jcs import _dumps_fast

    want = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False)
    assert _dumps_fast(value) == want.encode(value)
