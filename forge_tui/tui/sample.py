"""A deterministic sample project for screenshots and snapshot tests.

Same bytes on every run: a fixed project id and ledger id, keys derived from fixed seeds (Ed25519
signatures are deterministic), and a fake clock. The ledger holds what a short session through the gate
writes: the policy record, the enrolment of the reviewers alice (self-signed, the first) and bob (signed
by alice) — the daemon takes reviewers from these records, never from reviewers.toml, which is exported
from them —, requests with their decisions, a reviewer's signed approval, outcomes, a refused
self-approval and a note. `record_policy_change()` appends a policy change approved by a reviewer (the
daemon then starts with it in force); `tamper()` breaks the ledger in the ways the verify screen must
report.

Private keys go to the data folder of the environment (FORGE_DATA_DIR): callers point it at a scratch
folder first.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from forge_tui.core.keys import REVIEWER_KEY_PREFIX, ReviewerKey, save_ledger_key
from forge_tui.core.ledger import LedgerWriter
from forge_tui.core.note import Signer
from forge_tui.core.policy import parse_policy
from forge_tui.core.project import PROJECT_FILE, Project
from forge_tui.core.records import format_ts
from forge_tui.core.reviewers import export_reviewers
from forge_tui.core.trust import (
    policy_statement,
    reviewer_statement,
    sign_policy_statement,
    sign_reviewer_statement,
)
from forge_tui.demo import AUTH_DIFF, DEMO_POLICY
from forge_tui.paths import FORGE_DIR, atomic_write

PROJECT_ID = "6f1c2a4e-9b3d-4c8e-a1f0-5d7e2b9c4a61"
LEDGER_ID = "a3f9c21e07b4d856"
START_MS = 1_772_442_845_000  # 2026-03-02T09:14:05.000Z
STEP_MS = 1_700
AGENT = {"id": "claude-code", "kind": "agent", "session": "sess-7f3a"}
PRINCIPAL = "dana"
PEER = {"pid": 4242, "uid": 1000, "exe": "/usr/bin/python3"}
REVIEWERS = ("alice", "bob")


# The demo's policy and diff: the rule ids match, so the demo agent's requests get the same answers.
# (Changing them changes the snapshots: regenerate with --snapshot-update.)
SAMPLE_POLICY = DEMO_POLICY


def _seed(label: str) -> bytes:
    return hashlib.sha256(b"forge-tui sample v1\n" + label.encode()).digest()


def reviewer_key(name: str) -> ReviewerKey:
    """A sample reviewer's key (in memory: the sample never writes reviewer key files)."""
    return ReviewerKey(name, Signer(REVIEWER_KEY_PREFIX + name, _seed(f"reviewer/{name}")))


class FixedClock:
    """Milliseconds from a fixed start, a little later on every call."""

    def __init__(self, start_ms: int = START_MS, step_ms: int = STEP_MS) -> None:
        self._ticks = itertools.count()
        self.start_ms = start_ms
        self.step_ms = step_ms

    def __call__(self) -> int:
        return self.start_ms + next(self._ticks) * self.step_ms


@dataclass
class Sample:
    project: Project
    ledger_path: Path
    request_seqs: dict[str, int]  # request_id -> seq of its request record


def build_sample(root: Path, *, policy: str = SAMPLE_POLICY) -> Sample:
    """Create the sample project in `root` (an empty or missing folder) and write its ledger."""
    root = Path(root)
    (root / "src" / "auth").mkdir(parents=True, exist_ok=True)
    (root / "README.md").write_text("# shop\nA demo service.\n")
    forge = root / FORGE_DIR
    forge.mkdir()
    project = Project(root=root.resolve(), project_id=PROJECT_ID, name="shop")
    doc = {"project_id": PROJECT_ID, "name": "shop", "settings": {}}
    atomic_write(forge / PROJECT_FILE, tomli_w.dumps(doc).encode())
    atomic_write(project.policy_path, policy.encode())
    keys = {n: reviewer_key(n) for n in REVIEWERS}

    signer = Signer(project.origin(LEDGER_ID), _seed("ledger"))
    save_ledger_key(LEDGER_ID, signer)
    project.pub_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(project.pub_dir / f"{LEDGER_ID}.pub", (signer.verifier.vkey + "\n").encode())
    atomic_write(
        project.state_dir / "local.toml", tomli_w.dumps({"ledger_id": LEDGER_ID}).encode(), mode=0o600
    )
    clock = FixedClock()
    seqs: dict[str, int] = {}
    digest = hashlib.sha256(policy.encode()).hexdigest()
    with LedgerWriter.create(project, LEDGER_ID, signer, clock=clock) as w:
        w.append([("policy", {"digest": digest, "path": ".forge/policy.toml", "loaded": True, "rules": 7})])
        first = keys[REVIEWERS[0]]
        for name, key in keys.items():  # the first enrols themself, every later one is signed by the first
            st = {
                **reviewer_statement("enrol", name, key.verifier.vkey, PROJECT_ID, first.name),
                "ts": format_ts(clock()),
            }
            w.append([("reviewer", sign_reviewer_statement(first, st))])

        def gate(
            rid: str, action: dict[str, Any], status: str, rule: str | None, reason: str, **extra
        ) -> str:
            body = {
                "request_id": rid,
                "actor": AGENT,
                "principal": PRINCIPAL,
                "process": PEER,
                "action": action,
                "requirement": extra.pop("requirement", None),
                "client": "claude-code-hook",
                **extra,
            }

            def decision(done: list) -> dict[str, Any]:
                b = {
                    "request_id": rid,
                    "request_hash": done[0].leaf,
                    "status": status,
                    "decided_by": "policy",
                    "rule": rule,
                    "rules": [rule] if rule else [],
                    "reason": reason,
                    "policy_digest": digest,
                }
                if status == "pending":
                    b["approvals_needed"] = 1
                    b["distinct_from"] = ["principal", "requester"]
                return b

            req, _dec = w.append([("request", body), ("decision", decision)])
            seqs[rid] = req.seq
            return req.leaf

        def outcome(rid: str, status: str = "succeeded") -> None:
            w.append([("outcome", {"request_id": rid, "status": status, "detail": "exit 0"})])

        read = {"kind": "file.read", "tool": "Read", "paths": ["README.md"], "summary": "Read README.md"}
        gate("r-1a2b3c4d5e6f7081", read, "allowed", "read-only", "allowed by rule read-only")
        outcome("r-1a2b3c4d5e6f7081")
        edit = {
            "kind": "file.write",
            "tool": "Edit",
            "paths": ["src/auth/session.py"],
            "summary": "Shorten session lifetime to 1 h",
            "input_digest": "sha256:" + hashlib.sha256(AUTH_DIFF.encode()).hexdigest(),
        }
        rid = "r-2b3c4d5e6f708192"
        leaf = gate(
            rid,
            edit,
            "pending",
            "protect-auth",
            "authentication code needs a human review",
            requirement="SEC-142",
            content_size=len(AUTH_DIFF),
        )
        appr = {
            "request_id": rid,
            "request_hash": leaf,
            "verdict": "approve",
            "reason": "matches SEC-142",
            "reviewer": "alice",
            "ts": format_ts(clock()),
        }
        alice = keys["alice"]

        def approved(done: list) -> dict[str, Any]:
            return {
                "request_id": rid,
                "request_hash": leaf,
                "status": "allowed",
                "decided_by": "reviewers",
                "rule": "protect-auth",
                "reason": "approved by alice",
                "policy_digest": digest,
                "approvals_needed": 1,
                "distinct_from": ["principal", "requester"],
                "approval_seqs": [done[0].seq],
            }

        w.append(
            [
                (
                    "approval",
                    {
                        "approval": appr,
                        "reviewer_kid": alice.verifier.kid,
                        "reviewer_sig": alice.sign_approval(appr),
                        "peer": PEER,
                    },
                ),
                ("decision", approved),
            ]
        )
        outcome(rid)
        tests = {
            "kind": "shell.exec",
            "tool": "Bash",
            "command": "pytest -q tests/",
            "summary": "Run the tests",
        }
        gate("r-3c4d5e6f708192a3", tests, "allowed", "tests", "allowed by rule tests")
        outcome("r-3c4d5e6f708192a3")
        push = {"kind": "shell.exec", "tool": "Bash", "command": "git push --force origin main"}
        gate("r-4d5e6f708192a3b4", push, "denied", "no-force-push", "force pushes rewrite shared history")
        w.append(
            [
                (
                    "violation",
                    {
                        "kind": "self_approval",
                        "request_id": "r-4d5e6f708192a3b4",
                        "detail": "'dana' tried to decide a request where they are the principal the agent acts for",
                    },
                )
            ]
        )
        w.append([("note", {"text": "release 1.4 review done", "author": "alice"})])
    export_reviewers(project)  # .forge/reviewers.toml: the view of the records above
    return Sample(project, project.tracked_ledger(LEDGER_ID), seqs)


def record_policy_change(sample: Sample, policy: str, reviewer: str = "alice") -> int:
    """Write `policy` to the sample's policy file and append its approval, signed by `reviewer`, as the
    daemon records a reviewer's `policy approve` (a later daemon starts with it in force). The policy
    text is archived by digest, as the daemon archives every policy it records. Returns the seq."""
    project = sample.project
    data = policy.encode()
    digest = hashlib.sha256(data).hexdigest()
    atomic_write(project.policy_path, data)
    for folder in (project.state_dir / "policies", project.forge_dir / "policies"):
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write(folder / f"{digest}.toml", data)
    key = reviewer_key(reviewer)
    clock = FixedClock(START_MS + 1_800_000)
    with LedgerWriter.open(project, LEDGER_ID, clock=clock) as w:
        st = {**policy_statement(digest, reviewer, PROJECT_ID), "ts": format_ts(clock())}
        signed = sign_policy_statement(key, st)
        body = {
            "event": "approved",
            "digest": digest,
            "path": ".forge/policy.toml",
            "approval": signed["approval"],
            "reviewer_kid": key.verifier.kid,
            "reviewer_sig": signed["reviewer_sig"],
            "rules": len(parse_policy(data).rules),
        }
        (rec,) = w.append([("policy", body)])
    return rec.seq


def tamper(sample: Sample) -> dict[str, int]:
    """Break the tracked ledger copy the ways an attacker would; returns {what: seq} for each break.

    * an edited record: the test command in a signed request is changed after the fact (its signature
      and the next record's `prev` no longer verify, nor does the checkpoint root);
    * the authoritative copy is left alone, so nothing here is repaired from it.
    """
    path = sample.ledger_path
    lines = path.read_bytes().split(b"\n")
    seq = sample.request_seqs["r-3c4d5e6f708192a3"]
    assert b"pytest -q tests/" in lines[seq]
    lines[seq] = lines[seq].replace(b"pytest -q tests/", b"pytest -q test//")
    path.write_bytes(b"\n".join(lines))
    return {"edited": seq}


def append_unauthorized_outcome(sample: Sample) -> int:
    """Append, with the real key, an outcome for a request that was denied: execution without
    authorization (a forensic finding even though every signature verifies). Returns its seq."""
    from forge_tui.core.ledger import LedgerWriter as _W

    with _W.open(sample.project, LEDGER_ID, clock=FixedClock(START_MS + 3_600_000)) as w:
        rec = w.append([("outcome", {"request_id": "r-4d5e6f708192a3b4", "status": "succeeded"})])[0]
    return rec.seq
