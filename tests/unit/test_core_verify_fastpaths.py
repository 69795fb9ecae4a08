"""verify's fast paths agree with the reference implementations they shortcut: the line parser with
parse_canonical, the signed bytes cut from a line with signing_message, the level-by-level Merkle root
with merkle.root_from_leaves. A disagreement would let a non-canonical line or a bad signature pass."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forge_tui.core import verify as V
from forge_tui.core.jcs import canonical, normalize, parse_canonical
from forge_tui.core.merkle import CompactTree, leaf_hash, root_from_leaves
from forge_tui.core.note import Signer
from forge_tui.core.records import ZERO_HASH, build_record, signing_message
from forge_tui.errors import CanonicalError

SIGNER = Signer("forge-tui.local/p/l", bytes(range(32)))

text = st.text(st.characters(codec="utf-8"), max_size=10) | st.text(
    st.sampled_from(list('ab"\\/\x00\x1f\x7f\u00e9e\u0301\U0001f600sig,:{}[]')), max_size=10
)
scalars = st.none() | st.booleans() | st.integers(-(2**60), 2**60) | text
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=12,
)


def _same(line: bytes):
    """(ok, value) of both parsers; they must agree."""
    try:
        want = ("ok", parse_canonical(line))
    except CanonicalError:
        want = ("error", None)
    try:
        got = ("ok", V._parse_line(line))
    except CanonicalError:
        got = ("error", None)
    assert got == want, line
    return want


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(text, values, max_size=4))
def test_parse_line_agrees_with_parse_canonical(obj):
    try:
        line = canonical(obj)
    except CanonicalError:
        return  # integers beyond 2^53: canonical refuses them; the raw JSON is tried below
    _same(line)
    _same(canonical(normalize(obj)) if _nfc_ok(obj) else line)
    # Variants a tamperer might write: other spacing, order, escapes, numbers.
    _same(json.dumps(obj, ensure_ascii=True, separators=(",", ":"), sort_keys=True).encode())
    _same(json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode())
    _same(json.dumps(obj, ensure_ascii=False, separators=(", ", ":"), sort_keys=True).encode())


def _nfc_ok(obj) -> bool:
    try:
        normalize(obj)
    except CanonicalError:
        return False
    return True


@pytest.mark.parametrize(
    "line",
    [
        b'{"a":9007199254740991}',
        b'{"a":9007199254740992}',
        b'{"a":-9007199254740992}',
        b'{"a":12345678901234567890}',
        b'{"a":1.0}',
        b'{"a":1e2}',
        b'{"a":"\\u00e9"}',
        b'{"a":"\\ud800"}',
        b'{"a":"\\ud83d\\ude00"}',
        b'{"a":"\\/"}',
        b'{"b":1,"a":1}',
        b'{"a":1,"a":1}',
        b'{"a":-0}',
        b'{"a":01}',
        b" {}",
        b"{} ",
        b"[1]",
        b'{"a":"e\xcc\x81"}',
        b'{"\xf0\x9f\x98\x80":1,"\xef\xac\xb3":2}',
        b'{"\xef\xac\xb3":2,"\xf0\x9f\x98\x80":1}',
        b"\xef\xbb\xbf{}",
        b'{"a":' + b"[" * 70 + b"]" * 70 + b"}",
        b'{"a":' + b"[" * 40 + b"]" * 40 + b',"b":' + b"[" * 40 + b"]" * 40 + b"}",
    ],
)
def test_parse_line_edge_cases(line):
    _same(line)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(text, values, max_size=4), st.integers(0, 10**6))
def test_signed_bytes_equal_the_signing_message(body, seq):
    body = {"text": "x", **body}
    try:
        rec, line = build_record(
            log=SIGNER.name,
            seq=seq,
            ts="2026-11-23T20:12:19.123Z",
            type_="note",
            prev=ZERO_HASH,
            signer=SIGNER,
            body=body,
        )
    except CanonicalError:
        return  # not a storable body (an integer beyond 2^53, keys colliding after NFC)
    assert V._signed_bytes(line) == signing_message(rec)


@pytest.mark.parametrize("n", [*range(0, 70), 127, 128, 129, 255, 256, 257, 1000])
def test_level_by_level_root_equals_the_compact_tree(n):
    """merkle.root_from_leaves (what verify uses) against the append-only frontier the daemon keeps."""
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]
    tree = CompactTree()
    for h in leaves:
        tree.append(h)
    assert root_from_leaves(leaves) == tree.root()
