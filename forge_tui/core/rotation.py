"""Ledger key rotation and the validity range of each ledger key (docs/design.md §4.5, docs/formats.md
"Key records").

A rotation is one `key` record at seq K, signed (as a record) by the key in force, the *old* key:

    body = {action: "rotate", vkey: NEW, previous: OLD, from_seq: K+1, retire_from_seq: R,
            new_key_sig: base64 Ed25519 signature by NEW over
                b"forge-tui key v1\\n" + JCS({log, seq: K, prev, action, vkey, previous,
                                             from_seq, retire_from_seq})}

so both keys sign it: the old one by the record signature, the new one (proof that whoever rotates
holds it, bound to this log and position) by `new_key_sig`. From then on:

- the new key signs records from seq K+1 on, and checkpoints of size K+1 or more;
- the old key stays valid for records below R and checkpoints of size up to R (the *overlap*), and is
  retired from R: a record at seq >= R or a checkpoint of size > R it signs is a finding;
- every checkpoint of a size in [K+1, R] is signed by both keys (a verifier who still holds only the
  old key can check it, one who holds only the new key too).

`build_schedule` walks the key records from the trusted genesis key and returns each key's range; a
key record that does not check out introduces nothing (a finding says why).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from forge_tui.core.findings import Code
from forge_tui.core.jcs import canonical
from forge_tui.core.note import NoteError, Signer, Verifier, b64, b64decode_strict, parse_vkey
from forge_tui.core.records import verify_record_sig
from forge_tui.errors import CanonicalError, SignatureError

KEY_CONTEXT = b"forge-tui key v1\n"
ROTATE = "rotate"
STATEMENT_FIELDS = ("log", "seq", "prev", "action", "vkey", "previous", "from_seq", "retire_from_seq")


def key_statement(rec: dict[str, Any]) -> dict[str, Any]:
    """What the new key signs: the rotation's fields bound to the record's log, seq and prev."""
    b = rec["body"]
    return {
        "log": rec["log"],
        "seq": rec["seq"],
        "prev": rec["prev"],
        "action": b.get("action"),
        "vkey": b.get("vkey"),
        "previous": b.get("previous"),
        "from_seq": b.get("from_seq"),
        "retire_from_seq": b.get("retire_from_seq"),
    }


def key_message(statement: dict[str, Any]) -> bytes:
    return KEY_CONTEXT + canonical({k: statement[k] for k in STATEMENT_FIELDS})


def rotation_body(log: str, seq: int, prev: str, old: Verifier, new: Signer, overlap: int) -> dict[str, Any]:
    """The body of the `key` record at `seq` (chained onto `prev`) rotating `old` to `new`, the old key
    retired `overlap` records after the new one starts."""
    if overlap < 0:
        raise ValueError("the overlap is a number of records, 0 or more")
    body: dict[str, Any] = {
        "action": ROTATE,
        "vkey": new.verifier.vkey,
        "previous": old.vkey,
        "from_seq": seq + 1,
        "retire_from_seq": seq + 1 + overlap,
    }
    rec = {"log": log, "seq": seq, "prev": prev, "body": body}
    body["new_key_sig"] = b64(new.sign(key_message(key_statement(rec))))
    return body


@dataclass(frozen=True)
class KeyRange:
    """Where one ledger key is valid: records with from_seq <= seq < until (None: open), and
    checkpoints of from_seq <= size <= until."""

    verifier: Verifier
    from_seq: int
    until: int | None = None
    introduced_at: int | None = None  # seq of the key record (None: the genesis key)

    def record_ok(self, seq: int) -> bool:
        return self.from_seq <= seq and (self.until is None or seq < self.until)

    def checkpoint_ok(self, size: int) -> bool:
        return self.from_seq <= size and (self.until is None or size <= self.until)

    def as_tuple(self) -> tuple[str, int, int | None]:
        """What verify's worker processes take: (vkey, from_seq, until)."""
        return (self.verifier.vkey, self.from_seq, self.until)


@dataclass
class KeySchedule:
    ranges: list[KeyRange] = field(default_factory=list)
    overlaps: list[tuple[int, int]] = field(default_factory=list)  # checkpoint sizes needing both keys
    problems: list[tuple[int | None, str, str]] = field(default_factory=list)  # (seq, code, message)
    genesis_trusted: bool = False

    def verifiers(self) -> list[Verifier]:
        seen: dict[str, Verifier] = {}
        for r in self.ranges:
            seen.setdefault(r.verifier.kid, r.verifier)
        return list(seen.values())

    def by_kid(self, kid: str) -> KeyRange | None:
        return next((r for r in self.ranges if r.verifier.kid == kid), None)

    @property
    def rotations(self) -> int:
        return sum(1 for r in self.ranges if r.introduced_at is not None)

    def checkpoint_findings(self, size: int, signers: list[Verifier]) -> list[tuple[str, str]]:
        """(code, message) for a checkpoint of `size` signed by `signers` (the keys that verified)."""
        out: list[tuple[str, str]] = []
        kids = {v.kid for v in signers}
        for v in signers:
            r = self.by_kid(v.kid)
            if r is None or r.checkpoint_ok(size):
                continue
            if r.until is not None and size > r.until:
                out.append(
                    (
                        Code.RETIRED_KEY,
                        f"checkpoint of size {size} signed by {v.kid}, retired after size {r.until}",
                    )
                )
            else:
                out.append(
                    (
                        Code.PREMATURE_KEY,
                        f"checkpoint of size {size} signed by {v.kid}, valid from size {r.from_seq}",
                    )
                )
        for lo, hi in self.overlaps:
            if lo <= size <= hi:
                need = {r.verifier.kid for r in self.ranges if r.checkpoint_ok(size)}
                missing = sorted(need - kids)
                if missing:
                    out.append(
                        (
                            Code.CHECKPOINT_COSIGN,
                            f"checkpoint of size {size} is inside a key rotation's overlap ({lo}..{hi}) but "
                            f"not signed by {', '.join(missing)}",
                        )
                    )
        return out


def build_schedule(
    trusted: list[Verifier], origin: str, genesis: dict[str, Any] | None, key_records: list[dict[str, Any]]
) -> KeySchedule:
    """The ranges of the ledger's keys: the genesis key (which must be a trusted one) from seq 0, then
    each valid rotation in `key_records` (parsed records, in ledger order)."""
    sched = KeySchedule()
    root = _genesis_key(trusted, origin, genesis, sched) if genesis is not None or key_records else None
    if root is None:
        # No trusted genesis key: records are checked against the trusted keys as before (each signed
        # by another key is unknown_key); no rotation can be honoured without a root.
        sched.ranges = [KeyRange(v, 0) for v in trusted]
        return sched
    sched.genesis_trusted = True
    sched.ranges = [KeyRange(root, 0)]
    for rec in key_records:
        _apply_rotation(sched, origin, rec)
    return sched


def _genesis_key(
    trusted: list[Verifier], origin: str, genesis: dict[str, Any] | None, sched: KeySchedule
) -> Verifier | None:
    if genesis is None or genesis.get("type") != "genesis" or genesis.get("seq") != 0:  # or malformed
        sched.problems.append((0, Code.GENESIS_KEY, "the ledger does not start with a genesis record"))
        return None
    body = genesis.get("body") if isinstance(genesis.get("body"), dict) else {}
    try:
        v = parse_vkey(body.get("vkey") or "")
    except NoteError as exc:
        sched.problems.append((0, Code.GENESIS_KEY, f"the genesis record's vkey is malformed: {exc}"))
        return None
    if v.name != origin or genesis.get("kid") != v.kid:
        sched.problems.append(
            (0, Code.GENESIS_KEY, f"the genesis record is not signed by the key it names ({v.kid})")
        )
        return None
    if all(t.kid != v.kid or t.public_key != v.public_key for t in trusted):
        sched.problems.append(
            (
                0,
                Code.GENESIS_KEY,
                f"the genesis key {v.kid} is not the trusted key of this ledger "
                f"({', '.join(t.kid for t in trusted) or 'none'})",
            )
        )
        return None
    return v


def _apply_rotation(sched: KeySchedule, origin: str, rec: dict[str, Any]) -> None:
    seq = rec.get("seq")
    try:
        new = _check_rotation(sched, origin, rec)
    except _Refused as exc:
        sched.problems.append((seq, Code.KEY_RECORD, f"key record ignored: {exc}"))
        return
    body = rec["body"]
    cur = sched.ranges[-1]
    retire = body["retire_from_seq"]
    sched.ranges[-1] = KeyRange(cur.verifier, cur.from_seq, retire, cur.introduced_at)
    sched.ranges.append(KeyRange(new, seq + 1, None, seq))
    sched.overlaps.append((seq + 1, retire))


class _Refused(Exception):
    pass


def _check_rotation(sched: KeySchedule, origin: str, rec: dict[str, Any]) -> Verifier:
    body = rec.get("body")
    seq = rec.get("seq")
    if type(body) is not dict or body.get("action") != ROTATE:
        raise _Refused("its action is not rotate")
    if type(seq) is not int:
        raise _Refused("it has no seq")
    cur = sched.ranges[-1]
    if not cur.record_ok(seq) or cur.until is not None:
        raise _Refused("the key in force is already retiring")
    if len(sched.ranges) > 1 and sched.ranges[-2].until is not None and seq < sched.ranges[-2].until:
        raise _Refused(
            f"it rotates inside the previous rotation's overlap (until seq {sched.ranges[-2].until})"
        )
    if body.get("previous") != cur.verifier.vkey or rec.get("kid") != cur.verifier.kid:
        raise _Refused(f"it is not signed by the key in force ({cur.verifier.kid})")
    try:
        verify_record_sig(rec, cur.verifier)
    except (SignatureError, CanonicalError, NoteError):
        raise _Refused(
            f"its record signature does not verify with the key in force ({cur.verifier.kid})"
        ) from None
    try:
        new = parse_vkey(body.get("vkey") if type(body.get("vkey")) is str else "")
    except NoteError as exc:
        raise _Refused(f"its new vkey is malformed: {exc}") from None
    if new.name != origin:
        raise _Refused(f"its new key is named {new.name!r}, not the ledger's origin")
    if any(r.verifier.public_key == new.public_key for r in sched.ranges):
        raise _Refused("its new key was used before")
    if body.get("from_seq") != seq + 1:
        raise _Refused(f"from_seq must be {seq + 1}, the next record")
    retire = body.get("retire_from_seq")
    if type(retire) is not int or retire < seq + 1:
        raise _Refused(f"retire_from_seq must be an integer of at least {seq + 1}")
    sig = body.get("new_key_sig")
    try:
        new.verify(
            key_message(key_statement(rec)), b64decode_strict(sig if type(sig) is str else "", "new_key_sig")
        )
    except (SignatureError, NoteError, CanonicalError):
        raise _Refused(f"the new key's signature (new_key_sig) does not verify for {new.kid}") from None
    return new


def scan_typed_records(data, complete: int, types: tuple[str, ...]) -> list[dict[str, Any]]:
    """Every record of the given types in a ledger's bytes [0, complete), parsed, in ledger order,
    without parsing the other lines: a canonical line of type T ends with `,"type":"T","v":1}` (a
    string value cannot hold an unescaped quote). A line that does not parse is left to verify's
    workers to report."""
    found: list[tuple[int, dict[str, Any]]] = []
    for t in types:
        end = b',"type":"' + t.encode() + b'","v":1}'
        needle = end + b"\n"
        pos = data.find(needle, 0, complete)
        while pos >= 0:
            start = data.rfind(b"\n", 0, pos) + 1
            rec = _parse_or_none(bytes(data[start : pos + len(end)]))
            if rec is not None and rec.get("type") == t:
                found.append((start, rec))
            pos = data.find(needle, pos + len(needle), complete)
    found.sort(key=lambda x: x[0])
    return [rec for _, rec in found]


def first_record(data, complete: int) -> dict[str, Any] | None:
    """The parsed first line (the genesis record), or None."""
    nl = data.find(b"\n", 0, complete)
    return _parse_or_none(bytes(data[:nl])) if nl > 0 else None


def _parse_or_none(line: bytes) -> dict[str, Any] | None:
    from forge_tui.core.jcs import parse_canonical

    try:
        rec = parse_canonical(line)
    except CanonicalError:
        return None
    return rec if type(rec) is dict else None
