"""forge-tui reviewer add|list|retire"""

from __future__ import annotations

import argparse

NAME = "reviewer"
HELP = "manage reviewers: add (creates a passphrase-protected key), list, retire"
DESCRIPTION = """\
  add NAME      create NAME's Ed25519 key on this machine, encrypted with a passphrase
                (argon2id + secretbox), and register its public key in .forge/reviewers.toml
                (commit that file: the daemon and verify trust only registered reviewers).
                With an existing key on this machine, only registers it.
  list          registered reviewers, and whether their key is on this machine
  retire NAME   stop accepting NAME's approvals from the ledger's next record on

The passphrase comes from the terminal (asked twice) or FORGE_PASSPHRASE."""


def configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = sub.add_parser("add", help="create and register a reviewer key")
    a.add_argument("name")
    a.add_argument(
        "--kdf",
        default="moderate",
        choices=["interactive", "moderate", "sensitive"],
        help="argon2id cost (default moderate: ~0.6 s and 256 MiB per unlock)",
    )
    sub.add_parser("list", help="list reviewers")
    r = sub.add_parser("retire", help="retire a reviewer")
    r.add_argument("name")


def run(args: argparse.Namespace) -> int:
    from forge_tui.core import keys
    from forge_tui.core.project import find_project
    from forge_tui.core.reviewers import Reviewer, load_reviewers, save_reviewers
    from forge_tui.errors import ConfigError

    project = find_project()
    reg = load_reviewers(project.reviewers_path)
    if args.action == "list":
        local = set(keys.local_reviewer_names())
        if not reg:
            print("no reviewers registered (forge-tui reviewer add NAME)")
        for r in sorted(reg.values(), key=lambda r: r.name):
            state = f"retired at seq {r.retired_at_seq}" if r.retired_at_seq is not None else "active"
            here = "key on this machine" if r.name in local else "key elsewhere"
            print(f"{r.name:<20} {state:<22} {here:<20} {r.verifier.kid}")
        return 0
    if args.action == "add":
        name = keys.check_reviewer_name(args.name)
        if name in reg and reg[name].retired_at_seq is None:
            raise ConfigError(f"reviewer {name!r} is already registered")
        if keys.reviewer_key_path(name).exists():
            vkey = keys.reviewer_key_vkey(name)
            verifier = keys.parse_reviewer_vkey(name, vkey)
        else:
            from forge_tui.review import read_passphrase

            passphrase = read_passphrase(name, confirm=True)
            verifier = keys.create_reviewer_key(name, passphrase, kdf=args.kdf).verifier
        reg[name] = Reviewer(name, verifier, None)
        save_reviewers(project.reviewers_path, reg)
        print(f"reviewer {name} registered ({verifier.kid}); commit .forge/reviewers.toml")
        return 0
    name = args.name
    if name not in reg:
        raise ConfigError(f"{name!r} is not a registered reviewer")
    from forge_tui.core.ledger import LedgerWriter
    from forge_tui.errors import LedgerBusy

    try:
        with LedgerWriter.open(project) as w:
            seq = w.size
            w.append(
                [
                    (
                        "reviewer",
                        {"action": "retire", "name": name, "vkey": reg[name].verifier.vkey, "from_seq": seq},
                    )
                ]
            )
    except LedgerBusy:
        raise ConfigError("stop the daemon before retiring a reviewer (it holds the ledger)") from None
    reg[name] = Reviewer(name, reg[name].verifier, seq)
    save_reviewers(project.reviewers_path, reg)
    print(f"reviewer {name} retired from seq {seq}; commit .forge/reviewers.toml")
    return 0
