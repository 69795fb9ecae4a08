"""`forge-tui policy check|explain`: validate a policy file, or show how it decides an action."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from forge_tui.errors import ConfigError

NAME = "policy"
HELP = "validate the policy (check) or show how it decides an action (explain)"
DESCRIPTION = """\
check [FILE]      validate FILE (default: the project's .forge/policy.toml); exit 0 when valid,
                  2 with "<path>:<line>:<col>: <problem>" when not.
explain           show the decision for an action: the deciding rule, every matching rule and why,
                  and each part of a shell command with its own decision. Give the action as JSON
                  (--action '{"kind": "shell.exec", "command": "pytest && git push"}' or
                  --action @action.json) or with --kind/--tool/--command/--path/--url."""


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


# Agent text on a terminal: C0 (but tab), DEL, C1, bidi controls and invisible characters made visible.
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def _safe(text: object) -> str:
    def esc(m: re.Match[str]) -> str:
        o = ord(m.group(0))
        return f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}"

    return _UNSAFE.sub(esc, str(text))


def run(args: argparse.Namespace) -> int:
    from forge_tui.core.policy import Context, decide, load_policy

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
