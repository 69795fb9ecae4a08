"""Helpers for the ledger integrity tests (tamper corpus, bit flips, truncation, crashes).

`build_template(folder)` makes a project whose ledger is written by the real `LedgerWriter`, with the
records a daemon writes (policy, requests, decisions by policy and by reviewers, a reviewer-signed
approval, outcomes, notes). `World` wraps a copy of it: the tracked ledger and checkpoint, the private
data folder (FORGE_DATA_DIR), and ways to tamper with them, re-signing where an attacker holding the
ledger key would.

Record layout of the template (seq: type):
  0 genesis, 1 policy, 2 request r1, 3 decision allowed (policy), 4 outcome r1,
  5 request r2, 6 decision pending, 7 approval (alice), 8 decision allowed (reviewers), 9 outcome r2,
  10 note, 11 request r3, 12 decision denied (policy), 13 note
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forge_tui.core.approvals import approval_message
from forge_tui.core.jcs import parse_canonical
from forge_tui.core.merkle import CompactTree, leaf_hash
from forge_tui.core.note import Checkpoint, Signer, b64
from forge_tui.core.policy import parse_policy
from forge_tui.core.project import load_project_file
from forge_tui.core.records import ZERO_HASH, build_record, format_ts, now_ms

REVIEWER_SEED = bytes(range(32))
N_RECORDS = 14


@contextlib.contextmanager
def data_dir_env(path: Path):
    old = os.environ.get("FORGE_DATA_DIR")
    os.environ["FORGE_DATA_DIR"] = str(path)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("FORGE_DATA_DIR", None)
        else:
            os.environ["FORGE_DATA_DIR"] = old


def request_body(rid: str, cmd: str) -> dict[str, Any]:
    return {
        "request_id": rid,
        "actor": {"id": "claude-code", "kind": "agent", "session": "s-1"},
        "principal": "dev",
        "process": {"pid": 4242, "uid": 1000, "exe": "/usr/bin/node"},
        "action": {
            "kind": "shell.exec",
            "tool": "Bash",
            "command": cmd,
            "paths": [],
            "url": None,
            "summary": cmd,
            "input_digest": None,
        },
        "requirement": None,
        "client": "hook",
    }


def build_template(folder: Path) -> None:
    """folder/project (the repository side) and folder/data (FORGE_DATA_DIR) with a 14-record ledger."""
    from forge_tui.core.ledger import LedgerWriter
    from forge_tui.core.project import init_project
    from forge_tui.core.reviewers import Reviewer, save_reviewers

    root = folder / "project"
    root.mkdir(parents=True)
    with data_dir_env(folder / "data"):
        project = init_project(root, pack="solo", name="tpl")
        alice = Signer("forge-tui.reviewer/alice", REVIEWER_SEED)
        save_reviewers(project.reviewers_path, {"alice": Reviewer("alice", alice.verifier)})
        digest = hashlib.sha256(project.policy_path.read_bytes()).hexdigest()
        policy = parse_policy(project.policy_path.read_bytes())
        # The rules the solo pack decides these commands by (verify re-evaluates policy decisions).
        rules = {"r-1": "tests", "r-2": "push", "r-3": "no-wipe"}
        for rid, cmd in (("r-1", "pytest -q"), ("r-2", "git push"), ("r-3", "rm -rf /")):
            assert policy.evaluate(request_body(rid, cmd)["action"], project_root=root).rule == rules[rid]

        def decision(rid, status, by="policy", **extra):
            def body(done):
                b = {
                    "request_id": rid,
                    "request_hash": done[0].leaf,
                    "status": status,
                    "decided_by": by,
                    "rule": rules[rid],
                    "rules": [rules[rid]],
                    "reason": "because",
                    "policy_digest": digest,
                }
                b.update(extra)
                return b

            return body

        with LedgerWriter.open(project) as w:
            w.append(
                [("policy", {"digest": digest, "path": ".forge/policy.toml", "loaded": True, "rules": 1})]
            )
            w.append(
                [("request", request_body("r-1", "pytest -q")), ("decision", decision("r-1", "allowed"))]
            )
            w.append([("outcome", {"request_id": "r-1", "status": "succeeded", "detail": "exit 0"})])
            req = w.append(
                [
                    ("request", request_body("r-2", "git push")),
                    ("decision", decision("r-2", "pending", approvals_needed=1, distinct_from=["requester"])),
                ]
            )
            rhash = req[0].leaf
            appr = {
                "request_id": "r-2",
                "request_hash": rhash,
                "verdict": "approve",
                "reason": "fine",
                "reviewer": "alice",
                "ts": format_ts(now_ms()),
            }
            sig = b64(alice.sign(approval_message(appr)))
            final = {
                "request_id": "r-2",
                "request_hash": rhash,
                "status": "allowed",
                "decided_by": "reviewers",
                "rule": "push",
                "reason": "approved",
                "policy_digest": digest,
                "approvals_needed": 1,
                "distinct_from": ["requester"],
                "approval_seqs": [7],
            }
            w.append(
                [
                    ("approval", {"approval": appr, "reviewer_kid": alice.kid, "reviewer_sig": sig}),
                    ("decision", final),
                ]
            )
            w.append([("outcome", {"request_id": "r-2", "status": "succeeded", "detail": "exit 0"})])
            w.append([("note", {"text": "incident 42 closed", "author": "alice"})])
            w.append([("request", request_body("r-3", "rm -rf /")), ("decision", decision("r-3", "denied"))])
            w.append([("note", {"text": "end", "author": "bob"})])
            assert w.size == N_RECORDS


@dataclass
class World:
    base: Path

    @property
    def root(self) -> Path:
        return self.base / "project"

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def project(self):
        return load_project_file(self.root / ".forge")

    @property
    def lid(self) -> str:
        return self.project.ledger_ids()[0] if self.project.ledger_ids() else self._lid_from_keys()

    def _lid_from_keys(self) -> str:
        return sorted(self.root.glob(".forge/keys/*.pub"))[0].stem

    @property
    def ledger(self) -> Path:
        return self.root / ".forge" / "ledger" / f"{self.lid}.jsonl"

    @property
    def checkpoint(self) -> Path:
        return self.root / ".forge" / "ledger" / f"{self.lid}.checkpoint"

    @property
    def pub(self) -> Path:
        return self.root / ".forge" / "keys" / f"{self.lid}.pub"

    @property
    def auth_ledger(self) -> Path:
        return self.data / "projects" / self.project.project_id / "ledger" / f"{self.lid}.jsonl"

    @property
    def auth_checkpoint(self) -> Path:
        return self.auth_ledger.with_suffix(".checkpoint")

    @property
    def origin(self) -> str:
        return self.project.origin(self.lid)

    # ---- reading and writing the tracked copy ---------------------------------------------------

    def lines(self) -> list[bytes]:
        data = self.ledger.read_bytes()
        assert data.endswith(b"\n")
        return data[:-1].split(b"\n")

    def write_lines(self, lines: list[bytes]) -> None:
        self.ledger.write_bytes(b"".join(line + b"\n" for line in lines))

    def records(self) -> list[dict[str, Any]]:
        return [parse_canonical(line) for line in self.lines()]

    def signer(self) -> Signer:
        from forge_tui.core.keys import load_ledger_key

        with data_dir_env(self.data):
            return load_ledger_key(self.lid)

    # ---- what an attacker holding a key can do --------------------------------------------------

    def checkpoint_for(self, lines: list[bytes], signer: Signer, origin: str | None = None) -> str:
        tree = CompactTree()
        for line in lines:
            tree.append(leaf_hash(line))
        return Checkpoint(origin or self.origin, tree.size, tree.root()).sign([signer])

    def resign(self, records: list[dict[str, Any]], signer: Signer, start: int = 0) -> list[bytes]:
        """Re-sign records[start:] with `signer` (fixing prev, and the request_hash of decisions whose
        request was re-signed), keeping records[:start] byte-exact; writes the ledger and a checkpoint
        over it signed by `signer`. Returns the lines. (Approvals cannot be fixed: the reviewer signed
        the old request hash.)"""
        lines = self.lines()[:start]
        prev = leaf_hash(lines[-1]).hex() if lines else ZERO_HASH
        new_hash: dict[str, str] = {}  # request id -> leaf hash of its re-signed request
        for rec in records[start:]:
            body = rec["body"]
            if rec["type"] == "decision" and body.get("request_id") in new_hash:
                body = {**body, "request_hash": new_hash[body["request_id"]]}  # as the attacker would
            _r, line = build_record(
                log=rec["log"],
                seq=rec["seq"],
                ts=rec["ts"],
                type_=rec["type"],
                prev=prev,
                signer=signer,
                body=body,
            )
            lines.append(line)
            prev = leaf_hash(line).hex()
            if rec["type"] == "request":
                new_hash[body["request_id"]] = prev
        self.write_lines(lines)
        self.checkpoint.write_text(self.checkpoint_for(lines, signer))
        return lines

    def edit_line(self, seq: int, old: bytes, new: bytes) -> None:
        lines = self.lines()
        assert lines[seq].count(old) == 1, (seq, old)
        lines[seq] = lines[seq].replace(old, new)
        self.write_lines(lines)


def copy_world(template: Path, dest: Path) -> World:
    shutil.copytree(template, dest, symlinks=True)
    return World(dest)


def report_pairs(report: dict) -> set[tuple[str, int | None]]:
    return {(f["code"], f["seq"]) for f in report["findings"]}


def first_error_seq(report: dict) -> int | None:
    seqs = [f["seq"] for f in report["findings"] if f["severity"] == "error" and f["seq"] is not None]
    return min(seqs) if seqs else None


def dumps(obj) -> str:
    return json.dumps(obj, indent=1)
