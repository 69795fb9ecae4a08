"""Offline verification of a project's ledgers (docs/design.md §5, §7). Reads files only; no daemon needed.

For every ledger in `.forge/ledger/`: strict parsing (canonical JCS, LF only, no BOM, no duplicate
keys), `seq`, `prev` and `log`; every record signature against the trusted keys; the Merkle root and
size against the checkpoint and its signature; anchors (a git base ref, a saved checkpoint, the local
"latest seen" cache) that the ledger must extend; and the forensic rules of §7.

`--fast` is the chain and the checkpoint only (docs/design.md §5): every line is hashed and its `prev` and
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

from forge_tui.core.findings import Code, Severity
from forge_tui.core.jcs import MAX_LINE, _dumps_fast, parse_canonical
from forge_tui.core.merkle import EMPTY_ROOT, root_from_leaves
from forge_tui.core.note import Checkpoint, NoteError, Verifier, b64, open_checkpoint, parse_vkey
from forge_tui.core.records import RECORD_CONTEXT, ZERO_HASH, check_shape
from forge_tui.core.reevaluate import Reevaluator, policy_texts
from forge_tui.core.summaries import ApprovalSummary, Summaries, summarise
from forge_tui.errors import EXIT_FAIL, EXIT_OK, EXIT_WARN, CanonicalError, ConfigError, SignatureError

ERROR, WARNING, NOTICE = Severity.ERROR.value, Severity.WARNING.value, Severity.NOTICE.value
Progress = Callable[[int, int], None]


@dataclass
class Finding:
    """One finding; `code` is a `forge_tui.core.findings.Code` (a str), whose table gives the default
    severity."""

    ledger: str
    seq: int | None
    code: str
    message: str
    severity: str = ""
    commit: str | None = None  # `--git`: the short hash of the commit (ledger is then "-")
    path: str | None = None  # `--git`: the (first) governed path the commit touches

    def __post_init__(self) -> None:
        self.code = Code(self.code)  # a code outside the table is a bug
        if not self.severity:
            self.severity = self.code.severity.value

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
    key_rotations: int = 0  # valid `key` records (docs/formats.md "Key records")
    reviewers_from: str = ""  # "ledger" (its enrolment chain) or "reviewers.toml" (no enrolment in it)
    witnessed_size: int | None = None  # the largest size a reviewer cosigned (and the ledger matches)
    witnesses: int = 0  # reviewer-cosigned checkpoints the ledger is consistent with
    requests: int = 0
    sandboxed_requests: int = 0  # requests whose record says process.sandboxed = true
    unsandboxed_requests: int = 0  # ... = false (None/absent: unknown)


@dataclass
class VerifyReport:
    project_id: str
    fast: bool
    ledgers: list[LedgerReport] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    git: dict[str, Any] | None = None  # `--git RANGE`: {"range", "commits", "governed"}
    base_ref: str | None = None

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
            "strength": self.strength(),
        }
        if self.git is not None:
            out["git"] = self.git
        return out

    def strength(self) -> dict[str, Any]:
        """How strong a pass is (docs/design.md §5): which of signatures, anchors, reviewer witnesses
        and sandboxed agents back it. `claims` is the machine-readable list, `summary` one line each."""
        claims: list[str] = []
        summary: list[str] = []
        if self.fast:
            summary.append("chain and checkpoint only (--fast): no record signature was checked")
        else:
            claims.append("signatures")
            summary.append(
                "signatures: every record checked against the trusted key and each key's validity range"
            )
        anchored = [f"{lr.ledger_id}: {a}" for lr in self.ledgers for a in lr.anchors]
        if anchored:
            claims.append("anchored")
            base = [a for a in anchored if "base-ref" in a]
            what = f"base ref {self.base_ref}" if base else "; ".join(a.split(": ", 1)[1] for a in anchored)
            summary.append(f"anchored to {what}")
        else:
            summary.append(
                "not anchored: signatures only (whoever holds the ledger key could rewrite it whole)"
            )
        witnessed = {lr.ledger_id: lr.witnessed_size for lr in self.ledgers if lr.witnessed_size is not None}
        if witnessed:
            claims.append("witnessed")
            for lid, size in witnessed.items():
                n = next(lr.witnesses for lr in self.ledgers if lr.ledger_id == lid)
                summary.append(f"reviewer-witnessed up to size {size} ({n} cosigned checkpoint(s)) in {lid}")
        elif not self.fast:
            summary.append("not reviewer-witnessed: no approval cosigned a checkpoint")
        if not self.fast:
            froms = {lr.reviewers_from for lr in self.ledgers if lr.reviewers_from}
            if froms == {"ledger"}:
                summary.append("reviewers: from the ledger's enrolment records (signed by reviewers)")
            elif froms:
                summary.append(
                    "reviewers: from reviewers.toml for a ledger that enrols none (setup mode: unprotected"
                    " unless --base-ref names a protected branch)"
                )
        total = sum(lr.requests for lr in self.ledgers)
        inside = sum(lr.sandboxed_requests for lr in self.ledgers)
        outside = sum(lr.unsandboxed_requests for lr in self.ledgers)
        if not self.fast and total:
            if inside == total:
                claims.append("sandboxed")
                summary.append(f"agents sandboxed: all {total} requests came from sandboxed peers")
            else:
                summary.append(
                    f"agents not all sandboxed: {inside} of {total} requests from sandboxed peers"
                    f" ({outside} not, {total - inside - outside} unknown)"
                )
        return {
            "claims": claims,
            "summary": summary,
            "base_ref": self.base_ref,
            "anchors": anchored,
            "witnessed": witnessed,
            "requests": {"total": total, "sandboxed": inside, "unsandboxed": outside},
        }


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

    Returns (findings as tuples (seq, code, message), summaries {seq: Summary}, stamps) where stamps is
    (first ts, last ts, [(seq, ts, previous ts)] for each time step backwards inside the range).
    The parent checks `seq` and `prev` from the bytes (see `_hash_chain`); this checks everything else,
    including (unless `fast`) the reviewer signature of each approval against `reviewers_text`.
    """
    keys = _key_ranges(vkeys)
    reviewers = None if fast else _reviewers_or_none(reviewers_text)
    findings: list[tuple[int, str, str]] = []
    summaries: Summaries = {}
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
                    findings.append((seq, Code.MALFORMED, f"record is malformed: {exc}"))
                    seq += 1
                    continue
                if rec["log"] != origin:
                    findings.append((seq, Code.LOG, f"record belongs to log {rec['log']!r}"))
                kr = keys.get(rec["kid"])
                key = kr[0] if kr is not None else None
                if key is None:
                    findings.append((seq, Code.UNKNOWN_KEY, f"signed by untrusted key {rec['kid']!r}"))
                elif (kr[1] > rec["seq"] or (kr[2] is not None and rec["seq"] >= kr[2])) and not fast:
                    findings.append(_range_finding(seq, rec, kr))
                if key is not None and not fast:
                    try:
                        sign_open(b64decode(rec["sig"]) + _signed_bytes(line), key)
                    except bad_sig:
                        findings.append((seq, Code.SIGNATURE, "record signature does not verify"))
                ts = rec["ts"]
                if first_ts is None:
                    first_ts = ts
                elif ts < last_ts:
                    backwards.append((seq, ts, last_ts))
                last_ts = ts
                s = summarise(rec, line)
                if s is not None:
                    if reviewers is not None and type(s) is ApprovalSummary:
                        s = s._replace(
                            sig_checked=True,
                            sig_error=_approval_sig_error(rec["body"], reviewers, rec["seq"]),
                        )
                    summaries[seq] = s
                seq += 1
        finally:
            data.close()
    return findings, summaries, (first_ts, last_ts, backwards)


def _key_ranges(vkeys: list) -> dict[str, tuple[bytes, int, int | None]]:
    """kid -> (public key, from_seq, until) from vkeys, each a vkey string (valid everywhere) or a
    (vkey, from_seq, until) tuple of a key schedule (forge_tui.core.rotation)."""
    out: dict[str, tuple[bytes, int, int | None]] = {}
    for k in vkeys:
        vkey, lo, hi = (k, 0, None) if isinstance(k, str) else k
        v = parse_vkey(vkey)
        out[v.kid] = (v.public_key, lo, hi)
    return out


def _range_finding(seq: int, rec: dict[str, Any], kr: tuple[bytes, int, int | None]):
    lo, hi = kr[1], kr[2]
    if hi is not None and rec["seq"] >= hi:
        return (seq, Code.RETIRED_KEY, f"signed by {rec['kid']}, a ledger key retired from seq {hi}")
    return (seq, Code.PREMATURE_KEY, f"signed by {rec['kid']}, a ledger key valid only from seq {lo}")


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
    authoritative: bool = False,
) -> VerifyReport:
    """Verify every ledger of `project`; findings are collected, never raised (bugs still raise).

    `git_range` (`--git`): also check that the commits of that range which touch governed paths name
    an allowed request (see `forge_tui.core.gitcheck`); a bad range raises ConfigError.

    `authoritative` (`--authoritative`): check this machine's authoritative copy (the one the daemon
    writes and refuses to start on when it is damaged) instead of the tracked copies."""
    if git_range is not None and fast:
        raise ConfigError("--git needs the forensic pass, which --fast skips: use one or the other")
    trust = TrustSource(project, base_ref)
    commits = None
    if git_range is not None:
        from forge_tui.core.gitcheck import GitRange

        commits = GitRange(project, git_range)  # a bad range fails here, before any ledger work
    report = VerifyReport(project.project_id, fast, base_ref=base_ref)
    anchor_cps = [a for a in (anchors or [])]
    if authoritative:
        ids = [project.local_ledger_id()]
        update_seen = False  # the seen cache follows the tracked copy
    else:
        ids = sorted(set(project.ledger_ids()) | set(trust.ledger_ids() if base_ref else []))
    if not ids:
        report.findings.append(Finding("-", None, Code.NO_LEDGER, "no ledger found in .forge/ledger/"))
        return report
    reviewers_text = trust.read("reviewers.toml")
    texts = None if fast else policy_texts(project, trust)
    nworkers = workers or _cpu_workers()
    pool = ProcessPoolExecutor(max_workers=nworkers) if nworkers > 1 and not fast else None
    all_summaries: list[tuple[str, Summaries]] = []
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
                texts,
                authoritative,
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
                    "-", None, Code.ANCHOR, f"anchor file for {log[:120]!r} matches no ledger of this project"
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


def _authoritative_paths(project, lid: str) -> tuple[Path, Path]:
    folder = project.state_dir / "ledger"
    return folder / f"{lid}.jsonl", folder / f"{lid}.checkpoint"


def _verify_ledger(
    project,
    lid,
    trust,
    fast,
    anchor_notes,
    use_local,
    pool,
    nworkers,
    progress,
    reviewers_text,
    texts,
    auth=False,
):
    path, cp_path = (
        _authoritative_paths(project, lid)
        if auth
        else (project.tracked_ledger(lid), project.tracked_checkpoint(lid))
    )
    lr = LedgerReport(
        lid, str(path.relative_to(project.root)) if path.is_relative_to(project.root) else str(path)
    )
    out: list[Finding] = []

    def add(seq, code, msg, sev=""):
        out.append(Finding(lid, seq, code, msg, sev))

    origin = project.origin(lid)
    try:
        keys = load_keys(trust.read(f"keys/{lid}.pub"))
    except NoteError as exc:
        add(None, Code.BAD_KEY, f"public key file is malformed: {exc}")
        return lr, out, {}
    if not keys:
        add(
            None,
            Code.NO_KEY,
            f"no trusted key for this ledger in the {trust.label()} (.forge/keys/{lid}.pub)",
        )
        return lr, out, {}
    keys = [k for k in keys if k.name == origin] or keys
    if not path.exists():
        add(None, Code.DELETED, f"ledger present in the {trust.label()} is missing from the working tree")
        return lr, out, {}

    spath = str(path)
    futures = []
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        try:
            if data[:3] == b"\xef\xbb\xbf":
                add(0, Code.BOM, "file starts with a byte order mark")
            complete = data.rfind(b"\n") + 1
            # The keys' validity ranges (genesis key, then each rotation) and the reviewers (the
            # ledger's enrolment chain) come from a few records read before the workers start.
            schedule, chain = _chain_state(project, data, complete, keys, origin)
            for seq, code, msg in schedule.problems + chain.problems:
                add(seq, code, msg)
            if chain.from_ledger:
                reviewers_text = chain.rows
            lr.key_rotations = schedule.rotations
            lr.reviewers_from = "ledger" if chain.from_ledger else "reviewers.toml"
            vkeys = [r.as_tuple() for r in schedule.ranges]
            keys = _union(schedule.verifiers(), keys)
            if complete < size:
                add(
                    None,
                    Code.TORN_TAIL,
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
    summaries: Summaries = {}
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
        note_text = cp_path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        add(None, Code.NO_CHECKPOINT, "no checkpoint: the whole ledger is unsigned", WARNING)
    except UnicodeDecodeError:
        add(None, Code.CHECKPOINT, "checkpoint is not UTF-8")
    if note_text is not None:
        try:
            cp, signers = open_checkpoint(note_text, keys)
            lr.checkpoint_signers = [v.kid for v in signers]
        except (NoteError, SignatureError) as exc:
            add(None, Code.CHECKPOINT, f"checkpoint rejected: {exc}")
        else:
            for code, msg in schedule.checkpoint_findings(cp.size, signers):
                add(None, code, msg)
    if cp is not None:
        lr.checkpoint_size = cp.size
        if cp.origin != origin:
            add(None, Code.CHECKPOINT, f"checkpoint is for log {cp.origin!r}")
        elif cp.size > n:
            add(
                n,
                Code.TRUNCATED,
                f"checkpoint covers {cp.size} records but the ledger holds {n}: records removed",
            )
        else:
            root = leaves_at(cp.size)
            if root != cp.root:
                add(
                    None,
                    Code.ROOT_MISMATCH,
                    f"records 0..{cp.size - 1} do not hash to the signed checkpoint root",
                )
            if cp.size < n:
                add(
                    cp.size,
                    Code.UNSIGNED_TAIL,
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
            ("local authoritative checkpoint", _authoritative_paths(project, lid)[1]),
        ):
            if auth and label == "local authoritative checkpoint":
                continue  # it is the checkpoint checked above
            try:
                anchor_list.append((label, p.read_bytes().decode("utf-8")))
            except FileNotFoundError:
                pass
            except UnicodeDecodeError:
                add(None, Code.ANCHOR, f"{label} ({p}) is not UTF-8")
    for label, note in anchor_list:
        try:
            acp, _ = open_checkpoint(note, keys)
        except (NoteError, SignatureError) as exc:
            if label == "anchor file" and note.split("\n", 1)[0] != origin:
                continue  # an anchor for another ledger is simply not about this one
            add(None, Code.ANCHOR, f"{label}: checkpoint does not verify with the trusted key: {exc}")
            continue
        if acp.origin != origin:
            continue
        if (
            acp.size > n
            and label.startswith("local")
            and not auth
            and _behind_authoritative(project, lid, path, acp)
        ):
            add(
                n,
                Code.STALE_TRACKED,
                f"the tracked copy holds {n} records, this machine's authoritative copy {acp.size} and it extends"
                " the tracked one: the tracked copy is behind (not a rollback); the daemon brings it up to date,"
                " and `forge-tui verify --authoritative` checks the authoritative copy",
            )
        elif acp.size > n:
            add(
                n,
                Code.ROLLBACK,
                f"{label} has {acp.size} records; the ledger holds only {n} (truncated or rolled back)",
            )
        elif leaves_at(acp.size) != acp.root:
            add(
                None,
                Code.FORK,
                f"ledger is not an extension of the {label} (size {acp.size}): history was rewritten",
            )
        else:
            lr.anchors.append(f"{label} ({acp.size})")
    if not fast:
        from forge_tui.core.forensics import ledger_forensics

        reevaluator = Reevaluator(project, texts or {})
        witnesses = list(chain.witnesses)
        reviewers = _enrolled(reviewers_text) if isinstance(reviewers_text, list) else reviewers_text
        ledger_forensics(summaries, stamps, reviewers, add, reevaluator, last_ts, witnesses=witnesses)
        reevaluator.notices(add)
        _check_witnesses(witnesses, leaves_at, n, lr, add)
        _count_sandboxed(summaries, lr)
    out.sort(key=lambda f: -1 if f.seq is None else f.seq)
    return lr, out, summaries


@dataclass
class _Chain:
    """What the ledger's own trust records say: its reviewers (enrolment chain) and the checkpoints
    reviewers cosigned in policy approvals."""

    from_ledger: bool
    rows: list  # (name, vkey, enrolled_at, retired_at): what the worker processes take
    problems: list  # (seq, code, message)
    witnesses: list  # (seq, reviewer, checkpoint dict)


def _chain_state(project, data, complete: int, trusted: list[Verifier], origin: str):
    """The key schedule and the trust chain from the `key`, `reviewer` and `policy` records."""
    from forge_tui.core.rotation import build_schedule, first_record, scan_typed_records
    from forge_tui.core.trust import replay

    recs = scan_typed_records(data, complete, ("key", "reviewer", "policy"))
    schedule = build_schedule(
        trusted, origin, first_record(data, complete), [r for r in recs if r["type"] == "key"]
    )
    state = replay(
        project.project_id,
        ((r.get("seq"), r["type"], r.get("body")) for r in recs if r["type"] in ("reviewer", "policy")),
    )
    problems = [
        (seq, Code.REVIEWER_RECORD if msg.startswith("reviewer") else Code.POLICY_APPROVAL_RECORD, msg)
        for seq, msg in state.problems
    ]
    rows = [(r.name, r.verifier.vkey, r.enrolled_at, r.retired_at) for r in state.reviewers.values()]
    return schedule, _Chain(bool(rows), rows, problems, list(state.witnesses))


def _union(first: list[Verifier], more: list[Verifier]) -> list[Verifier]:
    kids = {v.kid for v in first}
    return [*first, *(v for v in more if v.kid not in kids)]


def _check_witnesses(witnesses: list, leaves_at, n: int, lr: LedgerReport, add) -> None:
    """Every checkpoint a reviewer cosigned must be one of this ledger's: the root of its first `size`
    records. A ledger re-signed with a leaked ledger key below a witnessed size fails here."""
    from forge_tui.core.merkle import CompactTree

    sizes = sorted({cp["size"] for _seq, _who, cp in witnesses if cp["size"] <= n})
    roots: dict[int, str] = {}
    leaves = getattr(leaves_at, "leaves", None)
    if leaves is None:
        roots = {k: leaves_at(k).hex() for k in sizes}
    else:
        tree = CompactTree()
        want = iter(sizes)
        nxt = next(want, None)
        if nxt == 0:
            roots[0] = tree.root().hex()
            nxt = next(want, None)
        for i, leaf in enumerate(leaves, 1):
            if nxt is None:
                break
            tree.append(leaf)
            if i == nxt:
                roots[i] = tree.root().hex()
                nxt = next(want, None)
    for seq, who, cp in sorted(witnesses, key=lambda w: w[0]):
        size, root = cp["size"], cp["root"]
        if size > seq:
            add(
                seq,
                Code.WITNESS_MISMATCH,
                f"{who!r} cosigned a checkpoint of size {size}, beyond the record holding it (seq {seq})",
            )
        elif roots.get(size) != root:
            add(
                seq,
                Code.WITNESS_MISMATCH,
                f"{who!r} cosigned root {root[:16]} at size {size}; the ledger's first {size} records hash to "
                f"{str(roots.get(size))[:16]}: history below a witnessed size was rewritten",
            )
        else:
            lr.witnesses += 1
            lr.witnessed_size = max(size, lr.witnessed_size or 0)


def _count_sandboxed(summaries: Summaries, lr: LedgerReport) -> None:
    from forge_tui.core.summaries import RequestSummary

    for s in summaries.values():
        if type(s) is RequestSummary:
            lr.requests += 1
            if s.sandboxed is True:
                lr.sandboxed_requests += 1
            elif s.sandboxed is False:
                lr.unsandboxed_requests += 1


def _behind_authoritative(project, lid: str, tracked: Path, acp) -> bool:
    """Whether the authoritative copy extends the tracked one and holds the records `acp` signs: then a
    tracked copy shorter than `acp` is stale (a kill between the two updates, a write that failed),
    not rolled back."""
    from forge_tui.core.merkle import leaf_hash, root_from_leaves

    try:
        a = _authoritative_paths(project, lid)[0].read_bytes()
        t = tracked.read_bytes()
    except OSError:
        return False
    if not a.startswith(t) or (t and not t.endswith(b"\n")):
        return False
    lines = a.split(b"\n")[: acp.size]
    if len(lines) < acp.size or (lines and not lines[-1]):
        return False
    return root_from_leaves([leaf_hash(x) for x in lines]) == acp.root


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
            findings.append(
                Finding(lid, seq, Code.CHAIN, "prev does not match the hash of the previous record")
            )
        if k >= 0:
            q = find(b",", k + 80, end)
            said = data[k + 80 : q] if data[k + 72 : k + 80] == b'","seq":' and q > 0 else b"?"
            if said != str(seq).encode():
                findings.append(
                    Finding(
                        lid,
                        seq,
                        Code.SEQ,
                        f"record says seq {said.decode(errors='replace')} at position {seq}",
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
            cache[k] = root_from_leaves(leaves[:k])
        return cache[k]

    leaves_at.leaves = leaves  # type: ignore[attr-defined]  # the witness check walks them once

    return leaves_at, findings, len(leaves), offsets


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


def root_b64(root: bytes) -> str:
    return b64(root)


__all__ = ["Finding", "LedgerReport", "VerifyReport", "verify_project", "Checkpoint", "check_chunk"]
