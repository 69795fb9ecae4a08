"""Where the daemon's CPU per decision goes: its event loop, its policy worker and its other threads.

    cd bench && ../.venv/bin/python gate_cpu.py --baseline SRC [--runs 5] [--seconds 3] [--clients 32]

bench/gate.py's --distinct load (32 closed-loop clients, every request a command never seen before)
against this tree's daemon and the one imported from SRC (a folder holding an older `forge_tui/`),
alternating run by run so both share the machine's load. After the warm-up it reads, from /proc, the
CPU time of the daemon's main thread (the event loop), of its policy worker process and of the
daemon's other threads (the group commit's), and divides each by the replies: on a shared machine
these per-reply figures move much less than replies/s. Prints each run, the medians and this / SRC.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

import gate  # bench/, the script's folder, is first on sys.path

REPO = Path(__file__).resolve().parents[1]
FIELDS = ("replies/s", "p99 ms", "loop", "worker", "other threads", "total")


def _cpu(stat: Path) -> float:
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _worker(pid: int) -> int | None:
    for child in gate.children(pid):
        try:
            if b"policy_worker" in Path(f"/proc/{child}/cmdline").read_bytes():
                return child
        except OSError:
            continue
    return None


@dataclass(frozen=True)
class Sample:
    loop: float  # the daemon's main thread
    process: float  # all the daemon's threads
    worker: float  # its policy worker process
    worker_pid: int | None

    @classmethod
    def of(cls, pid: int) -> Sample:
        w = _worker(pid)
        return cls(
            _cpu(Path(f"/proc/{pid}/task/{pid}/stat")),
            _cpu(Path(f"/proc/{pid}/stat")),
            _cpu(Path(f"/proc/{w}/stat")) if w is not None else 0.0,
            w,
        )


def one_run(bp: gate.BenchProject, src: str, clients: int, seconds: float) -> tuple[float, ...]:
    proc = gate.start_daemon(bp.env, bp.root, bp.sock, src)
    try:
        start: list[Sample] = []
        rate, _, p99, replies = asyncio.run(
            gate.drive(str(bp.sock), clients, seconds, 0.7, None, lambda: start.append(Sample.of(proc.pid)))
        )
        end = Sample.of(proc.pid)
    finally:
        gate.stop(proc)
        bp.sock.unlink(missing_ok=True)
    if end.worker_pid != start[0].worker_pid:
        raise SystemExit("the policy worker was not the same one throughout the run")
    per = 1e6 / replies
    loop = (end.loop - start[0].loop) * per
    other = (end.process - start[0].process) * per - loop
    worker = (end.worker - start[0].worker) * per
    return rate, p99, loop, worker, other, loop + worker + other


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", metavar="SRC", required=True, help="the older tree (holds forge_tui/)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--clients", type=int, default=32)
    args = ap.parse_args()
    gate.DISTINCT = True
    bp = gate.BenchProject("fgc-", "bench", gate.POLICY)
    trees = {"this tree": str(REPO), "baseline": args.baseline}
    rows: dict[str, list[tuple[float, ...]]] = {k: [] for k in trees}
    print(f"load average before: {os.getloadavg()[0]:.2f}; {args.clients} clients, --distinct")
    for run in range(args.runs):
        for name, src in trees.items():
            r = one_run(bp, src, args.clients, args.seconds)
            rows[name].append(r)
            print(
                f"run {run + 1} {name:9}: {r[0]:6.0f}/s  p99 {r[1]:6.1f} ms  CPU per reply: loop {r[2]:4.0f} µs,"
                f" policy worker {r[3]:4.0f}, other threads {r[4]:4.0f}, total {r[5]:5.0f}",
                flush=True,
            )
    med = {k: [statistics.median(r[i] for r in v) for i in range(len(FIELDS))] for k, v in rows.items()}
    print("medians: " + ", ".join(FIELDS) + " (CPU in µs per reply)")
    for name, m in med.items():
        print(f"  {name:9} " + "  ".join(f"{x:7.1f}" for x in m))
    print(
        "  ratio     "
        + "  ".join(f"{a / b:7.3f}" for a, b in zip(med["this tree"], med["baseline"], strict=True))
    )
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
