"""forge-tui verify-export"""

from __future__ import annotations

import argparse

NAME = "verify-export"
HELP = "check an exported evidence bundle offline with public keys only"
DESCRIPTION = """\
Check a bundle written by `forge-tui export` with public keys only: the DSSE envelope's signature,
the checkpoint's signature, each included record's own signature and its inclusion proof against the
checkpoint, that the in-toto predicate is exactly those records, and each reviewer's signature over
their approval (bound to the request's hash).

Keys: --key VKEY|FILE (the ledger's verifier key, repeatable; a FILE holds one vkey a line) and
--reviewers FILE (a reviewers.toml); inside a project they default to .forge/keys/*.pub and
.forge/reviewers.toml. A file with several bundles (JSON Lines) is checked bundle by bundle.
Exit codes: 0 every bundle verified, 1 one does not, 2 usage error (no such file, no keys)."""


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="the bundle (JSON, or JSON Lines of bundles)")
    p.add_argument("--key", action="append", default=[], metavar="VKEY|FILE", help="a trusted ledger key")
    p.add_argument("--reviewers", metavar="FILE", help="reviewers.toml with the reviewers' public keys")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace) -> int:
    import json
    import os

    from forge_tui.core.export import ExportError, verify_bundle
    from forge_tui.core.reviewers import parse_reviewers
    from forge_tui.core.verify import load_keys
    from forge_tui.errors import ConfigError

    try:
        with open(args.file, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise ConfigError(f"cannot read {args.file}: {exc.strerror}") from None
    keys, reviewers_text = [], None
    for k in args.key:
        keys += load_keys(_read(k) if os.path.exists(k) else k)
    if args.reviewers:
        reviewers_text = _read(args.reviewers)
    if not keys or reviewers_text is None:
        pk, pr = _project_keys()
        keys = keys or pk
        reviewers_text = reviewers_text if reviewers_text is not None else pr
    if not keys:
        raise ConfigError("no ledger key: give --key (or run inside the project)")
    reviewers = {n: r.verifier for n, r in parse_reviewers(reviewers_text or "").items()}
    try:
        bundles = [json.loads(text)] if text.lstrip().startswith("{\n") or "\n{" not in text.strip() else None
    except ValueError:  # not JSON (json.JSONDecodeError), or an integer past the digit limit
        bundles = None
    if bundles is None:
        try:
            bundles = [json.loads(line) for line in text.split("\n") if line.strip()]
        except ValueError as exc:  # json.JSONDecodeError, or an integer past the digit limit
            raise ConfigError(f"{args.file} is not JSON: {getattr(exc, 'msg', exc)}") from None
    results, code = [], 0
    for b in bundles:
        try:
            r = verify_bundle(b, keys, reviewers)
            results.append(
                {
                    "verified": True,
                    "request_id": r.request_id,
                    "status": r.status,
                    "seqs": r.seqs,
                    "checkpoint_size": r.checkpoint_size,
                    "reviewers": r.reviewers_verified,
                }
            )
        except ExportError as exc:
            results.append({"verified": False, "error": str(exc)})
            code = 1
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        for r in results:
            if r["verified"]:
                who = ", ".join(r["reviewers"]) or "no reviewer"
                print(
                    f"verified: request {r['request_id']} {r['status']}, records {r['seqs']} in a "
                    f"checkpoint of {r['checkpoint_size']}, approvals signed by {who}"
                )
            else:
                print(f"FAILED: {r['error']}")
    return code


def _project_keys():
    from forge_tui.core.project import find_project
    from forge_tui.core.verify import load_keys
    from forge_tui.errors import ConfigError

    try:
        project = find_project()
    except ConfigError:
        return [], None
    keys = []
    for p in sorted(project.pub_dir.glob("*.pub")):
        keys += load_keys(p.read_text(encoding="utf-8"))
    try:
        rev = project.reviewers_path.read_text(encoding="utf-8")
    except OSError:
        rev = None
    return keys, rev


def _read(path: str) -> str:
    from forge_tui.errors import ConfigError

    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
