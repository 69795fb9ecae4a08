"""A ledger line holding an integer of more digits than Python converts (sys.get_int_max_str_digits(),
4300 by default) must be *reported* (a `malformed` finding, exit 1), never crash the check.

Found while hunting this session's verify changes; the defect predates them (771c328 shows it too):
`jcs.loads_strict` catches json.JSONDecodeError only, and the int conversion limit raises a plain
ValueError, which escapes `parse_canonical`, `verify_chunk._check_records` (it catches CanonicalError and
NoteError) and `_typed_records` (CanonicalError): `forge-tui verify` ends with "internal error" (exit 70,
not a documented code) for a ledger anyone can append one such line to."""

from __future__ import annotations

import sys

import pytest

from forge_tui.core import verify_chunk as C
from forge_tui.core.jcs import parse_canonical
from forge_tui.core.records import ZERO_HASH
from forge_tui.errors import CanonicalError

DIGITS = sys.get_int_max_str_digits() + 10 if hasattr(sys, "get_int_max_str_digits") else 5000
HUGE = b"9" * DIGITS
REASON = (
    "core/jcs.py:loads_strict catches json.JSONDecodeError only; the int conversion limit raises a plain "
    "ValueError that escapes parse_canonical (and verify_chunk's `except CanonicalError`): verify crashes "
    "(exit 70) instead of a malformed finding. Fix: `except ValueError` there (JSONDecodeError is one), "
    "or a parse_int hook that refuses more than 16 digits with CanonicalError. Predates this session."
)


@pytest.mark.xfail(strict=True, reason=REASON)
def test_parse_canonical_refuses_an_overlong_integer_with_canonical_error() -> None:
    with pytest.raises(CanonicalError):
        parse_canonical(b'{"a":' + HUGE + b"}")


def _line(tail: bytes) -> bytes:
    return (
        b'{"body":{"n":' + HUGE + b',"text":"x"},"kid":"k","log":"l","prev":"' + b"0" * 64 + b'","seq":0,'
        b'"sig":"' + b"A" * 86 + b'==","ts":"2026-11-25T14:00:00.000Z",' + tail
    )


@pytest.mark.xfail(strict=True, reason=REASON)
@pytest.mark.parametrize("fast", [False, True], ids=["full", "fast"])
def test_verify_reports_an_overlong_integer_as_malformed(tmp_path, fast: bool) -> None:
    """Full verify: a malformed finding for the line; --fast: a typed (key) line that does not parse is
    left to the full verify, as any other unparsable line is."""
    line = _line(b'"type":"key","v":1}')
    path = tmp_path / "l.jsonl"
    path.write_bytes(line + b"\n")
    res = C.check_chunk(str(path), 0, len(line) + 1, 0, ZERO_HASH.encode(), "l", [], fast, None)
    if fast:
        assert res.typed == []
    else:
        assert [c for _, c, _ in res.findings] == ["malformed"]
