"""forge-tui request (standard library only: usable as a gate from any script)"""

from __future__ import annotations

import argparse

NAME = "request"
HELP = "ask the gate for permission; exit 0 allowed, 1 denied, 3 daemon unreachable"
DESCRIPTION = """\
Send one action to the daemon and print its decision. Use it as a gate in scripts:

  forge-tui request --kind shell.exec --command "make deploy" --wait 600 && make deploy

The action comes from flags or from --action JSON (or --action @file.json). With --wait the command
waits up to that many seconds for a reviewer when the policy asks for one; a request still pending
then counts as denied here (fail closed) and its id is printed for `--wait-for ID`.
--commit asks to commit what is staged: a git.commit action whose paths are the staged files and
whose input_digest is the digest of the staged diff (docs/forensics.md). When it is allowed, the
request id is kept in the git folder for the prepare-commit-msg hook (`forge-tui git-hook install`)
and `Forge-Request: <id>` is printed for the commit message; `verify --git` then checks that the
commit changes exactly what was asked for.
Exit codes: 0 allowed, 1 denied or still pending, 2 usage error, 3 the daemon is unreachable."""


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--action", help="the whole action as JSON, or @FILE")
    p.add_argument(
        "--kind",
        help="file.read, file.write, file.delete, shell.exec, net.fetch, git.commit, git.push, deploy, mcp.call, other",
    )
    p.add_argument("--tool", help="the tool name (e.g. Bash, Edit)")
    p.add_argument("--command", dest="cmd", help="the shell command")
    p.add_argument("--path", action="append", default=[], help="a path the action touches (repeatable)")
    p.add_argument("--url", help="the URL fetched")
    p.add_argument(
        "--commit", action="store_true", help="ask to commit the staged change (paths and digest from git)"
    )
    p.add_argument("--summary", help="one line for the reviewer")
    p.add_argument(
        "--diff", metavar="FILE", help="a diff to show the reviewer (stored in the ledger as a digest)"
    )
    p.add_argument("--actor", default=None, help="who asks (default: cli:$USER)")
    p.add_argument("--actor-kind", default="human", choices=["agent", "human", "ci"], help="default: human")
    p.add_argument("--session", default=None, help="session id (default: the parent process id)")
    p.add_argument("--principal", help="the human an agent acts for")
    p.add_argument("--requirement", help="ticket, issue or URL that motivates the action")
    p.add_argument(
        "--wait", type=float, default=0.0, metavar="SECONDS", help="wait for a reviewer up to this long"
    )
    p.add_argument("--wait-for", metavar="ID", help="wait for the decision of an earlier request instead")
    p.add_argument("--json", action="store_true", help="print the daemon's answer as JSON")


def run(args: argparse.Namespace) -> int:
    import getpass
    import json
    import os
    import sys

    from forge_tui.client import Client, project_socket
    from forge_tui.protocol import GATE_REQUEST, GATE_WAIT, USAGE_CODES, DaemonUnavailable, RPCError
    from forge_tui.textsafe import clean  # the daemon's answers quote agent text (commands, paths)

    try:
        action = _action(args)
    except ValueError as exc:
        print(f"forge-tui: error: {exc}", file=sys.stderr)
        return 2
    try:
        path = project_socket()
        with Client(path, client="cli", timeout=args.wait + 30) as c:
            if args.wait_for:
                res = c.call(GATE_WAIT, {"request_id": args.wait_for, "wait_s": args.wait})
            else:
                params = {
                    "action": action,
                    "actor": {
                        "id": args.actor or f"cli:{getpass.getuser()}",
                        "kind": args.actor_kind,
                        "session": args.session or f"ppid-{os.getppid()}",
                    },
                    "principal": args.principal,
                    "requirement": args.requirement,
                    "wait_s": args.wait,
                }
                if args.diff:
                    with open(args.diff, encoding="utf-8", errors="replace") as fh:
                        params["content"] = {"kind": "diff", "text": fh.read()}
                res = c.call(GATE_REQUEST, params)
    except DaemonUnavailable as exc:
        print(f"forge-tui: denied: daemon unreachable: {clean(exc, one_line=True)}", file=sys.stderr)
        return 3
    except RPCError as exc:
        print(f"forge-tui: denied: {clean(exc.message, one_line=True)} (error {exc.code})", file=sys.stderr)
        return 2 if exc.code in USAGE_CODES else 1
    except OSError as exc:
        print(f"forge-tui: error: {clean(exc, one_line=True)}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(res))  # ensure_ascii: every non-ASCII character is an escape
    else:
        rule = f" by rule {res.get('rule')}" if res.get("rule") else ""
        line = f"{res.get('status')}{rule}: {res.get('reason') or ''} (request {res.get('request_id')}, seq {res.get('seq')})"
        print(clean(line, one_line=True))
    if res.get("status") == "pending":
        waited = f"no reviewer decided within {args.wait:g} s" if args.wait else "a reviewer must decide"
        print(
            clean(
                f"forge-tui: {waited}: counted as denied here; the request stays pending "
                f"(forge-tui request --wait-for {res.get('request_id')} --wait SECONDS)",
                one_line=True,
            ),
            file=sys.stderr,
        )
    if args.commit and res.get("status") == "allowed":
        _remember_commit_request(res.get("request_id"), action.get("input_digest"))
    return 0 if res.get("status") == "allowed" else 1


def _commit_action(args: argparse.Namespace) -> dict:
    from forge_tui.gitlink import GitError, staged_change

    try:
        paths, digest = staged_change(".")
    except GitError as exc:
        raise ValueError(f"--commit: {exc}") from None
    if not paths:
        raise ValueError("--commit: nothing is staged (git add the change first)")
    shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
    return {
        "kind": "git.commit",
        "tool": args.tool or "git",
        "command": "git commit",
        "paths": paths,
        "url": None,
        "summary": args.summary or f"commit {len(paths)} file(s): {shown}",
        "input_digest": digest,
    }


def _remember_commit_request(rid: str | None, digest: str | None) -> None:
    """Print the trailer and keep the id for the prepare-commit-msg hook."""
    import sys

    from forge_tui.gitlink import TRAILER, GitError, remember_request

    print(f"{TRAILER}: {rid}")
    try:
        remember_request(".", str(rid), str(digest))
    except (GitError, OSError) as exc:
        print(f"forge-tui: could not keep the request id for the commit hook: {exc}", file=sys.stderr)


def _action(args: argparse.Namespace) -> dict:
    import json

    if args.action:
        text = args.action
        if text.startswith("@"):
            try:
                with open(text[1:], encoding="utf-8") as fh:
                    text = fh.read()
            except OSError as exc:
                raise ValueError(f"cannot read --action {text[1:]}: {exc.strerror}") from None
            except UnicodeDecodeError:
                raise ValueError(f"--action {text[1:]} is not UTF-8 JSON") from None
        try:
            action = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"--action is not JSON: {exc.msg}") from None
        if not isinstance(action, dict):
            raise ValueError("--action must be a JSON object")
        return action
    if args.wait_for:
        return {}
    if args.commit:
        return _commit_action(args)
    if not args.kind:
        raise ValueError("give --kind (or --action JSON)")
    return {
        "kind": args.kind,
        "tool": args.tool,
        "command": args.cmd,
        "paths": args.path,
        "url": args.url,
        "summary": args.summary,
    }
