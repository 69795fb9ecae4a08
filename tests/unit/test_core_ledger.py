"""The ledger writer (docs/design.md §4.6–4.7): single writer, durable batches, atomic checkpoints, recovery of a
torn tail, refusal of a corrupt middle or a lost tail, and the tracked copy beside the authoritative one."""

from __future__ import annotations

import hashlib
import os
import stat

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forge_tui.core.jcs import parse_canonical
from forge_tui.core.ledger import LedgerWriter, append_note, authoritative_dir, read_checkpoint_file
from forge_tui.core.merkle import leaf_hash, root_from_leaves
from forge_tui.core.note import Signer, open_checkpoint
from forge_tui.core.records import ZERO_HASH, parse_ts
from forge_tui.core.verify import verify_project
from forge_tui.errors import LedgerBusy, LedgerCorrupt, LedgerError, LedgerLoss


def lines_of(path) -> list[bytes]:
    data = path.read_bytes()
    assert data.endswith(b"\n")
    return data[:-1].split(b"\n")


def paths(project):
    lid = project.local_ledger_id()
    folder = authoritative_dir(project)
    return (
        lid,
        folder / f"{lid}.jsonl",
        folder / f"{lid}.checkpoint",
        project.tracked_ledger(lid),
        project.tracked_checkpoint(lid),
    )


def notes(w: LedgerWriter, *texts: str):
    return w.append([("note", {"text": t}) for t in texts])


def assert_checkpoint_covers(project, path, cp_path):
    lines = lines_of(path)
    verifiers = project.ledger_verifiers(project.local_ledger_id())
    cp, _ = open_checkpoint(cp_path.read_text(), verifiers)
    assert cp.size == len(lines)
    assert cp.root == root_from_leaves([leaf_hash(x) for x in lines])
    return cp


def assert_verifies(project):
    report = verify_project(project, workers=1)
    assert report.exit_code() == 0, [f.line() for f in report.findings]


# ---- creation -------------------------------------------------------------------------------------


def test_init_writes_a_signed_genesis_outside_the_repo(project):
    lid, auth, auth_cp, tracked, tracked_cp = paths(project)
    assert not auth.is_relative_to(project.root)
    (line,) = lines_of(auth)
    rec = parse_canonical(line)
    assert rec["type"] == "genesis" and rec["seq"] == 0 and rec["prev"] == ZERO_HASH
    assert rec["log"] == project.origin(lid)
    assert rec["body"]["vkey"] == (project.pub_dir / f"{lid}.pub").read_text().strip()
    assert tracked.read_bytes() == auth.read_bytes()
    assert tracked_cp.read_text() == auth_cp.read_text()
    assert_checkpoint_covers(project, auth, auth_cp)
    assert stat.S_IMODE(auth.stat().st_mode) == 0o600
    assert stat.S_IMODE(auth.parent.stat().st_mode) == 0o700


def test_create_refuses_an_existing_ledger(project):
    from forge_tui.core.keys import load_ledger_key

    lid = project.local_ledger_id()
    with pytest.raises(LedgerError, match="already exists"):
        LedgerWriter.create(project, lid, load_ledger_key(lid))


def test_signer_must_be_named_for_the_log(project):
    with pytest.raises(LedgerError, match="expected"):
        LedgerWriter(project, project.local_ledger_id(), Signer.generate("someone.else/log"))


# ---- one writer -----------------------------------------------------------------------------------


def test_single_writer(project):
    with LedgerWriter.open(project) as w:
        with pytest.raises(LedgerBusy):
            LedgerWriter.open(project)
        notes(w, "still mine")
    with LedgerWriter.open(project) as w2:  # released on close
        assert w2.size == 2


def test_single_writer_across_processes(project):
    """The lock is a real flock: a child process cannot take it while we hold it."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from forge_tui.core.project import find_project\n"
        "from forge_tui.core.ledger import LedgerWriter\n"
        "from forge_tui.errors import LedgerBusy\n"
        "try:\n"
        "    LedgerWriter.open(find_project())\n"
        "except LedgerBusy:\n"
        "    sys.exit(7)\n"
    )
    with LedgerWriter.open(project):
        res = subprocess.run([sys.executable, "-c", code], cwd=project.root, timeout=60)
    assert res.returncode == 7
    res = subprocess.run([sys.executable, "-c", code], cwd=project.root, timeout=60)
    assert res.returncode == 0


# ---- appending ------------------------------------------------------------------------------------


def test_batch_is_one_write_one_fdatasync_then_the_checkpoint(project):
    events: list[tuple[str, object]] = []
    real_write, real_sync, real_replace = os.write, os.fdatasync, os.replace
    with LedgerWriter.open(project) as w:
        fd = w._fd

        def write(f, data):
            if f == fd:
                events.append(("write", bytes(data).count(b"\n")))
            return real_write(f, data)

        def fdatasync(f):
            events.append(("fdatasync", f == fd))
            return real_sync(f)

        def replace(src, dst):
            events.append(("replace", os.path.basename(dst)))
            return real_replace(src, dst)

        with pytest.MonkeyPatch.context() as mp:  # its own: undoing it must not undo the fixtures' env
            mp.setattr(os, "write", write)
            mp.setattr(os, "fdatasync", fdatasync)
            mp.setattr(os, "replace", replace)
            out = notes(w, "a", "b", "c")
    lid, auth, auth_cp, *_ = paths(project)
    assert [a.seq for a in out] == [1, 2, 3]
    assert events[0] == ("write", 3)  # the whole batch in one write
    assert events[1] == ("fdatasync", True)  # made durable ...
    assert ("replace", f"{lid}.checkpoint") in events[2:]  # ... before the checkpoint is replaced
    assert events.count(("fdatasync", True)) == 1
    recs = [parse_canonical(x) for x in lines_of(auth)]
    assert len({r["ts"] for r in recs[1:]}) == 1  # one batch, one time stamp
    for prev, rec, line in zip(lines_of(auth), recs[1:], lines_of(auth)[1:], strict=False):
        assert rec["prev"] == leaf_hash(prev).hex()
        assert leaf_hash(line).hex() == out[rec["seq"] - 1].leaf
    assert_checkpoint_covers(project, auth, auth_cp)
    assert_verifies(project)


def test_a_body_may_depend_on_earlier_records_of_its_batch(project):
    with LedgerWriter.open(project) as w:
        out = w.append(
            [
                ("note", {"text": "first"}),
                ("note", lambda prior: {"text": f"after {prior[0].leaf}", "seq_seen": prior[0].seq}),
            ]
        )
    assert out[1].record["body"] == {"text": f"after {out[0].leaf}", "seq_seen": out[0].seq}


def test_empty_batch_writes_nothing(project):
    lid, auth, auth_cp, *_ = paths(project)
    before = auth.read_bytes(), auth_cp.read_bytes()
    with LedgerWriter.open(project) as w:
        assert w.append([]) == []
    assert (auth.read_bytes(), auth_cp.read_bytes()) == before


def test_failed_fdatasync_leaves_no_partial_batch(project):
    lid, auth, auth_cp, tracked, _ = paths(project)
    with LedgerWriter.open(project) as w:
        notes(w, "kept")
        before, cp_before = auth.read_bytes(), auth_cp.read_bytes()

        def fail(fd):
            raise OSError(5, "Input/output error")

        with pytest.MonkeyPatch.context() as mp, pytest.raises(LedgerError, match="write failed"):
            mp.setattr(os, "fdatasync", fail)
            notes(w, "lost 1", "lost 2")
        assert auth.read_bytes() == before  # truncated back
        assert auth_cp.read_bytes() == cp_before
        assert w.size == 2
        assert w.fault and "Input/output error" in w.fault
        with pytest.raises(LedgerError, match="unavailable"):  # denied until healed
            notes(w, "refused while faulty")
        assert w.heal() and w.fault is None
        notes(w, "after the failure")  # the writer works again and the chain continues
    assert [parse_canonical(x)["body"].get("text") for x in lines_of(auth)][1:] == [
        "kept",
        "after the failure",
    ]
    assert tracked.read_bytes() == auth.read_bytes()
    assert_verifies(project)


def test_failed_checkpoint_write_refuses_appends_until_healed(project):
    """A checkpoint that cannot be written after the records are durable: the caller gets its records
    (they are durable, and saying otherwise would contradict the ledger), the writer refuses the next
    appends, and heal() signs the tail once the disk takes writes again."""
    from forge_tui.core.oscalls import OsCalls

    class FullDisk(OsCalls):
        full = True

        def before(self, call, site):
            if self.full and site == "checkpoint":
                raise OSError(28, "No space left on device")

    ops = FullDisk()
    lid, auth, auth_cp, *_ = paths(project)
    cp_before = auth_cp.read_bytes()
    with LedgerWriter.open(project, ops=ops) as w:
        done = notes(w, "durable but unsigned")
        assert done[0].seq == 1
        assert auth_cp.read_bytes() == cp_before
        assert w.fault and "checkpoint" in w.fault
        with pytest.raises(LedgerError, match="unavailable"):
            notes(w, "refused")
        assert not w.heal()  # still full
        ops.full = False
        assert w.heal()
        assert assert_checkpoint_covers(project, auth, auth_cp).size == 2
    assert not [p for p in auth.parent.iterdir() if p.name.endswith(".tmp")]  # temp files removed
    assert_verifies(project)


def test_checkpoint_replacement_leaves_no_temp_files(project):
    lid, auth, auth_cp, tracked, tracked_cp = paths(project)
    with LedgerWriter.open(project) as w:
        for i in range(5):
            notes(w, str(i))
    assert sorted(p.name for p in auth.parent.iterdir() if p.name.startswith(".")) == []
    assert sorted(p.name for p in tracked.parent.iterdir() if p.name.startswith(".")) == []
    assert stat.S_IMODE(auth_cp.stat().st_mode) == 0o600
    assert tracked_cp.read_text() == auth_cp.read_text()


def test_time_never_runs_backwards_by_a_small_step(project):
    with LedgerWriter.open(project) as w:
        first = notes(w, "now")[0]
    t0 = parse_ts(first.record["ts"])
    with LedgerWriter.open(project, clock=lambda: t0 - 500) as w:  # NTP set it back by half a second
        second = notes(w, "later")[0]
    assert second.record["ts"] == first.record["ts"]
    assert_verifies(project)


def test_a_clock_gone_back_far_is_recorded_not_pinned(project):
    """A clock that jumped a year ahead and came back: the records follow the real clock again after a
    `note` of kind clock (before the fix every later record carried the future time)."""
    year = 365 * 86400 * 1000
    with LedgerWriter.open(project) as w:
        real = parse_ts(notes(w, "now")[0].record["ts"])
    with LedgerWriter.open(project, clock=lambda: real + year) as w:
        notes(w, "in the future")
    with LedgerWriter.open(project, clock=lambda: real + 1000) as w:
        back = notes(w, "corrected")[0]
    assert parse_ts(back.record["ts"]) == real + 1000
    recs = [parse_canonical(x) for x in lines_of(paths(project)[1])]
    clock = recs[-2]
    assert clock["type"] == "note" and clock["body"]["kind"] == "clock"
    assert parse_ts(clock["body"]["previous_ts"]) == real + year
    assert clock["seq"] + 1 == back.seq
    assert_verifies(project)


def test_append_note_helper(project):
    rec = append_note(project, "hello", author="ann")
    assert rec.seq == 1
    assert rec.record["body"] == {"text": "hello", "author": "ann"}


# ---- recovery -------------------------------------------------------------------------------------


def test_torn_last_line_is_set_aside_and_a_recovery_record_appended(project):
    lid, auth, auth_cp, tracked, _ = paths(project)
    with LedgerWriter.open(project) as w:
        notes(w, "a", "b")
    intact = auth.read_bytes()
    torn = b'{"body":{"text":"half a rec'
    with open(auth, "ab") as fh:
        fh.write(torn)
    with LedgerWriter.open(project) as w:
        assert w.size == 4
    data = auth.read_bytes()
    assert data.startswith(intact) and data.endswith(b"\n")
    rec = parse_canonical(lines_of(auth)[-1])
    assert rec["type"] == "recovery" and rec["seq"] == 3
    body = rec["body"]
    assert body["torn_bytes"] == len(torn)
    assert body["torn_sha256"] == hashlib.sha256(torn).hexdigest()
    assert body["at_offset"] == len(intact)
    assert (auth.parent / body["saved_as"]).read_bytes() == torn
    assert tracked.read_bytes() == data
    assert_checkpoint_covers(project, auth, auth_cp)
    assert_verifies(project)


def test_corrupt_middle_line_is_refused_and_never_repaired(project):
    lid, auth, auth_cp, *_ = paths(project)
    with LedgerWriter.open(project) as w:
        notes(w, "a", "b", "c", "d")
    lines = lines_of(auth)
    lines[2] = lines[2].replace(b'"text":"b"', b'"text":"B"')
    damaged = b"\n".join(lines) + b"\n"
    auth.write_bytes(damaged)
    cp = auth_cp.read_bytes()
    # Inside the prefix the saved Merkle range vouches for, opening checks only the record it ends on;
    # hashing everything (rehash, or no usable range) finds the altered record.
    with pytest.raises(LedgerCorrupt, match="seq 2"):
        LedgerWriter.open(project, rehash=True)
    (auth.parent / f"{lid}.range").unlink()
    with pytest.raises(LedgerCorrupt, match="seq 2"):
        LedgerWriter.open(project)
    assert auth.read_bytes() == damaged
    assert auth_cp.read_bytes() == cp


def test_corrupt_line_in_the_unsigned_tail_is_refused(project):
    """Records after the last checkpoint are checked one by one (signature, seq, prev)."""
    lid, auth, auth_cp, *_ = paths(project)
    with LedgerWriter.open(project) as w:
        notes(w, "a")
        old_cp = auth_cp.read_bytes()
        notes(w, "b", "c")
    auth_cp.write_bytes(old_cp)  # the checkpoint lags: seqs 2 and 3 are the unsigned tail
    project.tracked_checkpoint(lid).write_bytes(old_cp)
    lines = lines_of(auth)
    lines[3] = lines[3].replace(b'"text":"c"', b'"text":"C"')
    auth.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(LedgerCorrupt, match="seq 3"):
        LedgerWriter.open(project)


def test_unsigned_but_valid_tail_is_signed_on_open(project):
    lid, auth, auth_cp, *_ = paths(project)
    with LedgerWriter.open(project) as w:
        old_cp = auth_cp.read_bytes()
        notes(w, "b", "c")
    auth_cp.write_bytes(old_cp)
    with LedgerWriter.open(project):
        pass
    assert assert_checkpoint_covers(project, auth, auth_cp).size == 3


def test_lost_records_are_reported_and_never_signed_smaller(project):
    lid, auth, auth_cp, tracked, tracked_cp = paths(project)
    with LedgerWriter.open(project) as w:
        notes(w, "a", "b", "c")
    cp = auth_cp.read_bytes()
    data = auth.read_bytes()
    auth.write_bytes(data[: data.rstrip(b"\n").rfind(b"\n") + 1])  # drop the last record
    with pytest.raises(LedgerLoss, match="lost"):
        LedgerWriter.open(project)
    assert auth_cp.read_bytes() == cp  # nothing smaller was signed


def test_tracked_checkpoint_larger_than_the_ledger_is_loss(project):
    """A rollback of the private copy (and its checkpoint) is caught by the tracked checkpoint."""
    lid, auth, auth_cp, tracked, tracked_cp = paths(project)
    old_ledger, old_cp = auth.read_bytes(), auth_cp.read_bytes()
    with LedgerWriter.open(project) as w:
        notes(w, "a", "b")
    auth.write_bytes(old_ledger)
    auth_cp.write_bytes(old_cp)
    with pytest.raises(LedgerLoss, match="tracked checkpoint"):
        LedgerWriter.open(project)


def test_checkpoint_from_another_key_is_refused(project):
    lid, auth, auth_cp, *_ = paths(project)
    from forge_tui.core.note import Checkpoint

    other = Signer.generate(project.origin(lid))
    auth_cp.write_text(Checkpoint(other.name, 1, leaf_hash(lines_of(auth)[0])).sign([other]))
    with pytest.raises(LedgerCorrupt, match="checkpoint"):
        LedgerWriter.open(project)


def test_checkpoint_that_is_not_utf8_is_corruption_not_a_crash(project):
    lid, auth, auth_cp, tracked, tracked_cp = paths(project)
    auth_cp.write_bytes(b"\xff\xfe not a note\n")
    with pytest.raises(LedgerCorrupt, match="UTF-8"):
        LedgerWriter.open(project)


@pytest.mark.parametrize("content", [b"", b"\xff\xfe not a note\n", b"foreign.example/log\n1\nAAAA\n"])
def test_unreadable_tracked_checkpoint_is_rewritten_not_fatal(project, content):
    """The tracked checkpoint is a derived copy (an empty one is what a crash leaves after a copy made
    without fsync): it proves nothing, so opening reports it and rewrites it."""
    lid, auth, auth_cp, tracked, tracked_cp = paths(project)
    tracked_cp.write_bytes(content)
    with LedgerWriter.open(project) as w:
        assert any("ignored" in x for x in w.warnings)
    assert tracked_cp.read_bytes() == auth_cp.read_bytes()


# ---- tracked copy vs authoritative copy -----------------------------------------------------------


def test_tracked_copy_follows_every_batch(project):
    lid, auth, auth_cp, tracked, tracked_cp = paths(project)
    with LedgerWriter.open(project) as w:
        for i in range(3):
            notes(w, f"n{i}")
            assert tracked.read_bytes() == auth.read_bytes()
            assert tracked_cp.read_text() == auth_cp.read_text()


def test_tracked_copy_rewritten_when_missing_or_stale(project):
    """A deleted tracked copy, or an older one after `git checkout`, is brought up to date."""
    lid, auth, auth_cp, tracked, tracked_cp = paths(project)
    with LedgerWriter.open(project) as w:
        notes(w, "a")
        stale = tracked.read_bytes()
        notes(w, "b")
    tracked.unlink()
    with LedgerWriter.open(project) as w:
        notes(w, "c")
    assert tracked.read_bytes() == auth.read_bytes()
    tracked.write_bytes(stale)  # an older commit checked out
    with LedgerWriter.open(project):
        pass
    assert tracked.read_bytes() == auth.read_bytes()
    assert tracked_cp.read_text() == auth_cp.read_text()


def test_checkout_of_an_old_commit_cannot_fork_the_authoritative_ledger(project):
    lid, auth, auth_cp, tracked, tracked_cp = paths(project)
    old_tracked, old_tracked_cp = tracked.read_bytes(), tracked_cp.read_bytes()
    with LedgerWriter.open(project) as w:
        notes(w, "a", "b")
    full = auth.read_bytes()
    tracked.write_bytes(old_tracked)
    tracked_cp.write_bytes(old_tracked_cp)
    with LedgerWriter.open(project) as w:
        out = notes(w, "c")
    assert out[0].seq == 3  # appended after b, not after genesis
    assert auth.read_bytes().startswith(full)
    assert tracked.read_bytes() == auth.read_bytes()


def test_a_new_data_folder_adopts_the_tracked_copy(project):
    lid, auth, auth_cp, tracked, tracked_cp = paths(project)
    with LedgerWriter.open(project) as w:
        notes(w, "a")
    auth.unlink()
    auth_cp.unlink()
    with LedgerWriter.open(project) as w:
        assert w.size == 2
        notes(w, "b")
    assert auth.read_bytes() == tracked.read_bytes()
    assert len(lines_of(auth)) == 3
    assert_verifies(project)


def test_missing_ledger_everywhere_is_loss(project):
    lid, auth, auth_cp, tracked, tracked_cp = paths(project)
    auth.unlink()
    tracked.unlink()
    with pytest.raises(LedgerLoss, match="missing"):
        LedgerWriter.open(project)


def test_read_checkpoint_file(project, tmp_path):
    lid, auth, auth_cp, *_ = paths(project)
    verifiers = project.ledger_verifiers(lid)
    assert read_checkpoint_file(tmp_path / "absent", verifiers) is None
    assert read_checkpoint_file(auth_cp, verifiers).size == 1


# ---- a property: any mix of batches, reopens, torn tails and stale tracked copies stays verifiable ---

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(1, 4)),
        st.tuples(st.just("reopen"), st.just(0)),
        st.tuples(st.just("tear"), st.integers(1, 40)),
        st.tuples(st.just("stale_tracked"), st.just(0)),
        st.tuples(st.just("drop_tracked"), st.just(0)),
    ),
    max_size=8,
)


# The list replaces the suite profile's (tests/conftest.py), so it names too_slow again: generation is
# timed, and a loaded 2-core machine is slow.
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(ops=OPS)
def test_writer_history_always_verifies(tmp_path_factory, ops):
    import tempfile
    from pathlib import Path

    from forge_tui.core.project import init_project

    root = Path(tempfile.mkdtemp(dir=tmp_path_factory.getbasetemp()))
    project = init_project(root, pack="solo", name="prop")
    lid, auth, auth_cp, tracked, tracked_cp = paths(project)
    expected = 1  # genesis
    texts = iter(range(10**6))
    w = LedgerWriter.open(project)
    try:
        for op, n in ops:
            if op == "append":
                notes(w, *(f"n{next(texts)}" for _ in range(n)))
                expected += n
            elif op == "reopen":
                w.close()
                w = LedgerWriter.open(project)
            elif op == "tear":
                w.close()
                with open(auth, "ab") as fh:
                    fh.write(b'{"body":{"text":"' + b"x" * n)
                w = LedgerWriter.open(project)
                expected += 1  # the recovery record
            elif op == "stale_tracked" and tracked.exists():
                data = tracked.read_bytes()
                tracked.write_bytes(data[: data.index(b"\n") + 1])  # as if an old commit were checked out
            elif op == "drop_tracked":
                tracked.unlink(missing_ok=True)
    finally:
        w.close()
    with LedgerWriter.open(project) as w:
        assert w.size == expected
    assert len(lines_of(auth)) == expected
    assert tracked.read_bytes() == auth.read_bytes()
    assert tracked_cp.read_text() == auth_cp.read_text()
    assert_checkpoint_covers(project, auth, auth_cp)
    assert_verifies(project)
