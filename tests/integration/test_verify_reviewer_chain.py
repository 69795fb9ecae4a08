"""verify takes the reviewers from the ledger's enrolment chain (docs/trust-model.md), never from the
working tree's reviewers.toml once the ledger enrols anyone: issue 7's attack (an agent adds a reviewer
of its own to reviewers.toml and forges approvals with the ledger key) fails verify."""

from __future__ import annotations

import hashlib

from trustkit import ALICE, append_signed, lines_of, reviewed_ledger, write_tracked

from forge_tui.core.approvals import approval_message
from forge_tui.core.keys import ReviewerKey, load_ledger_key
from forge_tui.core.note import Signer, b64
from forge_tui.core.records import format_ts, now_ms
from forge_tui.core.reviewers import Reviewer, enrol_reviewers, save_reviewers
from forge_tui.core.trust import reviewer_statement, sign_reviewer_statement
from forge_tui.core.verify import verify_project

MALLORY = Signer("forge-tui.reviewer/mallory", hashlib.sha256(b"mallory").digest())


def mallory_approval() -> dict:
    appr = {
        "request_id": "r-1",
        "request_hash": "0" * 64,
        "verdict": "approve",
        "reason": "",
        "reviewer": "mallory",
        "ts": format_ts(now_ms()),
    }
    return {
        "approval": appr,
        "reviewer_kid": MALLORY.kid,
        "reviewer_sig": b64(MALLORY.sign(approval_message(appr))),
    }


def enrolled_world(project) -> None:
    enrol_reviewers(project, {"alice": ReviewerKey("alice", ALICE)})
    reviewed_ledger(project)


def test_reviewers_come_from_the_ledger_not_the_working_tree(project):
    enrolled_world(project)
    save_reviewers(project.reviewers_path, {"mallory": Reviewer("mallory", MALLORY.verifier)})
    report = verify_project(project, workers=1)
    assert report.exit_code() == 0, [f.line() for f in report.findings]  # alice's approval still counts
    assert report.ledgers[0].reviewers_from == "ledger"
    lid = project.local_ledger_id()
    key = load_ledger_key(lid)
    lines = append_signed(
        lines_of(project.tracked_ledger(lid)), project.origin(lid), [("approval", mallory_approval(), key)]
    )
    write_tracked(project, lid, lines, [key])
    report = verify_project(project, workers=1, use_local_state=False)
    assert ("unknown_reviewer", len(lines) - 1) in {(f.code, f.seq) for f in report.findings}
    assert report.exit_code() == 1


def test_a_reviewer_record_not_signed_by_an_active_reviewer_enrols_no_one(project):
    enrolled_world(project)
    lid = project.local_ledger_id()
    key = load_ledger_key(lid)
    body = sign_reviewer_statement(
        ReviewerKey("mallory", MALLORY),
        reviewer_statement("enrol", "mallory", MALLORY.verifier.vkey, project.project_id, "mallory"),
    )
    lines = lines_of(project.tracked_ledger(lid))
    lines = append_signed(
        lines, project.origin(lid), [("reviewer", body, key), ("approval", mallory_approval(), key)]
    )
    write_tracked(project, lid, lines, [key])
    report = verify_project(project, workers=1, use_local_state=False)
    pairs = {(f.code, f.seq) for f in report.findings}
    n = len(lines)
    assert ("reviewer_record", n - 2) in pairs and ("unknown_reviewer", n - 1) in pairs
    assert report.exit_code() == 1


def test_a_ledger_without_enrolment_falls_back_to_reviewers_toml_and_says_so(project):
    reviewed_ledger(project)
    report = verify_project(project, workers=1)
    assert report.exit_code() == 0 and report.ledgers[0].reviewers_from == "reviewers.toml"
