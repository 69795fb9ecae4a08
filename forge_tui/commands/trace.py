"""forge-tui trace"""

from __future__ import annotations

import argparse

NAME = "trace"
HELP = "walk requirement -> request -> decision -> approvals -> outcome -> commit -> deploy"
DESCRIPTION = """\
TARGET is a request id (forwards: its decision, approvals with whether each reviewer's signature
verifies, outcomes, the commits whose Forge-Request trailer names it, a deployment), a commit
(backwards: the requests its trailers name, each traced), or a path or glob (every request that named
it and every commit that touched it, within --since/--until). Reads the files and git only.
Exit codes: 0 found, 1 nothing found, 2 usage error."""


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", help="request id, commit (sha, ref) or path")
    p.add_argument("--since", help="for a path: from this time")
    p.add_argument("--until", help="for a path: up to this time")
    p.add_argument("--json", action="store_true", help="print the chain as JSON")


def run(args: argparse.Namespace) -> int:
    import json

    from forge_tui.core.project import find_project
    from forge_tui.core.query import normalise_time
    from forge_tui.core.reviewers import parse_reviewers
    from forge_tui.core.trace import chain_for, path_history, requests_of_commit
    from forge_tui.errors import ConfigError

    project = find_project()
    try:
        reviewers = parse_reviewers(project.reviewers_path.read_text(encoding="utf-8"))
    except (OSError, ConfigError):
        reviewers = {}
    result: dict = {"target": args.target}
    chain = chain_for(project, args.target, reviewers)
    if chain is not None:
        result["kind"], result["chains"] = "request", [chain.to_json()]
    else:
        commit = requests_of_commit(project.root, args.target) if not args.target.startswith("-") else None
        if commit is not None:
            sha, rids = commit
            chains = [chain_for(project, r, reviewers) for r in rids]
            result.update(
                kind="commit",
                commit=sha,
                requests=rids,
                chains=[c.to_json() for c in chains if c is not None],
            )
        else:
            since, until = normalise_time(args.since), normalise_time(args.until, end=True)
            result.update(kind="path", **path_history(project, args.target, since, until))
    found = bool(result.get("chains") or result.get("requests") or result.get("commits"))
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        _print(result)
    return 0 if found else 1


def _print(result: dict) -> None:
    from forge_tui.textsafe import clean

    def say(text: str) -> None:
        print(clean(text, one_line=True))  # agent text: control, C1 and bidi characters escaped

    if result["kind"] == "commit":
        rids = ", ".join(result["requests"]) or "none (no Forge-Request trailer)"
        say(f"commit {result['commit'][:12]}: requests {rids}")
    if result["kind"] == "path":
        say(
            f"path {result['path']}: {len(result['requests'])} request(s), {len(result['commits'])} commit(s)"
        )
        for rid in result["requests"]:
            say(f"  request {rid}")
        for c in result["commits"]:
            names = ", ".join(c["requests"]) or "no request"
            say(f"  commit {c['sha'][:12]} {c['date']} {c['subject']} ({names})")
        return
    for ch in result.get("chains", []):
        req = ch["request"]
        action = req.get("action") or {}
        what = action.get("command") or ", ".join(action.get("paths") or []) or action.get("kind")
        say(f"requirement: {ch['requirement'] or '(none recorded)'}")
        say(
            f"request {ch['request_id']} (ledger {ch['ledger']} seq {req['seq']}, {req['ts']}): "
            f"{(req.get('actor') or {}).get('id')} asks {action.get('kind')}: {what}"
        )
        for d in ch["decisions"]:
            say(f"  decision seq {d['seq']} {d['ts']}: {d['status']} by {d['decided_by']} (rule {d['rule']})")
        for a in ch["approvals"]:
            say(
                f"  approval seq {a['seq']} {a['ts']}: {a['verdict']} by {a['reviewer']}, signature {a['signature']}"
            )
        for o in ch["outcomes"]:
            say(f"  outcome seq {o['seq']} {o['ts']}: {o['status']} {o.get('detail') or ''}".rstrip())
        for c in ch["commits"]:
            say(f"  commit {c['sha'][:12]} {c['date']}: {c['subject']}")
        for dpl in ch["deployments"]:
            say(f"  deployed at seq {dpl['seq']} {dpl['ts']}")
