"""Reviewer passphrases have a minimum strength (issue 7 §7): at key creation (`reviewer add`) and at a
passphrase change (`reviewer passphrase`), a weak one is refused with one clear line and exit 2, and
nothing is written (no key file, no enrolment record). Only the demo opts out, by a parameter no
command passes."""

from __future__ import annotations

import json

import pytest

from forge_tui.core.keys import (
    change_reviewer_passphrase,
    create_reviewer_key,
    reviewer_key_path,
    unlock_reviewer,
)
from forge_tui.core.passphrase import weakness
from forge_tui.errors import ConfigError, KeyError_

STRONG = "tulip orbit cellar nine"


@pytest.mark.parametrize(
    ("passphrase", "why"),
    [
        ("demo", "4 characters"),
        ("pw-dave", "7 characters"),
        ("aaaaaaaaaaaaaaaa", "variety"),
        ("mississippi1", "variety"),
        ("abcdefghijklmnop", "neighbouring"),
        ("123456789012", "neighbouring"),
        ("Passw0rd!Passw0rd!", "repeats"),
        ("password1234", "common password"),
        ("Password!2026", "common password"),
    ],
)
def test_weak_passphrases_are_named_with_the_reason(passphrase, why):
    """Broken if a guessable passphrase protects a reviewer key, or the refusal does not say why."""
    assert why in weakness(passphrase)


@pytest.mark.parametrize("passphrase", [STRONG, "correct horse", "pair passphrase", "Kx9#mT2$vL8q"])
def test_strong_passphrases_pass(passphrase):
    """Broken if a few words or a random string are refused (people would then pick worse ones)."""
    assert weakness(passphrase) == ""


def test_create_refuses_a_weak_passphrase_and_writes_nothing():
    with pytest.raises(ConfigError, match="too weak: it has 4 characters") as info:
        create_reviewer_key("alice", "demo", kdf="interactive")
    assert info.value.exit_code == 2 and "words" in info.value.diagnostics()
    assert not reviewer_key_path("alice").exists()


def test_only_the_demo_parameter_skips_the_check():
    key = create_reviewer_key("you", "demo", kdf="interactive", demo_insecure_passphrase=True)
    assert unlock_reviewer("you", "demo").verifier == key.verifier


def test_change_needs_the_old_passphrase_and_a_strong_new_one():
    key = create_reviewer_key("alice", STRONG, kdf="interactive")
    before = json.loads(reviewer_key_path("alice").read_text())
    with pytest.raises(ConfigError, match="too weak"):
        change_reviewer_passphrase("alice", STRONG, "alice2026")
    with pytest.raises(KeyError_, match="wrong passphrase"):
        change_reviewer_passphrase("alice", "not the passphrase", "a new strong phrase here")
    assert json.loads(reviewer_key_path("alice").read_text()) == before, "a refused change wrote the file"
    change_reviewer_passphrase("alice", STRONG, "a new strong phrase here")
    assert unlock_reviewer("alice", "a new strong phrase here").verifier == key.verifier  # the same key
    with pytest.raises(KeyError_, match="wrong passphrase"):
        unlock_reviewer("alice", STRONG)
    after = json.loads(reviewer_key_path("alice").read_text())
    assert (after["opslimit"], after["memlimit"]) == (before["opslimit"], before["memlimit"])


def test_reviewer_add_with_a_weak_passphrase_exits_2_and_enrols_nobody(project, run_cli, monkeypatch):
    """Broken if `reviewer add` enrols a key under a weak passphrase, or fails other than with exit 2."""
    monkeypatch.setenv("FORGE_PASSPHRASE", "alice")
    code, out, err = run_cli("reviewer", "add", "alice", "--kdf", "interactive")
    assert code == 2, (out, err)
    assert "the passphrase is too weak" in err and len(err.strip().splitlines()) == 1
    assert not reviewer_key_path("alice").exists()
    ledger = project.state_dir / "ledger" / f"{project.local_ledger_id()}.jsonl"
    assert b'"type":"reviewer"' not in ledger.read_bytes()
    monkeypatch.setenv("FORGE_PASSPHRASE", STRONG)
    code, out, err = run_cli("reviewer", "add", "alice", "--kdf", "interactive")
    assert code == 0, err


def test_reviewer_passphrase_changes_it_from_the_command_line(project, run_cli, monkeypatch):
    create_reviewer_key("alice", STRONG, kdf="interactive")
    monkeypatch.setenv("FORGE_PASSPHRASE", STRONG)
    monkeypatch.setenv("FORGE_NEW_PASSPHRASE", "short")
    code, _, err = run_cli("reviewer", "passphrase", "alice")
    assert code == 2 and "too weak" in err
    monkeypatch.setenv("FORGE_NEW_PASSPHRASE", "gravel lantern otter")
    code, out, err = run_cli("reviewer", "passphrase", "alice")
    assert code == 0 and "is changed" in out, err
    assert unlock_reviewer("alice", "gravel lantern otter").name == "alice"
