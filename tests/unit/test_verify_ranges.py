"""verify splits a ledger into byte ranges that worker processes check on their own (forge_tui.core.
verify_chunk): the report must not depend on where the ranges fall, and each shortcut a worker takes
must agree with the line-by-line reference it replaces. A disagreement would let a broken chain, a
misshapen record or a wrong Merkle root pass, or blame the wrong record."""

from __future__ import annotations

import base64
import hashlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forge_tui.core import verify as V
from forge_tui.core import verify_chunk as C
from forge_tui.core import verify_ranges as R
from forge_tui.core.ledger import LedgerWriter
from forge_tui.core.merkle import PerfectLevels, leaf_hash, root_from_leaves, subtree_runs
from forge_tui.core.note import NoteError
from forge_tui.core.records import ZERO_HASH, check_shape
from forge_tui.errors import CanonicalError

TS0 = 1_830_000_000_000


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 200), st.lists(st.integers(1, 40), min_size=1, max_size=30))
def test_prefix_roots_from_ranges_equal_the_reference(n, cuts):
    """Every prefix root, with the leaves handed over in ranges of any sizes, is RFC 6962's."""
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]
    tree = PerfectLevels()
    pos, i = 0, 0
    while pos < n:
        size = cuts[i % len(cuts)]
        tree.extend(subtree_runs(pos, b"".join(leaves[pos : pos + size])))
        pos, i = min(n, pos + size), i + 1
    assert tree.size == n
    for k in range(n + 1):
        assert tree.root(k) == root_from_leaves(leaves[:k]), k


def _ledger_lines(project, count: int = 12) -> list[bytes]:
    with LedgerWriter.open(project, clock=lambda: TS0) as w:
        for i in range(count):
            w.append([("note", {"text": f"n{i}", "n": i})])
    path = project.tracked_ledger(project.ledger_ids()[0])
    return path.read_bytes().split(b"\n")[:-1]


MUTATIONS = [b'"prev":"', b'","seq":', b",", b"0", b"1", b"a", b'"', b"\\", b" ", b"9" * 3, b"-"]


def _mutate(rng: random.Random, lines: list[bytes]) -> list[bytes]:
    lines = list(lines)
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(lines))
        op = rng.random()
        line = bytearray(lines[i])
        if op < 0.15:
            del lines[i]
            continue
        if op < 0.25:
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
            continue
        k = rng.randrange(len(line) + 1)
        if op < 0.6:
            line[k:k] = rng.choice(MUTATIONS)
        elif op < 0.8 and k < len(line):
            del line[k : k + rng.randint(1, 9)]
        elif k < len(line):
            line[k] ^= 1 << rng.randrange(8)
        lines[i] = bytes(line)
    return [x for x in lines if b"\n" not in x]


@pytest.mark.parametrize("seed", range(4))
def test_chain_check_all_at_once_agrees_with_line_by_line(project, seed):
    """`_chain_holds` (all lines at once) says "no finding" exactly when `_chain_findings` (one line at
    a time, the wording of every finding) finds none, on intact and damaged lines alike."""
    lines = _ledger_lines(project)
    rng = random.Random(seed)
    for trial in range(400):
        got = lines if trial == 0 else _mutate(rng, lines)
        first = rng.choice([0, 0, 1, 5]) if trial else 0
        prev = rng.choice([ZERO_HASH.encode(), hashlib.sha256(got[0]).hexdigest().encode()])
        if not trial:
            prev = ZERO_HASH.encode()
        start = rng.randrange(len(got)) if trial else 0
        part = got[start:]
        leaves = b"".join(leaf_hash(x) for x in part)
        slow = C._chain_findings(part, leaves, first, prev)
        assert C._chain_holds(part, leaves, first, prev) == (not slow), (part, first, prev, slow)
    assert C._chain_holds(lines, b"".join(leaf_hash(x) for x in lines), 0, ZERO_HASH.encode())


SIG = base64.b64encode(bytes(range(64))).decode()
GOOD = {
    "v": 1,
    "log": "forge-tui.local/p/l",
    "seq": 3,
    "ts": "2026-11-25T14:00:00.000Z",
    "type": "note",
    "prev": "ab" * 32,
    "kid": "forge-tui.local/p/l+01020304",
    "body": {"text": "x"},
    "sig": SIG,
}
ODD_VALUES = [
    None,
    True,
    0,
    1,
    -1,
    "",
    "x",
    [],
    {},
    1.5,
    "2026-11-25T14:00:00.000Z\n",
    "AB" * 32,
    SIG[:-2] + "==",
    SIG[:-3] + "B==",
    SIG + "\n",
    " " + SIG[1:],
    SIG.replace("A", "-"),
    "request",
    "reviewer",
    {"request_id": 1},
]


@settings(max_examples=400, deadline=None)
@given(
    st.dictionaries(st.sampled_from([*GOOD, "extra"]), st.sampled_from(ODD_VALUES), max_size=3),
    st.sets(st.sampled_from(list(GOOD)), max_size=2),
)
def test_quick_shape_check_passes_only_what_check_shape_passes(changes, dropped):
    rec = {**GOOD, **changes}
    for k in dropped:
        rec.pop(k, None)
    got = C._shape_sig(rec)
    try:
        check_shape(rec)
        want = base64.b64decode(rec["sig"])
    except (CanonicalError, NoteError):
        want = None
    if got is not None:  # the quick check may send a good record to the full one, never the reverse
        assert got == want, rec
    if not changes and not dropped:
        assert got == want == bytes(range(64))


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.integers(0, 30), min_size=1, max_size=120),
    st.sampled_from([1, 2, 8]),
    st.integers(1, 200),
    st.integers(1, 80),
)
def test_ranges_cover_the_lines_and_shrink_toward_the_end(widths, parts, chunk, tail):
    """byte_bounds hands out every complete line once, in order, each range whole lines; with several
    parts the last ranges are no bigger than the tail size (and a line), so no worker is left with a
    whole big range at the end."""
    data = b"".join(b"x" * w + b"\n" for w in widths) + b"torn"
    complete = len(data) - 4
    old = R.CHUNK_BYTES, R.TAIL_BYTES
    R.CHUNK_BYTES, R.TAIL_BYTES = chunk, tail
    try:
        bounds = R.byte_bounds(data, complete, parts)
    finally:
        R.CHUNK_BYTES, R.TAIL_BYTES = old
    assert bounds[0][0] == 0 and bounds[-1][1] == complete
    assert all(a < b and data[b - 1 : b] == b"\n" for a, b in bounds)
    assert all(b == a2 for (_a, b), (a2, _b2) in zip(bounds, bounds[1:], strict=False))
    size = max(1, min(chunk, -(-complete // parts)))
    longest = max(widths) + 1
    assert all(b - a <= size + longest for a, b in bounds)
    if parts > 1:  # never growing toward the end (but for a line's slack) ...
        sizes = [b - a for a, b in bounds]
        assert all(later <= earlier + longest for earlier, later in zip(sizes, sizes[1:], strict=False))
        if complete >= 2 * parts * (size + longest):  # ... and, where there is room, small at the end
            assert sizes[-1] <= min(size, tail) + longest


def _tampered(project, unreadable: bool) -> None:
    """A ledger with forensic findings and damaged lines spread over its length; with `unreadable`,
    one whose `seq` cannot be read from its bytes (verify then counts the lines before each range;
    without, it takes each range's position from its first line and must notice where that is wrong)."""
    from forge_tui.core.ledger import LedgerWriter

    with LedgerWriter.open(project, clock=lambda: TS0) as w:
        for i in range(30):
            w.append([("note", {"text": f"n{i}"})])
            if i % 7 == 3:
                body = {"request_id": f"r{i}", "status": "succeeded"}
                w.append([("outcome", body)])  # an outcome no decision allowed
    path = project.tracked_ledger(project.ledger_ids()[0])
    lines = path.read_bytes().split(b"\n")[:-1]
    k = next(i for i in range(5, len(lines)) if b'"text":"n' in lines[i])
    lines[k] = lines[k].replace(b'"text":"n', b'"text":"N')  # edited: the signature breaks
    del lines[12]  # deleted: the chain and seq break
    lines[20], lines[21] = lines[21], lines[20]  # swapped
    lines.insert(26, lines[26])  # duplicated
    lines[30] = lines[30].replace(b'","', b'", "', 1)  # not canonical
    if unreadable:
        lines[33] = lines[33].replace(b'","seq":', b'","seq" :')
    path.write_bytes(b"\n".join(lines) + b"\n")


@pytest.mark.parametrize("unreadable", [False, True])
def test_report_does_not_depend_on_where_the_ranges_fall(project, monkeypatch, unreadable):
    _tampered(project, unreadable)
    kw = {"use_local_state": False, "update_seen": False}
    one = V.verify_project(project, workers=1, **kw).to_json()
    codes = {f["code"] for f in one["findings"]}
    assert {"signature", "chain", "seq", "malformed", "unauthorized_execution"} <= codes, codes
    monkeypatch.setattr(R, "CHUNK_BYTES", 1)  # a range per line
    assert V.verify_project(project, workers=1, **kw).to_json() == one
    assert V.verify_project(project, workers=2, **kw).to_json() == one
    monkeypatch.setattr(R, "FAST_POOL_BYTES", 0)  # --fast on worker processes too
    fast = V.verify_project(project, workers=2, fast=True, **kw).to_json()
    assert {"chain", "seq"} <= {f["code"] for f in fast["findings"]}
    monkeypatch.setattr(R, "CHUNK_BYTES", 4 << 20)
    assert V.verify_project(project, workers=1, fast=True, **kw).to_json() == fast


def test_fast_workers_find_the_trust_records_the_full_scan_finds(project):
    """--fast takes the key, reviewer and policy records from its workers; they must be exactly those
    `rotation.scan_typed_records` finds (the key schedule and the checkpoint checks depend on them)."""
    from forge_tui.core.rotation import scan_typed_records

    with LedgerWriter.open(project, clock=lambda: TS0) as w:
        for i in range(6):
            w.append([("note", {"text": f"n{i}"})])
            w.append([("policy", {"digest": f"{i:064x}", "path": "p", "loaded": True})])
    path = project.tracked_ledger(project.ledger_ids()[0])
    data = path.read_bytes()
    lines = data.split(b"\n")[:-1]
    lines[4] = lines[4].replace(b'"path":"p"', b'"path": "p"')  # a policy record that does not parse
    data = b"\n".join(lines) + b"\n"
    want = scan_typed_records(data, len(data), C.TYPED)
    assert len(want) >= 5 and {r["type"] for r in want} == {"policy"}
    assert C._typed_records(data.split(b"\n")[:-1]) == want
    assert C._typed_records(lines[:3]) + C._typed_records(lines[3:]) == want


def test_the_collector_is_left_as_it_was(project):
    """verify turns the cyclic collector off while it reads (its summaries hold no cycles); a caller's
    process (the console runs verify in a thread) must get it back as it had it."""
    import gc

    assert gc.isenabled()
    V.verify_project(project, workers=1, update_seen=False)
    assert gc.isenabled()
    gc.disable()
    try:
        V.verify_project(project, workers=1, update_seen=False)
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize("workers", [1, 2])
def test_verify_leaves_nothing_for_the_cyclic_collector(project, workers):
    """With the collector off while it reads, whatever verify builds must be freed as soon as it is
    let go: an object cycle (the forensic walk once held itself through a bound method) would keep a
    whole ledger's requests alive until the next full collection, and that collection, walking them
    all, cost the command line a second at 100,000 records."""
    import gc

    _tampered(project, False)
    kw = {"use_local_state": False, "update_seen": False, "workers": workers}
    V.verify_project(project, **kw)  # imports and caches made once, outside the measure
    gc.collect()
    gc.disable()
    try:
        report = V.verify_project(project, **kw)
        assert {f.code.value for f in report.findings} >= {"signature", "unauthorized_execution"}
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_the_reused_buffer_signature_check_agrees_with_pynacl():
    """verify_chunk._SignedOk calls libsodium directly on one reused buffer; it must say yes exactly
    where PyNaCl's own check does: a good signature, a flipped bit, another key, a key of the wrong
    length, and a message longer than the buffer it started with."""
    import nacl.bindings
    import nacl.exceptions
    import nacl.signing

    from forge_tui.core.verify_chunk import _SignedOk

    def pynacl_says(signed: bytes, pk: bytes) -> bool:
        try:
            nacl.bindings.crypto_sign_open(signed, pk)
        except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, TypeError):
            return False
        return True

    key, other = nacl.signing.SigningKey(b"\x01" * 32), nacl.signing.SigningKey(b"\x02" * 32)
    pk, other_pk = bytes(key.verify_key), bytes(other.verify_key)
    ok = _SignedOk()
    cases = []
    for size in (0, 10, 700, (1 << 16) + 5, 1 << 20):
        signed = bytes(key.sign(bytes(range(256)) * (size // 256) + b"x" * (size % 256)))
        flipped = bytearray(signed)
        flipped[len(flipped) // 2] ^= 0x10
        cases += [
            (signed, pk),
            (bytes(flipped), pk),
            (signed, other_pk),
            (signed, pk[:31]),
            (signed[:63], pk),
        ]
    answers = [ok(s, k) for s, k in cases]
    assert answers == [pynacl_says(s, k) for s, k in cases]
    assert answers.count(True) == 5  # each size's good signature, and nothing else
