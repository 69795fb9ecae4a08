"""kill -9 under load, round after round: is an acknowledged decision ever lost, and does `verify` ever
report an error? (issue 10: 3 of 40 rounds died between the authoritative checkpoint and the tracked
copy's update, and `verify` then reported a rollback)

Each round starts the daemon, lets 32 closed-loop clients send `gate.request` (a new command each, so
every request is decided and recorded) and kills the daemon with SIGKILL after a random 0.2-1.5 s. Then
`verify` (the tracked copy) runs: a copy behind the authoritative one is the warning `stale_tracked` or
`unsigned_tail` (exit 3), never an error. At the end one more start brings the copy up to date and every
answer the clients heard is looked up in the ledger: same seq, same status.

    .venv/bin/python bench/kill_rounds.py [--rounds 40] [--clients 32] [--seed 1]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from gate import BenchProject, machine  # bench/ is first on sys.path


def start(env: dict[str, str], root: Path, sock: Path) -> subprocess.Popen:
    from forge_tui.client import Client

    proc = subprocess.Popen(
        [sys.executable, "-m", "forge_tui", "-C", str(root), "daemon", "--socket", str(sock)],
        cwd=root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while True:  # (a killed daemon leaves its socket file: wait for one that answers)
        try:
            with Client(sock, timeout=10) as c:
                c.call("status")
            return proc
        except Exception:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the daemon did not start (exit {proc.poll()})") from None
            time.sleep(0.05)  # polling a condition with a deadline


def load(sock: Path, rnd: int, c: int, told: dict[str, dict], stop: threading.Event) -> None:
    from forge_tui.client import Client

    try:
        with Client(sock, timeout=30) as cl:
            i = 0
            while not stop.is_set():
                i += 1
                params = {
                    "action": {"kind": "shell.exec", "command": f"pytest -q t{rnd}_{c}_{i}"},
                    "actor": {"id": "bench", "session": f"s{c}"},
                }
                res = cl.call("gate.request", params)
                told[res["request_id"]] = res
    except Exception:  # the kill: the answer in flight was never heard, so it tells nothing
        pass


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "kill_rounds.txt"))
    args = ap.parse_args(argv)

    from gate import POLICY

    bp = BenchProject("fgk-", "kill", POLICY)
    home, env, root, project, sock = bp.home, bp.env, bp.root, bp.project, bp.sock
    from forge_tui.core.verify import verify_project

    rng = random.Random(args.seed)
    told: dict[str, dict] = {}
    outcomes: collections.Counter[str] = collections.Counter()
    errors: list[str] = []
    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    t0 = time.perf_counter()
    for rnd in range(args.rounds):
        proc = start(env, root, sock)
        stop = threading.Event()
        threads = [
            threading.Thread(target=load, args=(sock, rnd, c, told, stop)) for c in range(args.clients)
        ]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.2, 1.5))  # the moment of the kill, at random (the experiment itself)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        stop.set()
        for t in threads:
            t.join()
        report = verify_project(project, workers=1)
        found = sorted({f.code for f in report.findings if f.severity != "notice"}) or ["clean"]
        outcomes[", ".join(found)] += 1
        errors += [f"round {rnd}: {f.line()}" for f in report.findings if f.severity == "error"]
        print(f"round {rnd}: verify exit {report.exit_code()} {found}", file=sys.stderr)
    proc = start(env, root, sock)  # brings the tracked copy up to date
    proc.terminate()
    proc.wait(timeout=60)
    lid = project.local_ledger_id()
    ledger = project.state_dir / "ledger" / f"{lid}.jsonl"
    records = [json.loads(x) for x in ledger.read_bytes().splitlines()]
    decided = {r["body"]["request_id"]: r for r in records if r["type"] == "decision"}
    lost = [
        rid
        for rid, res in told.items()
        if rid not in decided
        or (decided[rid]["seq"], decided[rid]["body"]["status"]) != (res["seq"], res["status"])
    ]
    final = verify_project(project, workers=1).exit_code()
    took = time.perf_counter() - t0
    shutil.rmtree(home, ignore_errors=True)
    lines = [
        f"# kill -9 rounds ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        "",
        f"machine: {machine()}",
        f"command: python bench/kill_rounds.py --rounds {args.rounds} --clients {args.clients} --seed {args.seed}",
        f"load average before: {load_before}; {took:.0f} s; ledger after: {len(records):,} records",
        "",
        "| verify after a kill | rounds |",
        "| --- | ---: |",
        *[f"| {k} | {n} |" for k, n in sorted(outcomes.items())],
        "",
        f"answers heard: {len(told):,}; missing or different in the ledger: {len(lost)}",
        f"errors reported by verify: {len(errors)}; verify after the last start: exit {final}",
        *errors[:10],
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    return 1 if lost or errors or final else 0


if __name__ == "__main__":
    sys.exit(main())
