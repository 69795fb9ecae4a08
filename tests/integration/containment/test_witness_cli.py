"""Reviewers as witnesses from the command line: `approve` and `policy approve` (with and without a
daemon) cosign the ledger checkpoint they checked, and refuse to sign one that forks what they saw."""

from __future__ import annotations

import json

from gatehelp import ask_pending, propose_policy, run_cli, spawn_daemon, verify_clean, wait_for_socket

from forge_tui.client import Client
from forge_tui.core.jcs import parse_canonical
from forge_tui.core.verify import verify_project
from forge_tui.core.witness import last_witnessed, state_path

STRICT = 'version = 1\ndefault = "ask"\n\n[[rule]]\nid = "no-env"\nmatch = { kind = "file.read", paths = [".env"] }\ndecision = "deny"\n'
LOOSE = 'version = 1\ndefault = "ask"\n'


def signed_objects(w, type_: str) -> list[dict]:
    lid = w.project.local_ledger_id()
    recs = [parse_canonical(x) for x in w.project.tracked_ledger(lid).read_bytes().split(b"\n")[:-1]]
    return [r["body"].get("approval") for r in recs if r["type"] == type_ and r["body"].get("approval")]


def test_approvals_cosign_the_checkpoint_their_reviewer_checked(make_world):
    w = make_world(STRICT, reviewers=())
    env = w.env(FORGE_PASSPHRASE="correct horse battery")
    assert run_cli(w, "reviewer", "add", "alice", "--kdf", "interactive", env=env).returncode == 0
    proc = spawn_daemon(w)
    try:
        wait_for_socket(w.sock, proc)
        rid = ask_pending(w)
        ok = run_cli(w, "approve", rid, "--as", "alice", env=env)
        assert ok.returncode == 0 and f"{rid} allowed" in ok.stdout, ok.stderr
        rid2 = ask_pending(w)  # the second approval is proved consistent with the first witnessed checkpoint
        ok = run_cli(w, "approve", rid2, "--as", "alice", env=env)
        assert ok.returncode == 0, ok.stderr
        propose_policy(w, LOOSE)
        ok = run_cli(w, "policy", "approve", "--as", "alice", env=env)
        assert ok.returncode == 0, ok.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    w.write_policy(STRICT)
    offline = run_cli(w, "policy", "approve", "--as", "alice", env=env)
    assert offline.returncode == 0, offline.stderr
    approvals = signed_objects(w, "approval")
    policies = signed_objects(w, "policy")
    assert len(approvals) == 2 and len(policies) == 2
    sizes = [a["checkpoint"]["size"] for a in approvals + policies]
    assert sizes == sorted(sizes) and sizes[0] > 1, sizes
    verify_clean(w)
    report = verify_project(w.project, workers=1)
    (lr,) = report.ledgers
    assert lr.witnesses == 4 and lr.witnessed_size == sizes[-1]
    assert "witnessed" in report.strength()["claims"]


def test_approve_refuses_to_witness_a_ledger_that_forks_what_it_saw(make_world):
    w = make_world(STRICT, reviewers=())
    env = w.env(FORGE_PASSPHRASE="correct horse battery")
    assert run_cli(w, "reviewer", "add", "alice", "--kdf", "interactive", env=env).returncode == 0
    proc = spawn_daemon(w)
    try:
        wait_for_socket(w.sock, proc)
        ok = run_cli(w, "approve", ask_pending(w), "--as", "alice", env=env)
        assert ok.returncode == 0, ok.stderr
        lid = w.project.local_ledger_id()
        seen = last_witnessed(w.project, lid)
        assert seen is not None and seen.size > 0
        # what alice remembers now disagrees with the daemon's history (as after a rewrite)
        state_path(w.project, lid).write_text(json.dumps({"size": seen.size, "root": "ab" * 32}))
        rid = ask_pending(w)
        refused = run_cli(w, "approve", rid, "--as", "alice", env=env)
        assert (
            refused.returncode == 2 and "not consistent with the checkpoint you witnessed" in refused.stderr
        )
        with Client(w.rsock) as c:
            assert rid in [p["request_id"] for p in c.call("queue.list")["pending"]], "it was signed anyway"
        state_path(w.project, lid).write_text(json.dumps({"size": 10_000, "root": "ab" * 32}))
        refused = run_cli(w, "approve", rid, "--as", "alice", env=env)
        assert refused.returncode == 2 and "the ledger shrank" in refused.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=30)
