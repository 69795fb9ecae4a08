"""A deterministic project and ledger for the report tests: fixed project id, ledger id, keys and clock,
so every byte of the ledger (and of the reports made from it) is the same on every run.

`build_report_project(root)` writes `.forge/` (solo policy, reviewers alice and bob), this machine's
ledger key and local ledger id (into the current FORGE_DATA_DIR / XDG folders), and a ledger of 14
days of agent work with a signed checkpoint over it. It holds on purpose:
  - every day: tests (allowed by policy), an edit of src/ (allowed by policy), a `git push` approved by
    alice or bob after a growing delay;
  - day 3: a CI workflow edit rejected by bob; day 5: `rm -rf /` denied by policy;
  - day 6: bob approving his own push (self-approval and quorum findings);
  - day 7: a command carrying `<script>` (hostile text the renderers must escape);
  - day 8: a push that expired (denied by timeout);
  - day 9: an outcome for a tool run no request covers, and a bypass the host reported whose detail
    carries `<script>` (so the hostile text reaches the exceptions table of every report).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tomli_w

from forge_tui.core.approvals import approval_message
from forge_tui.core.keys import save_ledger_key
from forge_tui.core.merkle import leaf_hash, root_from_leaves
from forge_tui.core.note import Checkpoint, Signer, b64
from forge_tui.core.policy import parse_policy
from forge_tui.core.project import load_project_file, pack_text
from forge_tui.core.records import build_record, format_ts
from forge_tui.core.reviewers import Reviewer, save_reviewers
from forge_tui.core.trust import reviewer_message
from forge_tui.paths import atomic_write

PROJECT_ID = "5e1f0000-0000-4000-8000-0000000000a1"
LEDGER_ID = "0a1b2c3d4e5f6071"
LEDGER_SEED = bytes([7]) * 32
REVIEWER_SEEDS = {"alice": bytes([11]) * 32, "bob": bytes([22]) * 32}
START_MS = 1780304400000  # 2026-06-01T09:00:00.000Z
DAYS = 14
XSS = "echo \"<script>document.body.setAttribute('data-pwned','1')</script>\""

Body = Callable[[dict[str, str]], dict[str, Any]]


def _action(kind: str, *, command: str | None = None, paths: list[str] | None = None) -> dict[str, Any]:
    tool = "Bash" if kind == "shell.exec" else "Write"
    return {
        "kind": kind,
        "tool": tool,
        "command": command,
        "paths": paths or [],
        "url": None,
        "summary": command or f"{tool} {', '.join(paths or [])}",
        "input_digest": None,
    }


def build_report_project(root: Path) -> None:
    root.mkdir(parents=True)
    forge = root / ".forge"
    forge.mkdir()
    atomic_write(
        forge / "project.toml",
        tomli_w.dumps({"project_id": PROJECT_ID, "name": "acme-api", "settings": {}}).encode(),
    )
    policy_bytes = pack_text("solo")
    atomic_write(forge / "policy.toml", policy_bytes)
    project = load_project_file(forge)
    reviewers = {n: Signer(f"forge-tui.reviewer/{n}", s) for n, s in REVIEWER_SEEDS.items()}
    save_reviewers(project.reviewers_path, {n: Reviewer(n, k.verifier) for n, k in reviewers.items()})
    origin = project.origin(LEDGER_ID)
    signer = Signer(origin, LEDGER_SEED)
    save_ledger_key(LEDGER_ID, signer)
    project.pub_dir.mkdir()
    project.ledger_dir.mkdir()
    atomic_write(project.pub_dir / f"{LEDGER_ID}.pub", (signer.verifier.vkey + "\n").encode())
    project.state_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(
        project.state_dir / "local.toml", tomli_w.dumps({"ledger_id": LEDGER_ID}).encode(), mode=0o600
    )
    policy = parse_policy(policy_bytes)
    digest = hashlib.sha256(policy_bytes).hexdigest()
    events = _events(project, policy, digest, reviewers, root)
    lines = _write(events, origin, signer)
    project.tracked_ledger(LEDGER_ID).write_bytes(b"".join(line + b"\n" for line in lines))
    root_hash = root_from_leaves([leaf_hash(line) for line in lines])
    project.tracked_checkpoint(LEDGER_ID).write_text(Checkpoint(origin, len(lines), root_hash).sign([signer]))


def _write(events: list[tuple[int, str, Body]], origin: str, signer: Signer) -> list[bytes]:
    leaves: dict[str, str] = {}
    lines: list[bytes] = []
    prev = "0" * 64
    for seq, (ms, type_, body_fn) in enumerate(sorted(events, key=lambda e: e[0])):
        body = body_fn(leaves)
        _rec, line = build_record(
            log=origin, seq=seq, ts=format_ts(ms), type_=type_, prev=prev, signer=signer, body=body
        )
        prev = leaf_hash(line).hex()
        lines.append(line)
        if type_ == "request":
            leaves[body["request_id"]] = prev
    return lines


def _events(project, policy, digest: str, reviewers: dict[str, Signer], root: Path):
    ev: list[tuple[int, str, Body]] = []

    def at(ms: int, type_: str, body: Body | dict[str, Any]) -> None:
        ev.append((ms, type_, body if callable(body) else (lambda _l, b=body: b)))

    at(START_MS, "genesis", {
        "project_id": PROJECT_ID, "ledger_id": LEDGER_ID, "vkey": Signer(project.origin(LEDGER_ID), LEDGER_SEED).verifier.vkey,
        "name": "acme-api", "forge_tui": "test",
    })  # fmt: skip
    at(
        START_MS + 1000,
        "policy",
        {"digest": digest, "path": ".forge/policy.toml", "loaded": True, "rules": 1},
    )
    for i, name in enumerate(reviewers):
        st = {
            "action": "enrol", "name": name, "vkey": reviewers[name].verifier.vkey, "project_id": PROJECT_ID,
            "signer": "alice", "ts": format_ts(START_MS + 2000 + i),
        }  # fmt: skip
        sig = reviewers["alice"].sign(reviewer_message(st))
        at(START_MS + 2000 + i, "reviewer", {
            "action": "enrol", "name": name, "vkey": st["vkey"], "from_seq": None, "statement": st,
            "signer_kid": reviewers["alice"].verifier.kid, "signer_sig": b64(sig),
        })  # fmt: skip

    def request(
        ms: int, rid: str, action: dict[str, Any], actor: str = "claude-code", kind: str = "agent"
    ) -> str:
        rule = policy.evaluate(action, project_root=root).rule
        at(ms, "request", {
            "request_id": rid, "actor": {"id": actor, "kind": kind, "session": f"s-{rid.split('-')[1]}"},
            "principal": "dev", "action": action, "requirement": None, "client": "hook",
        })  # fmt: skip
        return rule

    def decision(ms: int, rid: str, rule: str, status: str, by: str, **extra) -> None:
        def body(leaves: dict[str, str]) -> dict[str, Any]:
            return {
                "request_id": rid, "request_hash": leaves[rid], "status": status, "decided_by": by,
                "rule": rule, "rules": [rule], "reason": "because", "policy_digest": digest, **extra,
            }  # fmt: skip

        at(ms, "decision", body)

    def approval(ms: int, rid: str, reviewer: str, verdict: str) -> None:
        key = reviewers[reviewer]

        def body(leaves: dict[str, str]) -> dict[str, Any]:
            appr = {
                "request_id": rid, "request_hash": leaves[rid], "verdict": verdict, "reason": "looked at it",
                "reviewer": reviewer, "ts": format_ts(ms),
            }  # fmt: skip
            return {
                "approval": appr,
                "reviewer_kid": key.verifier.kid,
                "reviewer_sig": b64(key.sign(approval_message(appr))),
            }

        at(ms, "approval", body)

    def outcome(ms: int, rid: str, status: str = "succeeded", **extra) -> None:
        at(ms, "outcome", {"request_id": rid, "status": status, "detail": "exit 0", **extra})

    def reviewed(ms: int, rid: str, action, reviewer: str, verdict: str, delay_s: int, **req) -> None:
        rule = request(ms, rid, action, **req)
        assert rule in ("push", "guard-rails"), rule
        pend = {"approvals_needed": 1, "distinct_from": ["requester"]}
        decision(ms + 5, rid, rule, "pending", "policy", **pend)
        approval(ms + delay_s * 1000, rid, reviewer, verdict)
        status = "allowed" if verdict == "approve" else "denied"
        decision(ms + delay_s * 1000 + 5, rid, rule, status, "reviewers", **pend)
        if status == "allowed":
            outcome(ms + delay_s * 1000 + 2000, rid)

    for d in range(DAYS):
        day = START_MS + d * 86_400_000 + 3_600_000
        rid = f"r-{d:02d}t"
        assert request(day, rid, _action("shell.exec", command="pytest -q")) == "tests"
        decision(day + 5, rid, "tests", "allowed", "policy")
        outcome(day + 900, rid)
        rid = f"r-{d:02d}e"
        assert (
            request(day + 600_000, rid, _action("file.write", paths=[f"src/module_{d}.py"])) == "edit-project"
        )
        decision(day + 600_005, rid, "edit-project", "allowed", "policy")
        outcome(day + 601_000, rid)
        reviewer = "alice" if d % 2 == 0 else "bob"
        reviewed(
            day + 3_600_000,
            f"r-{d:02d}p",
            _action("shell.exec", command="git push"),
            reviewer,
            "approve",
            20 + d * d * 31,
        )
    day = START_MS + 3 * 86_400_000 + 7_200_000
    reviewed(day, "r-03ci", _action("file.write", paths=[".github/workflows/ci.yml"]), "bob", "reject", 240)
    day = START_MS + 5 * 86_400_000 + 7_200_000
    assert request(day, "r-05w", _action("shell.exec", command="rm -rf /")) == "no-wipe"
    decision(day + 5, "r-05w", "no-wipe", "denied", "policy")
    day = START_MS + 6 * 86_400_000 + 7_200_000
    reviewed(
        day,
        "r-06s",
        _action("shell.exec", command="git push"),
        "bob",
        "approve",
        45,
        actor="bob",
        kind="human",
    )
    day = START_MS + 7 * 86_400_000 + 7_200_000
    assert request(day, "r-07x", _action("shell.exec", command=XSS)) == "inspect"
    decision(day + 5, "r-07x", "inspect", "allowed", "policy")
    outcome(day + 300, "r-07x")
    day = START_MS + 8 * 86_400_000 + 7_200_000
    rule = request(day, "r-08o", _action("shell.exec", command="git push"))
    decision(day + 5, "r-08o", rule, "pending", "policy", approvals_needed=1, distinct_from=["requester"])
    decision(
        day + 600_005, "r-08o", rule, "denied", "timeout", approvals_needed=1, distinct_from=["requester"]
    )
    day = START_MS + 9 * 86_400_000 + 7_200_000
    outcome(day, "r-09b", tool_use_id="toolu_01ghost")
    at(day + 1000, "violation", {"kind": "bypass", "request_id": None, "detail": f"Bash ran {XSS}"})
    return ev
