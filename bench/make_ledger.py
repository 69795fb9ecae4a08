"""Build a valid forge-tui project holding an N-record ledger of realistic mixed records, quickly.

    python bench/make_ledger.py --records 1000000 DIR

DIR is made self-contained:

    DIR/project/            the project (.forge/ with project.toml, policy, keys/*.pub, reviewers.toml,
                            ledger/<id>.jsonl and .checkpoint)
    DIR/data/               the private data folder (ledger signing key, the authoritative ledger copy)

To check it:  FORGE_DATA_DIR=DIR/data forge-tui verify   (run inside DIR/project)
(`--no-local` makes the data folder irrelevant: verify then reads only the project files.)

The ledger opens with the genesis, one `policy` record and the enrolment of the reviewers alice
(self-signed, the first) and bob (signed by alice) as `reviewer` records — the daemon and verify take
the reviewers from these, never from reviewers.toml, which is written as their view. The records after
them come in "episodes", as the daemon would write them:
  - request, decision allowed by policy, outcome               (~57%)
  - request, decision denied by policy                         (~15%)
  - request, decision pending, approval (alice, signed), decision allowed by reviewers, outcome (~10%)
  - request, decision pending, rejection (bob, signed), decision denied by reviewers           (~5%)
  - a note                                                      (~13%)
The last episode is cut to make exactly N records (every prefix of an episode is itself valid). The
project's policy is `POLICY` below, and each episode's action is one it decides as the episode records
(allowed and denied shell commands and reads, reviewed file writes), so verify's re-evaluation of every
policy decision agrees with the ledger.

Speed: each record's signature covers `prev`, the hash of the previous line *including its signature*,
so the signatures form a chain and cannot be computed in parallel. What can be is everything else:
worker processes (one per core) build the canonical JSON of every body, the timestamps and the line
templates; the parent only fills in `prev` (and a decision's `request_hash`, an approval's reviewer
signature), signs with libsodium directly, hashes and writes in big chunks. The Merkle root is computed
once at the end. About 1M records in well under a minute on two cores.

Importable: `build(dir, records) -> dict` (see its docstring); bench/tui.py and bench/verify.py use it.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import multiprocessing
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

EPISODES = ("allow", "deny", "review_ok", "review_no", "note")
WEIGHTS = (57, 15, 10, 5, 13)
LENGTHS = {"allow": 3, "deny": 2, "review_ok": 5, "review_no": 4, "note": 1}
RH = b"@@REQUEST_HASH@@"  # placeholders the parent fills in
RSIG = b"@@REVIEWER_SIG@@"
APPR_START = b'{"approval":'
CHUNK_EPISODES = 4000
REVIEWERS = ("alice", "bob")
HEADER = 2 + len(REVIEWERS)  # genesis, policy, one enrolment per reviewer

# What each record needs from the parent, besides prev and the signature.
PLAIN, NEEDS_HASH, NEEDS_APPROVAL = 0, 1, 2

# The project's policy: each episode's action is one that this policy decides as the episode records
# (verify re-evaluates every policy decision under the recorded policy, docs/design.md §7).
POLICY = """\
version = 1
default = "ask"
approval_timeout = "10m"

[[rule]]
id = "allow-tests"
match = { kind = "shell.exec", command = ["pytest*", "cargo test*"] }
decision = "allow"

[[rule]]
id = "allow-build"
match = { kind = "shell.exec", command = ["npm run build", "make lint", "git status*"] }
decision = "allow"

[[rule]]
id = "allow-reads"
match = { kind = "file.read" }
decision = "allow"

[[rule]]
id = "deny-secrets"
match = { kind = "shell.exec", command = ["cat .env*"] }
decision = "deny"
reason = "secrets stay out of the agent's context"

[[rule]]
id = "review-writes"
match = { kind = "file.write" }
decision = "ask"
approvals = 1
"""
# (rule, action kind, tool, commands) per allowed or denied episode; the reviewed ones write files.
_DECIDED = {
    "allow-tests": ("shell.exec", "Bash", ["pytest -q tests/unit", "cargo test --workspace"]),
    "allow-build": ("shell.exec", "Bash", ["npm run build", "make lint", "git status --short"]),
    "allow-reads": ("file.read", "Read", []),
    "deny-secrets": ("shell.exec", "Bash", ["cat .env", "cat .env.production"]),
}

_TOOLS = [
    ("shell.exec", "Bash"),
    ("file.write", "Edit"),
    ("file.write", "Write"),
    ("file.read", "Read"),
    ("net.fetch", "WebFetch"),
    ("git.commit", "Bash"),
    ("mcp.call", "mcp__github__create_issue"),
]
_PATHS = [
    "src/app/main.py",
    "src/app/config.py",
    "README.md",
    "docs/architecture.md",
    "tests/test_api.py",
    "infra/terraform/main.tf",
    ".github/workflows/ci.yml",
    "package.json",
    "src/components/Header.tsx",
    "migrations/0042_add_index.sql",
]
_URLS = ["https://docs.python.org/3/library/json.html", "https://pypi.org/simple/", "https://api.github.com/"]
_NOTES = [
    "rotated the deploy key",
    "incident 42 closed",
    "release 1.4.0 tagged",
    "on-call handover: nothing pending",
    "policy review done with the security team",
]


def _fmt_ts(ms: int) -> str:
    t = time.gmtime(ms // 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{ms % 1000:03d}Z"


def _episode_records(kind: str, rng: random.Random, seq: int, ts: str, ctx: dict) -> list[tuple]:
    """(type, body bytes with placeholders, what it needs, approval object bytes or None) per record."""
    from forge_tui.core.jcs import canonical

    if kind == "note":
        body = {"text": rng.choice(_NOTES), "author": rng.choice(("alice", "bob", "carol"))}
        return [("note", canonical(body), PLAIN, None)]
    rid = f"r-{rng.getrandbits(64):016x}"
    if kind in ("allow", "deny"):
        rule = (
            rng.choice(("allow-tests", "allow-reads", "allow-build")) if kind == "allow" else "deny-secrets"
        )
        akind, tool, commands = _DECIDED[rule]
    else:
        akind, tool = rng.choice([t for t in _TOOLS if t[0] == "file.write"])
        commands = []
    session = f"s-{rng.randrange(1 << 12):04x}"
    action = {
        "kind": akind,
        "tool": tool,
        "command": rng.choice(commands) if akind == "shell.exec" else None,
        "paths": rng.sample(_PATHS, rng.randrange(1, 3)) if akind.startswith("file") else [],
        "url": rng.choice(_URLS) if akind == "net.fetch" else None,
        "summary": None,
        "input_digest": f"sha256:{rng.getrandbits(256):064x}" if akind == "file.write" else None,
    }
    action["summary"] = action["command"] or action["url"] or ", ".join(action["paths"]) or tool
    request = {
        "request_id": rid,
        "actor": {"id": "claude-code", "kind": "agent", "session": session},
        "principal": "dev",
        "process": {"pid": rng.randrange(1000, 60000), "uid": 1000, "exe": "/usr/bin/node"},
        "action": action,
        "requirement": rng.choice((None, None, f"JIRA-{rng.randrange(100, 999)}")),
        "client": "hook",
    }
    out = [("request", canonical(request), PLAIN, None)]
    digest = ctx["policy_digest"]
    rh = RH.decode()
    if kind in ("allow", "deny"):
        allowed = kind == "allow"
        dec = {
            "request_id": rid,
            "request_hash": rh,
            "status": "allowed" if allowed else "denied",
            "decided_by": "policy",
            "rule": rule,
            "rules": [rule],
            "reason": "matched rule " + rule,
            "policy_digest": digest,
        }
        out.append(("decision", canonical(dec), NEEDS_HASH, None))
        if allowed:
            status = "succeeded" if rng.random() < 0.9 else "failed"
            oc = {
                "request_id": rid,
                "status": status,
                "detail": "exit 0" if status == "succeeded" else "exit 1",
            }
            out.append(("outcome", canonical(oc), PLAIN, None))
        return out
    approve = kind == "review_ok"
    pend = {
        "request_id": rid,
        "request_hash": rh,
        "status": "pending",
        "decided_by": "policy",
        "rule": "review-writes",
        "rules": ["review-writes"],
        "reason": "writes need one approval",
        "policy_digest": digest,
        "approvals_needed": 1,
        "distinct_from": ["requester"],
    }
    out.append(("decision", canonical(pend), NEEDS_HASH, None))
    reviewer = "alice" if approve else "bob"
    approval = {
        "request_id": rid,
        "request_hash": rh,
        "verdict": "approve" if approve else "reject",
        "reason": "looks fine" if approve else "touches infra; needs a ticket",
        "reviewer": reviewer,
        "ts": ts,
    }
    appr_bytes = canonical(approval)
    abody = {
        "approval": approval,
        "reviewer_kid": ctx["reviewer_kids"][reviewer],
        "reviewer_sig": RSIG.decode(),
        "peer": {"pid": rng.randrange(1000, 60000), "uid": 1000, "exe": "/usr/bin/python3"},
    }
    out.append(("approval", canonical(abody), NEEDS_APPROVAL, appr_bytes))
    final = dict(pend)
    final.update(
        status="allowed" if approve else "denied",
        decided_by="reviewers",
        reason="approved by alice" if approve else "rejected by bob",
        approval_seqs=[seq + 2],
    )
    out.append(("decision", canonical(final), NEEDS_HASH, None))
    if approve:
        out.append(
            (
                "outcome",
                canonical({"request_id": rid, "status": "succeeded", "detail": "exit 0"}),
                PLAIN,
                None,
            )
        )
    return out


def _work(args):
    """Worker: the record templates of a run of episodes. Returns a list of tuples (see `_build_lines`)."""
    kinds, first_seq, ts_list, limit, seed, ctx = args
    rng = random.Random(seed)
    out = []
    seq = first_seq
    head_tail = ctx["kid_log"]
    for kind, ts_ms in zip(kinds, ts_list, strict=True):
        ts = _fmt_ts(ts_ms)
        for type_, body, need, appr in _episode_records(kind, rng, seq, ts, ctx):
            if seq >= limit:
                return out
            tail = f',"ts":"{ts}","type":"{type_}","v":1}}'.encode()
            out.append((b'{"body":' + body + head_tail, b'","seq":' + str(seq).encode(), tail, need, appr))
            seq += 1
    return out


def _plan(records: int, seed: int, end_ms: int):
    """Episode kinds, first seq and timestamp of each, chunked for the workers."""
    rng = random.Random(seed)
    kinds: list[str] = []
    total = HEADER
    while total < records:
        k = rng.choices(EPISODES, WEIGHTS)[0]
        kinds.append(k)
        total += LENGTHS[k]
    gaps = [rng.randrange(0, 120) for _ in kinds]
    span = sum(gaps) + 1
    start = end_ms - span
    ts = []
    t = start
    for g in gaps:
        t += g
        ts.append(t)
    return kinds, ts, start


def build(dir: Path, records: int, *, seed: int = 1, workers: int | None = None, quiet: bool = True) -> dict:
    """Create DIR/project and DIR/data holding a valid `records`-record ledger (records >= HEADER).

    Returns {"root": project root, "ledger": tracked ledger path, "checkpoint": its path,
    "data_dir": the FORGE_DATA_DIR to use, "env": {"FORGE_DATA_DIR": ...}, "ledger_id", "project_id",
    "records", "seconds"}. Sets os.environ["FORGE_DATA_DIR"] for the duration of the call only.
    """
    t0 = time.perf_counter()
    dir = Path(dir).resolve()
    if records < HEADER:
        raise ValueError(f"records must be at least {HEADER} (the genesis, a policy record, the enrolments)")
    root = dir / "project"
    data = dir / "data"
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty")
    root.mkdir(parents=True, exist_ok=True)
    data.mkdir(parents=True, exist_ok=True, mode=0o700)
    old_env = os.environ.get("FORGE_DATA_DIR")
    os.environ["FORGE_DATA_DIR"] = str(data)
    try:
        info = _build(root, records, seed, workers or os.cpu_count() or 1, quiet)
    finally:
        if old_env is None:
            os.environ.pop("FORGE_DATA_DIR", None)
        else:
            os.environ["FORGE_DATA_DIR"] = old_env
    info.update(
        data_dir=str(data),
        env={"FORGE_DATA_DIR": str(data)},
        records=records,
        seconds=round(time.perf_counter() - t0, 3),
    )
    return info


def _build(root: Path, records: int, seed: int, nworkers: int, quiet: bool) -> dict:
    import nacl.bindings

    from forge_tui.core.jcs import canonical, parse_canonical
    from forge_tui.core.keys import ReviewerKey, load_ledger_key
    from forge_tui.core.ledger import authoritative_dir
    from forge_tui.core.merkle import CompactTree
    from forge_tui.core.note import Checkpoint, Signer
    from forge_tui.core.project import init_project
    from forge_tui.core.records import RECORD_CONTEXT, ZERO_HASH, build_record, format_ts
    from forge_tui.core.reviewers import Reviewer, save_reviewers
    from forge_tui.core.trust import reviewer_statement, sign_reviewer_statement
    from forge_tui.paths import atomic_write

    project = init_project(root, pack="solo", name=root.parent.name or "bench")
    project.policy_path.write_text(POLICY)  # recorded at seq 1, before any reviewer: in force (setup mode)
    lid = project.local_ledger_id()
    signer = load_ledger_key(lid)
    origin = project.origin(lid)
    rng = random.Random(seed)
    rev = {n: Signer(f"forge-tui.reviewer/{n}", rng.randbytes(32)) for n in REVIEWERS}
    policy_bytes = project.policy_path.read_bytes()
    digest = hashlib.sha256(policy_bytes).hexdigest()

    # The header records (genesis, policy, enrolments), back-dated so the last record is about now.
    genesis_line = project.tracked_ledger(lid).read_bytes().split(b"\n", 1)[0]
    now = int(time.time() * 1000)
    kinds, ts_list, start = _plan(records, seed, now)
    header: list[tuple[str, dict]] = [
        ("genesis", parse_canonical(genesis_line)["body"]),
        (
            "policy",
            {
                "digest": digest,
                "path": str(project.policy_path),
                "loaded": True,
                "rules": policy_bytes.count(b"[[rules]]"),
            },
        ),
    ]
    first = ReviewerKey(REVIEWERS[0], rev[REVIEWERS[0]])
    for k, (name, key) in enumerate(rev.items()):
        st = reviewer_statement("enrol", name, key.verifier.vkey, project.project_id, first.name)
        st["ts"] = format_ts(start - HEADER + 2 + k)
        header.append(("reviewer", sign_reviewer_statement(first, st)))
    header_lines, header_leaves = [], []
    prev_hex = ZERO_HASH
    for seq, (type_, body) in enumerate(header):
        _rec, line = build_record(
            log=origin,
            seq=seq,
            ts=format_ts(start - HEADER + seq),
            type_=type_,
            prev=prev_hex,
            signer=signer,
            body=body,
        )
        leaf = hashlib.sha256(b"\x00" + line).digest()
        header_lines.append(line)
        header_leaves.append(leaf)
        prev_hex = leaf.hex()
    save_reviewers(project.reviewers_path, {n: Reviewer(n, s.verifier) for n, s in rev.items()})  # the view

    ctx = {
        "policy_digest": digest,
        "reviewer_kids": {n: s.kid for n, s in rev.items()},
        "kid_log": b',"kid":' + canonical(signer.kid) + b',"log":' + canonical(origin) + b',"prev":"',
    }
    # Chunk the episodes for the workers.
    jobs = []
    seq = HEADER
    for i in range(0, len(kinds), CHUNK_EPISODES):
        ks = kinds[i : i + CHUNK_EPISODES]
        jobs.append((ks, seq, ts_list[i : i + CHUNK_EPISODES], records, seed * 1_000_003 + i, ctx))
        seq += sum(LENGTHS[k] for k in ks)

    sk = signer._key._signing_key  # 64-byte libsodium secret key
    rsk = {n: s._key._signing_key for n, s in rev.items()}
    crypto_sign = nacl.bindings.crypto_sign
    sha256 = hashlib.sha256
    b64 = base64.b64encode

    folder = authoritative_dir(project)
    auth_path = folder / f"{lid}.jsonl"
    tmp_path = auth_path.with_name(f".{lid}.jsonl.build")
    tree = CompactTree()
    for leaf in header_leaves:
        tree.append(leaf)
    prev = header_leaves[-1]
    last_request_hash = b""
    count = HEADER
    with open(tmp_path, "wb") as out:
        out.write(b"".join(line + b"\n" for line in header_lines))
        ctx_mp = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        if nworkers > 1 and len(jobs) > 1:
            pool = ctx_mp.Pool(max(1, nworkers - 1))  # the parent signs on the remaining core
            results = pool.imap(_work, jobs)
        else:
            pool = None
            results = map(_work, jobs)
        try:
            leaves = []
            for chunk in results:
                buf = []
                for head, seqpart, tail, need, appr in chunk:
                    if need == NEEDS_HASH:
                        head = head.replace(RH, last_request_hash, 1)
                    elif need == NEEDS_APPROVAL:
                        appr = appr.replace(RH, last_request_hash, 1)
                        rsig = crypto_sign(
                            b"forge-tui approval v1\n" + appr, rsk["alice" if b'"approve"' in appr else "bob"]
                        )[:64]
                        head = head.replace(RH, last_request_hash, 1).replace(RSIG, b64(rsig), 1)
                    hexprev = prev.hex().encode()
                    sig = crypto_sign(RECORD_CONTEXT + head + hexprev + seqpart + tail, sk)[:64]
                    line = head + hexprev + seqpart + b',"sig":"' + b64(sig) + b'"' + tail
                    prev = sha256(b"\x00" + line).digest()
                    if tail.endswith(b'"type":"request","v":1}'):
                        last_request_hash = prev.hex().encode()
                    leaves.append(prev)
                    buf.append(line)
                buf.append(b"")
                out.write(b"\n".join(buf))
                count += len(chunk)
                if not quiet:
                    print(f"\r{count:,}/{records:,} records", end="", file=sys.stderr, flush=True)
        finally:
            if pool is not None:
                pool.close()
                pool.join()
        out.flush()
        os.fsync(out.fileno())
    if not quiet:
        print(file=sys.stderr)
    if count != records:
        raise AssertionError(f"built {count} records, wanted {records}")
    for h in leaves:
        tree.append(h)
    note = Checkpoint(origin, tree.size, tree.root()).sign([signer])
    os.replace(tmp_path, auth_path)
    atomic_write(folder / f"{lid}.checkpoint", note.encode(), mode=0o600)
    tracked = project.tracked_ledger(lid)
    tmp = tracked.with_name(f".{tracked.name}.tmp")
    with open(auth_path, "rb") as src, open(tmp, "wb") as dst:
        while chunk := src.read(1 << 22):
            dst.write(chunk)
    os.replace(tmp, tracked)
    atomic_write(project.tracked_checkpoint(lid), note.encode())
    return {
        "root": str(project.root),
        "ledger": str(tracked),
        "checkpoint": str(project.tracked_checkpoint(lid)),
        "ledger_id": lid,
        "project_id": project.project_id,
        "reviewer_seeds": {n: s.seed.hex() for n, s in rev.items()},
    }


def _count_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 24), b""))


def ensure(folder: Path, records: int, *, grows: int = 0) -> dict:
    """What `build` returns for a `records`-record ledger in `folder`: the one built there before when
    its size matches (up to `grows` records more: a daemon started on it appends a few), else a new
    one. The build's answer is kept in `folder/info.json`; the benchmarks share this instead of each
    checking the folder its own way."""
    folder = Path(folder)
    info_path = folder / "info.json"
    if info_path.exists():
        info = json.loads(info_path.read_text())
        count = _count_lines(Path(info["ledger"])) if Path(info["ledger"]).exists() else -1
        if records <= count <= records + grows:
            return info
        raise SystemExit(
            f"{folder} holds a ledger of {count} records, not {records}: remove it or pick another"
        )
    if (folder / "project").exists():
        raise SystemExit(f"{folder} holds a project this script did not record: remove it or pick another")
    print(f"building a {records:,}-record ledger in {folder} ...", file=sys.stderr)
    info = build(folder, records)
    print(f"  built in {info['seconds']} s", file=sys.stderr)
    info_path.write_text(json.dumps(info, indent=1))
    return info


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dir", type=Path, help="output folder (DIR/project and DIR/data are created)")
    p.add_argument("--records", type=int, required=True, help="number of records, genesis included")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--json", action="store_true", help="print the info as JSON")
    args = p.parse_args(argv)
    info = build(args.dir, args.records, seed=args.seed, workers=args.workers, quiet=args.json)
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(f"built {info['records']:,} records in {info['seconds']} s")
        print(f"  project: {info['root']}")
        print(f"  ledger:  {info['ledger']}")
        print("  to verify it:")
        print(f"    cd {info['root']} && FORGE_DATA_DIR={info['data_dir']} forge-tui verify")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
