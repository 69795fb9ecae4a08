"""Helpers for the key rotation and witness tests: a small reviewed ledger, and what an attacker who
holds a ledger key does to the tracked copy (re-sign records, append records, sign checkpoints)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from forge_tui.core.approvals import approval_message
from forge_tui.core.jcs import parse_canonical
from forge_tui.core.merkle import CompactTree, leaf_hash
from forge_tui.core.note import Checkpoint, Signer, b64
from forge_tui.core.records import ZERO_HASH, build_record, format_ts, now_ms
from forge_tui.core.reviewers import Reviewer, save_reviewers

ALICE = Signer("forge-tui.reviewer/alice", hashlib.sha256(b"alice").digest())


def request_body(rid: str, cmd: str) -> dict[str, Any]:
    return {
        "request_id": rid,
        "actor": {"id": "claude-code", "kind": "agent", "session": "s-1"},
        "principal": "dev",
        "process": {"pid": 4242, "uid": 1000, "exe": "/usr/bin/node", "sandboxed": True},
        "action": {"kind": "shell.exec", "tool": "Bash", "command": cmd, "paths": [], "summary": cmd},
        "requirement": None,
        "client": "hook",
    }


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:-1]


def checkpoint_for(origin: str, lines: list[bytes], signers: list[Signer]) -> str:
    tree = CompactTree()
    for line in lines:
        tree.append(leaf_hash(line))
    return Checkpoint(origin, tree.size, tree.root()).sign(signers)


def resign_from(lines: list[bytes], start: int, signer: Signer, edit=None) -> list[bytes]:
    """lines[:start] kept byte-exact, lines[start:] re-signed with `signer` after `edit(rec)` of each."""
    out = list(lines[:start])
    prev = leaf_hash(out[-1]).hex() if out else ZERO_HASH
    for line in lines[start:]:
        rec = parse_canonical(line)
        if edit is not None:
            edit(rec)
        _r, new = build_record(
            log=rec["log"],
            seq=rec["seq"],
            ts=rec["ts"],
            type_=rec["type"],
            prev=prev,
            signer=signer,
            body=rec["body"],
        )
        out.append(new)
        prev = leaf_hash(new).hex()
    return out


def append_signed(lines: list[bytes], origin: str, items: list[tuple[str, dict, Signer]]) -> list[bytes]:
    """`lines` plus records of `items` (type, body, signer), chained on."""
    out = list(lines)
    for type_, body, signer in items:
        _r, line = build_record(
            log=origin,
            seq=len(out),
            ts=format_ts(now_ms()),
            type_=type_,
            prev=leaf_hash(out[-1]).hex(),
            signer=signer,
            body=body,
        )
        out.append(line)
    return out


def write_tracked(project, lid: str, lines: list[bytes], signers: list[Signer]) -> None:
    project.tracked_ledger(lid).write_bytes(b"".join(x + b"\n" for x in lines))
    project.tracked_checkpoint(lid).write_text(checkpoint_for(project.origin(lid), lines, signers))


def reviewed_ledger(project, *, witness: bool = True) -> int:
    """Append to `project`'s ledger (alice in reviewers.toml): policy, a request asked of reviewers, a
    note, alice's approval (cosigning the checkpoint she saw when `witness`), the decision, the outcome,
    more notes. Returns the witnessed size."""
    from forge_tui.core.ledger import LedgerWriter

    save_reviewers(project.reviewers_path, {"alice": Reviewer("alice", ALICE.verifier)})
    digest = hashlib.sha256(project.policy_path.read_bytes()).hexdigest()
    common = {"rule": "push", "rules": ["push"], "reason": "because", "policy_digest": digest}
    with LedgerWriter.open(project) as w:
        w.append([("policy", {"digest": digest, "path": ".forge/policy.toml", "loaded": True, "rules": 1})])
        req = w.append(
            [
                ("request", request_body("r-1", "git push")),
                (
                    "decision",
                    lambda done: {
                        "request_id": "r-1",
                        "request_hash": done[0].leaf,
                        "status": "pending",
                        "decided_by": "policy",
                        "approvals_needed": 1,
                        "distinct_from": ["requester"],
                        **common,
                    },
                ),
            ]
        )
        rhash = req[0].leaf
        w.append([("note", {"text": "early history", "author": "dev"})])
        seen = w.size
        appr: dict[str, Any] = {
            "request_id": "r-1",
            "request_hash": rhash,
            "verdict": "approve",
            "reason": "fine",
            "reviewer": "alice",
            "ts": format_ts(now_ms()),
        }
        if witness:
            appr["checkpoint"] = {"size": seen, "root": w.root().hex()}
        sig = b64(ALICE.sign(approval_message(appr)))
        final = {
            "request_id": "r-1",
            "request_hash": rhash,
            "status": "allowed",
            "decided_by": "reviewers",
            "approvals_needed": 1,
            "distinct_from": ["requester"],
            **common,
            "reason": "approved",
        }
        w.append(
            [
                ("approval", {"approval": appr, "reviewer_kid": ALICE.kid, "reviewer_sig": sig}),
                ("decision", final),
            ]
        )
        w.append([("outcome", {"request_id": "r-1", "status": "succeeded", "detail": "exit 0"})])
        w.append([("note", {"text": "later", "author": "dev"})])
    return seen
