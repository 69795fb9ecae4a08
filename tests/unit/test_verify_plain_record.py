"""verify's quickest record path (verify_chunk._plain_record: only the body decoded, the fields after it
proved canonical by a pattern) must never pass a line the strict path rejects: for damaged lines of
several shapes it either declines (None: the strict path decides) or gives exactly the record
`parse_canonical` gives, which `check_shape` passes, and the signed message the signer signed."""

from __future__ import annotations

import base64
import random

import pytest
from line_mutations import JSON_PIECES, mutations

from forge_tui.core import verify_chunk as C
from forge_tui.core.jcs import canonical, parse_canonical
from forge_tui.core.note import NoteError
from forge_tui.core.records import check_shape, signing_message
from forge_tui.errors import CanonicalError

SIG = base64.b64encode(bytes(range(64))).decode()


def _line(**over) -> bytes:
    rec = {
        "v": 1,
        "log": "forge-tui.local/p/l",
        "seq": 12,
        "ts": "2026-11-25T14:00:00.000Z",
        "type": "note",
        "prev": "ab" * 32,
        "kid": "forge-tui.local/p/l+01020304",
        "body": {"text": "a, b: c", "n": [1, -2, {"kid": "x", "z": None}], "t": True},
        "sig": SIG,
    }
    rec.update(over)
    return canonical(rec)


BASES = [
    _line(),
    _line(seq=0, body={"text": ""}),
    _line(body={"text": 'q"uote\\ and \n', "kid": "inner", "prev": "x"}),  # escapes in the body
    _line(body={"a": {"kid": "k", "log": "l"}, "text": "x"}),  # a nested `,"kid":"`
    _line(
        type="request",
        body={"request_id": "r1", "actor": {}, "action": {"tool": "Bash"}, "client": "c", "x": 1},
    ),
    _line(type="reviewer", body={}),  # lacks what a reviewer record needs
    _line(kid="k with space ~ and [brackets]"),
]
# The JSON pieces, and pieces of the record's own fields (where the quick path's pattern could be fooled).
PIECES = [
    *JSON_PIECES,
    b'"kid":"x",',
    b',"kid":"',
    b'"body":{},',
    b"=",
    b"A",
    b"Z",
    b"T",
]


def _strict(line: bytes):
    """(record, signature ‖ signed message) by the strict path, or None where it rejects the line."""
    try:
        rec = parse_canonical(line)
        check_shape(rec)
    except (CanonicalError, NoteError):
        return None
    return rec, base64.b64decode(rec["sig"]) + signing_message(rec)


@pytest.mark.parametrize("seed", range(3))
def test_plain_record_gives_the_strict_answer_or_declines(seed):
    rng = random.Random(seed)
    taken = 0
    for base in BASES:
        for line in [base, *mutations(rng, base, 800, PIECES)]:
            got = C._plain_record(line)
            if got is not None:
                assert got == _strict(line), line
                taken += 1
    assert taken > 100  # the path is taken, for intact lines and for edits that stay canonical


def test_plain_record_takes_the_common_lines():
    for base in BASES[:5] + BASES[6:]:
        assert C._plain_record(base) == _strict(base) != None, base  # noqa: E711
    assert C._plain_record(BASES[5]) is None  # the shape check has something to say: left to it


@pytest.mark.parametrize(
    "line",
    [
        _line().replace(b'"seq":12', b'"seq":012'),
        _line().replace(b'"seq":12', b'"seq":-12'),
        _line().replace(b'"v":1}', b'"v":1 }'),
        _line().replace(b'"v":1}', b'"v":1,"w":2}'),
        _line().replace(b'"type":"note"', b'"type":"nope"'),
        _line().replace(b'"ts":"2026-11-25T14:00:00.000Z"', b'"ts":"2026-11-25T14:00:00Z"'),
        _line().replace(SIG.encode(), SIG[:-3].encode() + b"B=="),  # not the canonical base64
        _line().replace(b'"kid":"', b'"kid":"\\u0041', 1),
        _line().replace(b'{"body":{', b'{"body":{"n":1,', 1),  # a duplicate key in the body
        _line().replace(b'"t":true', b'"t":1.5'),
        _line().replace(b'"text":"a, b: c"', b'"text":"a, b: c","text":"d"'),
        b'{"body":{"text":"x"},"kid":"a","kid":"a","log":"l"}',
    ],
)
def test_plain_record_passes_nothing_the_strict_path_rejects(line):
    assert _strict(line) is None
    assert C._plain_record(line) is None


def test_the_signature_pattern_is_exactly_the_canonical_base64_of_64_bytes():
    """`_TOP_FIELDS` takes the signature's canonical form from the pattern alone (no re-encoding): its
    last data character must be each one, and only one, a 64-byte value ends with."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    for c in alphabet:
        sig = SIG[:85] + c + "=="
        canonical_b64 = base64.b64encode(base64.b64decode(sig)).decode() == sig
        assert (C._plain_record(_line(sig=sig)) is not None) == canonical_b64, c
