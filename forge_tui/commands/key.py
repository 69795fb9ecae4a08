"""forge-tui key rotate"""

from __future__ import annotations

import argparse

NAME = "key"
HELP = "rotate this machine's ledger signing key (a key record, double-signed checkpoints)"
DESCRIPTION = """\
  rotate [--overlap N] [--json]
        replace this machine's ledger key with a new one. The ledger gets a `key` record signed by
        the old key and by the new one; the new key signs every record after it; the old key is
        retired from seq K+1+N (K: the key record's seq) and until then cosigns every checkpoint, so
        a verifier that still holds only the old public key can check them (the overlap). The new
        public key is added to .forge/keys/<ledger-id>.pub (retired keys stay listed): commit it.
        `verify` needs only the genesis key: it follows the key records and flags any record or
        checkpoint signed by a key outside its range (retired_key, premature_key, key_record).

        After a leak use --overlap 0 (the default): the old key is worthless from the next record
        on. A planned rotation may give other verifiers time with a larger N.

Refuses (exit 2) while a daemon holds the ledger (stop it first), while the ledger does not verify
(chain, signatures, checkpoint, anchors), while the previous rotation's overlap is still open, or
when .forge/keys/<ledger-id>.pub does not list the key in force. A crash midway is finished or undone
the next time the ledger is opened. Keys live in the private data folder, never in the project."""


def configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    r = sub.add_parser("rotate", help="rotate the ledger key of this machine")
    r.add_argument(
        "--overlap",
        type=int,
        default=0,
        metavar="N",
        help="records after the key record during which the old key stays valid and cosigns checkpoints"
        " (default 0)",
    )
    r.add_argument("--json", action="store_true", help="print what was done as JSON")


def run(args: argparse.Namespace) -> int:
    import json
    from dataclasses import asdict

    from forge_tui.core.keyrotate import rotate
    from forge_tui.core.project import find_project

    project = find_project()
    rot = rotate(project, args.overlap)
    if args.json:
        out = asdict(rot)
        out["pub_path"] = str(rot.pub_path.relative_to(project.root))
        print(json.dumps(out, indent=2))
        return 0
    print(
        f"rotated the key of ledger {rot.ledger_id}: {rot.old_kid} -> {rot.new_kid}\n"
        f"  key record at seq {rot.key_seq}; the new key signs from seq {rot.from_seq}\n"
        f"  the old key is retired from seq {rot.retire_from_seq}; checkpoints up to size "
        f"{rot.retire_from_seq} are signed by both\n"
        f"  added the new public key to {rot.pub_path.relative_to(project.root)} (commit it)"
    )
    return 0
