"""Rotating this machine's ledger key (`forge-tui key rotate`; docs/formats.md "Key records").

The rotation is written by the ledger's one writer, so no daemon may hold the ledger meanwhile:

1. the new key is saved as `<ledger-id>.next.key` (private data folder);
2. one batch: a `note` saying what happens, then the `key` record (signed by the old key, with the new
   key's `new_key_sig`); then a checkpoint signed by both keys;
3. the old key is kept as `<ledger-id>.retiring.key` (it cosigns checkpoints up to `retire_from_seq`)
   and the new key replaces `<ledger-id>.key`;
4. the new vkey is added to `.forge/keys/<ledger-id>.pub` (retired keys stay listed).

A crash anywhere is finished or undone by the next open (`load_ledger_signers`): a `next` key whose key
record is in the ledger is put in force, one whose record is not is removed.
"""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forge_tui.core import keys
from forge_tui.core.note import NoteError, Signer, Verifier
from forge_tui.errors import CanonicalError, ConfigError, LedgerBusy, LedgerUnavailable, SignatureError

ROTATION_CHECKS = ("chain", "signatures", "checkpoint", "anchors")  # what must be clean to rotate


@dataclass(frozen=True)
class Rotation:
    ledger_id: str
    old_kid: str
    new_kid: str
    new_vkey: str
    key_seq: int  # seq of the key record
    from_seq: int  # the new key signs from here
    retire_from_seq: int  # the old key signs nothing from here; checkpoints up to this size are double-signed
    pub_path: Path


def load_ledger_signers(project, lid: str):
    """(the ledger key in force, a Cosigner or None) for `lid`, finishing or undoing a rotation a crash
    interrupted."""
    from forge_tui.core.ledger import Cosigner

    primary = keys.load_ledger_key(lid)
    nxt = keys.ledger_key_file(lid, "next")
    if nxt.exists():
        new, _doc = keys.read_ledger_key_doc(nxt)
        rec = rotation_record(project, lid, primary.verifier, new.verifier)
        if rec is None:
            nxt.unlink()  # its key record never became durable: the rotation did not happen
        else:
            _put_in_force(lid, primary, nxt, rec)
            primary = new
    retiring = keys.ledger_key_file(lid, "retiring")
    if retiring.exists():
        old, doc = keys.read_ledger_key_doc(retiring)
        until = doc.get("retire_from_seq")
        if old.verifier != primary.verifier and type(until) is int:
            return primary, Cosigner(old, 0, until)
    return primary, None


def _put_in_force(lid: str, old: Signer, nxt: Path, rec: dict[str, Any]) -> None:
    body = rec["body"]
    keys.save_ledger_key(
        lid,
        old,
        keys.ledger_key_file(lid, "retiring"),
        retire_from_seq=body["retire_from_seq"],
        key_seq=rec["seq"],
    )
    os.replace(nxt, keys.ledger_key_path(lid))


def rotation_record(project, lid: str, old: Verifier, new: Verifier) -> dict[str, Any] | None:
    """The `key` record of the authoritative ledger that rotates `old` to `new`, or None."""
    from forge_tui.core.ledger import authoritative_dir
    from forge_tui.core.records import verify_record_sig
    from forge_tui.core.rotation import scan_typed_records

    path = authoritative_dir(project) / f"{lid}.jsonl"
    try:
        with open(path, "rb") as fh:
            if os.fstat(fh.fileno()).st_size == 0:
                return None
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
                recs = scan_typed_records(data, data.rfind(b"\n") + 1, ("key",))
    except FileNotFoundError:
        return None
    for rec in reversed(recs):
        b = rec.get("body") or {}
        if b.get("vkey") == new.vkey and b.get("previous") == old.vkey:
            try:
                verify_record_sig(rec, old)
            except (SignatureError, CanonicalError, NoteError):
                continue
            return rec
    return None


def check_consistent(project) -> None:
    """Refuse (ConfigError) unless this machine's authoritative ledger verifies in its chain,
    signatures (with the keys' ranges), checkpoint and anchors: a rotation is never stacked on a ledger
    that is already in doubt."""
    from forge_tui.core.findings import Code
    from forge_tui.core.verify import verify_project

    report = verify_project(project, authoritative=True, update_seen=False, workers=1)
    bad = [
        f for f in report.findings if f.severity == "error" and Code(f.code).check.value in ROTATION_CHECKS
    ]
    if bad:
        raise ConfigError(
            f"refusing to rotate: the ledger does not verify ({bad[0].line()})"
            + (f" and {len(bad) - 1} more" if len(bad) > 1 else ""),
            hint="forge-tui verify --authoritative lists every problem",
        )


def rotate(project, overlap: int = 0) -> Rotation:
    """Rotate this machine's ledger key as the module docstring says; refuses (ConfigError) while a
    daemon holds the ledger, the ledger does not verify, the writer is in a fault, the previous
    rotation's overlap is still open, or the tracked public key file does not list the key in force."""
    from forge_tui.core.ledger import Cosigner, LedgerWriter
    from forge_tui.core.rotation import rotation_body
    from forge_tui.core.verify import load_keys
    from forge_tui.paths import atomic_write

    if type(overlap) is not int or overlap < 0:
        raise ConfigError("--overlap is a number of records, 0 or more")
    check_consistent(project)
    lid = project.local_ledger_id()
    try:
        w = LedgerWriter.open(project)
    except LedgerBusy:
        raise ConfigError(
            "a daemon holds the ledger: stop it first (the rotation is written by the ledger's one writer)",
            hint="stop the daemon (the console's quit, or kill its pid), run `forge-tui key rotate`, then start it",
        ) from None
    with w:
        if w.cosigner is not None and w.cosigner.max_size is not None and w.tree.size <= w.cosigner.max_size:
            raise ConfigError(
                f"the previous rotation's overlap is still open (until size {w.cosigner.max_size}; the "
                f"ledger holds {w.tree.size}): rotate again once it is over"
            )
        pub = project.pub_dir / f"{lid}.pub"
        try:
            listed = {k.vkey for k in load_keys(pub.read_text(encoding="utf-8"))}
        except (OSError, UnicodeDecodeError, NoteError) as exc:
            raise ConfigError(f"cannot read {pub}: {exc}") from None
        old = w.signer
        if old.verifier.vkey not in listed:
            raise ConfigError(f"{pub} does not list the key in force ({old.kid}): fix it before rotating")
        keys.ledger_key_file(lid, "retiring").unlink(missing_ok=True)  # an overlap that is over
        w.cosigner = None
        new = Signer.generate(w.origin)
        nxt = keys.save_ledger_key(lid, new, keys.ledger_key_file(lid, "next"))

        def key_body(done):
            note = done[0]
            return rotation_body(w.origin, note.seq + 1, note.leaf, old.verifier, new, overlap)

        text = f"ledger key rotation: {old.kid} hands over to {new.kid}"
        recs = w.append(
            [("note", {"kind": "key_rotation", "text": text}), ("key", key_body)], checkpoint=False
        )
        key_rec = recs[1]
        w.cosigner = Cosigner(new, key_rec.seq + 1, None)
        w.checkpoint()  # signed by both keys
        if w.fault:
            raise LedgerUnavailable(
                f"the key record is written (seq {key_rec.seq}) but the checkpoint is not: {w.fault}",
                hint="the rotation is completed the next time the ledger is opened",
            )
        retire = key_rec.record["body"]["retire_from_seq"]
        _put_in_force(lid, old, nxt, key_rec.record)
        w.signer, w.cosigner = new, Cosigner(old, 0, retire)
    atomic_write(
        pub, (pub.read_text(encoding="utf-8").rstrip("\n") + "\n" + new.verifier.vkey + "\n").encode()
    )
    return Rotation(lid, old.kid, new.kid, new.verifier.vkey, key_rec.seq, key_rec.seq + 1, retire, pub)
