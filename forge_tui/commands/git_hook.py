"""forge-tui git-hook (standard library only: git runs it on every commit)"""

from __future__ import annotations

import argparse

NAME = "git-hook"
HELP = "install or run the prepare-commit-msg hook that adds the Forge-Request trailer"
DESCRIPTION = """\
`forge-tui git-hook install` writes .git/hooks/prepare-commit-msg (refusing to overwrite a hook it
did not write). On each commit the hook adds `Forge-Request: <id>` to the message, naming:
  1. $FORGE_REQUEST_ID, the request an agent's session works under, if set; else
  2. the request of the last allowed `forge-tui request --commit`, if the staged change is still
     the one that request was decided on (same digest).
Otherwise it leaves the message alone (verify --git then flags the commit if it touches governed
paths). The hook never blocks a commit: the check is `forge-tui verify --git RANGE`.
`forge-tui git-hook run MSGFILE [SOURCE [SHA]]` is what the hook calls.
Exit codes: 0 done, 2 usage error (not a git repository, a foreign hook in the way)."""

MARK = "# forge-tui prepare-commit-msg hook"


def configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="hook_command", metavar="install|run", required=True)
    inst = sub.add_parser("install", help="write .git/hooks/prepare-commit-msg")
    inst.add_argument(
        "--force", action="store_true", help="replace a prepare-commit-msg hook of another tool"
    )
    r = sub.add_parser("run", help="what the hook runs (git passes the arguments)")
    r.add_argument("msgfile")
    r.add_argument("source", nargs="?", default="")
    r.add_argument("sha", nargs="?", default="")


def run(args: argparse.Namespace) -> int:
    if args.hook_command == "install":
        return install(force=args.force)
    return add_trailer_for_commit(args.msgfile, args.source)


def install(force: bool = False, root: str = ".") -> int:
    import os
    import shlex
    import sys

    from forge_tui.errors import ConfigError
    from forge_tui.gitlink import GitError, git

    try:
        hooks = git(root, "rev-parse", "--git-path", "hooks").decode().strip()
    except GitError as exc:
        raise ConfigError(f"git-hook install: {exc}") from None
    hooks = os.path.join(root, hooks) if not os.path.isabs(hooks) else hooks
    os.makedirs(hooks, exist_ok=True)
    path = os.path.join(hooks, "prepare-commit-msg")
    if os.path.exists(path) and not force:
        with open(path, encoding="utf-8", errors="replace") as fh:
            if MARK not in fh.read():
                raise ConfigError(f"{path} exists and is not forge-tui's (use --force to replace it)")
    script = f'#!/bin/sh\n{MARK}\nexec {shlex.quote(sys.executable)} -m forge_tui git-hook run "$@"\n'
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(script)
    os.chmod(path, 0o755)
    print(f"installed {path}")
    return 0


def add_trailer_for_commit(msgfile: str, source: str = "", root: str = ".") -> int:
    import os
    import sys

    from forge_tui.gitlink import (
        ENV_REQUEST,
        GitError,
        add_trailer_to_file,
        remembered_request,
        staged_change,
    )

    if source in ("merge", "squash"):
        return 0
    rid = os.environ.get(ENV_REQUEST, "").strip()
    try:
        if not rid:
            kept = remembered_request(root)
            if kept is None:
                return 0
            rid, change = kept
            if staged_change(root)[1] != change:
                print(
                    f"forge-tui: the staged change is not the one request {rid} was decided on: no trailer added",
                    file=sys.stderr,
                )
                return 0
        add_trailer_to_file(root, msgfile, rid)
    except GitError as exc:  # never block the commit; verify --git is the check
        print(f"forge-tui: no Forge-Request trailer added: {exc}", file=sys.stderr)
    return 0
