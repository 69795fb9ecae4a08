"""forge-tui verify-report"""

from __future__ import annotations

import argparse

NAME = "verify-report"
HELP = "check a report folder: the manifest's signature and every file's SHA-256"
DESCRIPTION = """\
Check a folder written by `forge-tui report`: manifest.json must be signed by a trusted ledger key
(--key VKEY|FILE, repeatable; inside a project, default .forge/keys/*.pub), and every file it lists
must be present with the size and SHA-256 it records; a file the manifest does not list fails too.
Inside the project, each ledger the manifest names is also checked: its first N records (N the
reported size) must hash to the reported root, so the report was made from this ledger (grown since
or not). Each failure names the file. Exit codes: 0 verified, 1 a file or the manifest was changed, removed or
added, or the signature does not verify, 2 usage error (no such folder, no key)."""


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", help="the report folder")
    p.add_argument("--key", action="append", default=[], metavar="VKEY|FILE", help="a trusted ledger key")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument(
        "--no-ledger",
        action="store_true",
        help="do not compare the reported roots with the project's ledgers",
    )


def run(args: argparse.Namespace) -> int:
    import json
    import os
    from pathlib import Path

    from forge_tui.core.report.bundle import check_against_ledgers, verify_bundle_dir
    from forge_tui.core.verify import load_keys
    from forge_tui.errors import ConfigError

    folder = Path(args.dir)
    if not folder.is_dir():
        raise ConfigError(f"{args.dir} is not a folder")
    keys = []
    for k in args.key:
        if os.path.exists(k):
            try:
                k = Path(k).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"cannot read key file {k}: {exc}") from None
        keys += load_keys(k)
    if not args.key:
        keys = _project_keys()
    if not keys:
        raise ConfigError("no ledger key: give --key (or run inside the project)")
    check = verify_bundle_dir(folder, keys)
    against: list[str] = []
    if check.manifest is not None and not check.findings and not args.no_ledger:
        project = _project()
        if project is not None:
            against, found = check_against_ledgers(check.manifest, project)
            check.findings.extend(found)
    if args.json:
        print(
            json.dumps(
                {
                    "verified": check.ok,
                    "signed_by": check.signed_by,
                    "ledgers_matched": [] if check.findings else against,
                    "files": len((check.manifest or {}).get("files") or []),
                    "findings": [{"file": f.file, "message": f.message} for f in check.findings],
                },
                indent=1,
            )
        )
    elif check.ok:
        m = check.manifest or {}
        print(
            f"verified: {len(m.get('files', []))} files of the {m.get('framework')} report, manifest signed "
            f"by {', '.join(check.signed_by)}"
            + (f"; made from ledger {', '.join(against)} of this project" if against else "")
        )
    else:
        for f in check.findings:
            print(f"FAILED: {f.line()}")
    return 0 if check.ok else 1


def _project():
    from forge_tui.core.project import find_project
    from forge_tui.errors import ConfigError

    try:
        return find_project()
    except ConfigError:
        return None


def _project_keys():
    from forge_tui.core.verify import load_keys

    project = _project()
    if project is None:
        return []
    keys = []
    for p in sorted(project.pub_dir.glob("*.pub")):
        keys += load_keys(p.read_text(encoding="utf-8"))
    return keys
