"""`forge-tui verify --git RANGE` (docs/design.md §7): commits that touch governed paths must name an approved
request in a `Forge-Request: <request_id>` trailer.

For each commit of the range (`git rev-list RANGE`):
* the paths it changes: `git diff-tree` against its parent (the whole tree for a root commit). A merge
  answers for what it changes relative to its first parent *and* to every other parent: what one
  parent brings is the change of that parent's own commits, which are in the range (and checked
  there) or reachable from its base (and checked when they landed). So a merge of the base branch
  into a feature branch answers only for what the merge itself made (conflict resolutions);
* which of them are governed: matched by an "ask" or "deny" rule of the policy in force at that
  commit (`.forge/policy.toml` in the commit, else the working tree's) or at its first parent (so a
  commit that loosens the policy does not ungovern what it changes), with the gate's own path
  matchers (`policy.governing_rules`);
* the `Forge-Request` trailers of its message, as git parses trailers (`%(trailers)`, the same
  parser as `git interpret-trailers`), one request id per trailer, several trailers allowed. Every
  one must name a request the ledgers show as allowed (by policy or by reviewers).

Findings (errors): `ungated_commit` (governed paths, no trailer), `unknown_request` (a trailer names
no request of any ledger), `unapproved_request` (the request was denied, expired or is pending),
`uncovered_path` (a governed path that no allowed request named in the trailers asked for: its
`action.paths` must name the path or a folder holding it), `input_mismatch` (a `git.commit` request
recorded the digest of its staged change, `forge_tui.gitlink`, and the commit's change differs).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field

from forge_tui.core.findings import Code
from forge_tui.core.policy import Policy, governing_rules, parse_policy
from forge_tui.core.summaries import DecisionSummary, RequestSummary, Summaries
from forge_tui.errors import ConfigError, PolicyError
from forge_tui.gitlink import TRAILER, GitError, commit_change_digest

_FS, _RS = "\x1f", "\x1e"


@dataclass
class GitFinding:
    commit: str  # short hash
    path: str  # the first governed path of the commit
    code: str
    message: str
    severity: str = "error"


@dataclass
class GitSummary:
    range: str
    commits: int = 0
    governed: int = 0  # commits that touch at least one governed path
    findings: list[GitFinding] = field(default_factory=list)


@dataclass(frozen=True)
class RequestState:
    status: str  # allowed | denied | expired | pending
    ledger: str
    request: RequestSummary  # what was asked: its action's paths and input digest


def request_states(ledgers: list[tuple[str, Summaries]]) -> dict[str, RequestState]:
    """What the ledgers say of each request id, from the verifier's record summaries.

    A request is allowed when a decision bound to it (same request id and request hash, later in the
    same ledger) allowed it by policy or by reviewers; denied by timeout is "expired"; a request with
    no final decision is "pending". The first final decision stands (a second one is a forensic finding
    of its own). A request id found in several ledgers counts as allowed if any allowed it."""
    out: dict[str, RequestState] = {}
    for lid, summaries in ledgers:
        requests: dict[str, RequestSummary] = {}
        states: dict[str, str] = {}
        for seq in sorted(summaries):
            s = summaries[seq]
            if type(s) is RequestSummary:
                if isinstance(s.request_id, str) and s.request_id not in requests:
                    requests[s.request_id] = s
                    states[s.request_id] = "pending"
            elif type(s) is DecisionSummary:
                req = requests.get(s.request_id)
                if req is None or s.request_hash != req.leaf or states[s.request_id] != "pending":
                    continue
                if s.status == "allowed" and s.decided_by in ("policy", "reviewers"):
                    states[s.request_id] = "allowed"
                elif s.status == "denied":
                    states[s.request_id] = "expired" if s.decided_by == "timeout" else "denied"
        for rid, st in states.items():
            if rid not in out or (st == "allowed" and out[rid].status != "allowed"):
                out[rid] = RequestState(st, lid, requests[rid])
    return out


class _Git:
    def __init__(self, root) -> None:
        self.root = str(root)

    def run(self, args: list[str], what: str, stdin: str | None = None) -> str:
        try:
            res = subprocess.run(
                ["git", "-C", self.root, *args],
                input=stdin.encode() if stdin is not None else None,
                capture_output=True,
                check=False,
                timeout=120,
            )
        except FileNotFoundError:
            raise ConfigError("--git needs git on PATH") from None
        if res.returncode != 0:
            err = res.stderr.decode(errors="replace").strip().split("\n")
            first = err[0].removeprefix("fatal: ") if err and err[0] else "git failed"
            raise ConfigError(f"{what}: {first}")
        return res.stdout.decode("utf-8", errors="surrogateescape")

    def maybe(self, args: list[str]) -> bytes | None:
        res = subprocess.run(["git", "-C", self.root, *args], capture_output=True, check=False, timeout=120)
        return res.stdout if res.returncode == 0 else None


class GitRange:
    """The commits of a range, listed up front so that a bad range fails before any ledger work."""

    def __init__(self, project, rng: str) -> None:
        """A bad range, a folder outside git or no git at all raise ConfigError (one line)."""
        if not rng or rng.startswith("-") or "\n" in rng or "\0" in rng:
            raise ConfigError(f"--git {rng!r} is not a revision range (e.g. origin/main..HEAD)")
        self.project = project
        self.range = rng
        git = self.git = _Git(project.root)
        self.prefix = git.run(
            ["rev-parse", "--show-prefix"], f"--git: {project.root} is not in a git repository"
        ).strip("\n")
        self.top = git.run(["rev-parse", "--show-toplevel"], "--git").strip("\n")
        listing = git.run(["rev-list", "--reverse", "--parents", rng, "--"], f"--git: bad range {rng!r}")
        self.commits = [line.split() for line in listing.split("\n") if line.strip()]

    def check(self, states: dict[str, RequestState]) -> GitSummary:
        return _check(self, states)


def _check(gr: GitRange, states: dict[str, RequestState]) -> GitSummary:
    git, project, prefix, top, commits = gr.git, gr.project, gr.prefix, gr.top, gr.commits
    summary = GitSummary(gr.range, len(commits))
    if not commits:
        return summary
    info = _messages(git, [c[0] for c in commits])
    policies = _Policies(git, project)
    for sha, *parents in commits:
        short, trailers = info[sha]
        paths = _changed_paths(git, sha, parents)
        if not paths:
            continue
        # The policy the commit leaves in force and the one it was made under (its first parent's):
        # a commit that loosens the policy cannot thereby ungovern what it changes.
        in_force = [policies.at(sha)]
        if parents:
            before = policies.at(parents[0])
            if before is not in_force[0]:
                in_force.append(before)
        governed = []
        for p in paths:
            rules = tuple(r for pol in in_force for r in _rules_for(pol, p, prefix, top, project.root))
            if rules:
                governed.append((p, rules))
        if not governed:
            continue
        summary.governed += 1
        first, rules = governed[0]
        shown = ", ".join(p for p, _ in governed[:3]) + (
            f" and {len(governed) - 3} more" if len(governed) > 3 else ""
        )
        rule_s = ", ".join(sorted({r.id for _, rs in governed for r in rs}))
        add = summary.findings.append
        if not trailers:
            add(
                GitFinding(
                    short,
                    first,
                    Code.UNGATED_COMMIT,
                    f"touches governed path(s) {shown} (rule {rule_s}) with no {TRAILER} trailer",
                )
            )
            continue
        allowed: list[RequestState] = []
        for rid in trailers:
            st = states.get(rid)
            if st is not None and st.status == "allowed":
                allowed.append(st)
            if st is None:
                add(
                    GitFinding(
                        short,
                        first,
                        Code.UNKNOWN_REQUEST,
                        f"touches governed path(s) {shown}; {TRAILER} {rid!r} names no request in the ledger",
                    )
                )
            elif st.status != "allowed":
                add(
                    GitFinding(
                        short,
                        first,
                        Code.UNAPPROVED_REQUEST,
                        f"touches governed path(s) {shown}; request {rid} was not allowed ({st.status})",
                    )
                )
        if allowed:
            _coverage(gr, sha, short, parents, governed, allowed, add)
    return summary


def _coverage(
    gr: GitRange, sha: str, short: str, parents, governed, allowed: list[RequestState], add
) -> None:
    """Every governed path must be covered by the paths of an allowed request the commit names; a
    `git.commit` request that recorded the digest of its staged change must match the commit's."""
    root = str(gr.project.root)
    for p, rules in governed:
        rel = _project_relative(p, gr.prefix, gr.top)
        if not any(_covers(st.request.action.get("paths"), rel, root) for st in allowed):
            names = ", ".join(str(st.request.request_id) for st in allowed)
            add(
                GitFinding(
                    short,
                    p,
                    Code.UNCOVERED_PATH,
                    f"changes governed path {p} (rule {', '.join(sorted({r.id for r in rules}))}) that "
                    f"request {names} did not ask for",
                )
            )
    for st in allowed:
        action = st.request.action
        asked = action.get("input_digest")
        if (
            action.get("kind") != "git.commit"
            or not isinstance(asked, str)
            or not asked.startswith("sha256:")
        ):
            continue
        try:
            made = commit_change_digest(root, sha, parents[0] if parents else None)
        except GitError as exc:
            raise ConfigError(f"--git: {exc}") from None
        if made != asked:
            add(
                GitFinding(
                    short,
                    governed[0][0],
                    Code.INPUT_MISMATCH,
                    f"the change ({made[:19]}) is not the one request {st.request.request_id} was "
                    f"decided on ({asked[:19]})",
                )
            )


def _project_relative(path: str, prefix: str, top: str) -> str:
    return path[len(prefix) :] if path.startswith(prefix) else os.path.join(top, path)


def _covers(paths, rel: str, root: str) -> bool:
    """Whether a request's `action.paths` name `rel` (project-relative), or a folder holding it."""
    if not isinstance(paths, list):
        return False
    for raw in paths:
        if not isinstance(raw, str) or not raw:
            continue
        p = raw
        if os.path.isabs(p):
            if not p.startswith(root.rstrip("/") + "/"):
                if p == rel:
                    return True
                continue
            p = p[len(root.rstrip("/")) + 1 :]
        p = os.path.normpath(p)
        if p == "." or rel == p or rel.startswith(p.rstrip("/") + "/"):
            return True
    return False


def _messages(git: _Git, shas: list[str]) -> dict[str, tuple[str, list[str]]]:
    """{sha: (short hash, [Forge-Request values])} for the commits, in one git call."""
    fmt = f"%H{_FS}%h{_FS}%(trailers:key={TRAILER},valueonly,unfold,separator=%x1f){_RS}"
    out = git.run(
        ["log", "--no-walk=unsorted", "--stdin", f"--format={fmt}"], "--git", "\n".join(shas) + "\n"
    )
    info: dict[str, tuple[str, list[str]]] = {}
    for chunk in out.split(_RS):
        chunk = chunk.lstrip("\n")
        if not chunk:
            continue
        sha, short, *values = chunk.split(_FS)
        info[sha] = (short, [v.strip() for v in values if v.strip()])
    return info


def _diff(git: _Git, args: list[str]) -> set[str]:
    out = git.run(["diff-tree", "-r", "--name-only", "-z", "--no-renames", "--no-commit-id", *args], "--git")
    return {p for p in out.split("\0") if p}


def _changed_paths(git: _Git, sha: str, parents: list[str]) -> list[str]:
    if not parents:
        return sorted(_diff(git, ["--root", sha]))
    paths = _diff(git, [parents[0], sha])
    for other in parents[1:]:
        if not paths:
            break
        paths &= _diff(git, [other, sha])
    return sorted(paths)


class _Policies:
    """The policy in force at a commit: `.forge/policy.toml` in its tree, else (absent or invalid
    there) the working tree's. Cached by commit and by file bytes (most commits share one policy)."""

    def __init__(self, git: _Git, project) -> None:
        self.git = git
        self.project = project
        self.by_commit: dict[str, Policy] = {}
        self.by_bytes: dict[bytes, Policy | None] = {}
        self.fallback: Policy | None = None

    def at(self, sha: str) -> Policy:
        if sha not in self.by_commit:
            self.by_commit[sha] = self._load(sha)
        return self.by_commit[sha]

    def _load(self, sha: str) -> Policy:
        data = self.git.maybe(["show", f"{sha}:./.forge/policy.toml"])
        if data is not None:
            if data not in self.by_bytes:
                try:
                    self.by_bytes[data] = parse_policy(data, f"{sha[:12]}:.forge/policy.toml")
                except PolicyError:
                    self.by_bytes[data] = None
            found = self.by_bytes[data]
            if found is not None:
                return found
        if self.fallback is None:
            path = self.project.policy_path
            try:
                self.fallback = parse_policy(path.read_bytes(), str(path))
            except FileNotFoundError:
                raise ConfigError(f"--git: no policy at commit {sha[:12]} nor in the working tree") from None
            except PolicyError as exc:
                raise ConfigError(f"--git: {exc}") from None
        return self.fallback


def _rules_for(policy: Policy, path: str, prefix: str, top: str, root) -> tuple:
    """Rules governing a repository path (relative to the top of the repository)."""
    if path.startswith(prefix):
        return governing_rules(policy, path[len(prefix) :], project_root=root)
    return governing_rules(policy, os.path.join(top, path), project_root=root)
