"""Soak: 200,000 decisions against one daemon process, then a flood of session ids (issue 10).

Phase 1 (steady): 32 closed-loop clients send `gate.request` (decided by policy, durable before the
reply) until N decisions are answered; every 50,000 the daemon's RSS (VmRSS), its open file
descriptors (/proc/PID/fd) and the p50/p99 latency of that window are sampled. A daemon that leaks
memory, descriptors or slows with the ledger's size shows it here.

Phase 2 (session flood): the same clients, each request with a session id never used before, for as
many requests again as the flood size; throughput and RSS are sampled per window of 10,000. The anchor is
the first steady window of the same run: the ratio flood / steady is the figure to compare.

    .venv/bin/python bench/soak.py [--decisions 200000] [--every 50000] [--flood 40000]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import sys
import time
from pathlib import Path

from gate import POLICY, BenchProject, machine, start_daemon, stop  # bench/ is first on sys.path

CLIENTS = 32


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def line_for(i: int, session: str) -> bytes:
    msg = {
        "jsonrpc": "2.0",
        "id": i,
        "method": "gate.request",
        "params": {
            "action": {"kind": "shell.exec", "command": "pytest -q tests" if i % 4 else "rm -rf build"},
            "actor": {"id": "soak", "kind": "agent", "session": session},
        },
    }
    return json.dumps(msg, separators=(",", ":")).encode() + b"\n"


class Window:
    """Latencies and the time of one sampling window."""

    def __init__(self) -> None:
        self.lat: list[float] = []
        self.start = time.perf_counter()

    def figures(self) -> tuple[float, float, float]:
        took = time.perf_counter() - self.start
        lat = sorted(self.lat)
        p50 = lat[len(lat) // 2] * 1000
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
        return len(lat) / took, p50, p99


async def run_phase(sock: str, total: int, every: int, session_of, on_window) -> None:
    """Closed-loop clients until `total` replies; `on_window(index, Window)` after every `every`."""
    counter = itertools.count(1)
    state = {"done": 0, "window": Window(), "index": 0}

    async def client(c: int) -> None:
        reader, writer = await asyncio.open_unix_connection(sock, limit=1 << 20)
        try:
            while True:
                i = next(counter)
                if i > total:
                    return
                t0 = time.perf_counter()
                writer.write(line_for(i, session_of(c, i)))
                reply = json.loads(await reader.readline())
                if "result" not in reply:
                    raise SystemExit(f"bad reply: {reply}")
                state["window"].lat.append(time.perf_counter() - t0)
                state["done"] += 1
                if state["done"] % every == 0:
                    on_window(state["index"], state["window"])
                    state["index"] += 1
                    state["window"] = Window()
        finally:
            writer.close()

    await asyncio.gather(*(client(c) for c in range(CLIENTS)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--decisions", type=int, default=200_000)
    ap.add_argument("--every", type=int, default=50_000)
    ap.add_argument("--flood", type=int, default=40_000, help="requests with a new session id each")
    ap.add_argument("--flood-every", type=int, default=10_000)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "soak.txt"))
    args = ap.parse_args(argv)

    bp = BenchProject("fgs-", "soak", POLICY)
    home, env, root, project, sock = bp.home, bp.env, bp.root, bp.project, bp.sock
    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    steady: list[tuple[int, float, float, float, float, int]] = []
    flood: list[tuple[int, float, float, float, float, int]] = []
    proc = start_daemon(env, root, sock)
    try:
        base_rss, base_fds = rss_mib(proc.pid), open_fds(proc.pid)
        print(f"daemon {proc.pid}: RSS {base_rss:.1f} MiB, {base_fds} fds at start", file=sys.stderr)

        def sample(into, every):
            def on_window(index: int, w: Window) -> None:
                rate, p50, p99 = w.figures()
                row = ((index + 1) * every, rate, p50, p99, rss_mib(proc.pid), open_fds(proc.pid))
                into.append(row)
                print(
                    f"{row[0]:>8,}: {rate:7.0f}/s p50 {p50:5.2f} ms p99 {p99:6.2f} ms "
                    f"RSS {row[4]:6.1f} MiB fds {row[5]}",
                    file=sys.stderr,
                )

            return on_window

        asyncio.run(
            run_phase(str(sock), args.decisions, args.every, lambda c, i: f"s{c}", sample(steady, args.every))
        )
        asyncio.run(
            run_phase(
                str(sock),
                args.flood,
                args.flood_every,
                lambda c, i: f"flood-{i}",
                sample(flood, args.flood_every),
            )
        )
        records = next((project.state_dir / "ledger").glob("*.jsonl")).read_bytes().count(b"\n")
    finally:
        stop(proc)
        shutil.rmtree(home, ignore_errors=True)

    anchor = steady[0][1]
    out = [
        f"# soak ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        "",
        f"machine: {machine()}",
        f"command: python bench/soak.py --decisions {args.decisions} --every {args.every} --flood {args.flood}",
        f"{CLIENTS} closed-loop clients; daemon replies only after fdatasync; load average before: {load_before}",
        f"daemon at start: RSS {base_rss:.1f} MiB, {base_fds} fds; ledger after: {records:,} records",
        "",
        "| phase | after | decisions/s | p50 ms | p99 ms | RSS MiB | fds | rate / anchor |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, rows in (("steady", steady), ("session flood", flood)):
        for n, rate, p50, p99, rss, fds in rows:
            out.append(
                f"| {name} | {n:,} | {rate:,.0f} | {p50:.2f} | {p99:.2f} | {rss:.1f} | {fds} | {rate / anchor:.2f} |"
            )
    out += ["", f"anchor: the first steady window ({anchor:,.0f} decisions/s) of the same run"]
    text = "\n".join(out) + "\n"
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
