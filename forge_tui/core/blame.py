"""`forge-tui blame FILE`: git blame joined with the ledger (docs/forensics.md).

Line ranges come from `git blame --porcelain`; each commit's `Forge-Request` trailers name the
requests it was made for, and `trace.chain_for` gives who asked (agent, session), how it was decided
(status, decided_by, rule) and which reviewers approved. A commit without a trailer, or whose trailer
names no request of any ledger, is "no recorded action".
"""

from __future__ import annotations

import subprocess
from dataclasses import asdict, dataclass, field
from typing import Any

from forge_tui.core.trace import chain_for, requests_of_commit
from forge_tui.errors import ConfigError


@dataclass
class BlameRange:
    start: int
    end: int
    commit: str
    author: str
    request: dict[str, Any] | None = None  # agent, session, request_id, status, decided_by, rule, reviewers
    unknown: list[str] = field(default_factory=list)  # trailer ids no ledger holds

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _porcelain(root, path: str, rev: str) -> list[tuple[int, str, str]]:
    """(final line number, commit, author) for every line."""
    try:
        res = subprocess.run(
            ["git", "-C", str(root), "blame", "--porcelain", rev, "--", path],
            capture_output=True,
            check=False,
            timeout=120,
        )
    except FileNotFoundError:
        raise ConfigError("blame needs git on PATH") from None
    if res.returncode != 0:
        err = res.stderr.decode(errors="replace").strip().split("\n")[0].removeprefix("fatal: ")
        raise ConfigError(f"blame {path}: {err or 'git blame failed'}")
    out: list[tuple[int, str, str]] = []
    authors: dict[str, str] = {}
    current = None
    for line in res.stdout.decode("utf-8", "replace").split("\n"):
        parts = line.split(" ")
        if len(parts) >= 3 and len(parts[0]) >= 40 and all(c in "0123456789abcdef" for c in parts[0]):
            current = (parts[0], int(parts[2]))
        elif line.startswith("author ") and current is not None:
            authors[current[0]] = line[7:]
        elif line.startswith("\t") and current is not None:
            out.append((current[1], current[0], authors.get(current[0], "?")))
    return out


def blame(project, path: str, rev: str = "HEAD") -> list[BlameRange]:
    from forge_tui.core.reviewers import parse_reviewers

    try:
        reviewers = parse_reviewers(project.reviewers_path.read_text(encoding="utf-8"))
    except (OSError, ConfigError):
        reviewers = {}
    ranges: list[BlameRange] = []
    info: dict[str, tuple[dict | None, list[str]]] = {}
    for num, sha, author in _porcelain(project.root, path, rev):
        if ranges and ranges[-1].commit == sha and ranges[-1].end == num - 1:
            ranges[-1].end = num
            continue
        if sha not in info:
            info[sha] = _governed(project, sha, reviewers)
        req, unknown = info[sha]
        ranges.append(BlameRange(num, num, sha, author, req, unknown))
    return ranges


def _governed(project, sha: str, reviewers) -> tuple[dict | None, list[str]]:
    found = requests_of_commit(project.root, sha)
    rids = found[1] if found else []
    unknown = []
    for rid in rids:
        chain = chain_for(project, rid, reviewers)
        if chain is None:
            unknown.append(rid)
            continue
        actor = chain.request.get("actor") or {}
        final = next((d for d in chain.decisions if d["status"] in ("allowed", "denied")), None) or (
            chain.decisions[-1] if chain.decisions else {}
        )
        return {
            "request_id": rid,
            "agent": actor.get("id"),
            "session": actor.get("session"),
            "status": final.get("status"),
            "decided_by": final.get("decided_by"),
            "rule": final.get("rule"),
            "reviewers": [
                a.reviewer for a in chain.approvals if a.verdict == "approve" and a.signature == "valid"
            ],
        }, unknown
    return None, unknown
