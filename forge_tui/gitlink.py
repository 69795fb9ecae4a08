"""Commits and requests (docs/design.md §7, docs/forensics.md): the `Forge-Request` trailer and the digest of a
change. Standard library only: `forge-tui request --commit` and the `prepare-commit-msg` hook use it
on the agent side, `verify --git` on the checking side, so both compute the same digest.

The digest of a change is `sha256:` + SHA-256 of git's binary diff with fixed options (no colour, no
external diff or textconv, no rename detection, full blob ids, `a/`/`b/` prefixes), so that user
configuration cannot make the staged diff and the committed diff differ.
"""

from __future__ import annotations

import hashlib
import subprocess

TRAILER = "Forge-Request"
DIFF_ARGS = (
    "--binary",
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--no-renames",
    "--full-index",
    "--src-prefix=a/",
    "--dst-prefix=b/",
)
# The ledger's tracked copy changes after every request: it is no part of the change a request covers.
EXCLUDE = ("--", ":(exclude).forge/ledger")
ENV_REQUEST = "FORGE_REQUEST_ID"  # the request an agent's session works under (prepare-commit-msg)


class GitError(Exception):
    """git is missing or refused; the message is one line."""


def git(root: str, *args: str, stdin: bytes | None = None) -> bytes:
    try:
        res = subprocess.run(
            ["git", "-C", root, *args], input=stdin, capture_output=True, check=False, timeout=120
        )
    except FileNotFoundError:
        raise GitError("git is not on PATH") from None
    if res.returncode != 0:
        err = res.stderr.decode(errors="replace").strip().split("\n")
        raise GitError(err[0].removeprefix("fatal: ") if err and err[0] else "git failed")
    return res.stdout


def digest(diff: bytes) -> str:
    return "sha256:" + hashlib.sha256(diff).hexdigest()


def staged_change(root: str) -> tuple[list[str], str]:
    """(paths relative to `root`, the project folder; digest) of what is staged for the next commit,
    leaving out the ledger's tracked copy. Run both this and `commit_change_digest` from the project
    folder: the exclusion is relative to it."""
    names = git(root, "diff", "--cached", "--name-only", "-z", "--no-renames", "--relative", *EXCLUDE)
    paths = sorted(p for p in names.decode("utf-8", "surrogateescape").split("\0") if p)
    return paths, digest(git(root, "diff", "--cached", *DIFF_ARGS, *EXCLUDE))


def commit_change_digest(root: str, sha: str, parent: str | None) -> str:
    """The digest of what `sha` changes against `parent` (the empty tree for a root commit)."""
    base = parent or git(root, "hash-object", "-t", "tree", "--stdin", stdin=b"").decode().strip()
    return digest(git(root, "diff", *DIFF_ARGS, base, sha, *EXCLUDE))


def add_trailer(root: str, message: str, request_id: str) -> str:
    """`message` with a `Forge-Request: <request_id>` trailer, by git's own trailer rules (an
    identical trailer already there is not repeated)."""
    out = git(
        root,
        "interpret-trailers",
        "--if-exists",
        "addIfDifferent",
        "--trailer",
        f"{TRAILER}: {request_id}",
        stdin=message.encode("utf-8", "surrogateescape"),
    )
    return out.decode("utf-8", "surrogateescape")


def add_trailer_to_file(root: str, path: str, request_id: str) -> None:
    git(
        root,
        "interpret-trailers",
        "--in-place",
        "--if-exists",
        "addIfDifferent",
        "--trailer",
        f"{TRAILER}: {request_id}",
        path,
    )


REMEMBERED = "forge-request"  # in the git folder: "<request id> <digest>\n" of the last `request --commit`


def git_dir(root: str) -> str:
    return git(root, "rev-parse", "--absolute-git-dir").decode().strip()


def remember_request(root: str, request_id: str, change: str) -> None:
    import os

    path = os.path.join(git_dir(root), REMEMBERED)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(f"{request_id} {change}\n")


def remembered_request(root: str) -> tuple[str, str] | None:
    """(request id, digest) kept by the last `request --commit`, or None."""
    import os

    try:
        with open(os.path.join(git_dir(root), REMEMBERED), encoding="utf-8") as fh:
            rid, _, change = fh.read().strip().partition(" ")
    except (OSError, GitError):
        return None
    return (rid, change) if rid else None
