"""A small deterministic ledger for the Ledger screen tests: fixed project id, ledger id, signing seed and
clock, written by the core writer (so every record is genuinely signed and chained).

Records (seq: type): 0 genesis, 1 policy, 2 request (src/auth edit by claude), 3 decision pending,
4 approval by alice, 5 decision allowed, 6 outcome succeeded, 7 request (force push), 8 decision denied,
9 note with markup and an escape sequence, 10 violation, 11 note by bob.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forge_tui.core.ledger import LedgerWriter
from forge_tui.core.note import Signer
from forge_tui.core.project import Project

PROJECT_ID = "00000000-0000-4000-8000-00000000f00d"
LEDGER_ID = "0123456789abcdef"
SEED = bytes(range(32))
START_MS = 1_795_000_000_000  # 2026-11-18T...Z
HOSTILE_NOTE = "[bold red]pwned[/] \x1b[31mred\x1b[0m [/foo]"


class Clock:
    def __init__(self, start: int = START_MS, step: int = 1500) -> None:
        self.now = start
        self.step = step

    def __call__(self) -> int:
        self.now += self.step
        return self.now


@dataclass
class Kit:
    project: Project
    writer: LedgerWriter
    path: Path  # the tracked ledger file the screen reads
    signer: Signer

    def append(self, *items: tuple[str, dict[str, Any]]) -> None:
        self.writer.append(list(items))


def _request(rid: str, actor: str, kind: str, tool: str, *, command=None, paths=(), summary="") -> dict:
    return {
        "request_id": rid,
        "actor": {"id": actor, "kind": "agent", "session": "s-1"},
        "principal": "dev",
        "action": {"kind": kind, "tool": tool, "command": command, "paths": list(paths), "summary": summary},
        "requirement": None,
        "client": "hook",
    }


def _decision(rid: str, status: str, by: str, rule: str, reason: str) -> dict:
    return {
        "request_id": rid,
        "request_hash": "ab" * 32,
        "status": status,
        "decided_by": by,
        "rule": rule,
        "reason": reason,
        "policy_digest": "cd" * 32,
    }


def build(root: Path) -> Kit:
    """Create the project folder at `root` and its 12-record ledger. Needs an isolated data folder."""
    root.mkdir(parents=True, exist_ok=True)
    project = Project(root=root.resolve(), project_id=PROJECT_ID, name="demo")
    project.ledger_dir.mkdir(parents=True)
    project.pub_dir.mkdir(parents=True)
    signer = Signer(project.origin(LEDGER_ID), SEED)
    (project.pub_dir / f"{LEDGER_ID}.pub").write_text(signer.verifier.vkey + "\n")
    writer = LedgerWriter.create(project, LEDGER_ID, signer, clock=Clock())
    kit = Kit(project, writer, project.tracked_ledger(LEDGER_ID), signer)
    kit.append(("policy", {"digest": "cd" * 32, "path": ".forge/policy.toml", "loaded": True}))
    kit.append(
        ("request", _request("r-1", "claude", "file.write", "Edit", paths=["src/auth/login.py"])),
        ("decision", _decision("r-1", "pending", "policy", "protect-auth", "auth code needs a review")),
    )
    kit.append(
        (
            "approval",
            {
                "approval": {
                    "request_id": "r-1",
                    "request_hash": "ab" * 32,
                    "verdict": "approve",
                    "reason": "looks fine",
                    "reviewer": "alice",
                    "ts": "2026-11-18T10:00:00.000Z",
                },
                "reviewer_kid": "forge-tui.reviewer/alice+00000000",
                "reviewer_sig": "AAAA",
            },
        ),
        ("decision", _decision("r-1", "allowed", "reviewers", "protect-auth", "approved by alice")),
    )
    kit.append(("outcome", {"request_id": "r-1", "status": "succeeded", "detail": "edited"}))
    kit.append(
        ("request", _request("r-2", "codex", "git.push", "Bash", command='git push --force "origin"')),
        ("decision", _decision("r-2", "denied", "policy", "no-force-push", "force pushes rewrite history")),
    )
    kit.append(("note", {"text": HOSTILE_NOTE, "author": "mallory"}))
    kit.append(("violation", {"kind": "self_approval", "request_id": "r-1", "detail": "codex tried"}))
    kit.append(("note", {"text": "incident 42 closed", "author": "bob"}))
    return kit


def tamper(path: Path, old: bytes, new: bytes) -> None:
    """Replace `old` by `new` (same length) in the ledger file: the record's signature no longer holds."""
    assert len(old) == len(new)
    data = path.read_bytes()
    assert data.count(old) == 1, old
    path.write_bytes(data.replace(old, new))
