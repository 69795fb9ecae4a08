"""forge-tui verify"""

from __future__ import annotations

import argparse
import sys

NAME = "verify"
HELP = "verify the project's ledgers offline (signatures, chain, checkpoints, forensic rules)"
DESCRIPTION = """\
Check every ledger in .forge/ledger/ from the files alone: strict canonical parsing, seq and prev
chain, every record signature (both cores), the Merkle root against the signed checkpoint, anchors
the ledger must extend, and the forensic rules (execution without authorization, self-approval,
forged or unbound approvals, quorum not met, time running backwards, unrecorded policy changes).

Trust anchors: --base-ref REF reads the keys, reviewers and checkpoints from a git ref (in CI: the
protected base branch, never the branch under test); --anchor FILE uses a saved checkpoint; on a
developer machine the local "latest seen" cache and the daemon's own checkpoint are used too.

--git RANGE (a git rev-list range, e.g. origin/main..HEAD) also checks each commit of the range:
one that changes a governed path (a path matched by an "ask" or "deny" rule with `paths` of the
policy at that commit or at its parent) must carry a `Forge-Request: <request_id>` trailer (several are
allowed), and every request it names must have been allowed in the ledger (by policy or by
reviewers). Findings name the commit and the path: ungated_commit (no trailer), unknown_request (no
such request in the ledger), unapproved_request (denied, expired or still pending). A merge answers
only for what none of its parents brings (its own conflict resolutions); the merged commits are
checked on their own. A bad range or a folder outside git exits 2; --git does not combine with --fast.

Every pass states its strength (text: `strength:` lines; --json: "strength", with "claims" among
signatures, anchored, witnessed, sandboxed): signatures only (whoever holds the ledger key could
rewrite an unanchored ledger whole), anchored to a base ref or another anchor, reviewer-witnessed up to
size N (every approval cosigns the checkpoint its reviewer verified; a ledger that disagrees with one
fails with witness_mismatch), and whether every recorded request came from a sandboxed agent
(`forge-tui run`). Keys: only the genesis key must be trusted; key rotations are followed through the
ledger's `key` records and each key is honoured only in its range (retired_key, premature_key,
key_record, checkpoint_cosign). Reviewers come from the ledger's enrolment records (reviewers.toml
only when the ledger enrols none).

Every finding has a stable code (ledger, seq, code, message); docs/findings.md lists them all with
their meaning and severity.

--authoritative checks this machine's authoritative copy (outside the working tree: the one the daemon
writes and refuses to start on if it is damaged) instead of .forge/ledger/. A tracked copy that is only
behind an authoritative copy extending it is a warning (stale_tracked), not a rollback.

Exit codes: 0 verified; 1 tampering or a forensic violation; 2 usage or configuration error;
3 torn or unsigned tail, or a stale tracked copy (a warning; an error with --strict)."""


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--fast",
        action="store_true",
        help="chain, seq and signed checkpoint only: no per-record parsing, signatures or forensic rules",
    )
    p.add_argument(
        "--base-ref", metavar="REF", help="read trusted keys and the base checkpoint from this git ref"
    )
    p.add_argument(
        "--anchor", metavar="FILE", action="append", default=[], help="a saved checkpoint to extend"
    )
    p.add_argument(
        "--git",
        metavar="RANGE",
        dest="git_range",
        help="also require a Forge-Request trailer naming an allowed request on every commit of RANGE "
        "that touches a governed path (e.g. origin/main..HEAD)",
    )
    p.add_argument("--strict", action="store_true", help="treat a torn or unsigned tail as an error (exit 1)")
    p.add_argument("--json", action="store_true", help="print a machine-readable report")
    p.add_argument("--no-local", action="store_true", help="ignore this machine's cached checkpoints")
    p.add_argument(
        "--authoritative",
        action="store_true",
        help="check this machine's authoritative copy (the one the daemon writes) instead of .forge/ledger/",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="print findings only")


def run(args: argparse.Namespace) -> int:
    import json

    from forge_tui.core.project import find_project
    from forge_tui.core.verify import verify_project
    from forge_tui.errors import ConfigError

    project = find_project()
    anchors = []
    for a in args.anchor:
        try:
            with open(a, encoding="utf-8", newline="") as fh:
                anchors.append(fh.read())
        except OSError as exc:
            raise ConfigError(f"cannot read anchor {a}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"anchor {a} is not UTF-8 (a checkpoint is a UTF-8 signed note)") from None
        _check_anchor_shape(a, anchors[-1])
    progress = None
    if sys.stderr.isatty() and not args.json and not args.quiet:
        progress = _ProgressBar()
    report = verify_project(
        project,
        fast=args.fast,
        base_ref=args.base_ref,
        anchors=anchors,
        use_local_state=not args.no_local,
        progress=progress,
        git_range=args.git_range,
        authoritative=args.authoritative,
    )
    if progress:
        progress.done()
    code = report.exit_code(args.strict)
    if args.json:
        print(json.dumps(report.to_json(args.strict), indent=2))
        return code
    for f in report.findings:
        print(_printable(f.line()))
    if not args.quiet:
        for lr in report.ledgers:
            sigs = (
                "signatures and forensic rules skipped (--fast)"
                if report.fast
                else f"{lr.signatures_checked} signatures"
            )
            cp = f"checkpoint {lr.checkpoint_size}" if lr.checkpoint_size is not None else "no checkpoint"
            anchors_s = ", anchored to " + "; ".join(lr.anchors) if lr.anchors else ""
            print(_printable(f"ledger {lr.ledger_id}: {lr.records} records, {sigs}, {cp}{anchors_s}"))
        if report.git is not None:
            g = report.git
            print(
                _printable(
                    f"git {g['range']}: {g['commits']} commit(s), {g['governed']} touching governed paths"
                )
            )
        for line in report.strength()["summary"]:
            print(_printable(f"strength: {line}"))
        verdict = {0: "verified", 1: "FAILED", 3: "verified with warnings"}.get(code, "FAILED")
        print(
            f"{verdict}: {len(report.ledgers)} ledger(s), {sum(f.severity == 'error' for f in report.findings)} error(s)"
        )
    return code


def _printable(text: str) -> str:
    """Messages quote record text: show control characters escaped, never send them to the terminal."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


class _ProgressBar:
    def __init__(self) -> None:
        self.last = -1

    def __call__(self, done: int, total: int) -> None:
        pct = 100 * done // max(total, 1)
        if pct != self.last:
            self.last = pct
            bar = "#" * (pct // 4)
            sys.stderr.write(f"\rhashing [{bar:<25}] {pct:3d}%")
            sys.stderr.flush()

    def done(self) -> None:
        if self.last >= 0:
            sys.stderr.write("\r" + " " * 40 + "\r")
            sys.stderr.flush()


def _check_anchor_shape(name: str, text: str) -> None:
    """A usage error (exit 2) when an --anchor file is no checkpoint at all: origin, size and root lines,
    a blank line, then signature lines. Whether it is *trusted* and *consistent* is verify's finding."""
    from forge_tui.core.note import NoteError, parse_checkpoint_body
    from forge_tui.errors import ConfigError

    body, sep, sigs = text.partition("\n\n")
    try:
        if not sep or not sigs.startswith("\u2014 "):
            raise NoteError("no signature lines")
        parse_checkpoint_body(body + "\n")
    except NoteError as exc:
        raise ConfigError(f"anchor {name} is not a checkpoint ({exc})") from None
