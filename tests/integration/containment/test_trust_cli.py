"""The trust roots from the command line: `reviewer add|list|retire` write signed enrolment records, and
`policy approve --as NAME` signs a pending policy change (with and without a daemon)."""

from __future__ import annotations

import hashlib

from gatehelp import ask_pending, propose_policy, run_cli, spawn_daemon, verify_clean, wait_for_socket

from forge_tui.client import Client
from forge_tui.core.reviewers import load_reviewers
from forge_tui.core.trust import project_trust

STRICT = 'version = 1\ndefault = "ask"\n\n[[rule]]\nid = "no-env"\nmatch = { kind = "file.read", paths = [".env"] }\ndecision = "deny"\n'
LOOSE = 'version = 1\ndefault = "allow"\n'


def test_reviewer_chain_and_policy_approval_from_the_cli(make_world):
    w = make_world(STRICT, reviewers=())
    env = w.env(FORGE_PASSPHRASE="correct horse battery")
    first = run_cli(w, "reviewer", "add", "alice", "--kdf", "interactive", env=env)
    assert first.returncode == 0 and "signed by alice" in first.stdout, first.stderr
    unsigned = run_cli(w, "reviewer", "add", "bob", "--kdf", "interactive", env=env)
    assert unsigned.returncode == 2 and "--as" in unsigned.stderr, "a second reviewer enrolled unsigned"
    bob = run_cli(w, "reviewer", "add", "bob", "--as", "alice", "--kdf", "interactive", env=env)
    assert bob.returncode == 0 and "signed by alice" in bob.stdout, bob.stderr
    assert set(project_trust(w.project).active()) == {"alice", "bob"}
    assert set(load_reviewers(w.project.reviewers_path)) == {"alice", "bob"}, "the view is not exported"
    listed = run_cli(w, "reviewer", "list", env=env)
    assert "alice" in listed.stdout and "bob" in listed.stdout and "setup mode" not in listed.stdout

    proc = spawn_daemon(w)
    try:
        wait_for_socket(w.sock, proc)
        digest = propose_policy(w, LOOSE)
        wrong = run_cli(w, "policy", "approve", "--as", "mallory", env=env)
        assert wrong.returncode != 0
        ok = run_cli(w, "policy", "approve", "--as", "bob", env=env)
        assert ok.returncode == 0 and "in force" in ok.stdout and '+default = "allow"' in ok.stdout, ok.stderr
        with Client(w.sock) as c:
            assert c.call("status")["policy"]["digest"] == digest
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    retire = run_cli(w, "reviewer", "retire", "bob", "--as", "alice", env=env)
    assert retire.returncode == 0, retire.stderr
    last = run_cli(w, "reviewer", "retire", "alice", "--as", "alice", env=env)
    assert last.returncode == 2 and "last active reviewer" in last.stderr
    w.write_policy(STRICT)
    offline = run_cli(w, "policy", "approve", "--as", "alice", env=env)
    assert offline.returncode == 0 and "enforces it at start" in offline.stdout, offline.stderr
    assert hashlib.sha256(STRICT.encode()).hexdigest() in project_trust(w.project).approved
    verify_clean(w)


def test_reviewer_retire_with_the_daemon_running_denies_nothing(make_world):
    """Issue 12: `reviewer retire` needed the daemon stopped, which denies everything pending. Broken if
    retiring with the daemon running fails, touches the pending request, or leaves the retired
    reviewer's approvals accepted."""
    w = make_world(STRICT, reviewers=())
    env = w.env(FORGE_PASSPHRASE="correct horse battery")
    assert run_cli(w, "reviewer", "add", "alice", "--kdf", "interactive", env=env).returncode == 0
    bob = run_cli(w, "reviewer", "add", "bob", "--as", "alice", "--kdf", "interactive", env=env)
    assert bob.returncode == 0, bob.stderr
    proc = spawn_daemon(w)
    try:
        wait_for_socket(w.sock, proc)
        rid = ask_pending(w)
        retire = run_cli(w, "reviewer", "retire", "bob", "--as", "alice", env=env)
        assert retire.returncode == 0 and "retired" in retire.stdout, retire.stderr
        with Client(w.rsock) as c:
            assert [p["request_id"] for p in c.call("queue.list")["pending"]] == [rid], "pending lost"
            assert c.call("status")["trust"]["reviewers"] == ["alice"]
        refused = run_cli(w, "approve", rid, "--as", "bob", env=env)
        assert refused.returncode != 0 and "retired" in refused.stderr, refused.stderr
        ok = run_cli(w, "approve", rid, "--as", "alice", env=env)
        assert ok.returncode == 0 and f"{rid} allowed" in ok.stdout, ok.stderr
        assert proc.poll() is None, "the daemon stopped"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "bob" not in project_trust(w.project).active()
    verify_clean(w)


def test_reviewer_add_under_an_account_without_the_ledger_makes_a_key_to_enrol(make_world, tmp_path):
    """A second person (their own data folder, no ledger of the project) runs `reviewer add bob`.
    Broken if that fails for want of a ledger, enrols anything by itself, or does not print the vkey an
    active reviewer enrols with `--vkey ... --as`."""
    w = make_world(STRICT, reviewers=())
    env = w.env(FORGE_PASSPHRASE="correct horse battery")
    assert run_cli(w, "reviewer", "add", "alice", "--kdf", "interactive", env=env).returncode == 0
    other = tmp_path / "bob-data"
    other.mkdir(mode=0o700)
    made = run_cli(
        w, "reviewer", "add", "bob", "--kdf", "interactive", env={**env, "FORGE_DATA_DIR": str(other)}
    )
    assert made.returncode == 0, made.stderr
    vkey = next(word for word in made.stdout.split() if word.startswith("forge-tui.reviewer/bob+"))
    assert "bob" not in project_trust(w.project).reviewers, "enrolled without an active reviewer's signature"
    enrol = run_cli(w, "reviewer", "add", "bob", "--vkey", vkey, "--as", "alice", env=env)
    assert enrol.returncode == 0, enrol.stderr
    assert project_trust(w.project).active()["bob"].verifier.vkey == vkey
    from pathlib import Path

    assert list(other.rglob("bob.key")), "the key is not in the second person's own data folder"
    assert not list(Path(env["FORGE_DATA_DIR"]).rglob("bob.key")), "the key went to the owner's folder"
