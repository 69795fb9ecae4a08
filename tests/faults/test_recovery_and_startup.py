"""Opening a damaged ledger, each case from the reproduction in issue 10: a zero-filled unsynced tail,
a crash in the middle of a recovery, temp files left behind, an empty or foreign tracked checkpoint,
start-up errors that name the wrong seq or no file, a full disk at start, a stale tracked copy taken
for a rollback, and records that a crash left after their callers were told the write failed."""

from __future__ import annotations

import errno
import json

import pytest

from forge_tui.core.jcs import parse_canonical
from forge_tui.core.ledger import PENDING_SUFFIX, LedgerWriter, authoritative_dir
from forge_tui.core.verify import verify_project
from forge_tui.errors import LedgerCorrupt, LedgerUnavailable


def paths(project):
    lid = project.local_ledger_id()
    folder = authoritative_dir(project)
    return lid, folder / f"{lid}.jsonl", folder / f"{lid}.checkpoint"


def write_notes(project, n: int, **kw) -> None:
    with LedgerWriter.open(project, **kw) as w:
        for i in range(n):
            w.append([("note", {"text": f"n{i}"})])


def records(path) -> list[dict]:
    return [parse_canonical(x) for x in path.read_bytes().split(b"\n") if x]


def codes(report) -> list[str]:
    return [f.code for f in report.findings]


@pytest.mark.parametrize(
    "tail",
    [b"\0" * 300 + b"\n", b"\0" * 120 + b"\n" + b"\0" * 40 + b"\n", b"\0" * 64],
    ids=["zeros-lf", "zero-lines", "zeros-no-lf"],
)
def test_a_zero_filled_tail_is_recovered_like_a_torn_one(project, tail):
    """Before: "corrupt record at seq 4" and the daemon stayed down (the same bytes without a final LF
    were recovered). Zeros are no record: they are set aside and a `recovery` record says so."""
    write_notes(project, 3)
    lid, auth, _ = paths(project)
    n = len(records(auth))
    with open(auth, "ab") as fh:
        fh.write(tail)
    with LedgerWriter.open(project) as w:
        assert w.recovered is not None and w.recovered["torn_bytes"] == len(tail)
        assert w.size == n + 1
    recs = records(auth)
    assert recs[-1]["type"] == "recovery"
    aside = auth.parent / recs[-1]["body"]["saved_as"]
    assert aside.read_bytes() == tail
    assert verify_project(project, workers=1).exit_code() == 0


def test_an_altered_last_record_is_still_corruption(project):
    """The zero-tail rule never hides tampering: a line that parses but does not verify stops opening."""
    write_notes(project, 3)
    lid, auth, cp = paths(project)
    old_cp = cp.read_bytes()
    write_notes(project, 1)
    cp.write_bytes(old_cp)  # the last record is the unsigned tail
    data = auth.read_bytes().replace(b'"text":"n0"}', b'"text":"N0"}')
    auth.write_bytes(data)
    with pytest.raises(LedgerCorrupt, match=r"seq \d+"):
        LedgerWriter.open(project)


def test_a_crash_in_the_middle_of_recovery_still_gets_its_recovery_record(project, faults):
    """Before: a crash after the truncation and before the `recovery` append left no record of it."""
    write_notes(project, 2)
    lid, auth, _ = paths(project)
    with open(auth, "ab") as fh:
        fh.write(b'{"v":1,"torn')
    faults.arm("write", "ledger")  # the tail is set aside and cut off, then the recovery append fails
    with pytest.raises(LedgerUnavailable):
        LedgerWriter.open(project)
    faults.clear()
    pending = list(auth.parent.glob(f"{lid}.torn-*{PENDING_SUFFIX}"))
    assert len(pending) == 1 and pending[0].read_bytes() == b'{"v":1,"torn'
    assert auth.read_bytes().endswith(b"\n")  # the torn bytes are gone from the ledger
    with LedgerWriter.open(project) as w:
        assert w.recovered is not None
    recs = records(auth)
    assert recs[-1]["type"] == "recovery" and recs[-1]["body"]["torn_bytes"] == 12
    final = auth.parent / recs[-1]["body"]["saved_as"]
    assert final.exists() and not list(auth.parent.glob(f"*{PENDING_SUFFIX}"))
    # A crash after the recovery record and before the rename: reopening only renames it.
    final.rename(final.with_name(final.name + PENDING_SUFFIX))
    with LedgerWriter.open(project):
        pass
    assert len([r for r in records(auth) if r["type"] == "recovery"]) == 1
    assert final.exists()
    assert verify_project(project, workers=1).exit_code() == 0


def test_temp_files_left_by_a_crash_are_removed(project):
    lid, auth, _ = paths(project)
    left = [
        auth.parent / f".{lid}.checkpoint.4242.tmp",
        project.ledger_dir / f".{lid}.jsonl.4242.tmp",
        project.ledger_dir / f".{lid}.checkpoint.4242.tmp",
    ]
    for p in left:
        p.write_bytes(b"half")
    with LedgerWriter.open(project) as w:
        assert len([x for x in w.warnings if "temp file" in x]) == 3
    assert not [p for p in left if p.exists()]


FOREIGN = "forge-tui.local/other/log\n1\nAAAA\n\n\u2014 other+00000000+AAAA\n".encode()


@pytest.mark.parametrize("content", [b"", FOREIGN], ids=["empty", "foreign"])
def test_an_empty_or_foreign_tracked_checkpoint_does_not_stop_the_daemon(project, content):
    write_notes(project, 1)
    lid, auth, cp = paths(project)
    project.tracked_checkpoint(lid).write_bytes(content)
    write_notes(project, 1)
    assert project.tracked_checkpoint(lid).read_bytes() == cp.read_bytes()


def test_a_duplicated_record_is_named_at_its_own_seq_with_the_file(project):
    """Before: a duplicate at seq 5 was reported at seq 14 (the first unsigned record), with no file."""
    write_notes(project, 13)  # genesis + 13 notes: seqs 0..13, checkpoint 14
    lid, auth, cp = paths(project)
    old_cp = cp.read_bytes()
    write_notes(project, 6)
    cp.write_bytes(old_cp)
    project.tracked_checkpoint(lid).write_bytes(old_cp)
    lines = auth.read_bytes().split(b"\n")[:-1]
    lines.insert(6, lines[5])
    auth.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(LedgerCorrupt) as exc:
        LedgerWriter.open(project)
    msg = exc.value.diagnostics()
    assert str(auth) in msg and "seq 6" in msg and "seq 5 where 6 was expected" in msg
    assert "seq 14" not in msg
    assert "verify --authoritative" in msg


def test_verify_authoritative_sees_what_the_daemon_refuses(project, run_cli):
    """Before: `verify` passed (it reads the tracked copy) while the daemon refused the authoritative
    copy and told the user to run it."""
    write_notes(project, 4)
    lid, auth, _ = paths(project)
    auth.write_bytes(auth.read_bytes().replace(b'"text":"n2"', b'"text":"N2"'))
    with pytest.raises(LedgerCorrupt):
        LedgerWriter.open(project, rehash=True)  # (the saved range would vouch for the old prefix)
    assert run_cli("verify")[0] == 0
    code, out, _ = run_cli("verify", "--authoritative")
    assert code == 1 and "seq 3" in out


def test_a_full_disk_at_start_is_a_clear_error_not_an_internal_one(project, faults, run_cli, tmp_path):
    """Before: exit 70 (internal error). Now exit 3, naming the disk problem and the file."""
    faults.arm("write", "ledger", errno.ENOSPC)
    code, _out, err = run_cli("daemon", "--socket", str(tmp_path / "d.sock"))
    assert code == 3, err
    assert "No space left on device" in err and "internal error" not in err
    assert str(paths(project)[1]) in err, "the error does not name the ledger file"


def test_a_stale_tracked_copy_is_not_a_rollback(project, faults, run_cli):
    """Before: with .forge/ledger unwritable (or a kill between the authoritative checkpoint and the
    tracked update) verify reported a rollback. Now: a warning that the copy is behind, exit 3, and the
    authoritative copy verifies."""
    write_notes(project, 2)
    faults.arm("write", "tracked", errno.EPERM)
    with LedgerWriter.open(project) as w:
        w.append([("note", {"text": "only in the authoritative copy"})])
        assert w.tracked_error and "Operation not permitted" in w.tracked_error
    faults.clear()
    report = verify_project(project, workers=1)
    assert "stale_tracked" in codes(report) and "rollback" not in codes(report)
    assert report.exit_code() == 3
    assert run_cli("verify", "--authoritative")[0] == 0
    write_notes(project, 0)  # the next writer brings the copy up to date
    assert verify_project(project, workers=1).exit_code() == 0


def test_a_real_rollback_of_both_copies_is_still_one(project, run_cli):
    write_notes(project, 3)
    lid, auth, cp = paths(project)
    from forge_tui.core.verify import seen_cache_path

    assert run_cli("verify")[0] == 0  # remembers the checkpoint in the seen cache
    assert seen_cache_path(project, lid).exists()
    lines = auth.read_bytes().split(b"\n")[:-2]
    for p in (auth, project.tracked_ledger(lid)):
        p.write_bytes(b"\n".join(lines) + b"\n")
    report = verify_project(project, workers=1)
    assert "rollback" in codes(report) or "truncated" in codes(report)
    assert report.exit_code() == 1


def test_records_left_by_a_crash_after_a_failed_undo_get_a_correction(project, faults):
    """fdatasync failed, the undo failed, the daemon died before healing: on disk the batch may say
    `allowed` while its callers heard 5001. The next writer appends a correction note naming them."""
    write_notes(project, 1)
    lid, auth, _ = paths(project)
    w = LedgerWriter.open(project)
    faults.arm("fdatasync", "ledger")
    faults.arm("ftruncate", "ledger")
    with pytest.raises(LedgerUnavailable):
        w.append([("note", {"text": "told it failed"}), ("note", {"text": "this too"})])
    marker = json.loads(w.unacked_path.read_text())
    w.close()  # a crash: no heal
    faults.clear()
    with LedgerWriter.open(project) as w2:
        assert not w2.unacked_path.exists()
    recs = records(auth)
    fix = recs[-1]
    assert fix["type"] == "note" and fix["body"]["kind"] == "correction"
    assert fix["body"]["seqs"] == [marker["first_seq"], marker["first_seq"] + 1]
    assert [r["body"]["text"] for r in recs[-3:-1]] == ["told it failed", "this too"]
    assert verify_project(project, workers=1).exit_code() == 0
