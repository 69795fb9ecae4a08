"""`forge-tui policy check|explain`: validate a policy file, or show how it decides an action."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from forge_tui.errors import ConfigError

NAME = "policy"
HELP = "validate the policy (check), show how it decides an action (explain), approve a change (approve)"
DESCRIPTION = """\
check [FILE]      validate FILE (default: the project's .forge/policy.toml); exit 0 when valid,
                  2 with "<path>:<line>:<col>: <problem>" when not.
explain           show the decision for an action: the deciding rule, every matching rule and why,
                  and each part of a shell command with its own decision. Give the action as JSON
                  (--action '{"kind": "shell.exec", "command": "pytest && git push"}' or
                  --action @action.json) or with --kind/--tool/--command/--path/--url.
approve --as NAME  sign the pending policy change (an edit, checkout or branch switch of policy.toml
                  waits until a reviewer signs its digest; docs/trust-model.md)."""


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="policy_command", metavar="ACTION", required=True)
    check = sub.add_parser("check", help="validate a policy file", description="Validate a policy file.")
    check.add_argument(
        "file", nargs="?", help="the policy file (default: .forge/policy.toml of this project)"
    )
    explain = sub.add_parser(
        "explain",
        help="show how the policy decides an action",
        description="Show how the policy decides an action.",
    )
    explain.add_argument(
        "--action", metavar="JSON", help="the action as JSON, or @FILE to read it from a file"
    )
    explain.add_argument("--kind", help="action kind, e.g. shell.exec, file.write")
    explain.add_argument("--tool", help="tool name, e.g. Bash, Write")
    explain.add_argument("--command", help="shell command")
    explain.add_argument(
        "--path", action="append", default=None, help="a path the action touches (repeatable)"
    )
    explain.add_argument("--url", help="URL fetched")
    explain.add_argument(
        "--policy", metavar="FILE", help="the policy file (default: .forge/policy.toml of this project)"
    )
    explain.add_argument(
        "--actor-kind",
        choices=("agent", "human", "ci"),
        default="agent",
        help="accepted for older scripts and ignored: every request is an agent's, built-in rules always apply",
    )
    explain.add_argument(
        "--prior",
        action="append",
        default=[],
        metavar="RULE",
        help="a rule whose step already succeeded (repeatable)",
    )
    explain.add_argument("--json", action="store_true", help="machine-readable output")
    configure_approve(sub)


def _find_policy() -> tuple[Path, Path]:
    """(policy path, project root) of the project around the current folder."""
    try:
        from forge_tui.core.project import find_project
    except ImportError:  # the project module is optional for this command
        find_project = None
    if find_project is not None:
        project = find_project()
        return project.policy_path, project.root
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / ".forge" / "policy.toml").is_file():
            return folder / ".forge" / "policy.toml", folder
    raise ConfigError(f"no .forge/policy.toml in {here} or above", hint="give the policy file")


def _project_root_for(policy_path: Path) -> Path:
    """A policy inside `<root>/.forge/` governs `<root>`; any other file is explained for the cwd."""
    resolved = policy_path.resolve()
    if resolved.parent.name == ".forge":
        return resolved.parent.parent
    return Path.cwd().resolve()


def _action(args: argparse.Namespace) -> dict:
    action: dict = {}
    if args.action is not None:
        text = args.action
        if text.startswith("@"):
            try:
                text = Path(text[1:]).read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"cannot read {text[1:]}: {exc.strerror or exc}") from None
        try:
            action = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"--action is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            ) from None
        except ValueError as exc:  # an integer past the interpreter's digit limit
            raise ConfigError(f"--action is not valid JSON: {exc}") from None
        if not isinstance(action, dict):
            raise ConfigError("--action must be a JSON object")
    for key in ("kind", "tool", "command", "url"):
        value = getattr(args, key)
        if value is not None:
            action[key] = value
    if args.path:
        action["paths"] = list(args.path)
    if not action:
        raise ConfigError("nothing to explain: give --action JSON or --kind/--command/--path/...")
    return action


def _safe(text: object) -> str:
    """Agent text on a terminal: control, C1, bidi and invisible characters (and newlines) escaped."""
    from forge_tui.textsafe import clean

    return clean(text, one_line=True)


def run(args: argparse.Namespace) -> int:
    from forge_tui.core.policy import Context, decide, load_policy

    if args.policy_command == "approve":
        return run_approve(args)

    if args.policy_command == "check":
        path = Path(args.file) if args.file else _find_policy()[0]
        policy = load_policy(path)
        print(f"ok: {path} ({len(policy.rules)} rules, digest {policy.digest[:12]})")
        return 0

    if args.policy:
        path = Path(args.policy)
        root = _project_root_for(path)
    else:
        path, root = _find_policy()
    policy = load_policy(path)
    action = _action(args)
    # The gate's own decision function in the gate's own context (the data folder protected).
    ev = decide(policy, action, Context.for_project(root, prior_succeeded=frozenset(args.prior)))
    if args.json:
        out = {
            "policy": str(path),
            "policy_digest": policy.digest,
            "decision": ev.decision,
            "rule": ev.rule,
            "reason": ev.reason,
            "approvals": ev.approvals,
            "distinct_from": sorted(ev.distinct_from),
            "missing_prior": list(ev.missing_prior),
            "rules": list(ev.rules),
            "matches": [{"rule": m.rule_id, "decision": m.decision, "why": m.why} for m in ev.matches],
            "parts": [
                {"kind": p.kind, "text": p.text, "decision": p.decision, "rule": p.rule, "via": p.via}
                for p in ev.parts
            ],
            "unparseable": ev.unparseable,
            "instead": ev.instead,
        }
        json.dump(out, sys.stdout, indent=2, ensure_ascii=True)  # escapes what could fool a terminal
        sys.stdout.write("\n")
        return 0

    def w(text: str) -> None:
        sys.stdout.write(_safe(text[:-1]) + "\n")

    w(f"decision: {ev.decision}\n")
    w(f"rule:     {ev.rule or '(none: the default applied)'}\n")
    w(f"reason:   {ev.reason}\n")
    if ev.decision == "ask":
        w(f"approvals: {ev.approvals} from reviewers distinct from: {', '.join(sorted(ev.distinct_from))}\n")
    if ev.instead:
        w(f"instead:  {ev.instead}\n")
    if ev.missing_prior:
        w(f"missing prior steps: {', '.join(ev.missing_prior)}\n")
    if ev.unparseable:
        w(f"command not analysable: {ev.unparseable}\n")
    w("matching rules:\n" if ev.matches else "matching rules: none\n")
    for m in ev.matches:
        w(f"  {m.rule_id} ({m.decision}): {m.why}\n")
    if ev.parts:
        w("parts:\n")
        for n, p in enumerate(ev.parts, 1):
            via = f" [via {p.via}]" if p.via else ""
            w(f"  {n}. {p.decision:<5} {p.text}{via}  <- {p.rule or 'default'}\n")
    return 0


def configure_approve(sub) -> None:
    a = sub.add_parser(
        "approve",
        help="approve the pending policy change (sign its digest)",
        description=(
            "Show the pending policy change (its diff against the policy in force) and sign its digest "
            "with reviewer NAME's key, so the daemon puts it in force. The same checks as `approve`: "
            "NAME must be an enrolled, active reviewer and the passphrase unlocks the key (terminal or "
            "FORGE_PASSPHRASE). With no daemon running the approval is written to the ledger and the "
            "next daemon start enforces that digest."
        ),
    )
    a.add_argument("--as", dest="reviewer", metavar="NAME", required=True, help="the reviewer who signs")
    a.add_argument("--digest", help="the digest to approve (default: the pending change's, or the file's)")


def run_approve(args: argparse.Namespace) -> int:
    from forge_tui.client import Client, DaemonUnavailable, RPCError
    from forge_tui.core.project import find_project
    from forge_tui.core.reviewers import ReviewerStore
    from forge_tui.core.trust import policy_statement, sign_policy_statement
    from forge_tui.paths import review_socket_path
    from forge_tui.protocol import POLICY_APPROVE, STATUS
    from forge_tui.review import ReviewRefused, read_passphrase, witness
    from forge_tui.textsafe import clean

    project = find_project()
    try:
        with Client(review_socket_path(project.project_id), client="cli") as c:
            pending = (c.call(STATUS, {}).get("policy") or {}).get("pending")
            if pending is None:
                raise ReviewRefused("no policy change is pending: the policy file is the one in force")
            digest = args.digest or pending["digest"]
            if digest != pending["digest"]:
                raise ReviewRefused(f"the pending change is {pending['digest'][:12]}, not {digest[:12]}")
            sys.stdout.write(clean(pending.get("diff") or "") + "\n")
            key = ReviewerStore(project).unlock(args.reviewer, read_passphrase(args.reviewer))
            seen = witness(project, c)  # the checkpoint this reviewer checked and cosigns
            params = sign_policy_statement(key, policy_statement(digest, key.name, project.project_id, seen))
            try:
                res = c.call(POLICY_APPROVE, params)
            except RPCError as exc:
                raise ReviewRefused(f"refused: {exc.message} (error {exc.code})") from None
    except DaemonUnavailable:
        return _approve_offline(project, args)
    print(f"policy {digest[:12]} approved by {args.reviewer} and in force (seq {res['seq']})")
    return 0


def _approve_offline(project, args: argparse.Namespace) -> int:
    """No daemon: check the approval against the ledger's reviewers and write it there."""
    from forge_tui.core.ledger import LedgerWriter
    from forge_tui.core.policy import parse_policy
    from forge_tui.core.reviewers import ReviewerStore
    from forge_tui.core.trust import policy_statement, project_trust, sign_policy_statement
    from forge_tui.core.witness import check_reply, checkpoint_reply, request_params
    from forge_tui.daemon.policy_watch import stable_read
    from forge_tui.errors import LedgerBusy, PolicyError
    from forge_tui.paths import atomic_write
    from forge_tui.review import read_passphrase

    text = stable_read(project.policy_path, 0.05)
    if text is None:
        raise ConfigError(f"{project.policy_path} is missing or still being written")
    digest = args.digest or text.digest
    if digest != text.digest:
        raise ConfigError(f"{project.policy_path} has digest {text.digest[:12]}, not {digest[:12]}")
    try:
        parse_policy(text.data, str(project.policy_path))
    except PolicyError as exc:
        raise ConfigError(f"the policy does not load, nothing to approve: {exc}") from None
    key = ReviewerStore(project).unlock(args.reviewer, read_passphrase(args.reviewer))
    try:
        with LedgerWriter.open(project) as w:
            # the checkpoint this reviewer cosigns: this machine's own, checked like the daemon's
            lid = w.ledger_id
            reply = checkpoint_reply(lid, w.path, w.checkpoint_note(), request_params(project, lid)["since"])
            seen = check_reply(project, reply).cosigned()
            params = sign_policy_statement(key, policy_statement(digest, key.name, project.project_id, seen))
            body = {"event": "approved", "digest": digest, "path": str(project.policy_path), **params}
            body["reviewer_kid"] = key.verifier.kid
            project_trust(project).check_policy_body(body)
            for folder in (project.state_dir / "policies", project.forge_dir / "policies"):
                folder.mkdir(parents=True, exist_ok=True)
                atomic_write(folder / f"{digest}.toml", text.data)
            (rec,) = w.append([("policy", body)])
    except LedgerBusy:
        raise ConfigError("the ledger is held by a daemon that does not answer; try again") from None
    print(
        f"policy {digest[:12]} approved by {args.reviewer} (seq {rec.seq}); the daemon enforces it at start"
    )
    return 0
