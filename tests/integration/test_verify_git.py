"""`forge-tui verify --git RANGE` (docs/design.md §7): commits that touch governed paths must carry a
`Forge-Request: <request_id>` trailer naming a request the ledger shows as allowed.

Each test builds a real git repository around a `forge-tui init`ed project, with a ledger written by
the real LedgerWriter (requests allowed by policy and by reviewers, denied, expired, pending), and runs
the command line in-process."""

from __future__ import annotations

import hashlib
import json
import subprocess
from typing import Any

import pytest

from forge_tui.core.approvals import approval_message
from forge_tui.core.ledger import LedgerWriter
from forge_tui.core.note import Signer, b64
from forge_tui.core.records import format_ts
from forge_tui.core.reviewers import Reviewer, save_reviewers

TS0 = 1_830_000_000_000  # later than today: an earlier fixed clock is a recorded clock step

POLICY = """\
version = 1
default = "ask"

[[rule]]
id = "edit"
match = { kind = "file.write", paths = ["**"] }
decision = "allow"

[[rule]]
id = "protect-auth"
match = { kind = "file.write", paths = ["src/auth/**"] }
decision = "ask"

[[rule]]
id = "no-ci"
match = { kind = ["file.write", "file.delete"], paths = [".github/**"] }
decision = "ask"

[[rule]]
id = "fmt"
match = { kind = "shell.exec", command = ["make fmt"] }
decision = "allow"

[[rule]]
id = "read-secrets"
# Governs reading only: a commit that changes these files is not a read.
match = { kind = "file.read", paths = ["docs/secret/**"] }
decision = "ask"
"""


# ---- a project in git, with a ledger ------------------------------------------------------------------


def git(root, *args: str) -> str:
    res = subprocess.run(
        ["git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com", "-C", str(root), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def commit(root, files: dict[str, str], message: str) -> str:
    """Write `files`, commit them with `message`; returns git's short hash of the commit."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        git(root, "add", "--", rel)
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "--short", "HEAD")


def trailers(*rids: str) -> str:
    return "\n".join(f"Forge-Request: {r}" for r in rids)


# What each request of the fixture asked for: the paths a commit naming it may change.
ACTIONS: dict[str, dict[str, Any]] = {
    "r-policy": {"kind": "shell.exec", "tool": "Bash", "command": "make fmt", "paths": ["src/auth"]},
    "r-review": {
        "kind": "file.write",
        "tool": "Edit",
        "command": None,
        "paths": ["src/auth/login.py", "src/auth/a.py", ".github/ci.yml"],
    },
}
EDIT_LOGIN = {"kind": "file.write", "tool": "Edit", "command": None, "paths": ["src/auth/login.py"]}


def request_body(rid: str, action: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "request_id": rid,
        "actor": {"id": "claude", "kind": "agent", "session": "s1"},
        "principal": "dev",
        "process": {"pid": 1, "uid": 1000, "exe": "/usr/bin/node"},
        "action": action or ACTIONS.get(rid, EDIT_LOGIN),
        "requirement": None,
        "client": "hook",
    }


def rule_for(project, action: dict[str, Any]) -> str | None:
    """The rule the fixture's policy decides `action` by (verify re-evaluates policy decisions)."""
    from forge_tui.core.policy import parse_policy

    return parse_policy(POLICY.encode()).evaluate(action, project_root=project.root).rule


def decision_body(
    rid: str, rhash: str, status: str, by: str, digest: str, rule="protect-auth", **extra
) -> dict[str, Any]:
    body = {
        "request_id": rid,
        "request_hash": rhash,
        "status": status,
        "decided_by": by,
        "rule": rule,
        "reason": "test",
        "policy_digest": digest,
    }
    body.update(extra)
    return body


@pytest.fixture
def repo(project):
    """The project under git with POLICY, a ledger of requests in every state, and a base commit.

    Requests: r-policy (allowed by policy), r-review (allowed by a reviewer), r-denied (denied by a
    reviewer), r-expired (denied by timeout), r-pending (no decision yet)."""
    project.policy_path.write_text(POLICY)
    digest = hashlib.sha256(POLICY.encode()).hexdigest()
    alice = Signer("forge-tui.reviewer/alice", hashlib.sha256(b"alice").digest())
    save_reviewers(project.reviewers_path, {"alice": Reviewer("alice", alice.verifier)})

    def approval(rid: str, rhash: str, verdict: str) -> dict[str, Any]:
        appr = {
            "request_id": rid,
            "request_hash": rhash,
            "verdict": verdict,
            "reason": "looked at it",
            "reviewer": "alice",
            "ts": format_ts(TS0),
        }
        return {
            "approval": appr,
            "reviewer_kid": alice.kid,
            "reviewer_sig": b64(alice.sign(approval_message(appr))),
        }

    with LedgerWriter.open(project, clock=lambda: TS0) as w:
        w.append([("policy", {"digest": digest, "path": ".forge/policy.toml", "loaded": True, "rules": 4})])
        for rid in ("r-policy", "r-review", "r-denied", "r-expired", "r-pending"):
            rhash = w.append([("request", request_body(rid))])[0].leaf
            rule = rule_for(project, request_body(rid)["action"])
            if rid == "r-policy":
                w.append([("decision", decision_body(rid, rhash, "allowed", "policy", digest, rule))])
                continue
            pending = decision_body(
                rid, rhash, "pending", "policy", digest, rule, approvals_needed=1, distinct_from=["requester"]
            )
            w.append([("decision", pending)])
            final = {"approvals_needed": 1, "distinct_from": ["requester"]}
            if rid == "r-review":
                w.append([("approval", approval(rid, rhash, "approve"))])
                w.append(
                    [("decision", decision_body(rid, rhash, "allowed", "reviewers", digest, rule, **final))]
                )
            elif rid == "r-denied":
                w.append([("approval", approval(rid, rhash, "reject"))])
                w.append(
                    [("decision", decision_body(rid, rhash, "denied", "reviewers", digest, rule, **final))]
                )
            elif rid == "r-expired":
                w.append([("decision", decision_body(rid, rhash, "denied", "timeout", digest, rule))])
    root = project.root
    git(root, "init", "-q", "-b", "main")
    commit(root, {"README.md": "hello\n", "src/auth/login.py": "v0\n"}, "base")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "forge-tui project")
    git(root, "branch", "base")
    return project


def verify_git(run_cli, rng: str, *extra: str) -> tuple[int, dict[str, Any]]:
    code, out, err = run_cli("verify", "--git", rng, "--json", "--no-local", *extra)
    assert err == "", err
    return code, json.loads(out)


def commit_findings(report: dict[str, Any]) -> set[tuple[str, str]]:
    return {(f["code"], f["commit"]) for f in report["findings"] if "commit" in f}


def one_error_line(err: str) -> str:
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# ---- the rule -------------------------------------------------------------------------------------------


def test_governed_commits_need_a_trailer_naming_an_allowed_request(repo, run_cli):
    root = repo.root
    ok_plain = commit(root, {"README.md": "more\n"}, "docs only")
    ungated = commit(root, {"src/auth/login.py": "v1\n"}, "auth change, no trailer")
    ok_policy = commit(root, {"src/auth/login.py": "v2\n"}, f"auth change\n\n{trailers('r-policy')}")
    ok_review = commit(
        root, {"src/auth/a.py": "a\n", ".github/ci.yml": "on: push\n"}, f"two rules\n\n{trailers('r-review')}"
    )
    denied = commit(root, {".github/ci.yml": "on: pr\n"}, f"ci\n\n{trailers('r-denied')}")
    unknown = commit(root, {"src/auth/b.py": "b\n"}, f"auth\n\n{trailers('r-ghost')}")
    # Several trailers: every one must name an allowed request.
    pending = commit(root, {"src/auth/c.py": "c\n"}, f"auth\n\n{trailers('r-policy', 'r-pending')}")
    expired = commit(root, {"src/auth/d.py": "d\n"}, f"auth\n\nSigned-off-by: Dev\n{trailers('r-expired')}")
    reads_only = commit(root, {"docs/secret/notes.md": "x\n"}, "a file whose rule governs reads")
    # A Forge-Request line in the body, not in the trailer block, is no trailer.
    in_body = commit(root, {"src/auth/e.py": "e\n"}, "auth\n\nForge-Request: r-policy\n\nmore text here")

    code, report = verify_git(run_cli, "base..HEAD")
    assert code == 1
    assert commit_findings(report) == {
        ("ungated_commit", ungated),
        ("unapproved_request", denied),
        ("unknown_request", unknown),
        ("unapproved_request", pending),
        ("unapproved_request", expired),
        ("ungated_commit", in_body),
    }
    assert report["git"] == {"range": "base..HEAD", "commits": 10, "governed": 8}
    # The ledger itself is clean: every error is about a commit.
    assert [f for f in report["findings"] if "commit" not in f] == []
    by_commit = {f["commit"]: f for f in report["findings"] if "commit" in f}
    assert by_commit[ungated]["path"] == "src/auth/login.py"
    assert by_commit[denied]["path"] == ".github/ci.yml" and "(denied)" in by_commit[denied]["message"]
    assert "(pending)" in by_commit[pending]["message"] and "(expired)" in by_commit[expired]["message"]
    assert "r-ghost" in by_commit[unknown]["message"]
    assert all(f["ledger"] == "-" and f["severity"] == "error" for f in by_commit.values())
    for passed in (ok_plain, ok_policy, ok_review, reads_only):
        assert passed not in by_commit


def test_a_clean_range_verifies_and_the_text_report_names_commits(repo, run_cli):
    root = repo.root
    commit(root, {"README.md": "more\n"}, "docs only")
    commit(root, {"src/auth/login.py": "v1\n"}, f"auth\n\n{trailers('r-review')}")
    code, out, err = run_cli("verify", "--git", "base..HEAD", "--no-local")
    assert (code, err) == (0, ""), out
    assert "git base..HEAD: 2 commit(s), 1 touching governed paths" in out
    bad = commit(root, {"src/auth/login.py": "v2\n"}, "auth again")
    code, out, _ = run_cli("verify", "--git", "base..HEAD", "--no-local")
    assert code == 1
    assert f"error: commit {bad}: touches governed path(s) src/auth/login.py" in out
    assert "[ungated_commit]" in out
    # Without --git the same project verifies: the rule runs only when asked, and the JSON keeps its shape.
    code, out, _ = run_cli("verify", "--json", "--no-local")
    report = json.loads(out)
    assert code == 0 and "git" not in report


def test_the_policy_in_force_at_each_commit_decides(repo, run_cli):
    root = repo.root
    loosened = POLICY.replace(
        'paths = ["src/auth/**"] }\ndecision = "ask"', 'paths = ["src/auth/**"] }\ndecision = "allow"'
    )
    assert loosened != POLICY
    # Loosening the policy does not ungovern what the same commit changes ...
    sneaky = commit(root, {".forge/policy.toml": loosened, "src/auth/login.py": "v1\n"}, "relax and edit")
    # ... but once it is in force, src/auth is no longer governed.
    commit(root, {"src/auth/login.py": "v2\n"}, "edit under the relaxed policy")
    tightened = (
        loosened + '\n[[rule]]\nid = "protect-lib"\nmatch = { paths = ["lib/**"] }\ndecision = "ask"\n'
    )
    tight = commit(root, {".forge/policy.toml": tightened, "lib/x.py": "x\n"}, "protect lib and edit it")
    later = commit(root, {"lib/y.py": "y\n"}, "edit lib")
    repo.policy_path.write_text(POLICY)  # the working tree's policy plays no part while commits have one
    code, report = verify_git(run_cli, "base..HEAD")
    assert code == 1
    assert commit_findings(report) == {
        ("ungated_commit", sneaky),
        ("ungated_commit", tight),
        ("ungated_commit", later),
    }


def test_without_a_committed_policy_the_working_tree_policy_applies(project, run_cli):
    project.policy_path.write_text(POLICY)
    root = project.root
    git(root, "init", "-q", "-b", "main")
    base = commit(root, {"README.md": "x\n"}, "no .forge in git")
    free = commit(root, {"lib/x.py": "x\n"}, "ungoverned")
    gated = commit(root, {"src/auth/x.py": "x\n"}, "governed")
    code, report = verify_git(run_cli, f"{base}..HEAD")
    assert code == 1
    assert commit_findings(report) == {("ungated_commit", gated)}
    assert free not in {c for _, c in commit_findings(report)}


def test_merges_answer_for_their_own_changes_only(repo, run_cli):
    root = repo.root
    # main moves on with a governed change (approved, on the base branch: outside the range).
    commit(root, {"src/auth/login.py": "main\n"}, f"on main\n\n{trailers('r-policy')}")
    git(root, "branch", "-f", "base", "HEAD")
    git(root, "switch", "-q", "-c", "feature", "HEAD~1")
    commit(root, {"README.md": "feature\n"}, "feature work")
    # Merging main into the feature brings src/auth/login.py in: the merge made no change of its own.
    git(root, "merge", "-q", "--no-edit", "base")
    clean_merge = git(root, "rev-parse", "--short", "HEAD")
    code, report = verify_git(run_cli, "base..feature")
    assert code == 0, report["findings"]
    assert report["git"]["commits"] == 2 and report["git"]["governed"] == 0
    # A conflict both sides touched, resolved to what neither parent had: the merge answers for it.
    commit(root, {"src/auth/login.py": "feature side\n"}, f"feature auth\n\n{trailers('r-review')}")
    git(root, "switch", "-q", "main")
    commit(root, {"src/auth/login.py": "main side\n"}, f"main auth\n\n{trailers('r-policy')}")
    git(root, "branch", "-f", "base", "HEAD")
    git(root, "switch", "-q", "feature")
    res = subprocess.run(
        [
            "git",
            "-c",
            "user.name=Dev",
            "-c",
            "user.email=dev@example.com",
            "-C",
            str(root),
            "merge",
            "-q",
            "base",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 1 and "CONFLICT" in res.stdout + res.stderr
    (root / "src/auth/login.py").write_text("resolved by hand\n")
    git(root, "add", "src/auth/login.py")
    git(root, "commit", "-q", "-m", "Merge base into feature")
    evil_merge = git(root, "rev-parse", "--short", "HEAD")
    code, report = verify_git(run_cli, "base..feature")
    assert code == 1
    assert commit_findings(report) == {("ungated_commit", evil_merge)}
    assert clean_merge != evil_merge


# ---- errors ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rng", ["no-such-branch..HEAD", "HEAD..nope", "--output=/tmp/x", ""])
def test_a_bad_range_exits_2_in_one_line(repo, run_cli, rng):
    code, out, err = run_cli(
        "verify", f"--git={rng}"
    )  # "=": a range that looks like an option reaches git's check
    assert code == 2 and out == ""
    line = one_error_line(err)
    assert "--git" in line and ("bad range" in line or "not a revision range" in line), line


def test_outside_git_exits_2(project, run_cli):
    code, out, err = run_cli("verify", "--git", "main..HEAD")
    assert code == 2 and out == ""
    assert "not in a git repository" in one_error_line(err)


def test_git_and_fast_do_not_combine(repo, run_cli):
    code, _, err = run_cli("verify", "--git", "base..HEAD", "--fast")
    assert code == 2 and "--fast" in one_error_line(err)


def test_help_documents_the_git_rule(run_cli):
    code, out, _ = run_cli("verify", "--help")
    assert code == 0
    for word in ("--git RANGE", "Forge-Request", "ungated_commit", "unknown_request", "unapproved_request"):
        assert word in out


# ---- path coverage and the change's digest ---------------------------------------------------------------


def approve_request(project, rid: str, action: dict[str, Any]) -> None:
    """Append a request for `action`, its pending decision, alice's approval and the allowing decision."""
    from forge_tui.core.policy import parse_policy

    digest = hashlib.sha256(POLICY.encode()).hexdigest()
    alice = Signer("forge-tui.reviewer/alice", hashlib.sha256(b"alice").digest())
    ev = parse_policy(POLICY.encode()).evaluate(action, project_root=project.root)
    assert ev.decision == "ask", ev
    extra = {"approvals_needed": 1, "distinct_from": ["requester"]}
    with LedgerWriter.open(project, clock=lambda: TS0) as w:
        rhash = w.append([("request", request_body(rid, action))])[0].leaf
        w.append([("decision", decision_body(rid, rhash, "pending", "policy", digest, ev.rule, **extra))])
        appr = {
            "request_id": rid,
            "request_hash": rhash,
            "verdict": "approve",
            "reason": "ok",
            "reviewer": "alice",
            "ts": format_ts(TS0),
        }
        sig = b64(alice.sign(approval_message(appr)))
        w.append([("approval", {"approval": appr, "reviewer_kid": alice.kid, "reviewer_sig": sig})])
        w.append([("decision", decision_body(rid, rhash, "allowed", "reviewers", digest, ev.rule, **extra))])


def test_a_trailer_naming_an_allowed_request_for_other_paths_is_flagged(repo, run_cli):
    """r-review asked to edit src/auth/login.py, a.py and .github/ci.yml: a commit naming it that also
    changes src/auth/other.py changes a governed path nobody approved."""
    root = repo.root
    covered = commit(root, {"src/auth/a.py": "a\n"}, f"ok\n\n{trailers('r-review')}")
    stretched = commit(
        root, {"src/auth/login.py": "v9\n", "src/auth/other.py": "o\n"}, f"more\n\n{trailers('r-review')}"
    )
    # README is not governed: it needs no covering request.
    commit(root, {"README.md": "x\n", "src/auth/a.py": "a2\n"}, f"mixed\n\n{trailers('r-review')}")
    code, report = verify_git(run_cli, "base..HEAD")
    assert code == 1
    found = [f for f in report["findings"] if "commit" in f]
    assert [(f["code"], f["commit"], f["path"]) for f in found] == [
        ("uncovered_path", stretched, "src/auth/other.py")
    ]
    assert "r-review did not ask for" in found[0]["message"] and "protect-auth" in found[0]["message"]
    assert covered != stretched


def test_a_commit_request_binds_the_staged_change_by_digest(repo, run_cli):
    """`forge-tui request --commit` records the staged paths and the digest of the staged diff; the
    commit made from exactly that change passes, a different change under the same trailer does not."""
    from forge_tui.gitlink import staged_change

    root = repo.root
    (root / "src/auth/login.py").write_text("reviewed change\n")
    git(root, "add", "src/auth/login.py")
    paths, digest = staged_change(str(root))
    assert paths == ["src/auth/login.py"] and digest.startswith("sha256:")
    action = {
        "kind": "git.commit",
        "tool": "git",
        "command": "git commit",
        "paths": paths,
        "input_digest": digest,
    }
    approve_request(repo, "r-commit", action)
    git(root, "add", "-A")  # the ledger records written above ride along in .forge/ (not governed)
    git(root, "commit", "-q", "-m", f"auth\n\n{trailers('r-commit')}")
    same = git(root, "rev-parse", "--short", "HEAD")
    code, report = verify_git(run_cli, "base..HEAD")
    assert code == 0, report["findings"]
    other = commit(root, {"src/auth/login.py": "something else\n"}, f"auth\n\n{trailers('r-commit')}")
    code, report = verify_git(run_cli, "base..HEAD")
    assert code == 1
    assert commit_findings(report) == {("input_mismatch", other)}
    assert same != other
