"""Reviewers as witnesses of the ledger (docs/design.md §6.1, docs/formats.md "Witnessed checkpoints").

Before a reviewer signs an approval (or a policy approval), the reviewer's side fetches the ledger's
latest signed checkpoint (`ledger.checkpoint` on the reviewer socket), checks its signature against the
ledger keys the project lists (`.forge/keys/<ledger-id>.pub`) and, when it witnessed this ledger
before, an RFC 6962 consistency proof from that checkpoint to this one. Only then is {size, root} put
in the signed object: a reviewer never cosigns a tree it has not checked, nor one that forks or shrinks
what it saw. The last witnessed checkpoint of each ledger is kept in the reviewer's private state.

`verify` then requires the ledger to be consistent with every cosigned checkpoint (witness_mismatch).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forge_tui.core.merkle import ProofError, consistency_proof, leaf_hash, verify_consistency
from forge_tui.core.note import NoteError, Verifier, open_checkpoint
from forge_tui.errors import ConfigError, SignatureError

READ_BLOCK = 1 << 20


@dataclass(frozen=True)
class Witnessed:
    ledger_id: str
    size: int
    root: str  # hex

    def cosigned(self) -> dict[str, Any]:
        """What goes into the signed approval: {size, root}."""
        return {"size": self.size, "root": self.root}


# ---- the daemon's side ----------------------------------------------------------------------------


def leaves_of(path: Path, size: int) -> list[bytes]:
    """Leaf hashes of the first `size` records of a ledger file (read in blocks)."""
    leaves: list[bytes] = []
    rest = b""
    with open(path, "rb") as fh:
        while len(leaves) < size:
            block = fh.read(READ_BLOCK)
            if not block:
                break
            lines = (rest + block).split(b"\n")
            rest = lines.pop()
            for line in lines:
                if len(leaves) == size:
                    break
                leaves.append(leaf_hash(line))
    if len(leaves) < size:
        raise ProofError(f"the ledger holds fewer than {size} records")
    return leaves


def checkpoint_reply(ledger_id: str, ledger_path: Path, note: str, since: int) -> dict[str, Any]:
    """The `ledger.checkpoint` result: the signed note, its size and root, and (when 0 < since < size)
    the consistency proof from size `since`. Reads the file: run it off the event loop."""
    from forge_tui.core.note import parse_checkpoint_body, split_note

    cp = parse_checkpoint_body(split_note(note)[0])
    out: dict[str, Any] = {"ledger_id": ledger_id, "note": note, "size": cp.size, "root": cp.root.hex()}
    if 0 < since < cp.size:
        out["proof"] = [h.hex() for h in consistency_proof(leaves_of(ledger_path, cp.size), since)]
    return out


# ---- the reviewer's side --------------------------------------------------------------------------


def state_path(project, ledger_id: str) -> Path:
    from forge_tui.paths import private_dir

    return private_dir(project.state_dir / "witnessed") / f"{ledger_id}.json"


def last_witnessed(project, ledger_id: str) -> Witnessed | None:
    try:
        doc = json.loads(state_path(project, ledger_id).read_text())
        return Witnessed(ledger_id, int(doc["size"]), str(doc["root"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{state_path(project, ledger_id)} is unreadable: {exc}") from None


def request_params(project, ledger_id: str | None) -> dict[str, Any]:
    """`ledger.checkpoint` params: the size this reviewer last witnessed, to be proved consistent."""
    last = last_witnessed(project, ledger_id) if ledger_id else None
    return {"since": last.size if last else 0}


def check_reply(project, reply: Any, verifiers: list[Verifier] | None = None) -> Witnessed:
    """Check a `ledger.checkpoint` result and remember it; raises ConfigError (nothing is signed then)
    unless its note verifies with the project's key for that ledger and it extends what this reviewer
    last witnessed of it."""
    if (
        type(reply) is not dict
        or type(reply.get("ledger_id")) is not str
        or type(reply.get("note")) is not str
    ):
        raise ConfigError("the daemon's ledger checkpoint is malformed")
    lid = reply["ledger_id"]
    if verifiers is None:
        try:
            verifiers = project.ledger_verifiers(lid)
        except (OSError, NoteError, ConfigError) as exc:
            raise ConfigError(f"cannot read the ledger's public key (.forge/keys/{lid}.pub): {exc}") from None
    try:
        cp, _signers = open_checkpoint(reply["note"], verifiers)
    except (NoteError, SignatureError) as exc:
        raise ConfigError(
            f"the ledger's checkpoint does not verify with .forge/keys/{lid}.pub: {exc}",
            hint="refusing to witness it; if the ledger key was rotated, update the project (git pull)",
        ) from None
    if cp.origin != project.origin(lid) or reply.get("size") != cp.size or reply.get("root") != cp.root.hex():
        raise ConfigError("the daemon's ledger checkpoint does not match its signed note")
    last = last_witnessed(project, lid)
    if last is not None:
        _check_extends(last, cp.size, cp.root, reply.get("proof") or [])
    seen = Witnessed(lid, cp.size, cp.root.hex())
    from forge_tui.paths import atomic_write

    atomic_write(
        state_path(project, lid), json.dumps({"size": seen.size, "root": seen.root}).encode(), mode=0o600
    )
    return seen


def _check_extends(last: Witnessed, size: int, root: bytes, proof: Any) -> None:
    if size < last.size:
        raise ConfigError(
            f"the ledger shrank: it holds {size} records, you witnessed {last.size} (rolled back?);"
            " refusing to sign"
        )
    try:
        path = (
            [bytes.fromhex(h) for h in proof]
            if type(proof) is list and all(type(h) is str for h in proof)
            else None
        )
        if path is None:
            raise ProofError("the consistency proof is malformed")
        verify_consistency(last.size, size, bytes.fromhex(last.root), root, path)
    except (ProofError, ValueError) as exc:
        raise ConfigError(
            f"the ledger is not consistent with the checkpoint you witnessed (size {last.size}): {exc};"
            " history was rewritten, refusing to sign"
        ) from None
