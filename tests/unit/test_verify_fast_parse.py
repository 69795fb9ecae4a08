"""verify's fast strict parser accepts and rejects exactly what parse_canonical does (differential)."""

from __future__ import annotations

import random

import pytest
from line_mutations import JSON_PIECES, mutations

from forge_tui.core.jcs import canonical, parse_canonical
from forge_tui.core.verify import _parse_line, _signed_bytes
from forge_tui.errors import CanonicalError

BASE = canonical(
    {
        "v": 1,
        "log": "forge-tui.local/p/l",
        "seq": 12,
        "ts": "2026-11-25T14:00:00.000Z",
        "type": "request",
        "prev": "ab" * 32,
        "kid": "forge-tui.local/p/l+01020304",
        "body": {"a": [1, -2, {"b": None, "c": True}], "d": 'x\u00e9\\"\n', "n": 9007199254740991},
        "sig": "A" * 86 + "==",
    }
)
PIECES = JSON_PIECES


def outcome(fn, line):
    try:
        return ("ok", fn(line))
    except CanonicalError:
        return ("error", None)


@pytest.mark.parametrize("seed", range(4))
def test_fast_parse_agrees_with_parse_canonical(seed):
    rng = random.Random(seed)
    assert (
        outcome(_parse_line, BASE) == outcome(parse_canonical, BASE) and outcome(_parse_line, BASE)[0] == "ok"
    )
    accepted = 0
    for line in mutations(rng, BASE, 3000, PIECES, edits=3, cut=4):
        fast, full = outcome(_parse_line, line), outcome(parse_canonical, line)
        assert fast == full, line
        accepted += fast[0] == "ok"
    assert accepted > 0  # some mutations stay canonical (e.g. inside a string)


@pytest.mark.parametrize(
    "line",
    [
        b'{"a":1,"a":1}',
        b'{"a":{"b":1,"b":2}}',
        b'{"a":9007199254740992}',
        b'{"a":-9007199254740992}',
        b'{"a":1.0}',
        b'{"a":"\\ud800"}',
        b'{"a":"\\u00e9"}',
        b'{"b":1,"a":2}',
        b"[" * 70 + b"]" * 70,
    ],
)
def test_fast_parse_rejects_what_jcs_rejects(line):
    with pytest.raises(CanonicalError):
        parse_canonical(line)
    with pytest.raises(CanonicalError):
        _parse_line(line)


def test_signed_bytes_is_the_record_without_sig():
    from forge_tui.core.records import signing_message

    rec = parse_canonical(BASE)
    assert _signed_bytes(BASE) == signing_message(rec)
