"""Reviewers as witnesses (docs/design.md §6.1, docs/trust-model.md): an approval cosigns the ledger
checkpoint its reviewer's side verified, and `verify` requires the ledger to agree with every one."""

from __future__ import annotations

import json

from trustkit import lines_of, resign_from, reviewed_ledger, write_tracked

from forge_tui.core.keys import load_ledger_key
from forge_tui.core.verify import verify_project


def errors(report) -> set[str]:
    return {f.code for f in report.findings if f.severity == "error"}


def test_cosigned_checkpoint_makes_the_pass_reviewer_witnessed(project):
    seen = reviewed_ledger(project)
    report = verify_project(project, workers=1)
    assert report.exit_code() == 0, [f.line() for f in report.findings]
    (lr,) = report.ledgers
    assert lr.witnessed_size == seen and lr.witnesses == 1
    strength = report.to_json()["strength"]
    assert "witnessed" in strength["claims"] and "signatures" in strength["claims"]
    assert any(f"reviewer-witnessed up to size {seen}" in line for line in strength["summary"])
    # the request record says its peer was sandboxed, and it is the only request
    assert "sandboxed" in strength["claims"] and strength["requests"] == {
        "total": 1,
        "sandboxed": 1,
        "unsandboxed": 0,
    }


def test_ledger_rewritten_below_a_witnessed_size_with_the_ledger_key_fails(project):
    """The leaked-ledger-key attack: rewrite an early record, re-sign it and everything after it with the
    real ledger key, sign a fresh checkpoint. Chain, signatures and checkpoint all verify (the request
    and the approval keep their hashes); only the witness rule can tell, and it must."""
    seen = reviewed_ledger(project)
    lid = project.local_ledger_id()
    lines = lines_of(project.tracked_ledger(lid))
    note_seq = seen - 1  # the note written just before alice looked

    def edit(rec):
        if rec["seq"] == note_seq:
            rec["body"]["text"] = "history as the attacker tells it"

    key = load_ledger_key(lid)
    forged = resign_from(lines, note_seq, key, edit)
    assert forged[:note_seq] == lines[:note_seq] and forged[note_seq] != lines[note_seq]
    write_tracked(project, lid, forged, [key])
    # this machine's own caches would catch it as a fork too: leave them out, as on another machine
    report = verify_project(project, workers=1, use_local_state=False)
    assert errors(report) == {"witness_mismatch"}, [f.line() for f in report.findings]
    (f,) = [f for f in report.findings if f.code == "witness_mismatch"]
    assert f.seq == seen and "alice" in f.message and f"size {seen}" in f.message
    assert report.exit_code() == 1 and report.ledgers[0].witnessed_size is None


def test_cli_names_the_witness_rule(project, run_cli):
    seen = reviewed_ledger(project)
    lid = project.local_ledger_id()
    key = load_ledger_key(lid)
    lines = lines_of(project.tracked_ledger(lid))

    def edit(rec):
        if rec["seq"] == 1:
            rec["body"]["rules"] = 2

    # re-signing from seq 1 moves the request's hash too: then the approval is unbound as well
    write_tracked(project, lid, resign_from(lines, 1, key, edit), [key])
    code, out, _ = run_cli("verify", "--no-local")
    assert code == 1 and "[witness_mismatch]" in out
    code, out, _ = run_cli("verify", "--no-local", "--json")
    rep = json.loads(out)
    assert code == 1 and ("witness_mismatch", seen) in {(x["code"], x["seq"]) for x in rep["findings"]}


def test_witness_beyond_its_own_record_is_refused(project):
    """A reviewer cannot have seen a tree holding its own approval: such a cosigned size is forged."""
    from trustkit import ALICE, append_signed

    from forge_tui.core.approvals import approval_message
    from forge_tui.core.note import b64
    from forge_tui.core.records import format_ts, now_ms

    reviewed_ledger(project)
    lid = project.local_ledger_id()
    key = load_ledger_key(lid)
    lines = lines_of(project.tracked_ledger(lid))
    appr = {
        "request_id": "r-1",
        "request_hash": "0" * 64,
        "verdict": "reject",
        "reason": "",
        "reviewer": "alice",
        "ts": format_ts(now_ms()),
        "checkpoint": {"size": len(lines) + 5, "root": "ab" * 32},
    }
    body = {
        "approval": appr,
        "reviewer_kid": ALICE.kid,
        "reviewer_sig": b64(ALICE.sign(approval_message(appr))),
    }
    lines = append_signed(lines, project.origin(lid), [("approval", body, key)])
    write_tracked(project, lid, lines, [key])
    report = verify_project(project, workers=1, use_local_state=False)
    assert any(f.code == "witness_mismatch" and "beyond the record" in f.message for f in report.findings)


def test_plain_verify_without_witnesses_says_signatures_only(project, run_cli):
    reviewed_ledger(project, witness=False)
    code, out, _ = run_cli("verify", "--no-local")
    assert code == 0
    assert "not anchored: signatures only" in out and "not reviewer-witnessed" in out
