"""Policy saves under load: is a half-written policy ever recorded or enforced? (issue 10)

One daemon in setup mode (no reviewer: a parsed change is put in force at once), the solo pack's policy.
Clients read `.env` in a closed loop (the pack asks a human for it: `pending`); meanwhile the policy
file is saved N times with one of five harmless variants: half of the saves in place in two chunks with
a pause of 50-400 ms, the first chunk a valid policy cut just before the `secrets` rule (under it,
reading .env is allowed), the other half written to a temp file and renamed over; 50-600 ms between
two saves. The figures: how many
prefixes were recorded, how many reads of .env were allowed, and how many whole variants were
recorded (reloads still work). Before the fix: 9 prefixes recorded and 927 reads allowed in 200 saves.

    .venv/bin/python bench/policy_saves.py [--saves 200] [--clients 4] [--baseline SRC --out FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import sys
import threading
import time
from pathlib import Path

from gate import BenchProject, machine, start_daemon, stop  # bench/ is first on sys.path

CUT = b'[[rule]]\nid = "secrets"'


class Reads:
    def __init__(self) -> None:
        self.total = 0
        self.allowed = 0
        self.lock = threading.Lock()


def hammer(sock: Path, reads: Reads, done: threading.Event) -> None:
    from forge_tui.client import Client

    params = {"action": {"kind": "file.read", "paths": [".env"]}, "actor": {"id": "bench"}, "wait_s": 0}
    with Client(sock, timeout=60) as c:
        while not done.is_set():
            status = c.call("gate.request", params)["status"]
            with reads.lock:
                reads.total += 1
                reads.allowed += status == "allowed"


def save(path: Path, text: bytes, i: int, rng: random.Random) -> None:
    if i % 2:  # in place, two chunks: the first ends on a line and parses
        k = text.index(CUT)
        with open(path, "wb") as fh:
            fh.write(text[:k])
            fh.flush()
            time.sleep(rng.uniform(0.05, 0.4))  # the editor's pause between its writes (the attack)
            fh.write(text[k:])
    else:
        tmp = path.with_name(".policy.toml.swp")
        tmp.write_bytes(text)
        os.replace(tmp, path)
    time.sleep(rng.uniform(0.05, 0.6))  # the time between two saves (some closer than the settle window)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--saves", type=int, default=200)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--seed", type=int, default=10)
    ap.add_argument("--baseline", metavar="SRC", help="run the daemon imported from this source folder")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "policy_saves.txt"))
    args = ap.parse_args(argv)

    bp = BenchProject("fgp-", "saves")
    home, env, root, project = bp.home, bp.env, bp.root, bp.project
    pack = project.policy_path.read_bytes()
    variants = [pack.replace(b"max_per_minute = 120", b"max_per_minute = %d" % (121 + i)) for i in range(5)]
    assert all(v != pack and CUT in v for v in variants), "the solo pack changed: adjust the variants"
    prefixes = {hashlib.sha256(v[: v.index(CUT)]).hexdigest() for v in variants}
    wholes = {hashlib.sha256(v).hexdigest() for v in variants}
    sock = bp.sock
    rng = random.Random(args.seed)
    reads, done = Reads(), threading.Event()
    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    proc = start_daemon(env, root, sock, src=args.baseline)
    try:
        threads = [threading.Thread(target=hammer, args=(sock, reads, done)) for _ in range(args.clients)]
        for t in threads:
            t.start()
        t0 = time.perf_counter()
        for i in range(args.saves):
            save(project.policy_path, rng.choice(variants), i, rng)
        time.sleep(2.0)  # the last save's reload (settle window and debounce) before the clients stop
        done.set()
        for t in threads:
            t.join()
        took = time.perf_counter() - t0
    finally:
        stop(proc)
    ledger = next((project.state_dir / "ledger").glob("*.jsonl"))
    bodies = [json.loads(x)["body"] for x in ledger.read_bytes().splitlines() if b'"type":"policy"' in x]
    digests = [b.get("digest") for b in bodies]
    shutil.rmtree(home, ignore_errors=True)
    text = "\n".join(
        [
            f"# policy saves under load ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
            "",
            f"machine: {machine()}",
            f"command: python bench/policy_saves.py --saves {args.saves} --clients {args.clients} --seed {args.seed}"
            + (" --baseline SRC (the daemon from another source tree)" if args.baseline else ""),
            f"load average before: {load_before}; {took:.0f} s",
            "",
            "| saves | reads of .env | allowed | policy records | prefixes recorded | whole variants recorded |",
            "| ---: | ---: | ---: | ---: | ---: | ---: |",
            f"| {args.saves} | {reads.total:,} | {reads.allowed} | {len(bodies)} | "
            f"{sum(d in prefixes for d in digests)} | {sum(d in wholes for d in digests)} |",
        ]
    )
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text + "\n")
    return 1 if reads.allowed or any(d in prefixes for d in digests) else 0


if __name__ == "__main__":
    sys.exit(main())
