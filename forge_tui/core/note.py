"""C2SP signed notes, Ed25519 key ids and vkeys, and tlog checkpoints (docs/design.md §4.4–4.5).

key id = SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]
vkey   = <name>+<8 hex key id>+<base64(0x01 ‖ public key)>
note   = text (ending in LF), a blank line, then lines "— <name> <base64(key id ‖ signature)>"
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

import nacl.bindings
import nacl.exceptions
import nacl.signing

from forge_tui.errors import ForgeError, SignatureError

ALG_ED25519 = 0x01
SIG_PREFIX = "\u2014 "  # em dash and a space
_NAME_RE = re.compile(r"^[^\s+]+$")
_B64_RE = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")
_CONTROL_RE = re.compile(r"[\x00-\x09\x0b-\x1f]")


class NoteError(ForgeError):
    """A signed note, vkey or checkpoint is malformed."""

    exit_code = 1


def b64decode_strict(text: str, what: str = "base64") -> bytes:
    """Standard padded base64; rejects other alphabets, missing padding and non-zero padding bits."""
    if not _B64_RE.match(text) or len(text) % 4:
        raise NoteError(f"{what} is not padded standard base64")
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise NoteError(f"{what} is not valid base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise NoteError(f"{what} is not canonical base64 (non-zero padding bits)")
    return raw


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + public_key).digest()[:4]


def check_key_name(name: str) -> str:
    if not name or not _NAME_RE.match(name):
        raise NoteError(f"key name {name!r} must be non-empty with no spaces or '+'")
    return name


@dataclass(frozen=True)
class Verifier:
    """A public key with its note name: verifies records, approvals and notes."""

    name: str
    public_key: bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public_key)

    @property
    def kid(self) -> str:
        """`<name>+<8 hex>`, the form records use in their `kid` field."""
        return f"{self.name}+{self.key_id.hex()}"

    @property
    def vkey(self) -> str:
        return f"{self.kid}+{b64(bytes([ALG_ED25519]) + self.public_key)}"

    def verify(self, message: bytes, signature: bytes) -> None:
        """Raises SignatureError unless `signature` is this key's Ed25519 signature over `message`."""
        if len(signature) != 64:
            raise SignatureError("signature is not 64 bytes")
        try:
            nacl.bindings.crypto_sign_open(signature + message, self.public_key)
        except nacl.exceptions.BadSignatureError:
            raise SignatureError(f"signature does not verify with key {self.kid}") from None


def parse_vkey(text: str) -> Verifier:
    text = text.strip()
    parts = text.split("+", 2)  # the base64 key may itself contain '+'; names and ids never do
    if len(parts) != 3:
        raise NoteError("a vkey has the form <name>+<hex key id>+<base64 key>")
    name, hexid, key64 = parts
    check_key_name(name)
    if not re.fullmatch(r"[0-9a-f]{8}", hexid):
        raise NoteError(f"vkey key id {hexid!r} is not 8 lowercase hex digits")
    raw = b64decode_strict(key64, "vkey key")
    if len(raw) != 33 or raw[0] != ALG_ED25519:
        raise NoteError("vkey is not an Ed25519 key")
    v = Verifier(name, raw[1:])
    if v.key_id.hex() != hexid:
        raise NoteError(f"vkey key id {hexid} does not match its key (expected {v.key_id.hex()})")
    return v


class Signer:
    """An Ed25519 private key with its note name."""

    def __init__(self, name: str, seed: bytes) -> None:
        check_key_name(name)
        if len(seed) != 32:
            raise NoteError("an Ed25519 seed is 32 bytes")
        self.name = name
        self._key = nacl.signing.SigningKey(seed)
        # The 64-byte secret key libsodium signs with: `sign` calls it directly (SigningKey.sign copies
        # the message twice more and wraps the result in an object, per record).
        self._secret = nacl.bindings.crypto_sign_seed_keypair(seed)[1]
        self.verifier = Verifier(name, bytes(self._key.verify_key))
        self._kid = self.verifier.kid  # a SHA-256 each time otherwise, and every record carries it

    @classmethod
    def generate(cls, name: str) -> Signer:
        return cls(name, bytes(nacl.signing.SigningKey.generate()))

    @property
    def seed(self) -> bytes:
        return bytes(self._key)

    @property
    def kid(self) -> str:
        return self._kid

    def sign(self, message: bytes) -> bytes:
        """The Ed25519 signature of `message` (64 bytes; the same as SigningKey.sign's)."""
        return nacl.bindings.crypto_sign(message, self._secret)[:64]


# ---- signed notes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_id: bytes
    signature: bytes


def sign_note(text: str, signers: list[Signer]) -> str:
    if not text.endswith("\n"):
        raise NoteError("note text must end in a newline")
    msg = text.encode("utf-8")
    lines = [f"{SIG_PREFIX}{s.name} {b64(s.verifier.key_id + s.sign(msg))}\n" for s in signers]
    return text + "\n" + "".join(lines)


def split_note(note: str) -> tuple[str, list[NoteSignature]]:
    """Split a signed note into its text and signature lines (split on LF only)."""
    if "\r" in note:
        raise NoteError("note holds a carriage return")
    if _CONTROL_RE.search(note):  # C2SP signed-note: no ASCII control character but LF
        raise NoteError("note holds a control character")
    idx = note.rfind("\n\n")
    if idx < 0 or not note.endswith("\n"):
        raise NoteError("note has no signature block")
    text, block = note[: idx + 1], note[idx + 2 :]
    sigs = []
    for line in block[:-1].split("\n"):
        if not line.startswith(SIG_PREFIX):
            raise NoteError("malformed signature line")
        rest = line[len(SIG_PREFIX) :]
        name, sep, sig64 = rest.partition(" ")
        if not sep:
            raise NoteError("malformed signature line")
        check_key_name(name)
        raw = b64decode_strict(sig64, "note signature")
        if len(raw) < 5:
            raise NoteError("note signature too short")
        sigs.append(NoteSignature(name, raw[:4], raw[4:]))
    if not sigs:
        raise NoteError("note has no signatures")
    return text, sigs


def open_note(note: str, verifiers: list[Verifier]) -> tuple[str, list[Verifier]]:
    """Verify a note: known keys must verify, at least one must; unknown keys are ignored."""
    text, sigs = split_note(note)
    msg = text.encode("utf-8")
    by_id = {(v.name, v.key_id): v for v in verifiers}
    good: list[Verifier] = []
    for s in sigs:
        v = by_id.get((s.name, s.key_id))
        if v is None:
            continue
        v.verify(msg, s.signature)  # a known key whose signature fails rejects the note
        good.append(v)
    if not good:
        raise SignatureError("no signature on the note is from a trusted key")
    return text, good


# ---- checkpoints ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def body(self) -> str:
        return f"{self.origin}\n{self.size}\n{b64(self.root)}\n"

    def sign(self, signers: list[Signer]) -> str:
        return sign_note(self.body(), signers)


def parse_checkpoint_body(text: str) -> Checkpoint:
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise NoteError("checkpoint body must have origin, size and root lines")
    origin, size_s, root64 = lines[0], lines[1], lines[2]
    if not origin or any(c.isspace() for c in origin.strip(" ")) or origin != origin.strip():
        raise NoteError("checkpoint origin is malformed")
    if not re.fullmatch(r"0|[1-9][0-9]*", size_s):
        raise NoteError("checkpoint size is not a decimal without leading zeros")
    root = b64decode_strict(root64, "checkpoint root")
    if len(root) != 32:
        raise NoteError("checkpoint root is not 32 bytes")
    return Checkpoint(origin, int(size_s), root)


def open_checkpoint(note: str, verifiers: list[Verifier]) -> tuple[Checkpoint, list[Verifier]]:
    text, good = open_note(note, verifiers)
    return parse_checkpoint_body(text), good
