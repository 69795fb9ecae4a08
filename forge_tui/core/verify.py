"""Offline verification of a project's ledgers (DESIGN §5, §7). Reads files only; no daemon needed.

For every ledger in `.forge/ledger/`: strict parsing (canonical JCS, LF only, no BOM, no duplicate
keys), `seq`, `prev` and `log`; every record signature against the trusted keys; the Merkle root and
size against the checkpoint and its signature; anchors (a git base ref, a saved checkpoint, the local
"latest seen" cache) that the ledger must extend; and the forensic rules of §7.

`--fast` is the chain and the checkpoint only (DESIGN §5): every line is hashed and its `prev` and
`seq` read from the bytes, the root is checked against the signed checkpoint and the anchors; lines
are not parsed, so no record signature, strict-form or forensic check runs.

Signature checks are spread over worker processes that each memory-map the file and take a byte range;
the parent hashes every line for the chain and the Merkle root at the same time.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import json
import mmap
import os
import subprocess
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nacl.bindings
import nacl.exceptions

from forge_tui.core.jcs import MAX_LINE, _dumps_fast, parse_canonical
from forge_tui.core.merkle import EMPTY_ROOT
from forge_tui.core.note import Checkpoint, NoteError, Verifier, b64, open_checkpoint, parse_vkey
from forge_tui.core.records import RECORD_CONTEXT, ZERO_HASH, check_shape
from forge_tui.errors import EXIT_FAIL, EXIT_OK, EXIT_WARN, CanonicalError, ConfigError, SignatureError

ERROR, WARNING, NOTICE = "error", "warning", "notice"
Progress = Callable[[int, int], None]


@dataclass
class Finding:
    ledger: str
    seq: int | None
    code: str
    message: str
    severity: str = ERROR
    commit: str | None = None  # `--git`: the short hash of the commit (ledger is then "-")
    path: str | None = None  # `--git`: the (first) governed path the commit touches

    def line(self) -> str:
        if self.commit is not None:
            return f"{self.severity}: commit {self.commit}: {self.message} [{self.code}]"
        where = f"seq {self.seq}" if self.seq is not None else "ledger"
        return f"{self.severity}: {self.ledger} {where}: {self.message} [{self.code}]"

    def to_json(self) -> dict[str, Any]:
        """Without `commit` and `path` unless set, so a ledger finding keeps its five keys."""
        d = asdict(self)
        for k in ("commit", "path"):
            if d[k] is None:
                del d[k]
        return d


@dataclass
class LedgerReport:
    ledger_id: str
    path: str
    records: int = 0
    root: str = ""
    checkpoint_size: int | None = None
    checkpoint_signers: list[str] = field(default_factory=list)
    anchors: list[str] = field(default_factory=list)
    signatures_checked: int = 0


@dataclass
class VerifyReport:
    project_id: str
    fast: bool
    ledgers: list[LedgerReport] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    git: dict[str, Any] | None = None  # `--git RANGE`: {"range", "commits", "governed"}

    def exit_code(self, strict: bool = False) -> int:
        sev = {f.severity for f in self.findings}
        if ERROR in sev:
            return EXIT_FAIL
        if WARNING in sev:
            return EXIT_FAIL if strict else EXIT_WARN
        return EXIT_OK

    def to_json(self, strict: bool = False) -> dict[str, Any]:
        out = {
            "project_id": self.project_id,
            "fast": self.fast,
            "exit_code": self.exit_code(strict),
            "verified": self.exit_code(strict) == EXIT_OK,
            "ledgers": [asdict(r) for r in self.ledgers],
            "findings": [f.to_json() for f in self.findings],
        }
        if self.git is not None:
            out["git"] = self.git
        return out


# ---- trust anchors --------------------------------------------------------------------------------


class TrustSource:
    """Where keys, reviewers and anchor checkpoints come from: the working tree or a git ref."""

    def __init__(self, project, base_ref: str | None = None) -> None:
        self.project = project
        self.base_ref = base_ref
        if base_ref:
            self._git(
                ["rev-parse", "--verify", "--quiet", f"{base_ref}^{{commit}}"], what=f"git ref {base_ref!r}"
            )

    def _git(self, args: list[str], what: str) -> bytes:
        try:
            res = subprocess.run(
                ["git", "-C", str(self.project.root), *args], capture_output=True, check=False, timeout=60
            )
        except FileNotFoundError:
            raise ConfigError("--base-ref needs git on PATH") from None
        if res.returncode != 0:
            raise ConfigError(
                f"cannot read {what}: {res.stderr.decode(errors='replace').strip() or 'not found'}"
            )
        return res.stdout

    def read(self, rel: str) -> str | None:
        """Text of `.forge/<rel>` from the trust source, or None if it does not exist there."""
        if not self.base_ref:
            path = self.project.forge_dir / rel
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                return None
        else:
            try:
                data = self._git(
                    ["show", f"{self.base_ref}:./.forge/{rel}"], what=f"{self.base_ref}:.forge/{rel}"
                )
            except ConfigError:
                return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f".forge/{rel} in the {self.label()} is not UTF-8") from None

    def ledger_ids(self) -> list[str]:
        if not self.base_ref:
            return self.project.ledger_ids()
        try:
            out = self._git(["ls-tree", "--name-only", self.base_ref, "./.forge/ledger/"], what="ledger list")
        except ConfigError:
            return []
        return sorted(Path(p).stem for p in out.decode().split("\n") if p.endswith(".jsonl"))

    def label(self) -> str:
        return f"base-ref {self.base_ref}" if self.base_ref else "working tree"


def load_keys(text: str | None) -> list[Verifier]:
    if text is None:
        return []
    return [parse_vkey(line) for line in text.split("\n") if line.strip() and not line.startswith("#")]


# ---- per-chunk work (runs in worker processes) ----------------------------------------------------


def _byte_bounds(data, complete: int, parts: int) -> list[tuple[int, int]]:
    """Split the complete lines into about `parts` byte ranges that start and end at line boundaries."""
    bounds = []
    start = 0
    for i in range(1, parts + 1):
        if start >= complete:
            break
        end = complete if i == parts else data.find(b"\n", max(start, complete * i // parts)) + 1
        if end <= 0 or end > complete:
            end = complete
        if end > start:
            bounds.append((start, end))
            start = end
    return bounds


def _summary(rec: dict[str, Any]) -> tuple | None:
    """The few fields the forensic rules need, so workers return little."""
    t = rec["type"]
    b = rec["body"]
    if t == "request":
        actor = b.get("actor") if isinstance(b.get("actor"), dict) else {}
        return (
            t,
            b.get("request_id"),
            actor.get("id"),
            actor.get("kind"),
            b.get("principal"),
            actor.get("session"),
        )
    if t == "decision":
        return (
            t,
            b.get("request_id"),
            b.get("request_hash"),
            b.get("status"),
            b.get("decided_by"),
            b.get("rule"),
            b.get("policy_digest"),
            b.get("approvals_needed"),
            tuple(b.get("distinct_from") or ()),
        )
    if t == "approval":
        return (
            t,
            json.dumps(b.get("approval"), sort_keys=True),
            b.get("reviewer_kid"),
            b.get("reviewer_sig"),
        )
    if t == "outcome":
        return (t, b.get("request_id"), b.get("status"))
    if t == "policy":
        return (t, b.get("digest"), b.get("error"))
    if t in ("key", "reviewer"):
        return (t, b.get("action"), b.get("vkey"), b.get("from_seq"), b.get("name"))
    if t == "genesis":
        return (t, b.get("vkey"))
    if t == "violation":
        return (t, b.get("kind"), b.get("request_id"), b.get("detail"))
    return None


def check_chunk(
    path: str,
    start: int,
    end: int,
    first_seq: int,
    origin: str,
    vkeys: list[str],
    fast: bool,
    reviewers_text: str | None = None,
):
    """Parse (and unless `fast`, signature-check) lines [start, end) of a ledger file; the first is
    numbered `first_seq`.

    Returns (findings as tuples (seq, code, message), summaries {seq: tuple}, stamps) where stamps is
    (first ts, last ts, [(seq, ts, previous ts)] for each time step backwards inside the range).
    The parent checks `seq` and `prev` from the bytes (see `_hash_chain`); this checks everything else,
    including (unless `fast`) the reviewer signature of each approval against `reviewers_text`.
    """
    keys = {v.kid: v.public_key for v in (parse_vkey(k) for k in vkeys)}
    reviewers = None if fast else _reviewers_or_none(reviewers_text)
    findings: list[tuple[int, str, str]] = []
    summaries: dict[int, tuple] = {}
    first_ts = last_ts = None
    backwards: list[tuple[int, str, str]] = []
    sign_open = nacl.bindings.crypto_sign_open
    bad_sig = nacl.exceptions.BadSignatureError
    b64decode = base64.b64decode
    with open(path, "rb") as fh:
        data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            pos, seq = start, first_seq
            find = data.find
            while pos < end:
                nl = find(b"\n", pos, end)
                line = data[pos:nl]
                pos = nl + 1
                try:
                    rec = _parse_line(line)
                    check_shape(rec)
                except (CanonicalError, NoteError) as exc:
                    findings.append((seq, "malformed", f"record is malformed: {exc}"))
                    seq += 1
                    continue
                if rec["log"] != origin:
                    findings.append((seq, "log", f"record belongs to log {rec['log']!r}"))
                key = keys.get(rec["kid"])
                if key is None:
                    findings.append((seq, "unknown_key", f"signed by untrusted key {rec['kid']!r}"))
                elif not fast:
                    try:
                        sign_open(b64decode(rec["sig"]) + _signed_bytes(line), key)
                    except bad_sig:
                        findings.append((seq, "signature", "record signature does not verify"))
                ts = rec["ts"]
                if first_ts is None:
                    first_ts = ts
                elif ts < last_ts:
                    backwards.append((seq, ts, last_ts))
                last_ts = ts
                s = _summary(rec)
                if s is not None:
                    if reviewers is not None and s[0] == "approval":
                        s = (*s, _approval_sig_error(rec["body"], reviewers, seq))
                    elif s[0] == "request":  # its leaf hash: decisions and approvals must name it
                        s = (*s, hashlib.sha256(b"\x00" + line).hexdigest())
                    summaries[seq] = s
                seq += 1
        finally:
            data.close()
    return findings, summaries, (first_ts, last_ts, backwards)


def _reviewers_or_none(text: str | None):
    from forge_tui.core.reviewers import parse_reviewers

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


class _NotFast(Exception):
    """The fast path cannot decide this line; the full parse_canonical will."""


def _fast_int(text: str) -> int:
    if len(text) > 15:  # may be outside +-(2^53-1): let the full check judge
        raise _NotFast
    return int(text)


def _not_fast(_text: str):
    raise _NotFast


# No object_pairs_hook: a duplicate key cannot survive the re-encoding comparison below (the encoded
# object holds each key once, the line twice), so the fast path needs no duplicate check of its own.
_fast_decode = json.JSONDecoder(parse_int=_fast_int, parse_float=_not_fast, parse_constant=_not_fast).decode


def _parse_line(line: bytes) -> dict[str, Any]:
    """`parse_canonical`, with a fast path for the common line: ASCII only (so every string is NFC and
    free of lone surrogates, every key sorts the same by code point as by UTF-16 unit), no float, no
    integer of 16 or more digits (so all within +-2^53), at most 64 brackets (so not too deep). For such
    a line the plain sorted compact encoding is the JCS one, so re-encoding it must give the line back.
    Anything else, or any mismatch, takes the full check (which also words the error)."""
    if line.isascii() and len(line) <= MAX_LINE and line.count(b"{") + line.count(b"[") <= 64:
        try:
            obj = _fast_decode(line.decode("ascii"))
            if type(obj) is dict and _dumps_fast(obj).encode("utf-8") == line:
                return obj
        except (_NotFast, ValueError, UnicodeEncodeError, RecursionError):
            pass  # ValueError: not JSON; UnicodeEncodeError: an escaped lone surrogate
    return parse_canonical(line)


def _signed_bytes(line: bytes) -> bytes:
    """The signed message of a canonical record line: the line without its `sig` member.

    Removing one member from canonical JSON leaves the canonical JSON of the rest, so this equals
    RECORD_CONTEXT + JCS(record without sig). The top-level `sig` is the last `,"sig":"` in the line:
    only `ts`, `type` and `v` follow it, and a string value cannot hold an unescaped quote."""
    i = line.rfind(b',"sig":"')
    j = line.index(b'"', i + 8) + 1
    return RECORD_CONTEXT + line[:i] + line[j:]


# ---- the verifier ---------------------------------------------------------------------------------


def _cpu_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return os.cpu_count() or 1


def seen_cache_path(project, ledger_id: str) -> Path:
    from forge_tui.paths import private_dir

    return private_dir(project.state_dir / "seen") / f"{ledger_id}.checkpoint"


def verify_project(
    project,
    *,
    fast: bool = False,
    base_ref: str | None = None,
    anchors: list[str] | None = None,
    use_local_state: bool = True,
    workers: int | None = None,
    progress: Progress | None = None,
    update_seen: bool = True,
    git_range: str | None = None,
) -> VerifyReport:
    """Verify every ledger of `project`; findings are collected, never raised (bugs still raise).

    `git_range` (`--git`): also check that the commits of that range which touch governed paths name
    an allowed request (see `forge_tui.core.gitcheck`); a bad range raises ConfigError."""
    if git_range is not None and fast:
        raise ConfigError("--git needs the forensic pass, which --fast skips: use one or the other")
    trust = TrustSource(project, base_ref)
    commits = None
    if git_range is not None:
        from forge_tui.core.gitcheck import GitRange

        commits = GitRange(project, git_range)  # a bad range fails here, before any ledger work
    report = VerifyReport(project.project_id, fast)
    anchor_cps = [a for a in (anchors or [])]
    ids = sorted(set(project.ledger_ids()) | set(trust.ledger_ids() if base_ref else []))
    if not ids:
        report.findings.append(Finding("-", None, "no_ledger", "no ledger found in .forge/ledger/"))
        return report
    reviewers_text = trust.read("reviewers.toml")
    nworkers = workers or _cpu_workers()
    pool = ProcessPoolExecutor(max_workers=nworkers) if nworkers > 1 and not fast else None
    all_summaries: list[tuple[str, dict[int, tuple]]] = []
    try:
        for lid in ids:
            lr, found, summaries = _verify_ledger(
                project,
                lid,
                trust,
                fast,
                anchor_cps,
                use_local_state,
                pool,
                nworkers,
                progress,
                reviewers_text,
            )
            report.ledgers.append(lr)
            report.findings.extend(found)
            all_summaries.append((lid, summaries))
            if update_seen and use_local_state and not any(f.severity == ERROR for f in found):
                _update_seen(project, lid)
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
    # An anchor the caller gave that names none of the ledgers checked nothing: say so and fail, or
    # deleting one ledger of a team project (with its key and checkpoint) would pass `--anchor`.
    origins = {project.origin(lid) for lid in ids}
    for note in anchor_cps:
        log = note.split("\n", 1)[0]
        if log not in origins:
            report.findings.insert(
                0,
                Finding(
                    "-", None, "anchor", f"anchor file for {log[:120]!r} matches no ledger of this project"
                ),
            )
    if commits is not None:
        from forge_tui.core.gitcheck import request_states

        g = commits.check(request_states(all_summaries))
        report.git = {"range": g.range, "commits": g.commits, "governed": g.governed}
        report.findings.extend(
            Finding("-", None, f.code, f.message, f.severity, commit=f.commit, path=f.path)
            for f in g.findings
        )
    return report


def _verify_ledger(
    project, lid, trust, fast, anchor_notes, use_local, pool, nworkers, progress, reviewers_text
):
    path = project.tracked_ledger(lid)
    lr = LedgerReport(
        lid, str(path.relative_to(project.root)) if path.is_relative_to(project.root) else str(path)
    )
    out: list[Finding] = []

    def add(seq, code, msg, sev=ERROR):
        out.append(Finding(lid, seq, code, msg, sev))

    origin = project.origin(lid)
    try:
        keys = load_keys(trust.read(f"keys/{lid}.pub"))
    except NoteError as exc:
        add(None, "bad_key", f"public key file is malformed: {exc}")
        return lr, out, {}
    if not keys:
        add(None, "no_key", f"no trusted key for this ledger in the {trust.label()} (.forge/keys/{lid}.pub)")
        return lr, out, {}
    keys = [k for k in keys if k.name == origin] or keys
    if not path.exists():
        add(None, "deleted", f"ledger present in the {trust.label()} is missing from the working tree")
        return lr, out, {}

    vkeys = [k.vkey for k in keys]
    spath = str(path)
    futures = []
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        try:
            if data[:3] == b"\xef\xbb\xbf":
                add(0, "bom", "file starts with a byte order mark")
            complete = data.rfind(b"\n") + 1
            if complete < size:
                add(
                    None,
                    "torn_tail",
                    f"{size - complete} bytes after the last complete record (torn write)",
                    WARNING,
                )
            # Workers parse every line and check its signature, each over a byte range of the file,
            # while this process hashes the lines for the chain and the Merkle root.
            # --fast is the chain and the checkpoint only: no parsing, signatures or forensic rules.
            bounds = [] if fast else _byte_bounds(data, complete, nworkers * 4 if pool else 1)
            if pool:
                futures = [
                    pool.submit(check_chunk, spath, a, b, 0, origin, vkeys, fast, reviewers_text)
                    for a, b in bounds
                ]
            leaves_at, prev_findings, n, offsets = _hash_chain(data, complete, lid, progress)
            out.extend(prev_findings)
        finally:
            if size:
                data.close()
    if pool:
        results = [f.result() for f in futures]
    else:
        results = [check_chunk(spath, a, b, 0, origin, vkeys, fast, reviewers_text) for a, b in bounds]
    summaries: dict[int, tuple] = {}
    stamps: list[tuple[int, str, str]] = []  # (seq, ts, previous ts) where time ran backwards
    last_ts = None
    for (a, _b), (f_list, summ, (first_ts, end_ts, backwards)) in zip(bounds, results, strict=True):
        base = bisect.bisect_left(offsets, a)  # the seq of the range's first line
        for seq, code, msg in f_list:
            add(seq + base, code, msg)
        summaries.update({seq + base: v for seq, v in summ.items()})
        if first_ts is not None:
            if last_ts is not None and first_ts < last_ts:
                stamps.append((base, first_ts, last_ts))
            stamps.extend((seq + base, t, t0) for seq, t, t0 in backwards)
            last_ts = end_ts
    lr.records = n
    lr.root = leaves_at(n).hex()
    lr.signatures_checked = 0 if fast else n
    # Checkpoint
    cp = None
    note_text = None
    try:
        note_text = project.tracked_checkpoint(lid).read_bytes().decode("utf-8")
    except FileNotFoundError:
        add(None, "no_checkpoint", "no checkpoint: the whole ledger is unsigned", WARNING)
    except UnicodeDecodeError:
        add(None, "checkpoint", "checkpoint is not UTF-8")
    if note_text is not None:
        try:
            cp, signers = open_checkpoint(note_text, keys)
            lr.checkpoint_signers = [v.kid for v in signers]
        except (NoteError, SignatureError) as exc:
            add(None, "checkpoint", f"checkpoint rejected: {exc}")
    if cp is not None:
        lr.checkpoint_size = cp.size
        if cp.origin != origin:
            add(None, "checkpoint", f"checkpoint is for log {cp.origin!r}")
        elif cp.size > n:
            add(
                n,
                "truncated",
                f"checkpoint covers {cp.size} records but the ledger holds {n}: records removed",
            )
        else:
            root = leaves_at(cp.size)
            if root != cp.root:
                add(
                    None,
                    "root_mismatch",
                    f"records 0..{cp.size - 1} do not hash to the signed checkpoint root",
                )
            if cp.size < n:
                add(
                    cp.size,
                    "unsigned_tail",
                    f"{n - cp.size} records after the last signed checkpoint",
                    WARNING,
                )
    # Anchors: the ledger must extend each.
    anchor_list: list[tuple[str, str]] = []
    if trust.base_ref:
        base_note = trust.read(f"ledger/{lid}.checkpoint")
        if base_note is not None:
            anchor_list.append((f"base-ref {trust.base_ref}", base_note))
    for a in anchor_notes:
        anchor_list.append(("anchor file", a))
    if use_local:
        for label, p in (
            ("local latest-seen cache", seen_cache_path(project, lid)),
            ("local authoritative checkpoint", project.state_dir / "ledger" / f"{lid}.checkpoint"),
        ):
            try:
                anchor_list.append((label, p.read_bytes().decode("utf-8")))
            except FileNotFoundError:
                pass
            except UnicodeDecodeError:
                add(None, "anchor", f"{label} ({p}) is not UTF-8")
    for label, note in anchor_list:
        try:
            acp, _ = open_checkpoint(note, keys)
        except (NoteError, SignatureError) as exc:
            if label == "anchor file" and note.split("\n", 1)[0] != origin:
                continue  # an anchor for another ledger is simply not about this one
            add(None, "anchor", f"{label}: checkpoint does not verify with the trusted key: {exc}")
            continue
        if acp.origin != origin:
            continue
        if acp.size > n:
            add(
                n,
                "rollback",
                f"{label} has {acp.size} records; the ledger holds only {n} (truncated or rolled back)",
            )
        elif leaves_at(acp.size) != acp.root:
            add(
                None,
                "fork",
                f"ledger is not an extension of the {label} (size {acp.size}): history was rewritten",
            )
        else:
            lr.anchors.append(f"{label} ({acp.size})")
    if not fast:
        out.extend(forensics(lid, summaries, stamps, reviewers_text, fast))
    out.sort(key=lambda f: -1 if f.seq is None else f.seq)
    return lr, out, summaries


def _hash_chain(data, complete: int, lid: str, progress: Progress | None):
    """Leaf hashes, the `prev` chain and `seq` from the bytes, and a function giving the root at any size.

    In a canonical record the top-level `prev` is the last `"prev":"` in the line (only scalars follow
    it) and `,"seq":N` comes right after its value; a line where that is not so gets a finding here and
    (unless --fast) a precise `malformed` one from the workers.
    """
    findings: list[Finding] = []
    leaves: list[bytes] = []
    offsets: list[int] = []
    prev_hex = ZERO_HASH.encode()
    pos = 0
    seq = 0
    find = data.find
    rfind = data.rfind
    sha256 = hashlib.sha256
    append_leaf = leaves.append
    append_off = offsets.append
    step = 1 << 14
    while pos < complete:
        end = find(b"\n", pos)
        append_off(pos)
        h = sha256(b"\x00" + data[pos:end]).digest()
        k = rfind(b'"prev":"', pos, end)
        if k < 0 or data[k + 8 : k + 72] != prev_hex:
            findings.append(Finding(lid, seq, "chain", "prev does not match the hash of the previous record"))
        if k >= 0:
            q = find(b",", k + 80, end)
            said = data[k + 80 : q] if data[k + 72 : k + 80] == b'","seq":' and q > 0 else b"?"
            if said != str(seq).encode():
                findings.append(
                    Finding(
                        lid, seq, "seq", f"record says seq {said.decode(errors='replace')} at position {seq}"
                    )
                )
        append_leaf(h)
        prev_hex = h.hex().encode()
        pos = end + 1
        seq += 1
        if progress and seq % step == 0:
            progress(pos, complete)
    if progress:
        progress(complete, complete)
    cache: dict[int, bytes] = {0: EMPTY_ROOT}

    def leaves_at(k: int) -> bytes:
        if k not in cache:
            cache[k] = _root(leaves, k)
        return cache[k]

    return leaves_at, findings, len(leaves), offsets


def _root(leaves: list[bytes], k: int) -> bytes:
    """RFC 6962 root of the first k leaves, level by level: an odd node at the end of a level moves up
    unchanged, which gives the same tree as splitting at the largest power of two."""
    if k == 0:
        return EMPTY_ROOT
    level = leaves[:k]
    sha256 = hashlib.sha256
    while len(level) > 1:
        odd = level[-1] if len(level) % 2 else None
        it = iter(level)
        level = [sha256(b"\x01" + a + b).digest() for a, b in zip(it, it, strict=False)]
        if odd is not None:
            level.append(odd)
    return level[0]


def _update_seen(project, lid: str) -> None:
    """Remember the newest verified checkpoint so a later rollback on this machine is caught."""
    from forge_tui.paths import atomic_write

    src = project.tracked_checkpoint(lid)
    try:
        note = src.read_text(encoding="utf-8")
        new = _cp_size(note)
        dst = seen_cache_path(project, lid)
        old = _cp_size(dst.read_text(encoding="utf-8")) if dst.exists() else -1
        if new > old:
            atomic_write(dst, note.encode(), mode=0o600)
    except (OSError, NoteError, ValueError):
        pass


def _cp_size(note: str) -> int:
    return int(note.split("\n")[1])


# ---- forensic rules (DESIGN §7) -------------------------------------------------------------------


def forensics(
    lid: str, summaries: dict[int, tuple], stamps: list[tuple[int, str, str]], reviewers_text, fast
) -> list[Finding]:
    from forge_tui.core.reviewers import parse_reviewers

    out: list[Finding] = []

    def add(seq, code, msg, sev=ERROR):
        out.append(Finding(lid, seq, code, msg, sev))

    for s1, t1, t0 in sorted(stamps):
        add(s1, "time_backwards", f"timestamp {t1} is earlier than the previous record's {t0}")
    try:
        reviewers = parse_reviewers(reviewers_text or "")
    except ConfigError as exc:
        add(None, "reviewers", f"reviewers.toml is invalid: {exc}")
        reviewers = {}
    requests: dict[str, tuple[int, tuple]] = {}
    request_hashes: dict[str, str] = {}
    decisions: dict[str, tuple[int, tuple]] = {}
    approvals: dict[str, list[tuple[int, dict]]] = {}
    outcomes: dict[str, int] = {}
    policy_digests: set[str] = set()
    for seq in sorted(summaries):
        s = summaries[seq]
        t = s[0]
        if t == "request":
            if s[1] in requests:
                add(
                    seq,
                    "duplicate_request",
                    f"request id {s[1]!r} was already used at seq {requests[s[1]][0]}",
                )
                continue
            requests[s[1]] = (seq, s)
            request_hashes[s[1]] = s[6]
        elif t == "decision":
            rid = s[1]
            if rid not in requests:
                add(seq, "orphan_decision", f"decision for unknown request {rid!r}")
            if s[6] and s[6] not in policy_digests and s[4] in ("policy", "reviewers", "timeout"):
                add(
                    seq,
                    "unrecorded_policy",
                    f"decision made under policy {str(s[6])[:12]} with no policy record before it",
                )
            if rid in request_hashes and s[2] != request_hashes[rid]:
                add(
                    seq,
                    "unbound_decision",
                    f"decision names request hash {str(s[2])[:12]}, not that of request {rid} at seq {requests[rid][0]}",
                )
            if s[3] in ("allowed", "denied"):
                if rid in decisions and decisions[rid][1][3] in ("allowed", "denied"):
                    add(
                        seq,
                        "double_decision",
                        f"request {rid} was already decided at seq {decisions[rid][0]}",
                    )
                decisions[rid] = (seq, s)
                if s[3] == "allowed" and s[4] == "reviewers":
                    _check_quorum(add, seq, rid, s, approvals.get(rid, []), requests.get(rid))
            else:
                decisions.setdefault(rid, (seq, s))
        elif t == "approval":
            try:
                appr = json.loads(s[1])
            except (TypeError, ValueError):
                appr = None
            if not isinstance(appr, dict):
                add(seq, "forged_approval", "approval record holds no approval object")
                continue
            rid = appr.get("request_id")
            name = appr.get("reviewer")
            rev = reviewers.get(name)
            n_before = len(out)  # any finding below makes the approval count for nothing in the quorum
            if rev is None:
                add(seq, "unknown_reviewer", f"approval by {name!r}, who is not a registered reviewer")
            elif not rev.active_at(seq):
                add(seq, "retired_reviewer", f"approval by {name!r} after the reviewer was retired")
            elif not fast:
                err = (
                    s[4]
                    if len(s) > 4
                    else _approval_sig_error({"approval": appr, "reviewer_sig": s[3]}, reviewers, seq)
                )
                if err:
                    add(seq, "forged_approval", f"approval signature by {name!r} does not verify: {err}")
            req = requests.get(rid)
            if req is None:
                add(seq, "orphan_approval", f"approval for unknown request {rid!r}")
            elif appr.get("request_hash") != request_hashes[rid]:
                add(seq, "unbound_approval", f"approval is not bound to request {rid} at seq {req[0]}")
            if len(out) == n_before:
                approvals.setdefault(rid, []).append((seq, appr))
            if rid in outcomes:
                add(
                    seq,
                    "approval_after_execution",
                    f"approval for {rid} after its outcome at seq {outcomes[rid]}",
                )
        elif t == "outcome":
            rid = s[1]
            d = decisions.get(rid)
            if d is None or d[1][3] != "allowed":
                add(seq, "unauthorized_execution", f"outcome for {rid!r} with no earlier allowing decision")
            outcomes.setdefault(rid, seq)
        elif t == "policy":
            if s[1] and not s[2]:
                policy_digests.add(s[1])
        elif t == "violation":
            add(seq, f"recorded_{s[1]}", f"gate refused: {s[3]}", NOTICE)
    return out


def _check_quorum(add, seq: int, rid: str, dec: tuple, appr_list: list[tuple[int, dict]], req) -> None:
    needed = dec[7] if isinstance(dec[7], int) else 1
    distinct = set(dec[8]) | {"requester"}
    requester = req[1][2] if req else None
    principal = req[1][4] if req else None
    ok: set[str] = set()
    for aseq, appr in appr_list:
        name = appr.get("reviewer")
        if appr.get("verdict") != "approve":
            continue
        if name == requester or ("principal" in distinct and principal and name == principal):
            add(aseq, "self_approval", f"{name!r} approved a request they made or that acts for them")
            continue
        ok.add(name)
    if len(ok) < needed:
        add(seq, "quorum", f"allowed with {len(ok)} valid approval(s) where {needed} were needed")


def root_b64(root: bytes) -> str:
    return b64(root)


__all__ = ["Finding", "LedgerReport", "VerifyReport", "verify_project", "Checkpoint", "check_chunk"]
