"""Ledger key rotation (docs/design.md §4.5, docs/formats.md "Key records"): `forge-tui key rotate`
writes a `key` record signed by the old and the new key; verify follows it from the genesis key alone
and honours each key's validity range."""

from __future__ import annotations

import json
import shutil

import pytest
from trustkit import append_signed, lines_of, write_tracked

from forge_tui.core import keys
from forge_tui.core.ledger import LedgerWriter
from forge_tui.core.note import Signer, parse_vkey, split_note
from forge_tui.core.rotation import rotation_body
from forge_tui.core.verify import verify_project


def write_notes(project, n: int, text: str = "work") -> None:
    with LedgerWriter.open(project) as w:
        for i in range(n):
            w.append([("note", {"text": f"{text} {i}"})])


def genesis_only(project) -> str:
    """Leave only the first (genesis) key in .forge/keys/<lid>.pub; returns it."""
    lid = project.local_ledger_id()
    pub = project.pub_dir / f"{lid}.pub"
    first = pub.read_text().splitlines()[0]
    pub.write_text(first + "\n")
    return first


def rotate(run_cli, *args: str) -> dict:
    code, out, err = run_cli("key", "rotate", "--json", *args)
    assert code == 0, err
    return json.loads(out)


def codes(report) -> set[str]:
    return {f.code for f in report.findings}


def test_rotate_keep_writing_and_verify_with_only_the_genesis_key(project, run_cli):
    lid = project.local_ledger_id()
    genesis_vkey = (project.pub_dir / f"{lid}.pub").read_text().strip()
    write_notes(project, 3)
    code, out, _ = run_cli("key", "rotate", "--overlap", "2")
    assert code == 0
    assert "key record at seq 5" in out and "retired from seq 8" in out and ".pub" in out
    pub_lines = (project.pub_dir / f"{lid}.pub").read_text().splitlines()
    assert pub_lines[0] == genesis_vkey and len(pub_lines) == 2  # the old key stays listed
    # the checkpoint over the key record is signed by both keys
    _text, sigs = split_note(project.tracked_checkpoint(lid).read_text())
    assert len(sigs) == 2
    write_notes(project, 1, "inside the overlap")  # size 7 <= 8: still double-signed
    assert len(split_note(project.tracked_checkpoint(lid).read_text())[1]) == 2
    write_notes(project, 4, "after")  # past the overlap: the new key alone
    assert len(split_note(project.tracked_checkpoint(lid).read_text())[1]) == 1
    genesis_only(project)
    report = verify_project(project, workers=2)
    assert report.exit_code() == 0, [f.line() for f in report.findings]
    (lr,) = report.ledgers
    assert lr.key_rotations == 1 and lr.records == 11
    # records after the key record are signed by the new key, which is not in the trusted file
    new_kid = parse_vkey(pub_lines[1]).kid
    assert lines_of(project.tracked_ledger(lid))[-1].count(f'"kid":"{new_kid}"'.encode()) == 1
    # the daemon's writer (reopened) goes on with the new key
    assert keys.load_ledger_key(lid).verifier.vkey == pub_lines[1]


def test_a_forged_key_record_introduces_nothing(project, run_cli):
    """An attacker without the ledger key appends a rotation to a key of their own and signs on."""
    lid = project.local_ledger_id()
    origin = project.origin(lid)
    write_notes(project, 2)
    genesis = keys.load_ledger_key(lid)
    evil = Signer.generate(origin)
    lines = lines_of(project.tracked_ledger(lid))
    body = rotation_body(origin, len(lines), "0" * 64, genesis.verifier, evil, 0)
    lines = append_signed(lines, origin, [("key", body, evil), ("note", {"text": "mine now"}, evil)])
    write_tracked(project, lid, lines, [evil])
    genesis_only(project)
    code, out, _ = run_cli("verify", "--json")
    rep = json.loads(out)
    pairs = {(f["code"], f["seq"]) for f in rep["findings"]}
    assert code == 1
    assert ("key_record", 3) in pairs and ("unknown_key", 3) in pairs and ("unknown_key", 4) in pairs
    msg = next(f["message"] for f in rep["findings"] if f["code"] == "key_record")
    assert "not signed by the key in force" in msg


def test_a_key_record_whose_new_key_did_not_sign_is_refused(project):
    """Signed by the real (leaked) key, but the new key's own signature is of another position: the
    rotation is not honoured and the records the claimed key signs are untrusted."""
    lid = project.local_ledger_id()
    origin = project.origin(lid)
    write_notes(project, 1)
    old = keys.load_ledger_key(lid)
    new = Signer.generate(origin)
    lines = lines_of(project.tracked_ledger(lid))
    body = rotation_body(origin, len(lines) + 7, "0" * 64, old.verifier, new, 0)  # signed for another seq
    body["from_seq"] = len(lines) + 1
    body["retire_from_seq"] = len(lines) + 1
    lines = append_signed(lines, origin, [("key", body, old), ("note", {"text": "x"}, new)])
    write_tracked(project, lid, lines, [old, new])
    genesis_only(project)
    report = verify_project(project, workers=1, use_local_state=False)
    assert report.exit_code() == 1
    (kr,) = [f for f in report.findings if f.code == "key_record"]
    assert kr.seq == 2 and "new_key_sig" in kr.message
    assert ("unknown_key", 3) in {(f.code, f.seq) for f in report.findings}


def test_a_record_signed_by_the_retired_key_after_retirement_fails(project, run_cli):
    lid = project.local_ledger_id()
    origin = project.origin(lid)
    old = keys.load_ledger_key(lid)
    rot = rotate(run_cli)  # overlap 0: the old key is retired from the record after the key record
    write_notes(project, 2)
    new = keys.load_ledger_key(lid)
    lines = lines_of(project.tracked_ledger(lid))
    assert rot["retire_from_seq"] == rot["key_seq"] + 1 < len(lines)
    lines = append_signed(lines, origin, [("note", {"text": "signed with the leaked old key"}, old)])
    write_tracked(project, lid, lines, [new])
    genesis_only(project)
    code, out, _ = run_cli("verify", "--no-local")
    assert code == 1 and f"seq {len(lines) - 1}" in out and "[retired_key]" in out
    # and a checkpoint signed by the old key alone past its range
    write_tracked(project, lid, lines[:-1], [old])
    report = verify_project(project, workers=1, use_local_state=False)
    assert "retired_key" in codes(report) and report.exit_code() == 1


def test_a_checkpoint_in_the_overlap_must_carry_both_signatures(project, run_cli):
    lid = project.local_ledger_id()
    rotate(run_cli, "--overlap", "5")
    new = keys.load_ledger_key(lid)
    write_tracked(project, lid, lines_of(project.tracked_ledger(lid)), [new])  # drop the old key's
    report = verify_project(project, workers=1, use_local_state=False)
    assert codes(report) == {"checkpoint_cosign"} and report.exit_code() == 1


def test_genesis_key_must_be_the_trusted_key(project):
    lid = project.local_ledger_id()
    other = Signer.generate(project.origin(lid))
    (project.pub_dir / f"{lid}.pub").write_text(other.verifier.vkey + "\n")
    report = verify_project(project, workers=1, use_local_state=False)
    assert "genesis_key" in codes(report) and report.exit_code() == 1
    assert next(f for f in report.findings if f.code == "genesis_key").seq == 0


def test_rotate_refuses_while_a_daemon_holds_the_ledger(project, run_cli):
    with LedgerWriter.open(project):  # what a running daemon holds
        code, _out, err = run_cli("key", "rotate")
    assert code == 2 and "stop it first" in err
    assert not keys.ledger_key_file(project.local_ledger_id(), "next").exists()


def test_rotate_refuses_inside_an_open_overlap(project, run_cli):
    rotate(run_cli, "--overlap", "10")
    code, _out, err = run_cli("key", "rotate")
    assert code == 2 and "overlap is still open" in err
    write_notes(project, 10)  # size 13: the overlap ends after the checkpoint of size 13
    code, _out, err = run_cli("key", "rotate")
    assert code == 2 and "overlap is still open" in err
    write_notes(project, 1)
    rotate(run_cli)  # once it is over, a second rotation is fine and verifies
    genesis_only(project)
    report = verify_project(project, workers=1)
    assert report.exit_code() == 0 and report.ledgers[0].key_rotations == 2


def test_rotate_refuses_a_ledger_that_does_not_verify(project, run_cli):
    from forge_tui.core.ledger import authoritative_dir

    write_notes(project, 2)
    lid = project.local_ledger_id()
    path = authoritative_dir(project) / f"{lid}.jsonl"
    path.write_bytes(path.read_bytes().replace(b"work 0", b"work 9"))
    code, _out, err = run_cli("key", "rotate")
    assert code == 2 and "refusing to rotate: the ledger does not verify" in err and "root_mismatch" in err
    assert keys.load_ledger_key(lid).verifier.vkey == (project.pub_dir / f"{lid}.pub").read_text().strip()


@pytest.mark.parametrize("recorded", [True, False])
def test_a_rotation_cut_short_is_finished_or_undone_on_open(project, run_cli, recorded):
    lid = project.local_ledger_id()
    old = keys.load_ledger_key(lid)
    if recorded:
        # as if the process died after the key record was durable, before the new key was put in force
        rotate(run_cli)
        new = keys.load_ledger_key(lid)
        shutil.copyfile(keys.ledger_key_path(lid), keys.ledger_key_file(lid, "next"))
        keys.save_ledger_key(lid, old)
        keys.ledger_key_file(lid, "retiring").unlink()
    else:
        new = Signer.generate(old.name)  # died before the key record was written
        keys.save_ledger_key(lid, new, keys.ledger_key_file(lid, "next"))
    write_notes(project, 2)
    assert not keys.ledger_key_file(lid, "next").exists()
    assert keys.load_ledger_key(lid).verifier == (new if recorded else old).verifier
    report = verify_project(project, workers=1)
    assert report.exit_code() == 0, [f.line() for f in report.findings]
