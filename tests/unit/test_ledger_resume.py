"""Opening a ledger from the saved compact Merkle range (core/resume.py, docs/design.md §4.6).

The writer resumes from `<id>.range` (the RFC 6962 frontier of the signed tree and where it ends) and
scans only what follows. Each test compares what a resumed open ends with — size, root, last leaf, the
records it then appends — against a full rebuild of the same file, and checks that a missing, stale or
corrupt range is never trusted: the writer says so and hashes everything.
"""

from __future__ import annotations

import json
import random

import pytest

from forge_tui.core import ledger as ledger_mod
from forge_tui.core.jcs import parse_canonical
from forge_tui.core.ledger import LedgerWriter, authoritative_dir
from forge_tui.core.merkle import CompactTree, leaf_hash, root_from_leaves
from forge_tui.core.resume import SavedRange, load_range
from forge_tui.core.trust import read_ledger_records
from forge_tui.core.verify import verify_project


@pytest.fixture
def files(project):
    lid = project.local_ledger_id()
    folder = authoritative_dir(project)
    return folder / f"{lid}.jsonl", folder / f"{lid}.range", folder / f"{lid}.checkpoint"


@pytest.fixture
def scans(monkeypatch):
    """The byte offsets the writer's scans start at (a resumed open starts where the range ends)."""
    starts: list[int] = []
    real = ledger_mod.iter_file_lines

    def spy(fd, start, end, **kw):
        starts.append(start)
        return real(fd, start, end, **kw)

    monkeypatch.setattr(ledger_mod, "iter_file_lines", spy)
    return starts


def full_rebuild(path) -> tuple[int, bytes, str]:
    """(size, root, last leaf hex) of every complete line of the file, hashed from the start."""
    data = path.read_bytes()
    lines = data[: data.rfind(b"\n")].split(b"\n") if b"\n" in data else []
    leaves = [leaf_hash(x) for x in lines]
    return len(leaves), root_from_leaves(leaves), leaves[-1].hex()


def state(w: LedgerWriter) -> tuple[int, bytes, str]:
    return w.size, w.root(), w.last_leaf


def notes(w: LedgerWriter, n: int, tag: str = "n", **kw) -> None:
    w.append([("note", {"text": f"{tag}{i}"}) for i in range(n)], **kw)


def test_a_resumed_open_matches_a_full_rebuild_and_reads_only_the_tail(project, files, scans):
    auth, rng, _cp = files
    with LedgerWriter.open(project) as w:
        notes(w, 40)
    saved = load_range(rng, project.origin(project.local_ledger_id()))
    assert saved is not None and saved.size == 41 and saved.offset == auth.stat().st_size
    assert len(saved.frontier) == bin(41).count("1")
    scans.clear()
    with LedgerWriter.open(project) as w:
        assert w.resumed and not w.warnings
        assert state(w) == full_rebuild(auth)
        notes(w, 3)  # and it goes on from there: the chain and the checkpoint still verify
    assert scans == [saved.offset]  # nothing before the range's end was read by the scan
    with LedgerWriter.open(project, rehash=True) as w:
        assert not w.resumed and state(w) == full_rebuild(auth)
    assert verify_project(project, workers=1).exit_code() == 0


def test_resume_after_a_torn_tail_past_the_checkpoint(project, files):
    """The ledger cut mid-line after the signed records: the tail is set aside, a recovery record
    written, and the root is the full rebuild's."""
    auth, rng, _cp = files
    with LedgerWriter.open(project) as w:
        notes(w, 10)
        notes(w, 5, "unsigned", checkpoint=False)  # durable, not yet covered by a checkpoint
    data = auth.read_bytes()
    cut = data.rfind(b"\n", 0, len(data) - 1) + 1 + 30  # 30 bytes into the last line
    auth.write_bytes(data[:cut])
    with LedgerWriter.open(project) as w:
        assert w.resumed and w.recovered is not None
        assert state(w) == full_rebuild(auth)
        last = parse_canonical(auth.read_bytes().rstrip(b"\n").rsplit(b"\n", 1)[-1])
        assert last["type"] == "recovery" and last["body"]["torn_bytes"] == 30
    with LedgerWriter.open(project) as w:
        assert w.resumed and state(w) == full_rebuild(auth)
    assert verify_project(project, workers=1).exit_code() == 0


def test_a_stale_range_resumes_and_scans_the_rest(project, files, scans):
    auth, rng, _cp = files
    with LedgerWriter.open(project) as w:
        notes(w, 7)
    old = rng.read_bytes()
    old_offset = auth.stat().st_size
    with LedgerWriter.open(project) as w:
        for _ in range(5):
            notes(w, 3)
    rng.write_bytes(old)  # an older range (its write after the last checkpoint was lost)
    scans.clear()
    with LedgerWriter.open(project) as w:
        assert w.resumed and not w.warnings
        assert state(w) == full_rebuild(auth)
    assert scans == [old_offset]
    assert load_range(rng, project.origin(project.local_ledger_id())).size == full_rebuild(auth)[0]


def _resave(rng, origin: str, change) -> None:
    """Rewrite the range with a consistent checksum after `change(saved)`: only the checks against
    the ledger and the signed checkpoint can refuse it."""
    saved = SavedRange.decode(rng.read_bytes(), origin)
    change(saved)
    rng.write_bytes(saved.encode(origin))


def _flip_hex(rng, key: bytes) -> None:
    """Change one hex digit after `key` in the file, leaving its checksum as it was."""
    data = bytearray(rng.read_bytes())
    at = data.index(key) + len(key)
    data[at] = ord("0") if data[at] != ord("0") else ord("1")
    rng.write_bytes(bytes(data))


def _other_leaf(saved):
    saved.frontier[-1] = bytes(32)


def _wrong_last_leaf(saved):
    saved.last_leaf = leaf_hash(b"another record")


def _short_offset(saved):
    saved.offset -= 1


def _lying_size(saved):
    # One leaf fewer with the same hashes cannot pass the hash count; a frontier of a smaller tree does.
    t = CompactTree()
    for i in range(saved.size - 1):
        t.append(leaf_hash(b"%d" % i))
    saved.size, saved.frontier = t.size, t.frontier()


def _bad_trust_offset(saved):
    saved.watch.trust.append((0, bytes(32)))


@pytest.mark.parametrize(
    "damage, says",
    [
        (lambda rng, o: rng.unlink(), "missing"),
        (lambda rng, o: rng.write_bytes(b""), "ignored"),
        (lambda rng, o: _flip_hex(rng, b'"last_leaf":"'), "checksum"),
        (lambda rng, o: rng.write_bytes(rng.read_bytes()[:-40]), "ignored"),
        (lambda rng, o: _resave(rng, o, _other_leaf), "root is not the signed"),
        (lambda rng, o: _resave(rng, o, _wrong_last_leaf), "not the one it names"),
        (lambda rng, o: _resave(rng, o, _short_offset), "does not end a line"),
        (lambda rng, o: _resave(rng, o, _lying_size), "failed"),
        (lambda rng, o: _resave(rng, o, _bad_trust_offset), "is not in the ledger"),
    ],
    ids=["missing", "empty", "checksum", "torn", "frontier", "last-leaf", "offset", "size", "trust"],
)
def test_a_missing_or_corrupt_range_falls_back_to_a_full_rebuild_loudly(project, files, scans, damage, says):
    auth, rng, _cp = files
    with LedgerWriter.open(project) as w:
        notes(w, 12)
        notes(w, 2, "tail", checkpoint=False)
    damage(rng, project.origin(project.local_ledger_id()))
    scans.clear()
    with LedgerWriter.open(project) as w:
        assert not w.resumed
        assert any(says in x and "rebuilding" in x for x in w.warnings), w.warnings
        assert state(w) == full_rebuild(auth)
    assert 0 in scans  # the whole file was hashed
    with LedgerWriter.open(project) as w:  # and the range was rewritten: the next open resumes
        assert w.resumed and not w.warnings
    assert verify_project(project, workers=1).exit_code() == 0


def test_a_range_newer_than_the_signed_checkpoint_is_not_used(project, files):
    auth, rng, cp = files
    with LedgerWriter.open(project) as w:
        notes(w, 4)
    old_cp = cp.read_bytes()
    with LedgerWriter.open(project) as w:
        notes(w, 4)
    cp.write_bytes(old_cp)
    project.tracked_checkpoint(project.local_ledger_id()).write_bytes(old_cp)
    with LedgerWriter.open(project) as w:
        assert not w.resumed and any("more than the signed checkpoint" in x for x in w.warnings)
        assert state(w) == full_rebuild(auth)


def test_resume_across_many_checkpoints_and_restarts(project, files):
    """Random batches, some left unsigned, across 30 restarts: every open resumes to the full root."""
    auth, _rng, _cp = files
    rnd = random.Random(11)
    for round_ in range(30):
        with LedgerWriter.open(project) as w:
            assert w.resumed, (round_, w.warnings)
            assert state(w) == full_rebuild(auth)
            for _ in range(rnd.randint(1, 4)):
                notes(w, rnd.randint(1, 9), f"r{round_}-", checkpoint=rnd.random() < 0.7)
    assert verify_project(project, workers=1).exit_code() == 0


def test_pending_requests_and_trust_records_survive_a_resume(project, files):
    """What opening learns from the lines before the range's end — a request still pending (closed on
    open), the reviewer and policy records — comes from the range without reading those lines."""
    auth, _rng, _cp = files
    policy = {
        "event": "loaded",
        "digest": "ab" * 32,
        "path": ".forge/policy.toml",
        "loaded": True,
        "rules": 1,
    }
    pending = {
        "request_id": "req-1",
        "request_hash": "00" * 32,
        "status": "pending",
        "decided_by": "policy",
        "rule": "ask-all",
        "reason": "r",
        "policy_digest": "ab" * 32,
        "approvals_needed": 1,
        "distinct_from": ["requester"],
    }
    with LedgerWriter.open(project) as w:
        w.append([("policy", policy), ("decision", pending)])
        notes(w, 5)
        w.append([("policy", {**policy, "digest": "cd" * 32})])
        notes(w, 5)
    with LedgerWriter.open(project) as w:
        assert w.resumed
        closing = parse_canonical(auth.read_bytes().rstrip(b"\n").rsplit(b"\n", 1)[-1])
        assert closing["type"] == "decision"
        assert closing["body"]["request_id"] == "req-1" and closing["body"]["decided_by"] == "fallback"
        want = [r for r in read_ledger_records(auth) if r[1] in ("policy", "reviewer")]
        assert [r for r in w.trust_records() if r[1] in ("policy", "reviewer")] == want
        assert [r[2]["digest"] for r in want if r[1] == "policy"][-2:] == ["ab" * 32, "cd" * 32]
    with LedgerWriter.open(project) as w:  # closed once: no second closing decision
        assert w.resumed
        body = json.loads(auth.read_bytes().rstrip(b"\n").rsplit(b"\n", 1)[-1])["body"]
        assert body.get("request_id") == "req-1"


def test_resume_across_a_key_rotation(project, files):
    """The key record, the double-signed checkpoints of the overlap and the new key alone after it: each
    open resumes from the range to the full rebuild's root, and the ledger verifies."""
    from forge_tui.core.keyrotate import rotate

    auth, _rng, _cp = files
    with LedgerWriter.open(project) as w:
        notes(w, 6)
    rot = rotate(project, overlap=3)
    for round_ in range(4):  # inside the overlap (double-signed checkpoints), then past it
        with LedgerWriter.open(project) as w:
            assert w.resumed and not w.warnings, w.warnings
            assert state(w) == full_rebuild(auth)
            assert w.signer.kid == rot.new_kid
            assert [r[1] for r in w.trust_records()].count("key") == 1
            notes(w, 2, f"after rotation {round_}-")
    with LedgerWriter.open(project, rehash=True) as w:
        assert state(w) == full_rebuild(auth)
    assert verify_project(project, workers=1).exit_code() == 0
