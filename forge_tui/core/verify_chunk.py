"""What one verify worker does with one byte range of a ledger (docs/design.md §5): hash every line for
the Merkle tree and check `prev` and `seq` from the bytes, and (unless `--fast`) parse every line
strictly, check its shape and signature, and keep the few fields the forensic rules read (its
summary). `forge_tui.core.verify` splits the file into ranges, runs this over both cores and puts the
results together in ledger order.

A range is read a part (PART_BYTES) at a time, and every pass runs over one part's lines while they
are in the cache. The hash chain is checked a whole part at a time with C-level operations; only a
part where that finds something is walked line by line, which words each finding exactly. A record
whose fields after `body` are plain (`_quick_record`) has only its body decoded and re-encoded; every
other line takes the strict parse.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from dataclasses import dataclass, field
from itertools import compress, repeat
from operator import add
from typing import Any

import nacl.bindings
import nacl.exceptions

from forge_tui.core.findings import Code
from forge_tui.core.jcs import MAX_LINE, MAX_SAFE_INT, _dumps_fast, parse_canonical
from forge_tui.core.merkle import leaf_hashes, subtree_runs
from forge_tui.core.note import NoteError, parse_vkey
from forge_tui.core.records import FIELDS, HEX64_RE, RECORD_CONTEXT, REQUIRED_BODY, TS_RE, TYPES, check_shape
from forge_tui.core.summaries import APPROVAL, REQUEST, Summaries, request_row, summary_row, unpack
from forge_tui.errors import CanonicalError, ConfigError, SignatureError

Triple = tuple[int, str, str]  # (seq, code, message)

PREV_KEY = b'"prev":"'
TYPED = ("key", "reviewer", "policy")  # the records the key schedule and the trust chain come from
_TYPED_TAILS = tuple(b',"type":"' + t.encode() + b'","v":1}' for t in TYPED)
PART_BYTES = 256 << 10  # a worker checks its range this much at a time
SEQ_KEY = b'","seq":'
_FIELD_SET = frozenset(FIELDS)
_REQUIRED = {t: frozenset(f) for t, f in REQUIRED_BODY.items()}


@dataclass
class ChunkResult:
    """One range's findings and summaries, numbered by ledger position (seq)."""

    first_seq: int
    count: int
    runs: list[tuple[int, bytes]]  # the range's Merkle subtrees (merkle.subtree_runs); runs[0]: leaves
    chain: list[Triple]  # `prev` and `seq` findings
    findings: list[Triple] = field(default_factory=list)  # everything else the range's lines show
    # The summaries as `summaries.unpack` takes them (seq, class index, fields): see `summaries()`.
    seqs: list[int] = field(default_factory=list)
    kinds: bytearray = field(default_factory=bytearray)
    rows: list[tuple] = field(default_factory=list)
    first_ts: str | None = None
    last_ts: str | None = None
    backwards: list[tuple[int, str, str]] = field(default_factory=list)  # (seq, ts, previous ts)
    typed: list[dict[str, Any]] = field(default_factory=list)  # --fast: the TYPED records, parsed

    def summaries(self) -> Summaries:
        """The range's record summaries by seq, in seq order."""
        return unpack(self.seqs, self.kinds, self.rows)


def check_chunk(
    path: str,
    start: int,
    end: int,
    first_seq: int,
    prev_hex: bytes,
    origin: str,
    vkeys: list,
    fast: bool,
    reviewers_text: str | list | None = None,
) -> ChunkResult:
    """Check the complete lines in bytes [start, end) of the ledger at `path`; the first is record
    `first_seq` and `prev_hex` the hash (hex) of the line before it. Unless `fast`, each record's
    signature is checked against `vkeys` (see `_key_ranges`) and each approval's against the reviewers
    of `reviewers_text` (reviewers.toml, or the ledger's enrolment rows)."""
    res = ChunkResult(first_seq, 0, [], [])
    if not fast:
        keys, reviewers = _key_ranges(vkeys), _reviewers_or_none(reviewers_text)
    parts = []
    fd = os.open(path, os.O_RDONLY)
    try:
        pos = start
        while pos < end:
            # A part of the range at a time, read straight into its lines: each pass over them finds
            # them still in the cache. A line longer than a part is read whole with the rest.
            part = os.pread(fd, min(PART_BYTES, end - pos), pos)
            if b"\n" not in part:
                part = os.pread(fd, end - pos, pos)
            lines = part.split(b"\n")
            tail = lines.pop()  # the bytes after the part's last newline: read again with the next
            if not lines:
                break  # the file shrank under us: the lines counted say so
            pos += len(part) - len(tail)
            del part
            seq = first_seq + res.count
            leaves = leaf_hashes(lines)
            if not _chain_holds(lines, leaves, seq, prev_hex):
                res.chain += _chain_findings(lines, leaves, seq, prev_hex)
            if fast:
                res.typed += _typed_records(lines)
            else:
                _check_records(lines, leaves, seq, res, origin, keys, reviewers)
            parts.append(leaves)
            prev_hex = leaves[-32:].hex().encode()
            res.count += len(lines)
    finally:
        os.close(fd)
    res.runs = subtree_runs(first_seq, b"".join(parts))
    return res


def _typed_records(lines: list[bytes]) -> list[dict[str, Any]]:
    """The records of the TYPED types among the lines, parsed, in order, found as
    `rotation.scan_typed_records` finds them: a canonical line of type T ends with `,"type":"T","v":1}`;
    one that does not parse is left out (the full verify reports it)."""
    out = []
    for line in compress(lines, map(bytes.endswith, lines, repeat(_TYPED_TAILS))):
        t = next(t for t, tail in zip(TYPED, _TYPED_TAILS, strict=True) if line.endswith(tail))
        try:
            rec = parse_canonical(line)
        except CanonicalError:
            continue
        if rec.get("type") == t:
            out.append(rec)
    return out


# ---- the hash chain ---------------------------------------------------------------------------------


def _chain_holds(lines: list[bytes], leaves: bytes, first_seq: int, prev_hex: bytes) -> bool:
    """Whether no line has a `prev` or `seq` finding, decided for all lines at once.

    Per line, `_chain_findings` reads the last `"prev":"` of the line (in a canonical record the
    top-level one: only scalars follow it) at k, the 64 bytes after it, `","seq":` after those and the
    number up to the next comma. Here each line's expected text from k on (`_expected_prevs`: the
    key, the previous line's hash in hex, `","seq":`, its position and a comma) is built for all lines
    with C-level joins and splits, and tested with one `startswith` at the line's last `"prev":"`: the
    position's digits hold no comma, so a line passes exactly when `_chain_findings` finds nothing in
    it (a line without the key has k = -1, where the expected text, longer than one byte, never
    starts)."""
    n = len(lines)
    if not n:
        return True
    wants = _expected_prevs(leaves, first_seq, prev_hex, n)
    return all(map(bytes.startswith, lines, wants, map(bytes.rfind, lines, repeat(PREV_KEY))))


# A position's last three digits and the comma after them: zero-padded after the thousands, plain below.
_LOW_PADDED = [b"%03d," % i for i in range(1000)]
_LOW_PLAIN = [b"%d," % i for i in range(1000)]


def _expected_prevs(leaves: bytes, first_seq: int, prev_hex: bytes, n: int) -> list[bytes]:
    """For each of n lines from position `first_seq`: `"prev":"`, the hash (hex) of the line before it
    (`prev_hex` for the first, then each of `leaves` but the last), `","seq":`, its position and a
    comma. Built a thousand positions at a time (those share their digits but the last three), with
    one hex conversion, one replace and one split for the hashes, the last digits from a table."""
    out: list[bytes] = []
    i = 0
    while i < n:
        high, low = divmod(first_seq + i, 1000)
        run = min(n - i, 1000 - low)
        mid = SEQ_KEY + (str(high).encode() if high else b"")
        tails = (_LOW_PADDED if high else _LOW_PLAIN)[low : low + run]
        heads = [PREV_KEY + prev_hex + mid] if i == 0 else []
        hashes = leaves[32 * max(i - 1, 0) : 32 * (i - 1 + run)]  # of the lines before i+1 .. i+run-1
        if hashes:
            joined = binascii.hexlify(hashes, b"\n", 32).replace(b"\n", mid + b"\n" + PREV_KEY)
            heads += (PREV_KEY + joined + mid).split(b"\n")
        out += map(add, heads, tails)
        i += run
    return out


def _chain_findings(lines: list[bytes], leaves: bytes, first_seq: int, prev_hex: bytes) -> list[Triple]:
    """`prev` and `seq` from each line's bytes; a line where they are not where a canonical record has
    them gets a finding here and (unless --fast) a precise `malformed` one from the record checks."""
    out: list[Triple] = []
    expect = prev_hex
    for i, line in enumerate(lines):
        seq = first_seq + i
        k = line.rfind(PREV_KEY)
        if k < 0 or line[k + 8 : k + 72] != expect:
            out.append((seq, Code.CHAIN, "prev does not match the hash of the previous record"))
        if k >= 0:
            q = line.find(b",", k + 80)
            said = line[k + 80 : q] if line[k + 72 : k + 80] == SEQ_KEY and q > 0 else b"?"
            if said != str(seq).encode():
                out.append(
                    (seq, Code.SEQ, f"record says seq {said.decode(errors='replace')} at position {seq}")
                )
        expect = leaves[32 * i : 32 * i + 32].hex().encode()
    return out


# ---- records ----------------------------------------------------------------------------------------


def _check_records(
    lines: list[bytes], leaves: bytes, first: int, res: ChunkResult, origin: str, keys: dict, reviewers
) -> None:
    """Strict parse, shape, log, key, signature and time of each line (the first is record `first`);
    the summaries the forensic rules read. Findings go to `res`. A line in the common shape takes
    `_quick_record`; any other the strict parse, which also words what is wrong."""
    findings, backwards = res.findings, res.backwards
    seqs, kinds, rows = res.seqs, res.kinds, res.rows
    first_ts, last_ts = res.first_ts, res.last_ts
    signed_ok = _signed_ok()
    seen = ["\x00", "", "", 1]  # the part's last `,"kid":"…","log":"…","prev":"`, its kid, log and length
    for i, line in enumerate(lines, first):
        got = _quick_record(line, seen)
        if got is not None:
            seq, ts, t, body, signed = got
            kid, log = seen[1], seen[2]
        else:  # not the common shape: the strict parse and the shape check decide
            try:
                rec, signed = _strict_record(line)
            except (CanonicalError, NoteError) as exc:
                findings.append((i, Code.MALFORMED, f"record is malformed: {exc}"))
                continue
            seq, ts, t, body, kid, log = (
                rec["seq"],
                rec["ts"],
                rec["type"],
                rec["body"],
                rec["kid"],
                rec["log"],
            )
        if log != origin:
            findings.append((i, Code.LOG, f"record belongs to log {log!r}"))
        kr = keys.get(kid)
        if kr is None:
            findings.append((i, Code.UNKNOWN_KEY, f"signed by untrusted key {kid!r}"))
        else:
            if kr[1] > seq or (kr[2] is not None and seq >= kr[2]):
                findings.append(_range_finding(i, seq, kid, kr))
            if not signed_ok(signed, kr[0]):
                findings.append((i, Code.SIGNATURE, "record signature does not verify"))
        if first_ts is None:
            first_ts = ts
        elif ts < last_ts:
            backwards.append((i, ts, last_ts))
        last_ts = ts
        # The summary, sent as a plain row (half the pickling of the NamedTuple).
        if t == "request":
            k = 32 * (i - first)
            seqs.append(i)
            kinds.append(REQUEST)
            rows.append(request_row(body, ts, leaves[k : k + 32].hex()))
            continue
        summary = summary_row(t, body, ts)
        if summary is not None:
            kind, row = summary
            if kind == APPROVAL and reviewers is not None:
                row = (*row[:4], True, _approval_sig_error(body, reviewers, seq))
            seqs.append(i)
            kinds.append(kind)
            rows.append(row)
    res.first_ts, res.last_ts = first_ts, last_ts


def _strict_record(line: bytes) -> tuple[dict[str, Any], bytes]:
    """(record, signature ‖ signed message) of any line, by the strict parse and the shape check;
    raises CanonicalError or NoteError, worded, for a line they reject."""
    rec = _parse_line(line)
    sig = _shape_sig(rec)
    if sig is None:  # something is off: the full check says what
        check_shape(rec)
        sig = base64.b64decode(rec["sig"])
    return rec, sig + _signed_bytes(line)


class _SignedOk:
    """Whether `signed` (signature + message) verifies under the 32-byte Ed25519 key `pk`: libsodium's
    crypto_sign_open into one output buffer reused for every line. PyNaCl's wrapper allocates two cffi
    objects and copies the message out on each call, and raises where verify only needs yes or no
    (about 5% of the signature's cost). Falls back to the wrapper where its library cannot be reached."""

    def __init__(self) -> None:
        try:
            from nacl._sodium import ffi, lib
        except ImportError:  # pragma: no cover - PyNaCl without its cffi module
            self._open = None
            return
        self._ffi, self._open = ffi, lib.crypto_sign_open
        self._out = ffi.new("unsigned char[]", 0)
        self._out_len = ffi.new("unsigned long long *")
        self._size = 0

    def __call__(self, signed: bytes, pk: bytes) -> bool:
        if len(pk) != 32:  # the C function reads 32 bytes from the pointer it is given
            return False
        if self._open is None:
            try:
                nacl.bindings.crypto_sign_open(signed, pk)
            except nacl.exceptions.BadSignatureError:
                return False
            return True
        n = len(signed)
        if n > self._size:  # the message written out is at most as long as what is given
            self._size = max(n, 1 << 16)
            self._out = self._ffi.new("unsigned char[]", self._size)
        return self._open(self._out, self._out_len, signed, n, pk) == 0


_SIGNED: list[_SignedOk] = []


def _signed_ok() -> _SignedOk:
    """The process's one _SignedOk (its buffer is reused across ranges)."""
    if not _SIGNED:
        _SIGNED.append(_SignedOk())
    return _SIGNED[0]


def _shape_sig(rec: dict[str, Any]) -> bytes | None:
    """The record's 64 signature bytes if `records.check_shape` would pass it, checked the quick way;
    None when anything differs (then `check_shape` itself decides and words the error). Never
    returns bytes for a record `check_shape` rejects."""
    t, body, sig, v, seq = rec.get("type"), rec.get("body"), rec.get("sig"), rec.get("v"), rec.get("seq")
    if not (
        rec.keys() == _FIELD_SET
        and type(v) is int
        and v == 1
        and type(seq) is int
        and seq >= 0
        and type(rec["log"]) is str
        and type(rec["kid"]) is str
        and type(rec["ts"]) is str
        and type(rec["prev"]) is str
        and type(t) is str
        and type(sig) is str
        and t in TYPES
        and type(body) is dict
        and body.keys() >= _REQUIRED[t]
        and len(sig) == 88
        and TS_RE.match(rec["ts"])
        and HEX64_RE.match(rec["prev"])
    ):
        return None
    try:
        raw = binascii.a2b_base64(sig)
    except (binascii.Error, ValueError):
        return None
    # Re-encoding gives the text back only if it was the padded standard base64 of these bytes.
    if len(raw) != 64 or binascii.b2a_base64(raw, newline=False) != sig.encode():
        return None
    return raw


# ---- the common line, quickly -----------------------------------------------------------------------
#
# A record line in its common shape, every field after `body` a plain ASCII string or integer, is
#     {"body":BODY,"kid":"K","log":"L","prev":"H","seq":N,"sig":"S","ts":"T","type":"Y","v":1}
# and is canonical exactly when BODY is the compact sorted encoding of what it decodes to and the rest
# is in the form JCS writes: K and L without quote, backslash or control character (JCS writes such a
# string as it is), H 64 lowercase hex digits, N an integer without sign or leading zero, S the padded
# standard base64 of 64 bytes as that encoder writes it (nothing else decodes to them), T RFC 3339
# with milliseconds, Y a record type. The `,"kid":"K","log":"L","prev":"` of the line before (one per
# ledger key) is compared whole, and only a new one goes through a pattern (`_PREFIX`); the rest after
# it is one pattern (`_REST`).

_HEAD = '{"body":{'
_PLAIN = r"[ !#-\[\]-~]*"  # printable ASCII but quote and backslash
_PREFIX = re.compile(r',"kid":"(' + _PLAIN + r')","log":"(' + _PLAIN + r')","prev":"')
_REST = re.compile(  # prev's 64 characters are checked apart (a class of two ranges is slow here)
    r'.{64}","seq":(0|[1-9][0-9]{0,15}),"sig":"([A-Za-z0-9+/]{85}[AQgw]==)"'  # 64 bytes: the last
    r',"ts":"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z)"'  # character's low
    r',"type":"([a-z]+)","v":1\}'  # 4 bits are 0
)
_HEX_AS_ZERO = bytes.maketrans(b"123456789abcdef", b"0" * 15)
_ZEROS_64 = b"0" * 64
_TYPE_NAMES = {t: t for t in TYPES if t in REQUIRED_BODY}


def _quick_record(line: bytes, seen: list) -> tuple[int, str, str, dict[str, Any], bytes] | None:
    """(seq, ts, type, body, signature ‖ signed message) of a line in the common shape (above), whose
    kid and log are then `seen[1]` and `seen[2]`; None for any other line, or when anything is off
    (the strict path then decides and words it). `seen`: [the `,"kid":"…","log":"…","prev":"` of the
    last line taken, its kid, its log, its length], updated here. Never takes a line that
    `parse_canonical` or `check_shape` would reject."""
    if len(line) > MAX_LINE:
        return None
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError:
        return None
    k = text.rfind(',"kid":"')  # the top-level one: `,"` cannot occur inside a JSON string
    if text[k : k + seen[3]] != seen[0] and not _learn_prefix(text, k, seen):
        return None
    p = k + seen[3]
    m = _REST.fullmatch(text, p)
    if m is None or text[:9] != _HEAD or line[p : p + 64].translate(_HEX_AS_ZERO) != _ZEROS_64:
        return None
    n, sig, ts, t = m.groups()
    t = _TYPE_NAMES.get(t)
    seq = int(n)
    body_text = text[8:k]
    # At most 64 brackets in the record (its own and the body's), so nothing nested over 64 deep.
    if t is None or seq > MAX_SAFE_INT or body_text.count("{") + body_text.count("[") > 63:
        return None
    try:
        body, end = _scan_body(body_text, 0)
    except (_NotFast, StopIteration, ValueError, RecursionError):
        return None  # StopIteration: no JSON value at the start; ValueError: not JSON
    # The text starts with `{`: what it decoded to is an object.
    if end != len(body_text) or not body.keys() >= _REQUIRED[t] or _encode(body) != body_text:
        return None
    q = m.start(2) - 8  # the `,"sig":"…"` member, left out of the signed message
    return seq, ts, t, body, b"".join((binascii.a2b_base64(sig), RECORD_CONTEXT, line[:q], line[q + 97 :]))


def _learn_prefix(text: str, k: int, seen: list) -> bool:
    """Whether the `,"kid":"…","log":"…","prev":"` at `k` has plain kid and log; if so it goes to `seen`."""
    m = _PREFIX.match(text, k) if k > 8 else None
    if m is None:
        return False
    seen[:] = [m.group(), m.group(1), m.group(2), m.end() - k]
    return True


class _NotFast(Exception):
    """The fast path cannot decide this line; the full parse_canonical will."""


def _not_fast(_text: str):
    raise _NotFast


# Integers are left to the C scanner (a parse_int hook would be a Python call per number): a line with
# a run of 16 or more digits, where an integer beyond +-(2^53-1) could be, takes the full check instead.
# No object_pairs_hook: a duplicate key cannot survive the re-encoding comparison (the encoded object
# holds each key once, the line twice), so the fast path needs no duplicate check of its own.
_scan = json.JSONDecoder(parse_float=_not_fast, parse_constant=_not_fast).scan_once


def _safe_int(text: str) -> int:
    """An integer of a body within +-(2^53-1), where JCS allows it; else the strict path decides."""
    n = int(text)
    if -MAX_SAFE_INT <= n <= MAX_SAFE_INT:
        return n
    raise _NotFast


# The quick path's scanner checks each integer's range as it reads it: a Python call per integer (a
# body holds a few), where the line guards of `_parse_line` cost a pass over every byte.
_scan_body = json.JSONDecoder(parse_float=_not_fast, parse_int=_safe_int, parse_constant=_not_fast).scan_once
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_NUMBER = b"0" * 16


def _make_encode():
    """The compact sorted encoding (jcs._dumps_fast) by the C encoder directly, when this Python has
    one that gives the same text; else _dumps_fast itself."""
    from json.encoder import c_make_encoder, encode_basestring

    if c_make_encoder is not None:
        enc = c_make_encoder(None, None, encode_basestring, None, ":", ",", True, False, False)
        sample = {"b": [1, -2, None, True, {"y": 'e\u0301\n"', "x": []}], "a": "\x7f/\u2028"}
        try:
            if "".join(enc(sample, 0)) == _dumps_fast(sample):
                return lambda obj: "".join(enc(obj, 0))
        except (TypeError, ValueError):
            pass
    return _dumps_fast


_encode = _make_encode()


def _guards_pass(line: bytes) -> bool:
    """ASCII only, at most MAX_LINE bytes, at most 64 brackets, no run of 16 or more digits."""
    return (
        line.isascii()
        and len(line) <= MAX_LINE
        and line.count(b"{") + line.count(b"[") <= 64
        and _LONG_NUMBER not in line.translate(_DIGITS_AS_ZERO)
    )


def _parse_line(line: bytes) -> dict[str, Any]:
    """`parse_canonical`, with a fast path for the common line: ASCII only (so every string is NFC and
    free of lone surrogates, every key sorts the same by code point as by UTF-16 unit), no float, no
    run of 16 or more digits (so every integer within +-2^53), at most 64 brackets (so not too deep).
    For such a line the plain sorted compact encoding is the JCS one, so re-encoding it must give the
    line back (compared as text: an encoding holding anything but ASCII differs from it). Anything
    else, or any mismatch, takes the full check (which also words the error)."""
    if _guards_pass(line):
        text = line.decode("ascii")
        try:
            obj = _scan(text, 0)[0]
            if type(obj) is dict and _encode(obj) == text:
                return obj
        except (_NotFast, StopIteration, ValueError, RecursionError):
            pass  # StopIteration: no JSON value at the start; ValueError: not JSON
    return parse_canonical(line)


def _signed_bytes(line: bytes) -> bytes:
    """The signed message of a canonical record line: the line without its `sig` member.

    Removing one member from canonical JSON leaves the canonical JSON of the rest, so this equals
    RECORD_CONTEXT + JCS(record without sig). The top-level `sig` is the last `,"sig":"` in the line:
    only `ts`, `type` and `v` follow it, and a string value cannot hold an unescaped quote."""
    i = line.rfind(b',"sig":"')
    j = line.index(b'"', i + 8) + 1
    return RECORD_CONTEXT + line[:i] + line[j:]


# ---- keys and reviewers -----------------------------------------------------------------------------


def _key_ranges(vkeys: list) -> dict[str, tuple[bytes, int, int | None]]:
    """kid -> (public key, from_seq, until) from vkeys, each a vkey string (valid everywhere) or a
    (vkey, from_seq, until) tuple of a key schedule (forge_tui.core.rotation)."""
    out: dict[str, tuple[bytes, int, int | None]] = {}
    for k in vkeys:
        vkey, lo, hi = (k, 0, None) if isinstance(k, str) else k
        v = parse_vkey(vkey)
        out[v.kid] = (v.public_key, lo, hi)
    return out


def _range_finding(i: int, seq: int, kid: str, kr: tuple[bytes, int, int | None]) -> Triple:
    """The finding of record `i` (its own `seq`), signed by `kid` outside that key's range `kr`."""
    lo, hi = kr[1], kr[2]
    if hi is not None and seq >= hi:
        return (i, Code.RETIRED_KEY, f"signed by {kid}, a ledger key retired from seq {hi}")
    return (i, Code.PREMATURE_KEY, f"signed by {kid}, a ledger key valid only from seq {lo}")


def _reviewers_or_none(text):
    """The reviewers approvals are checked against: `text` is reviewers.toml, or (the ledger's own
    enrolment chain) a list of (name, vkey, enrolled_at, retired_at)."""
    from forge_tui.core.reviewers import parse_reviewers

    if isinstance(text, list):
        return _enrolled(text)
    try:
        return parse_reviewers(text or "")
    except ConfigError:
        return None  # forensics reports the broken file


def _approval_sig_error(body: dict[str, Any], reviewers, seq: int) -> str | None:
    """None if the approval's reviewer signature verifies, else why not; "" when forensics decides
    without it (no approval object, unknown or retired reviewer)."""
    from forge_tui.core.approvals import verify_approval

    appr = body.get("approval")
    rev = reviewers.get(appr.get("reviewer")) if isinstance(appr, dict) else None
    if rev is None or not rev.active_at(seq):
        return ""
    try:
        verify_approval(appr, body.get("reviewer_sig"), rev.verifier)
    except (SignatureError, CanonicalError, NoteError, TypeError) as exc:
        return str(exc)
    return None


def _enrolled(rows: list) -> dict:
    from forge_tui.core.keys import parse_reviewer_vkey
    from forge_tui.core.trust import Enrolled

    return {n: Enrolled(n, parse_reviewer_vkey(n, vkey), at, until) for n, vkey, at, until in rows}
