"""Reviewer-signed approvals (docs/design.md §6), the reviewer registry and encrypted reviewer keys."""

from __future__ import annotations

import base64
import json
import stat

import nacl.signing
import pytest

from forge_tui.core.approvals import APPROVAL_CONTEXT, approval_message, check_approval_shape, verify_approval
from forge_tui.core.jcs import canonical
from forge_tui.core.keys import (
    ReviewerKey,
    create_reviewer_key,
    reviewer_key_path,
    reviewer_key_vkey,
    unlock_reviewer,
)
from forge_tui.core.note import Signer, b64
from forge_tui.core.reviewers import Reviewer, ReviewerStore, load_reviewers, parse_reviewers, save_reviewers
from forge_tui.errors import CanonicalError, ConfigError, KeyError_, SignatureError

ALICE = Signer("forge-tui.reviewer/alice", bytes(range(32)))
APPROVAL = {
    "request_id": "r-1",
    "request_hash": "ab" * 32,
    "verdict": "approve",
    "reason": "looks right",
    "reviewer": "alice",
    "ts": "2026-11-23T20:12:19.123Z",
}


def test_approval_message_is_the_context_and_the_jcs_of_the_six_fields():
    assert approval_message(APPROVAL) == b"forge-tui approval v1\n" + canonical(APPROVAL)
    assert APPROVAL_CONTEXT == b"forge-tui approval v1\n"
    sig = ReviewerKey("alice", ALICE).sign_approval(APPROVAL)
    nacl.signing.VerifyKey(ALICE.verifier.public_key).verify(
        approval_message(APPROVAL), base64.b64decode(sig)
    )
    verify_approval(APPROVAL, sig, ALICE.verifier)


@pytest.mark.parametrize(
    "field,value",
    [("verdict", "reject"), ("request_hash", "cd" * 32), ("reason", ""), ("ts", "2026-11-23T20:12:19.124Z")],
)
def test_an_approval_signature_covers_every_field(field, value):
    sig = ReviewerKey("alice", ALICE).sign_approval(APPROVAL)
    with pytest.raises(SignatureError):
        verify_approval({**APPROVAL, field: value}, sig, ALICE.verifier)


def test_another_reviewers_key_does_not_verify():
    sig = b64(Signer("forge-tui.reviewer/bob", bytes(32)).sign(approval_message(APPROVAL)))
    with pytest.raises(SignatureError):
        verify_approval(APPROVAL, sig, ALICE.verifier)


@pytest.mark.parametrize(
    "change",
    [
        {"extra": 1},
        {"verdict": "maybe"},
        {"request_hash": "AB" * 32},
        {"request_hash": "ab" * 31},
        {"request_id": "has space"},
        {"request_id": ""},
        {"reason": None},
        {"reviewer": 7},
        {"ts": "yesterday"},
    ],
)
def test_malformed_approvals_refused(change):
    with pytest.raises(CanonicalError):
        check_approval_shape({**APPROVAL, **change})
    with pytest.raises(CanonicalError):
        approval_message({**APPROVAL, **change})


def test_missing_field_refused():
    incomplete = dict(APPROVAL)
    del incomplete["reason"]
    with pytest.raises(CanonicalError):
        check_approval_shape(incomplete)


# ---- the registry ---------------------------------------------------------------------------------


def test_registry_round_trip(tmp_path):
    path = tmp_path / "reviewers.toml"
    regs = {
        "alice": Reviewer("alice", ALICE.verifier),
        "bob": Reviewer("bob", Signer.generate("forge-tui.reviewer/bob").verifier, 12),
    }
    save_reviewers(path, regs)
    assert load_reviewers(path) == regs
    assert not regs["bob"].active_at(12) and regs["bob"].active_at(11) and regs["alice"].active_at(10**9)
    assert load_reviewers(tmp_path / "absent.toml") == {}


@pytest.mark.parametrize(
    "text",
    [
        "[reviewers.alice]\n",  # no vkey
        f'[reviewers.alice]\nvkey = "{ALICE.verifier.vkey}"\ncolour = "red"\n',  # unknown key
        f'[reviewers.Alice]\nvkey = "{ALICE.verifier.vkey}"\n',  # name not lower case
        f'[reviewers.bob]\nvkey = "{ALICE.verifier.vkey}"\n',  # alice's key under bob's name
        f'[reviewers.alice]\nvkey = "{ALICE.verifier.vkey}"\nretired_at_seq = -1\n',
        f'[reviewers.alice]\nvkey = "{ALICE.verifier.vkey}"\nretired_at_seq = true\n',
        f'[reviewer.alice]\nvkey = "{ALICE.verifier.vkey}"\n',  # misspelt table
        "[reviewers.alice\n",  # not TOML
    ],
)
def test_registry_refusals(text):
    with pytest.raises(ConfigError):
        parse_reviewers(text)


# ---- encrypted reviewer keys ----------------------------------------------------------------------


def test_reviewer_key_is_encrypted_private_and_unlocks_with_its_passphrase():
    key = create_reviewer_key("alice", "correct horse", kdf="interactive")
    path = reviewer_key_path("alice")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = json.loads(path.read_text())
    assert b64(key.signer.seed) not in path.read_text()  # the seed is not stored in the clear
    assert doc["kdf"] == "argon2id" and reviewer_key_vkey("alice") == key.verifier.vkey
    again = unlock_reviewer("alice", "correct horse")
    assert again.verifier == key.verifier
    with pytest.raises(KeyError_, match="wrong passphrase"):
        unlock_reviewer("alice", "wrong horse")
    with pytest.raises(ConfigError, match="already exists"):
        create_reviewer_key("alice", "another correct horse", kdf="interactive")
    with pytest.raises(ConfigError):
        create_reviewer_key("bob", "", kdf="interactive")
    with pytest.raises(KeyError_):
        unlock_reviewer("carol", "x")


def test_store_unlocks_only_enrolled_keys(project):
    """The store trusts the ledger's enrolment records, not reviewers.toml (docs/trust-model.md)."""
    from forge_tui.core.reviewers import enrol_reviewers

    key = create_reviewer_key("alice", "correct horse", kdf="interactive")
    store = ReviewerStore(project)
    save_reviewers(project.reviewers_path, {"alice": Reviewer("alice", key.verifier)})
    with pytest.raises(ConfigError, match="not enrolled"):  # listed in the file, not in the ledger
        store.unlock("alice", "correct horse")
    assert store.names() == []
    enrol_reviewers(project, {"alice": key})
    assert store.names() == ["alice"]
    assert store.unlock("alice", "correct horse").verifier == key.verifier
    other = Signer.generate("forge-tui.reviewer/alice")
    save_reviewers(project.reviewers_path, {"alice": Reviewer("alice", other.verifier)})
    assert store.unlock("alice", "correct horse").verifier == key.verifier, (
        "an edit of reviewers.toml changed trust"
    )
