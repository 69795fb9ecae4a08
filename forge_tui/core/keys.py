"""Private key storage outside the project (docs/design.md §3, §6).

Ledger signing keys are stored unencrypted (the daemon signs unattended) as 0600 files in the 0700 user
data folder. Reviewer keys are encrypted with a passphrase: argon2id derives a key for a secretbox, so
an agent that can read the file still cannot sign an approval.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from forge_tui.core.note import Signer, Verifier, b64, b64decode_strict, parse_vkey
from forge_tui.errors import ConfigError, KeyError_
from forge_tui.paths import keys_dir, private_dir, write_private_file

REVIEWER_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
REVIEWER_KEY_PREFIX = "forge-tui.reviewer/"
# nacl.pwhash/nacl.secret and the passphrase rules are imported where a reviewer key is sealed or
# unlocked: verify only parses public keys here (tests/unit/test_cli_imports.py).


def kdf_levels() -> dict[str, tuple[int, int]]:
    """argon2id (opslimit, memlimit) by level name."""
    from nacl.pwhash import argon2id

    return {
        "interactive": (argon2id.OPSLIMIT_INTERACTIVE, argon2id.MEMLIMIT_INTERACTIVE),
        "moderate": (argon2id.OPSLIMIT_MODERATE, argon2id.MEMLIMIT_MODERATE),
        "sensitive": (argon2id.OPSLIMIT_SENSITIVE, argon2id.MEMLIMIT_SENSITIVE),
    }


# ---- ledger keys ----------------------------------------------------------------------------------


def ledger_key_path(ledger_id: str) -> Path:
    return private_dir(keys_dir() / "ledger") / f"{ledger_id}.key"


def ledger_key_file(ledger_id: str, role: str) -> Path:
    """During a key rotation (forge_tui.core.keyrotate): `next` is the new key until its `key` record
    is durable, `retiring` the old key while it still cosigns checkpoints (the overlap)."""
    return private_dir(keys_dir() / "ledger") / f"{ledger_id}.{role}.key"


def save_ledger_key(ledger_id: str, signer: Signer, path: Path | None = None, **extra) -> Path:
    path = path or ledger_key_path(ledger_id)
    doc = {
        "v": 1,
        "kind": "ledger",
        "name": signer.name,
        "seed": b64(signer.seed),
        "vkey": signer.verifier.vkey,
        **extra,
    }
    write_private_file(path, (json.dumps(doc, indent=1) + "\n").encode())
    return path


def read_ledger_key_doc(path: Path) -> tuple[Signer, dict]:
    """A ledger key file's signer and its document (KeyError_ when unreadable)."""
    try:
        doc = json.loads(path.read_text())
        return Signer(doc["name"], b64decode_strict(doc["seed"], "key seed")), doc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KeyError_(f"signing key file {path} is unreadable: {exc}") from None


def load_ledger_key(ledger_id: str) -> Signer:
    path = ledger_key_path(ledger_id)
    try:
        doc = json.loads(path.read_text())
        signer = Signer(doc["name"], b64decode_strict(doc["seed"], "key seed"))
    except FileNotFoundError:
        raise KeyError_(
            f"no signing key for ledger {ledger_id} on this machine ({path})",
            hint="each machine writes its own ledger; run `forge-tui init` here or restore the key",
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KeyError_(f"signing key file {path} is unreadable: {exc}") from None
    return signer


# ---- reviewer keys --------------------------------------------------------------------------------


def check_reviewer_name(name: str) -> str:
    if not REVIEWER_NAME_RE.match(name):
        raise ConfigError(
            f"reviewer name {name!r} is invalid", hint="use 1-64 lowercase letters, digits, '.', '_' or '-'"
        )
    return name


def reviewer_key_path(name: str) -> Path:
    return private_dir(keys_dir() / "reviewers") / f"{check_reviewer_name(name)}.key"


@dataclass
class ReviewerKey:
    """An unlocked reviewer key: signs approvals."""

    name: str
    signer: Signer

    @property
    def verifier(self) -> Verifier:
        return self.signer.verifier

    def sign_approval(self, approval: dict) -> str:
        from forge_tui.core.approvals import approval_message

        return b64(self.signer.sign(approval_message(approval)))


def create_reviewer_key(
    name: str,
    passphrase: str,
    *,
    kdf: str = "moderate",
    overwrite: bool = False,
    demo_insecure_passphrase: bool = False,
) -> ReviewerKey:
    """Create and store reviewer `name`'s key, encrypted with `passphrase`, which must be strong
    (core/passphrase.py; ConfigError otherwise). `demo_insecure_passphrase` skips that check: only
    `forge-tui demo` passes it, for throwaway keys in a temporary folder."""
    from forge_tui.core.passphrase import check_passphrase

    check_reviewer_name(name)
    if not passphrase:
        raise ConfigError("a reviewer key needs a non-empty passphrase")
    if not demo_insecure_passphrase:
        check_passphrase(passphrase)
    path = reviewer_key_path(name)
    if path.exists() and not overwrite:
        raise ConfigError(f"a key for reviewer {name!r} already exists on this machine ({path})")
    ops, mem = kdf_levels()[kdf]
    signer = Signer.generate(REVIEWER_KEY_PREFIX + name)
    write_private_file(path, _sealed_doc(name, signer, passphrase, ops, mem))
    return ReviewerKey(name, signer)


def change_reviewer_passphrase(name: str, old: str, new: str) -> ReviewerKey:
    """Re-encrypt reviewer `name`'s key under `new` (which must be strong), after `old` unlocks it;
    the key and its argon2id cost stay the same. The file is replaced atomically."""
    from forge_tui.core.passphrase import check_passphrase

    check_passphrase(new)
    key = unlock_reviewer(name, old)
    doc = _read_reviewer_doc(name)
    write_private_file(
        reviewer_key_path(name), _sealed_doc(name, key.signer, new, doc["opslimit"], doc["memlimit"])
    )
    return key


def _sealed_doc(name: str, signer: Signer, passphrase: str, ops: int, mem: int) -> bytes:
    import nacl.pwhash
    import nacl.secret
    import nacl.utils

    salt = nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES)
    box_key = nacl.pwhash.argon2id.kdf(
        nacl.secret.SecretBox.KEY_SIZE, passphrase.encode(), salt, opslimit=ops, memlimit=mem
    )
    sealed = nacl.secret.SecretBox(box_key).encrypt(signer.seed)
    doc = {
        "v": 1,
        "kind": "reviewer",
        "name": name,
        "vkey": signer.verifier.vkey,
        "kdf": "argon2id",
        "opslimit": ops,
        "memlimit": mem,
        "salt": b64(salt),
        "box": b64(bytes(sealed)),
    }
    return (json.dumps(doc, indent=1) + "\n").encode()


def reviewer_key_vkey(name: str) -> str:
    """The public vkey stored beside an encrypted reviewer key (no passphrase needed)."""
    return _read_reviewer_doc(name)["vkey"]


def _read_reviewer_doc(name: str) -> dict:
    path = reviewer_key_path(name)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise KeyError_(
            f"no key for reviewer {name!r} on this machine", hint="forge-tui reviewer add NAME"
        ) from None
    except (OSError, ValueError) as exc:
        raise KeyError_(f"reviewer key file {path} is unreadable: {exc}") from None


def unlock_reviewer(name: str, passphrase: str) -> ReviewerKey:
    import nacl.exceptions
    import nacl.pwhash
    import nacl.secret

    doc = _read_reviewer_doc(name)
    try:
        salt = b64decode_strict(doc["salt"], "salt")
        box_key = nacl.pwhash.argon2id.kdf(
            nacl.secret.SecretBox.KEY_SIZE,
            passphrase.encode(),
            salt,
            opslimit=doc["opslimit"],
            memlimit=doc["memlimit"],
        )
        seed = nacl.secret.SecretBox(box_key).decrypt(b64decode_strict(doc["box"], "sealed key"))
    except nacl.exceptions.CryptoError:
        raise KeyError_(f"wrong passphrase for reviewer {name!r}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise KeyError_(f"reviewer key file for {name!r} is malformed: {exc}") from None
    signer = Signer(REVIEWER_KEY_PREFIX + name, seed)
    if signer.verifier.vkey != doc.get("vkey"):
        raise KeyError_(f"reviewer key file for {name!r} does not match its public key")
    return ReviewerKey(name, signer)


def local_reviewer_names() -> list[str]:
    folder = private_dir(keys_dir() / "reviewers")
    return sorted(p.stem for p in folder.glob("*.key") if REVIEWER_NAME_RE.match(p.stem))


def parse_reviewer_vkey(name: str, vkey: str) -> Verifier:
    v = parse_vkey(vkey)
    if v.name != REVIEWER_KEY_PREFIX + name:
        raise ConfigError(f"vkey for reviewer {name!r} is named {v.name!r}")
    return v
