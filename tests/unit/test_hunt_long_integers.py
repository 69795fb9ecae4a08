"""A ledger line holding an integer of more digits than Python converts (sys.get_int_max_str_digits(),
4300 by default) must be *reported* (a `malformed` finding, exit 1), never crash the check; a JSON
argument holding one is a usage error (exit 2).

Found while hunting this session's verify changes (the defect was older): `jcs.loads_strict` caught
json.JSONDecodeError only, and the int conversion limit raises a plain ValueError, which escaped
`parse_canonical` and every `except CanonicalError` behind it, so `forge-tui verify` ended with
"internal error" for a ledger anyone can append one such line to."""

from __future__ import annotations

import sys

import pytest

from forge_tui.core import verify_chunk as C
from forge_tui.core.jcs import parse_canonical
from forge_tui.core.records import ZERO_HASH
from forge_tui.errors import CanonicalError

DIGITS = sys.get_int_max_str_digits() + 10 if hasattr(sys, "get_int_max_str_digits") else 5000
HUGE = b"9" * DIGITS


def test_parse_canonical_refuses_an_overlong_integer_with_canonical_error() -> None:
    with pytest.raises(CanonicalError):
        parse_canonical(b'{"a":' + HUGE + b"}")


def _line(tail: bytes) -> bytes:
    return (
        b'{"body":{"n":' + HUGE + b',"text":"x"},"kid":"k","log":"l","prev":"' + b"0" * 64 + b'","seq":0,'
        b'"sig":"' + b"A" * 86 + b'==","ts":"2026-11-25T14:00:00.000Z",' + tail
    )


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


def test_policy_explain_refuses_an_overlong_integer_as_usage(project, run_cli) -> None:
    action = '{"kind":"shell.exec","command":"pytest","n":' + HUGE.decode() + "}"
    code, _, err = run_cli("policy", "explain", "--action", action)
    assert code == 2 and "--action is not valid JSON" in err


def test_verify_export_refuses_an_overlong_integer_as_usage(project, run_cli, tmp_path) -> None:
    bundle = tmp_path / "b.json"
    bundle.write_text('{"n":' + HUGE.decode() + "}\n")
    code, _, err = run_cli("verify-export", str(bundle))
    assert code == 2 and "is not JSON" in err
