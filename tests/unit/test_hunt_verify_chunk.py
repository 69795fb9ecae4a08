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


# ---- the summaries against the summary rows as they were built before (771c328) ----------------------

SUMMARY_FIELDS = [
    "request_id",
    "actor",
    "action",
    "process",
    "principal",
    "requirement",
    "status",
    "commit",
    "tool_use_id",
    "input_digest",
    "request_hash",
    "decided_by",
    "rule",
    "policy_digest",
    "approvals_needed",
    "distinct_from",
    "rules",
    "approval",
    "reviewer_kid",
    "reviewer_sig",
    "digest",
    "error",
    "path",
    "vkey",
    "from_seq",
    "name",
    "kind",
    "detail",
    "previous_ts",
]
POOL: list[Any] = [
    None,
    True,
    False,
    0,
    -5,
    2**53 - 1,
    "s",
    "caf\u00e9",
    "clock",
    [],
    ["a", "b"],
    ["a", 1, None, "b"],
    [["x"]],
    {},
    {"id": "i", "kind": "agent", "session": "s"},
    {"id": 3, "sandboxed": True},
    {"sandboxed": "yes", "reviewer": "ren"},
    {"kind": "shell.exec", "command": "ls"},
]


def _old_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _old_strs(value: Any) -> tuple[str, ...]:
    return tuple(x for x in value if isinstance(x, str)) if isinstance(value, list) else ()


def _old_summary_row(t: str, b: dict[str, Any], ts: str, leaf: str) -> tuple[int, tuple] | None:
    """summaries.summary_row at 771c328 (with the leaf put in as check_chunk put it), verbatim."""
    from forge_tui.core import summaries as S

    if t == "request":
        actor = _old_dict(b.get("actor"))
        return S.REQUEST, (
            ts,
            b.get("request_id"),
            actor.get("id"),
            actor.get("kind"),
            b.get("principal"),
            actor.get("session"),
            leaf,
            _old_dict(b.get("action")),
            b.get("requirement"),
            _old_dict(b.get("process")).get("sandboxed"),
        )
    if t == "decision":
        return S.DECISION, (
            ts,
            b.get("request_id"),
            b.get("request_hash"),
            b.get("status"),
            b.get("decided_by"),
            b.get("rule"),
            b.get("policy_digest"),
            b.get("approvals_needed"),
            _old_strs(b.get("distinct_from")),
            _old_strs(b.get("rules")),
        )
    if t == "approval":
        appr = b.get("approval")
        return S.APPROVAL, (
            ts,
            appr if isinstance(appr, dict) else None,
            b.get("reviewer_kid"),
            b.get("reviewer_sig"),
            False,
            None,
        )
    if t == "outcome":
        return S.OUTCOME, (
            ts,
            b.get("request_id"),
            b.get("status"),
            b.get("commit"),
            b.get("tool_use_id"),
            b.get("input_digest"),
        )
    if t == "policy":
        return S.POLICY, (ts, b.get("digest"), b.get("error"), b.get("path"))
    if t in ("key", "reviewer"):
        return S.KEY, (ts, t, b.get("action"), b.get("vkey"), b.get("from_seq"), b.get("name"))
    if t == "genesis":
        return S.GENESIS, (ts, b.get("vkey"))
    if t == "violation":
        return S.VIOLATION, (ts, b.get("kind"), b.get("request_id"), b.get("detail"))
    if t == "note" and b.get("kind") == "clock":
        return S.CLOCK, (ts, b.get("previous_ts"))
    return None


def _odd_ledger(rng: random.Random, n: int) -> list[bytes]:
    from forge_tui.core.records import REQUIRED_BODY

    types = sorted(REQUIRED_BODY)
    lines, prev = [], ZERO_HASH
    for seq in range(n):
        t = rng.choice(types)
        body = {f: rng.choice(POOL) for f in REQUIRED_BODY[t]}
        body.update({f: rng.choice(POOL) for f in SUMMARY_FIELDS if rng.random() < 0.4})
        _, line = build_record(
            log=LOG,
            seq=seq,
            ts=f"2026-11-25T14:00:{seq % 60:02d}.000Z",
            type_=t,
            prev=prev,
            signer=A if seq < 40 else B,
            body=body,
        )
        lines.append(line)
        prev = hashlib.sha256(b"\x00" + line).hexdigest()
    return lines


@pytest.mark.parametrize("seed", range(6))
def test_summaries_are_the_rows_built_before(tmp_path, seed):
    """Fails if a record's summary (what every forensic rule reads) differs from the one the code
    before this session's changes built: a field read from the wrong key, an odd-typed field (an actor
    that is no object, a list of mixed items) read otherwise, the leaf hash misplaced."""
    from forge_tui.core.merkle import leaf_hashes

    rng = random.Random(3000 + seed)
    lines = _odd_ledger(rng, 80)
    r = _result(tmp_path / "o.jsonl", lines, False)
    assert not r["findings"], r["findings"][:3]
    leaves = leaf_hashes(lines)
    reviewers = C._reviewers_or_none(None)
    want_seqs, want_kinds, want_rows = [], [], []
    for i, line in enumerate(lines):
        rec = parse_canonical(line)
        got = _old_summary_row(rec["type"], rec["body"], rec["ts"], leaves[32 * i : 32 * i + 32].hex())
        if got is None:
            continue
        kind, row = got
        if rec["type"] == "approval" and reviewers is not None:
            row = (*row[:4], True, C._approval_sig_error(rec["body"], reviewers, rec["seq"]))
        want_seqs.append(i)
        want_kinds.append(kind)
        want_rows.append(row)
    assert r["seqs"] == want_seqs
    assert r["kinds"] == bytes(want_kinds)
    assert r["rows"] == want_rows
    # same types too (a list where a tuple was, a bool where an int was)
    assert [[type(x) for x in row] for row in r["rows"]] == [[type(x) for x in row] for row in want_rows]
