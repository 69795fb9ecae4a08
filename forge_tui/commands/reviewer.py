"""forge-tui reviewer add|list|retire"""

from __future__ import annotations

import argparse

NAME = "reviewer"
HELP = "manage reviewers: add (creates a passphrase-protected key), list, retire, passphrase"
DESCRIPTION = """\
Reviewers are enrolled and retired by ledger records signed by an existing reviewer; the daemon and
verify take the reviewer set from the ledger, never from the working tree (.forge/reviewers.toml is
an exported view, rewritten after each change: commit it, but editing it changes nothing).

  add NAME [--as SIGNER] [--vkey VKEY]
                create NAME's Ed25519 key on this machine, encrypted with a passphrase
                (argon2id + secretbox), unless it exists or --vkey gives the public key of a key
                made elsewhere; then enrol it. The first reviewer of a project enrols themself
                (self-signed: this ends setup mode); every later one needs --as SIGNER, an active
                reviewer whose key is on this machine and who signs the enrolment. Under an
                account that holds no ledger of the project (a second person on the pair socket),
                it only creates the key and prints its public key for an active reviewer to enrol
                (`reviewer add NAME --vkey VKEY --as SIGNER`).
  list          enrolled reviewers (from the ledger), and whether their key is on this machine
  retire NAME --as SIGNER
                stop accepting NAME's approvals from the retiring record on (the last active
                reviewer cannot be retired)
  passphrase NAME
                change the passphrase of NAME's key on this machine (the key itself stays: nothing
                to enrol again); the new one from FORGE_NEW_PASSPHRASE or asked twice

Passphrases come from the terminal or FORGE_PASSPHRASE (NAME's when it is created; SIGNER's when
signing). A new passphrase (add, passphrase) must be strong: at least 12 characters with enough
variety, no run like "abcd1234", no common password; a weak one is refused (exit 2). A few words
are best. With the daemon running the record goes through its reviewer socket, else straight into
the ledger."""


def configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = sub.add_parser("add", help="create (or take) a reviewer key and enrol it")
    a.add_argument("name")
    a.add_argument("--as", dest="signer", metavar="SIGNER", help="the active reviewer who signs")
    a.add_argument("--vkey", help="enrol this public key (a key made on another machine)")
    a.add_argument(
        "--kdf",
        default="moderate",
        choices=["interactive", "moderate", "sensitive"],
        help="argon2id cost (default moderate: ~0.6 s and 256 MiB per unlock)",
    )
    sub.add_parser("list", help="list reviewers")
    c = sub.add_parser("passphrase", help="change the passphrase of a reviewer key on this machine")
    c.add_argument("name")
    r = sub.add_parser("retire", help="retire a reviewer")
    r.add_argument("name")
    r.add_argument(
        "--as", dest="signer", metavar="SIGNER", required=True, help="the active reviewer who signs"
    )


def run(args: argparse.Namespace) -> int:
    from forge_tui.core import keys
    from forge_tui.core.project import find_project
    from forge_tui.core.reviewers import submit_reviewer_record
    from forge_tui.core.trust import project_trust, reviewer_statement, sign_reviewer_statement
    from forge_tui.errors import ConfigError
    from forge_tui.review import read_passphrase

    project = find_project()
    if args.action == "add" and not args.vkey and not (project.state_dir / "local.toml").exists():
        return _key_only(keys.check_reviewer_name(args.name), args.kdf)
    state = project_trust(project)
    if args.action == "list":
        local = set(keys.local_reviewer_names())
        if state.setup_mode:
            print(
                "setup mode: no reviewer enrolled; policy changes are unprotected (forge-tui reviewer add NAME)"
            )
        for r in sorted(state.reviewers.values(), key=lambda r: r.name):
            st = (
                f"retired at seq {r.retired_at}"
                if r.retired_at is not None
                else f"active since seq {r.enrolled_at}"
            )
            here = "key on this machine" if r.name in local else "key elsewhere"
            print(f"{r.name:<20} {st:<24} {here:<20} {r.verifier.kid}")
        return 0
    name = keys.check_reviewer_name(args.name)
    if args.action == "passphrase":
        return _change_passphrase(name)
    if args.action == "add":
        new_key = None
        if args.vkey:
            verifier = keys.parse_reviewer_vkey(name, args.vkey)
        elif keys.reviewer_key_path(name).exists():
            verifier = keys.parse_reviewer_vkey(name, keys.reviewer_key_vkey(name))
        else:
            passphrase = read_passphrase(name, confirm=True)
            new_key = keys.create_reviewer_key(name, passphrase, kdf=args.kdf)
            verifier = new_key.verifier
        if state.setup_mode:
            if args.signer not in (None, name):
                raise ConfigError("the first reviewer enrols themself: leave out --as")
            signer = new_key or keys.unlock_reviewer(name, read_passphrase(name))
            if args.vkey and signer.verifier != verifier:
                raise ConfigError(
                    "the first reviewer's key must be on this machine (it signs its own enrolment)"
                )
            signer_name = name
        else:
            if not args.signer:
                raise ConfigError(
                    f"enrolling {name} needs an active reviewer's signature", hint="add --as SIGNER"
                )
            signer = keys.unlock_reviewer(args.signer, read_passphrase(args.signer))
            signer_name = args.signer
        body = sign_reviewer_statement(
            signer, reviewer_statement("enrol", name, verifier.vkey, project.project_id, signer_name)
        )
        seq = submit_reviewer_record(project, body)
        print(f"reviewer {name} enrolled at seq {seq} ({verifier.kid}), signed by {signer_name}")
        return 0
    cur = state.active().get(name)
    if cur is None:
        raise ConfigError(f"{name!r} is not an active reviewer")
    signer = keys.unlock_reviewer(args.signer, read_passphrase(args.signer))
    body = sign_reviewer_statement(
        signer, reviewer_statement("retire", name, cur.verifier.vkey, project.project_id, args.signer)
    )
    seq = submit_reviewer_record(project, body)
    print(f"reviewer {name} retired at seq {seq}, signed by {args.signer}")
    return 0


NEW_PASSPHRASE_ENV = "FORGE_NEW_PASSPHRASE"


def _change_passphrase(name: str) -> int:
    """Unlock NAME's key with the current passphrase and seal it again under a new, strong one."""
    import getpass
    import os
    import sys

    from forge_tui.core import keys
    from forge_tui.errors import ConfigError
    from forge_tui.review import read_passphrase

    old = read_passphrase(name)
    new = os.environ.get(NEW_PASSPHRASE_ENV)
    if new is None:
        if not sys.stdin.isatty():
            raise ConfigError("no terminal to ask for the new passphrase", hint=f"set {NEW_PASSPHRASE_ENV}")
        new = getpass.getpass(f"new passphrase for reviewer {name}: ")
        if getpass.getpass("again: ") != new:
            raise ConfigError("the passphrases differ")
    if new == old:
        raise ConfigError("the new passphrase is the current one")
    key = keys.change_reviewer_passphrase(name, old, new)
    print(f"the passphrase of reviewer {name}'s key is changed ({key.verifier.kid})")
    return 0


def _key_only(name: str, kdf: str) -> int:
    """This account writes no ledger of the project: make NAME's key here (unless it exists) and say how
    an active reviewer enrols it; the key never leaves this account's data folder."""
    from forge_tui.core import keys
    from forge_tui.review import read_passphrase

    if keys.reviewer_key_path(name).exists():
        vkey = keys.reviewer_key_vkey(name)
    else:
        vkey = keys.create_reviewer_key(name, read_passphrase(name, confirm=True), kdf=kdf).verifier.vkey
    print(
        f"reviewer key {name} is on this account; it holds no ledger of this project, so an active reviewer"
    )
    print(f"enrols it: forge-tui reviewer add {name} --vkey {vkey} --as SIGNER")
    return 0
