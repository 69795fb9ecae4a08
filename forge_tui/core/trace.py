"""`forge-tui trace ID|COMMIT|PATH` (docs/design.md §1, §7; docs/forensics.md): the chain requirement → request →
decision → approvals (who, when, whether the reviewer's own signature verifies) → outcome → commit →
deployment, forwards from a request, backwards from a commit (its `Forge-Request` trailers), and for a
path every request that named it and every commit that touched it.

The ledger side uses `query_ledger` (byte scans over the offset index); the git side asks git for the
commits whose messages name the request (`git log --all --grep`, fixed strings) or that touch the path.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from typing import Any

from forge_tui.core.query import QuerySpec, query_ledger
from forge_tui.gitlink import TRAILER

_FS = "\x1f"


@dataclass
class ApprovalLink:
    seq: int
    ts: str
    reviewer: str
    verdict: str
    signature: str  # "valid" | "invalid: why" | "unknown reviewer"


@dataclass
class CommitLink:
    sha: str
    date: str
    subject: str


@dataclass
class Chain:
    request_id: str
    ledger: str
    requirement: Any = None
    request: dict[str, Any] = field(default_factory=dict)  # {seq, ts, actor, action}
    decisions: list[dict[str, Any]] = field(default_factory=list)
    approvals: list[ApprovalLink] = field(default_factory=list)
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    commits: list[CommitLink] = field(default_factory=list)
    deployments: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def chain_for(project, rid: str, reviewers: dict | None = None) -> Chain | None:
    """The chain of one request, or None when no ledger holds it."""
    from forge_tui.core.approvals import verify_approval
    from forge_tui.errors import CanonicalError, SignatureError

    for lid in project.ledger_ids():
        chain = None
        for seq, line in query_ledger(project.tracked_ledger(lid), QuerySpec(request_id=rid)):
            rec = json.loads(line)
            body, t = rec["body"], rec["type"]
            if t == "request" and chain is None:
                chain = Chain(rid, lid, body.get("requirement"))
                chain.request = {
                    "seq": seq,
                    "ts": rec["ts"],
                    "actor": body.get("actor"),
                    "action": body.get("action"),
                }
            elif chain is None:
                continue
            elif t == "decision":
                chain.decisions.append(
                    {
                        "seq": seq,
                        "ts": rec["ts"],
                        **{
                            k: body.get(k)
                            for k in ("status", "decided_by", "rule", "reason", "policy_digest")
                        },
                    }
                )
            elif t == "approval":
                appr = body.get("approval") or {}
                rev = (reviewers or {}).get(appr.get("reviewer"))
                if rev is None:
                    sig = "unknown reviewer"
                else:
                    try:
                        verify_approval(appr, body.get("reviewer_sig"), rev.verifier)
                        sig = "valid"
                    except (SignatureError, CanonicalError, TypeError) as exc:
                        sig = f"invalid: {exc}"
                chain.approvals.append(
                    ApprovalLink(seq, rec["ts"], str(appr.get("reviewer")), str(appr.get("verdict")), sig)
                )
            elif t == "outcome":
                chain.outcomes.append(
                    {"seq": seq, "ts": rec["ts"], **{k: body.get(k) for k in ("status", "detail", "commit")}}
                )
        if chain is not None:
            chain.commits = commits_naming(project.root, rid)
            kind = (chain.request.get("action") or {}).get("kind")
            if kind == "deploy":
                chain.deployments = [o for o in chain.outcomes if o.get("status") == "succeeded"]
            return chain
    return None


def _git(root, *args: str) -> str | None:
    try:
        res = subprocess.run(["git", "-C", str(root), *args], capture_output=True, check=False, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout.decode("utf-8", "replace") if res.returncode == 0 else None


def commits_naming(root, rid: str) -> list[CommitLink]:
    """Commits (any branch) whose message has a `Forge-Request: <rid>` trailer."""
    fmt = f"%H{_FS}%cI{_FS}%s{_FS}%(trailers:key={TRAILER},valueonly,separator=%x1f)"
    out = _git(root, "log", "--all", "-F", f"--grep={TRAILER}: {rid}", f"--format={fmt}")
    links = []
    for line in (out or "").split("\n"):
        parts = line.split(_FS)
        if len(parts) >= 4 and rid in (p.strip() for p in parts[3:]):
            links.append(CommitLink(parts[0], parts[1], parts[2]))
    return links


def requests_of_commit(root, rev: str) -> tuple[str, list[str]] | None:
    """(full sha, request ids in its trailers) of a commit, or None if `rev` names no commit."""
    out = _git(
        root, "log", "-1", f"--format=%H{_FS}%(trailers:key={TRAILER},valueonly,separator=%x1f)", rev, "--"
    )
    if not out:
        return None
    sha, *rids = out.strip("\n").split(_FS)
    return sha, [r.strip() for r in rids if r.strip()]


def path_history(project, path: str, since: str | None, until: str | None) -> dict[str, Any]:
    """Every request whose action named `path` (a glob) and every commit that touched it."""
    rids: list[str] = []
    for lid in project.ledger_ids():
        spec = QuerySpec(types=frozenset({"request"}), path=path, since=since, until=until)
        for _seq, line in query_ledger(project.tracked_ledger(lid), spec):
            rid = json.loads(line)["body"].get("request_id")
            if isinstance(rid, str):
                rids.append(rid)
    args = ["log", f"--format=%H{_FS}%cI{_FS}%s{_FS}%(trailers:key={TRAILER},valueonly,separator=%x1f)"]
    if since:
        args.append(f"--since={since}")
    if until:
        args.append(f"--until={until}")
    out = _git(project.root, *args, "--", path.replace("**", "*"))
    commits = []
    for line in (out or "").split("\n"):
        parts = line.split(_FS)
        if len(parts) >= 3:
            commits.append(
                {
                    "sha": parts[0],
                    "date": parts[1],
                    "subject": parts[2],
                    "requests": [p.strip() for p in parts[3:] if p.strip()],
                }
            )
    return {"path": path, "requests": rids, "commits": commits}
