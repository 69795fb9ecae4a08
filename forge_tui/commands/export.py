"""forge-tui export"""

from __future__ import annotations

import argparse

NAME = "export"
HELP = "export a request's evidence as a signed DSSE/in-toto bundle with inclusion proofs"
DESCRIPTION = """\
Write the evidence of one request (or of every request in a time range) as a bundle anyone can check
offline with `forge-tui verify-export FILE` and only public keys: a DSSE envelope (payload type
application/vnd.in-toto+json) holding an in-toto Statement v1 whose subject is the request record's
hash and whose predicate carries the decision(s), the approvals with the reviewers' own signatures,
and the outcome(s), signed with the ledger key; plus every one of those records with its RFC 6962
inclusion proof against the ledger's current signed checkpoint. Format: docs/forensics.md.

  forge-tui export r-4d5e6f708192a3b4 > evidence.json
  forge-tui export --since 2026-11-01 --until 2026-11-30 > november.jsonl   (one bundle a line)

Needs the ledger signing key (this machine's data folder). Exit codes: 0 written, 2 unknown request,
no key, or a request not yet covered by a signed checkpoint."""


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("request_id", nargs="?", help="the request to export")
    p.add_argument("--since", help="export every request from this time (YYYY-MM-DD[THH:MM...])")
    p.add_argument("--until", help="... up to this time")
    p.add_argument("--out", metavar="FILE", help="write here instead of standard output")


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from forge_tui.core.export import build_bundle, read_lines
    from forge_tui.core.keys import load_ledger_key
    from forge_tui.core.note import NoteError, open_checkpoint
    from forge_tui.core.project import find_project
    from forge_tui.core.query import normalise_time
    from forge_tui.core.verify import load_keys
    from forge_tui.errors import ConfigError

    if bool(args.request_id) == bool(args.since or args.until):
        raise ConfigError("give a request id, or --since/--until (not both)")
    project = find_project()
    out = []
    since, until = normalise_time(args.since), normalise_time(args.until, end=True)
    for lid in project.ledger_ids():
        origin = project.origin(lid)
        lines = read_lines(project.tracked_ledger(lid))
        try:
            note = project.tracked_checkpoint(lid).read_text(encoding="utf-8")
            cp, _ = open_checkpoint(note, load_keys((project.pub_dir / f"{lid}.pub").read_text()))
        except (OSError, NoteError) as exc:
            raise ConfigError(f"ledger {lid}: no usable signed checkpoint: {exc}") from None
        signer = load_ledger_key(lid)
        for rid in [args.request_id] if args.request_id else _requests_between(lines, since, until):
            try:
                out.append(build_bundle(lines, origin, note, cp.size, rid, signer))
            except ConfigError:
                if args.request_id and len(project.ledger_ids()) > 1:
                    continue
                raise
    if args.request_id and not out:
        raise ConfigError(f"no request {args.request_id!r} in any ledger")
    text = "\n".join(json.dumps(b, indent=None if len(out) > 1 or not args.request_id else 1) for b in out)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    else:
        sys.stdout.write(text + "\n")
    return 0


def _requests_between(lines: list[bytes], since: str | None, until: str | None) -> list[str]:
    from forge_tui.core.jcs import parse_canonical

    rids = []
    for line in lines:
        if b'"type":"request"' not in line:
            continue
        rec = parse_canonical(line)
        if rec["type"] != "request" or (since and rec["ts"] < since) or (until and rec["ts"] > until):
            continue
        rids.append(rec["body"]["request_id"])
    return rids
