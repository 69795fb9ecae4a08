"""`verify_chunk._check_records` with its quick path must give exactly the findings and the summaries it
gives with every line on the strict path (the reference): on a real, signed ledger holding every record
type, intact and with random damage to single lines (bytes, field order, escapes, non-ASCII, duplicate
keys, numbers such as 1.0, 1e3 and -0, other keys), each damaged line checked where it stands."""

from __future__ import annotations

import random

import pytest
from line_mutations import JSON_PIECES, mutations

from forge_tui.core import verify_chunk as C
from forge_tui.core.ledger import LedgerWriter
from forge_tui.core.records import REQUIRED_BODY

TS0 = 1_830_000_000_000
PIECES = [*JSON_PIECES, b',"kid":"', b'"prev":"', b'","log":"', b"1e3", b"\\/", b"\\u002f", b"A", b"f", b"Z"]


def _bodies() -> list[tuple[str, dict]]:
    """A body of every record type the writer takes, shaped as the daemon writes them, and odd ones."""
    action = {"kind": "shell.exec", "command": "ls -l", "paths": [], "tool": "Bash", "input_digest": None}
    out = [
        (
            "request",
            {
                "request_id": "r1",
                "actor": {"id": "a", "kind": "agent", "session": "s"},
                "action": action,
                "client": "hook",
                "principal": "dev",
                "process": {"pid": 7},
            },
        ),
        (
            "decision",
            {
                "request_id": "r1",
                "request_hash": "ab" * 32,
                "status": "allowed",
                "decided_by": "policy",
                "rule": "allow-ls",
                "reason": "ok",
                "policy_digest": "cd" * 32,
                "rules": ["allow-ls", 3],
            },
        ),
        (
            "approval",
            {
                "approval": {"request_id": "r1", "reviewer": "alice", "verdict": "approve"},
                "reviewer_kid": "k",
                "reviewer_sig": "x",
            },
        ),
        ("outcome", {"request_id": "r1", "status": "succeeded", "input_digest": "sha256:00"}),
        ("note", {"kind": "clock", "previous_ts": "2028-01-01T00:00:00.000Z", "text": "clock"}),
        ("note", {"text": 'é and \U0001f600, \\ " \n', "n": [-1, 0, 9007199254740991]}),
        ("violation", {"kind": "bypass", "detail": "x", "request_id": "r2"}),
    ]
    used = {t for t, _b in out}
    for t, fields in REQUIRED_BODY.items():
        if t not in used and t not in ("genesis", "key", "reviewer", "policy", "recovery"):
            out.append((t, {f: f"{f}-v" for f in fields}))
    return out


@pytest.fixture
def signed_lines(project):
    """(lines, vkeys, origin) of a ledger holding every kind of body, each a few times."""
    bodies = _bodies()
    with LedgerWriter.open(project, clock=lambda: TS0) as w:
        for i in range(3):
            w.append([(t, dict(b, n2=i)) for t, b in bodies])
    lid = project.ledger_ids()[0]
    lines = project.tracked_ledger(lid).read_bytes().split(b"\n")[:-1]
    vkeys = [v.vkey for v in project.ledger_verifiers(lid)]
    return lines, vkeys, project.origin(lid)


def _check(lines, vkeys, origin, reviewers, quick: bool, monkeypatch) -> C.ChunkResult:
    with monkeypatch.context() as m:
        if not quick:
            m.setattr(C, "_quick_record", lambda line, seen: None)
        res = C.ChunkResult(0, 0, [], [])
        leaves = b"".join(bytes([i % 256]) * 32 for i in range(len(lines)))
        C._check_records(lines, leaves, 0, res, origin, C._key_ranges(vkeys), reviewers)
    return res


def _same(a: C.ChunkResult, b: C.ChunkResult) -> None:
    assert a.findings == b.findings
    assert (a.seqs, bytes(a.kinds), a.rows) == (b.seqs, bytes(b.kinds), b.rows)
    assert (a.first_ts, a.last_ts, a.backwards) == (b.first_ts, b.last_ts, b.backwards)
    assert a.summaries() == b.summaries()


def test_the_intact_ledger_takes_the_quick_path_and_finds_nothing(signed_lines, monkeypatch):
    lines, vkeys, origin = signed_lines
    taken = []
    real = C._quick_record
    monkeypatch.setattr(C, "_quick_record", lambda line, seen: taken.append(real(line, seen)) or taken[-1])
    res = _check(lines, vkeys, origin, {}, True, monkeypatch)
    assert res.findings == []
    ascii_lines = sum(line.isascii() for line in lines)
    assert sum(t is not None for t in taken) >= ascii_lines - 5  # genesis and the like may decline
    monkeypatch.setattr(C, "_quick_record", real)
    _same(res, _check(lines, vkeys, origin, {}, False, monkeypatch))


@pytest.mark.parametrize("seed", range(3))
def test_damaged_lines_get_the_findings_of_the_strict_path(signed_lines, monkeypatch, seed):
    lines, vkeys, origin = signed_lines
    rng = random.Random(seed)
    for _ in range(40):
        damaged = list(lines)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(1, len(lines))
            damaged[i] = next(mutations(rng, damaged[i], 1, PIECES, edits=3))
        for reviewers in (None, {}):
            _same(
                _check(damaged, vkeys, origin, reviewers, True, monkeypatch),
                _check(damaged, vkeys, origin, reviewers, False, monkeypatch),
            )


def test_reordered_fields_and_other_keys_get_the_strict_findings(signed_lines, monkeypatch):
    lines, vkeys, origin = signed_lines
    swaps = [
        (b',"kid":"', b',"kid" :"'),
        (b'"ts":"', b'"ts":"\\u0032'),
        (b',"v":1}', b',"v":1,"v":1}'),
        (b'{"body":{', b'{"v":1,"body":{'),
        (b'"seq":', b'"seq":-'),
        (b'"seq":', b'"seq":0'),
    ]
    for old, new in swaps:
        damaged = [line.replace(old, new, 1) if i % 2 else line for i, line in enumerate(lines)]
        quick = _check(damaged, vkeys, origin, {}, True, monkeypatch)
        _same(quick, _check(damaged, vkeys, origin, {}, False, monkeypatch))
        assert quick.findings, old
    # Signed by a key outside its range (premature, retired), by no trusted key, in another log.
    for keys, log in (([(vkeys[0], 5, 10)], origin), ([], origin), (vkeys, "forge-tui.local/x/y")):
        quick = _check(lines, keys, log, {}, True, monkeypatch)
        _same(quick, _check(lines, keys, log, {}, False, monkeypatch))
        assert quick.findings
