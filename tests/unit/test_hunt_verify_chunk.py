"""`verify`'s per-range check (forge_tui/core/verify_chunk.py `check_chunk`) with its quick paths on,
against the same check with every quick path off (each line through `parse_canonical`, `check_shape`
and the strict signed message): on a real signed, chained ledger of every record type, two ledger keys
taking turns (so any per-part memory of the last line's fields is exercised), keys with seq ranges, a
foreign log, and random damage to a few lines, both must give the same findings, summaries, times,
chain findings and Merkle runs, in the same order. And `--fast`'s typed records against a plain scan.

Fails if a quick path takes a line the strict path rejects (a finding lost: fail open), words a
finding otherwise, summarises a record otherwise, or carries a field of one line over to the next."""

from __future__ import annotations

import hashlib
import random
from typing import Any

import pytest
from line_mutations import JSON_PIECES

from forge_tui.core import verify_chunk as C
from forge_tui.core.jcs import parse_canonical
from forge_tui.core.note import Signer
from forge_tui.core.records import ZERO_HASH, build_record
from forge_tui.errors import CanonicalError

LOG = "forge-tui.local/p/l"
A = Signer.generate(LOG)
B = Signer.generate(LOG)
STRANGER = Signer.generate("forge-tui.local/other")
VKEYS = [(A.verifier.vkey, 0, 40), (B.verifier.vkey, 6, None)]

BODIES: list[tuple[str, dict[str, Any]]] = [
    ("genesis", {"project_id": "p", "ledger_id": "l", "vkey": A.verifier.vkey}),
    (
        "request",
        {
            "request_id": "r1",
            "actor": {"id": "a", "kind": "agent", "session": "s\u00e9ance"},
            "action": {"kind": "shell.exec", "command": 'echo "x" \\ y', "paths": ["a", "b"]},
            "client": "c",
            "principal": "p",
            "process": {"pid": 1, "uid": 0, "sandboxed": False},
            "requirement": None,
        },
    ),
    (
        "decision",
        {
            "request_id": "r1",
            "request_hash": "ab" * 32,
            "status": "allowed",
            "decided_by": "policy",
            "rule": "tests",
            "reason": "r",
            "policy_digest": "cd" * 32,
            "approvals_needed": 0,
            "distinct_from": ["requester", 3],
            "rules": ["tests", "x"],
        },
    ),
    ("outcome", {"request_id": "r1", "status": "succeeded", "commit": None, "input_digest": "x"}),
    (
        "approval",
        {"approval": {"reviewer": "ren", "request_id": "r1"}, "reviewer_kid": "k", "reviewer_sig": "s"},
    ),
    ("policy", {"digest": "ef" * 32, "path": ".forge/policy.toml", "error": None}),
    ("key", {"action": "add", "vkey": B.verifier.vkey, "from_seq": 6}),
    ("reviewer", {"action": "enrol", "name": "ren", "vkey": "v", "from_seq": 3}),
    ("violation", {"kind": "k", "detail": "d", "request_id": "r1"}),
    ("note", {"kind": "clock", "text": "t", "previous_ts": "2026-11-25T14:00:00.000Z"}),
    ("note", {"text": 'plain, with "quotes", a [bracket] and {brace}', "n": [1, -2, 2**53 - 1]}),
    ("recovery", {"torn_bytes": 3, "torn_sha256": "00" * 32}),
    ("request", {"request_id": "r2", "actor": "not an object", "action": [], "client": "c", "process": 1}),
]


def _ledger(n: int = 48) -> list[bytes]:
    lines, prev = [], ZERO_HASH
    for seq in range(n):
        t, body = BODIES[seq % len(BODIES)]
        signer = (A, B, B, A, STRANGER)[seq % 5] if seq else A
        log = LOG if seq % 17 != 9 else "forge-tui.local/elsewhere"
        ts = f"2026-11-25T14:{seq // 60:02d}:{seq % 60:02d}.{(seq * 7) % 1000:03d}Z"
        if seq == 20:
            ts = "2026-11-25T13:00:00.000Z"  # backwards in time
        _, line = build_record(log=log, seq=seq, ts=ts, type_=t, prev=prev, signer=signer, body=body)
        lines.append(line)
        prev = hashlib.sha256(b"\x00" + line).hexdigest()
    return lines


LEDGER = _ledger()
PIECES = [
    *JSON_PIECES,
    b',"kid":"',
    b'","log":"',
    b'","prev":"',
    b'"seq":',
    b',"sig":"',
    b"==",
    b"A",
    b"Q",
    b"f",
    b"F",
    b"\\n",
    b'\\"',
    b'"body":{},',
    b'"type":"note",',
    b"99999999999999999",
]


def mutations(rng: random.Random, base: bytes, n: int, pieces: list[bytes], edits: int = 2):
    """`n` damaged copies of `base`: 1 to `edits` insertions, deletions or replacements, half of them
    next to a structural byte (where a blank or a stray token still parses)."""
    marks = [i for i, b in enumerate(base) if b in b',:{}[]"']
    for _ in range(n):
        line = bytearray(base)
        for _ in range(rng.randint(1, edits)):
            if marks and rng.random() < 0.5:
                i = min(rng.choice(marks) + rng.choice((0, 1)), len(line))
            else:
                i = rng.randrange(len(line) + 1)
            op = rng.random()
            if op < 0.45:
                line[i:i] = rng.choice(pieces)
            elif op < 0.7 and i < len(line):
                del line[i : i + rng.randint(1, 3)]
            elif i < len(line):
                line[i : i + 1] = rng.choice(pieces)
        yield bytes(line)


def _strict(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every quick path off: each line through parse_canonical and check_shape."""
    for name in ("_plain_record", "_quick_record"):
        if hasattr(C, name):
            monkeypatch.setattr(C, name, lambda *a, **k: None)
    monkeypatch.setattr(C, "_parse_line", parse_canonical)
    monkeypatch.setattr(C, "_shape_sig", lambda rec: None)


def _result(path, lines: list[bytes], fast: bool) -> dict[str, Any]:
    data = b"".join(x + b"\n" for x in lines)
    path.write_bytes(data)
    r = C.check_chunk(str(path), 0, len(data), 0, ZERO_HASH.encode(), LOG, VKEYS, fast, None)
    return {
        "count": r.count,
        "runs": r.runs,
        "chain": r.chain,
        "findings": r.findings,
        "seqs": r.seqs,
        "kinds": bytes(r.kinds),
        "rows": r.rows,
        "first_ts": r.first_ts,
        "last_ts": r.last_ts,
        "backwards": r.backwards,
        "typed": r.typed,
    }


def _both(tmp_path, monkeypatch, lines: list[bytes], fast: bool = False) -> tuple[dict, dict]:
    quick = _result(tmp_path / "q.jsonl", lines, fast)
    with monkeypatch.context() as m:
        _strict(m)
        strict = _result(tmp_path / "s.jsonl", lines, fast)
    return quick, strict


def test_the_intact_ledger_reads_the_same_both_ways(tmp_path, monkeypatch):
    quick, strict = _both(tmp_path, monkeypatch, LEDGER)
    assert quick == strict
    codes = {c for _, c, _ in quick["findings"]}
    # the ledger shows what it is built to show (else the comparison would see little)
    assert {"log", "unknown_key"} <= {str(c) for c in codes}, codes
    assert quick["backwards"] and len(quick["seqs"]) > 30
    assert not quick["chain"]


@pytest.mark.parametrize("seed", range(24))
def test_damaged_lines_read_the_same_both_ways(tmp_path, monkeypatch, seed):
    rng = random.Random(seed)
    lines = list(LEDGER)
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(lines))
        lines[i] = next(mutations(rng, lines[i], 1, PIECES, edits=3))
    quick, strict = _both(tmp_path, monkeypatch, lines)
    assert quick == strict


@pytest.mark.parametrize("seed", range(8))
def test_many_damaged_copies_of_each_line_read_the_same_both_ways(tmp_path, monkeypatch, seed):
    """Every line of the ledger, damaged 16 ways, all in one range (each copy between intact lines of
    the other key, so a quick path's memory of the line before is tried against each damage)."""
    rng = random.Random(1000 + seed)
    lines: list[bytes] = []
    for k, base in enumerate(LEDGER):
        if k % 8 != seed:
            continue
        for bad in mutations(rng, base, 16, PIECES, edits=2):
            lines += [LEDGER[(k + 1) % len(LEDGER)], bad]
    quick, strict = _both(tmp_path, monkeypatch, lines)
    assert quick == strict


def _typed_reference(lines: list[bytes]) -> list[dict]:
    out = []
    for line in lines:
        try:
            rec = parse_canonical(line)
        except CanonicalError:
            continue
        if rec.get("type") in C.TYPED:
            out.append(rec)
    return out


@pytest.mark.parametrize("seed", range(8))
def test_fast_typed_records_are_a_plain_scans(tmp_path, monkeypatch, seed):
    """verify --fast keeps the key, reviewer and policy records (for the key schedule and the trust
    chain): every one that parses, none other, in order, damaged or not."""
    rng = random.Random(2000 + seed)
    lines = list(LEDGER)
    for _ in range(4):
        i = rng.randrange(len(lines))
        lines[i] = next(mutations(rng, lines[i], 1, PIECES, edits=2))
    quick, strict = _both(tmp_path, monkeypatch, lines, fast=True)
    assert quick == strict
    assert quick["typed"] == _typed_reference(lines)
