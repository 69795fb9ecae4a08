"""Offline verification of a project's ledgers (docs/design.md §5, §7). Reads files only; no daemon needed.

For every ledger in `.forge/ledger/`: strict parsing (canonical JCS, LF only, no BOM, no duplicate
keys), `seq`, `prev` and `log`; every record signature against the trusted keys; the Merkle root and
size against the checkpoint and its signature; anchors (a git base ref, a saved checkpoint, the local
"latest seen" cache) that the ledger must extend; and the forensic rules of §7.

`--fast` is the chain and the checkpoint only (docs/design.md §5): every line is hashed and its `prev` and
`seq` read from the bytes, the root is checked against the signed checkpoint and the anchors; lines
are not parsed, so no record signature, strict-form or forensic check runs.

The work is spread over worker processes (`forge_tui.core.verify_chunk`), each taking byte ranges of
whole lines: they hash the lines (and the Merkle subtrees inside the range), check the chain and,
unless --fast, parse and signature-check every record. The parent puts the ranges together in ledger
order and walks each range's summaries through the forensic rules while the workers check the next.
"""

from __future__ import annotations

import gc
import mmap
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from forge_tui.core.findings import Code, Severity
from forge_tui.core.merkle import PerfectLevels
from forge_tui.core.note import Checkpoint, NoteError, Verifier, b64, open_checkpoint, parse_vkey
from forge_tui.core.summaries import Summaries
from forge_tui.core.verify_chunk import TYPED, _enrolled, check_chunk
from forge_tui.core.verify_chunk import _approval_sig_error as _approval_sig_error  # forensics' name
from forge_tui.core.verify_chunk import _parse_line as _parse_line  # the tests' names
from forge_tui.core.verify_chunk import _signed_bytes as _signed_bytes
from forge_tui.core.verify_ranges import Pool, Ranges
from forge_tui.errors import EXIT_FAIL, EXIT_OK, EXIT_WARN, ConfigError, SignatureError

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
        import subprocess

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
    texts = None
    if not fast:  # --fast runs no forensic rule: it never loads the policy modules
        from forge_tui.core.reevaluate import policy_texts

        texts = policy_texts(project, trust)
    nworkers = workers or _cpu_workers()
    pool = Pool(nworkers)
    all_summaries: list[tuple[str, Summaries]] = []
    summaries: Summaries = {}
    # The summaries kept for the forensic rules (small records, in no cycle) would have the cyclic
    # collector walk an ever larger heap again and again: it is off while the ledgers are read (a
    # third of this process's CPU time on a 100,000-record ledger), and back as it was once they are
    # let go (re-enabled while they lived, its next collection would walk every one of them).
    collecting = gc.isenabled()
    gc.disable()
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
        pool.shutdown()
        if commits is not None:
            from forge_tui.core.gitcheck import request_states

            g = commits.check(request_states(all_summaries))
            report.git = {"range": g.range, "commits": g.commits, "governed": g.governed}
            report.findings.extend(
                Finding("-", None, f.code, f.message, f.severity, commit=f.commit, path=f.path)
                for f in g.findings
            )
    finally:
        pool.shutdown()
        all_summaries.clear()
        summaries = {}
        if collecting:
            gc.enable()
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
    pool: Pool,
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
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        try:
            if data[:3] == b"\xef\xbb\xbf":
                add(0, Code.BOM, "file starts with a byte order mark")
            complete = data.rfind(b"\n") + 1
            # The keys' validity ranges (genesis key, then each rotation) and the reviewers (the
            # ledger's enrolment chain) come from its `key`, `reviewer` and `policy` records: found
            # here before the workers start (they check signatures with them) or, for --fast, which
            # needs them only for the checkpoint, by the workers as they hash.
            mark = len(out)
            vkeys: list = []
            if not fast:
                schedule, chain = _chain_state(project, data, complete, keys, origin)
                if chain.from_ledger:
                    reviewers_text = chain.rows
                vkeys = [r.as_tuple() for r in schedule.ranges]
            if complete < size:
                add(
                    None,
                    Code.TORN_TAIL,
                    f"{size - complete} bytes after the last complete record (torn write)",
                    WARNING,
                )
            # The workers hash every line and check the chain; unless --fast they also parse every
            # line and check its signature. Their results come back in ledger order, and the forensic
            # rules walk each range's summaries while the workers check the next ones.
            job = (spath, origin, vkeys, fast, reviewers_text)
            ranges = Ranges(data, complete, pool.get(fast, complete), pool.workers, job)
            reevaluator = walk = None
            witnesses: list = []
            if not fast:
                witnesses = list(chain.witnesses)
                from forge_tui.core.forensics import LedgerWalk
                from forge_tui.core.reevaluate import Reevaluator

                reviewers = _enrolled(reviewers_text) if isinstance(reviewers_text, list) else reviewers_text
                reevaluator = Reevaluator(project, texts or {})
                walk = LedgerWalk(reviewers, reevaluator, witnesses)
            tree = PerfectLevels()
            summaries: Summaries = {}
            stamps: list[tuple[int, str, str]] = []  # (seq, ts, previous ts) where time ran backwards
            last_ts = None
            typed: list[dict[str, Any]] = []
            for res in ranges.results():
                typed.extend(res.typed)
                tree.extend(res.runs)
                for seq, code, msg in res.chain + res.findings:
                    add(seq, code, msg)
                got = res.summaries()
                if walk is not None:
                    walk.feed(got)
                summaries.update(got)
                if res.first_ts is not None:
                    if last_ts is not None and res.first_ts < last_ts:
                        stamps.append((res.first_seq, res.first_ts, last_ts))
                    stamps.extend(res.backwards)
                    last_ts = res.last_ts
                if progress:
                    progress(ranges.done, complete)
            n = ranges.count
            if fast:
                schedule, chain = _chain_state(project, data, complete, keys, origin, typed)
        finally:
            if size:
                data.close()
    if progress:
        progress(complete, complete)
    out[mark:mark] = [Finding(lid, *p) for p in schedule.problems + chain.problems]
    lr.key_rotations = schedule.rotations
    lr.reviewers_from = "ledger" if chain.from_ledger else "reviewers.toml"
    keys = _union(schedule.verifiers(), keys)
    leaves_at = tree.root
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
    if walk is not None:
        walk.finish(summaries, stamps, add, last_ts)
        reevaluator.notices(add)
        _check_witnesses(witnesses, tree, n, lr, add)
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


def _chain_state(project, data, complete: int, trusted: list[Verifier], origin: str, recs=None):
    """The key schedule and the trust chain from the `key`, `reviewer` and `policy` records (`recs`,
    parsed and in ledger order, when a pass over the ledger found them already)."""
    from forge_tui.core.rotation import build_schedule, first_record, scan_typed_records
    from forge_tui.core.trust import replay

    if recs is None:
        recs = scan_typed_records(data, complete, TYPED)
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


def _check_witnesses(witnesses: list, tree: PerfectLevels, n: int, lr: LedgerReport, add) -> None:
    """Every checkpoint a reviewer cosigned must be one of this ledger's: the root of its first `size`
    records. A ledger re-signed with a leaked ledger key below a witnessed size fails here."""
    sizes = {cp["size"] for _seq, _who, cp in witnesses}
    roots = {k: tree.root(k).hex() for k in sizes if type(k) is int and 0 <= k <= n}
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
