"""verify's quickest record path (verify_chunk._quick_record: the fields after `body` checked at fixed
offsets, only the body decoded and re-encoded) must never pass a line the strict path rejects: for
damaged lines of every record type it either declines (None: the strict path decides) or gives exactly
what `parse_canonical` + `check_shape` give and the signed message the signer signed. `_check_records`
with the quick path must give exactly the findings and summaries it gives without it."""

from __future__ import annotations

import base64
import random

import pytest
from line_mutations import JSON_PIECES, mutations

from forge_tui.core import verify_chunk as C
from forge_tui.core.jcs import canonical, parse_canonical
from forge_tui.core.note import NoteError
from forge_tui.core.records import REQUIRED_BODY, check_shape, signing_message
from forge_tui.errors import CanonicalError

SIG = base64.b64encode(bytes(range(64))).decode()
KID = "forge-tui.local/p/l+01020304"
LOG = "forge-tui.local/p/l"


def _line(**over) -> bytes:
    rec = {
        "v": 1,
        "log": LOG,
        "seq": 12,
        "ts": "2026-11-25T14:00:00.000Z",
        "type": "note",
        "prev": "ab" * 32,
        "kid": KID,
        "body": {"text": "a, b: c", "n": [1, -2, {"kid": "x", "z": None}], "t": True},
        "sig": SIG,
    }
    rec.update(over)
    return canonical(rec)


# A body for every record type: what it must hold, and a few fields of each JSON kind.
TYPE_BODIES = {
    t: {
        **{f: f"{f}-{i}" for i, f in enumerate(fields)},
        "n": [0, 9007199254740991, -9007199254740991, {"a": [], "b": {}}],
        "s": 'q"uote\\ \n\t\u0001 \x7f /',
        "z": None,
    }
    for t, fields in REQUIRED_BODY.items()
}
BASES = [
    _line(),
    _line(seq=0, body={"text": ""}),
    _line(body={"text": 'q"uote\\ and \n', "kid": "inner", "prev": "x"}),  # escapes in the body
    _line(body={"a": {"kid": "k", "log": "l"}, "text": "x"}),  # a nested `,"kid":"`
    _line(body={"text": "x", "h": "1234567890123456789012345"}),  # a long run of digits in a string
    _line(kid="k with space ~ and [brackets]"),
    _line(seq=9007199254740991),
    *(_line(type=t, body=b) for t, b in TYPE_BODIES.items()),
]
DECLINED = [
    _line(type="reviewer", body={}),  # lacks what a reviewer record needs: the shape check words it
    _line(body={"text": "é"}),  # not ASCII: the strict path checks NFC
    _line(log="lög"),
]
# The JSON pieces, and pieces of the record's own fields (where the quick path's checks could be fooled).
PIECES = [
    *JSON_PIECES,
    b'"kid":"x",',
    b',"kid":"',
    b'","log":"',
    b'"prev":"',
    b'"body":{},',
    b'"v":1}',
    b"=",
    b"A",
    b"Z",
    b"T",
    b"f",
    b"g",
    b"1e3",
    b"\\/",
    b"\\u002f",
    b'"text":"d",',
]


def _strict(line: bytes):
    """(record, signature ‖ signed message) by the strict path, or None where it rejects the line."""
    try:
        rec = parse_canonical(line)
        check_shape(rec)
    except (CanonicalError, NoteError):
        return None
    return rec, base64.b64decode(rec["sig"]) + signing_message(rec)


def _quick(line: bytes, seen: list | None = None):
    """The quick path's answer in the strict path's form (record, signed message), or None."""
    seen = seen if seen is not None else ["\x00", "", "", 1]
    got = C._quick_record(line, seen)
    if got is None:
        return None
    seq, ts, t, body, signed = got
    rec = {"body": body, "kid": seen[1], "log": seen[2], "seq": seq, "ts": ts, "type": t}
    line_rec = parse_canonical(line)  # it is canonical: the rest of the record is as the line says
    rec.update(prev=line_rec["prev"], sig=line_rec["sig"], v=line_rec["v"])
    return rec, signed


@pytest.mark.parametrize("seed", range(3))
def test_quick_record_gives_the_strict_answer_or_declines(seed):
    rng = random.Random(seed)
    taken = 0
    seen = ["\x00", "", "", 1]  # carried from line to line, as in a part: a learnt prefix must not leak
    for base in BASES:
        for line in [base, *mutations(rng, base, 500, PIECES)]:
            for state in (seen, None):
                got = _quick(line, state)
                if got is not None:
                    assert got == _strict(line), line
                    taken += 1
    assert taken > 100  # the path is taken, for intact lines and for edits that stay canonical


def test_quick_record_takes_the_common_lines_of_every_type():
    for base in BASES:
        assert _quick(base) == _strict(base) != None, base  # noqa: E711
    for line in DECLINED:
        assert _quick(line) is None, line


@pytest.mark.parametrize(
    "line",
    [
        _line().replace(b'"seq":12', b'"seq":012'),
        _line().replace(b'"seq":12', b'"seq":-12'),
        _line().replace(b'"seq":12', b'"seq":12.0'),
        _line().replace(b'"seq":12', b'"seq":1e3'),
        _line().replace(b'"seq":12', b'"seq":9007199254740992'),
        _line().replace(b'"seq":12', b'"seq":12345678901234567'),
        _line().replace(b'"v":1}', b'"v":1 }'),
        _line().replace(b'"v":1}', b'"v":1,"w":2}'),
        _line().replace(b'"v":1}', b'"v":1.0}'),
        _line().replace(b'"type":"note"', b'"type":"nope"'),
        _line().replace(b'"type":"note"', b'"type":"Note"'),
        _line().replace(b'"ts":"2026-11-25T14:00:00.000Z"', b'"ts":"2026-11-25T14:00:00Z"'),
        _line().replace(b'"ts":"2026-11-25T14:00:00.000Z"', b'"ts":"2026-11-25t14:00:00.000Z"'),
        _line().replace(b'"prev":"abab', b'"prev":"ABab'),
        _line().replace(b'"prev":"abab', b'"prev":"agab'),
        _line().replace(SIG.encode(), SIG[:-3].encode() + b"B=="),  # not the canonical base64
        _line().replace(SIG.encode(), SIG[:-3].encode() + b"-=="),
        _line().replace(b'"kid":"', b'"kid":"\\u0041', 1),
        _line().replace(b'"log":"', b'"log":"\\/', 1),
        _line().replace(b'{"body":{', b'{"body":{"n":1,', 1),  # a duplicate key in the body
        _line().replace(b'{"body":{', b'{"body" :{', 1),
        _line().replace(b'{"body":{', b'{ "body":{', 1),
        _line().replace(b'"t":true', b'"t":1.5'),
        _line().replace(b'"t":true', b'"t":1e3'),
        _line().replace(b'"t":true', b'"t":-0'),
        _line().replace(b'"t":true', b'"t":9007199254740992'),
        _line().replace(b'"t":true', b'"t":-9007199254740992'),
        _line().replace(b'"t":true', b'"t":NaN'),
        _line().replace(b'"t":true', b'"t":"\\u00e9"'),  # an escape JCS does not write
        _line().replace(b'"t":true', b'"t":"\\ud800"'),  # a lone surrogate
        _line().replace(b'"t":true', b'"t":"a\\/b"'),
        _line().replace(b'"text":"a, b: c"', b'"text":"a, b: c","text":"d"'),
        _line().replace(b'"n":[1,-2,', b'"n":[1, -2,'),
        _line().replace(b'"n":[1,', b'"n":[01,'),
        _line(body={"text": "x", "deep": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]})
        .replace(b'"deep":[', b'"deep":' + b"[" * 32, 1)
        .replace(b"]]", b"]]" + b"]" * 32, 1),  # nested more than 64 deep
        _line().replace(b'"sig":', b'"sig" :'),
        b'{"body":{"text":"x"},"kid":"a","kid":"a","log":"l"}',
        _line()[:-1],
        _line() + b" ",
        b"\xef\xbb\xbf" + _line(),
    ],
)
def test_quick_record_passes_nothing_the_strict_path_rejects(line):
    assert _strict(line) is None
    assert _quick(line) is None
    seen = ["\x00", "", "", 1]
    assert C._quick_record(_line(), seen) is not None  # the prefix is learnt: it must not help
    assert _quick(line, seen) is None


def test_the_signature_check_is_exactly_the_canonical_base64_of_64_bytes():
    """The quick path takes the signature's canonical form from its alphabet and last character alone
    (no re-encoding): its last data character must be each one, and only one, a 64-byte value ends with."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    for c in alphabet:
        sig = SIG[:85] + c + "=="
        canonical_b64 = base64.b64encode(base64.b64decode(sig)).decode() == sig
        assert (_quick(_line(sig=sig)) is not None) == canonical_b64, c


def test_a_new_kid_or_log_is_learnt_and_checked_again():
    seen = ["\x00", "", "", 1]
    assert _quick(_line(), seen) == _strict(_line())
    other = _line(kid="forge-tui.local/p/l+0a0b0c0d", log="forge-tui.local/q/m")
    assert _quick(other, seen) == _strict(other)
    assert seen[1:3] == ["forge-tui.local/p/l+0a0b0c0d", "forge-tui.local/q/m"]
    assert _quick(_line(), seen) == _strict(_line())
    assert seen[1:3] == [KID, LOG]


def _nested(n: int) -> bytes:
    v: object = 1
    for _ in range(n):
        v = [v]
    return _line(body={"text": "x", "deep": v})


def test_the_depth_limit_is_the_strict_one_exactly():
    """The deepest value the strict path takes (64 levels: record, body, 62 lists, the number) is taken;
    one level more is left to the strict path, which rejects it."""
    assert _quick(_nested(62)) == _strict(_nested(62)) != None  # noqa: E711
    deeper = _nested(62).replace(b'"deep":[', b'"deep":[[', 1).replace(b"]]", b"]]]", 1)
    assert _strict(deeper) is None
    assert _quick(deeper) is None
