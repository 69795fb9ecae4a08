"""A full-scan `ledger.query` and the decisions made while it runs, against idle decisions in the same run
(issue 11 item 1: long queries run off the event loop and never stall decisions; docs/design.md §12).

    python bench/query_load.py [--sizes 10000,100000,1000000] [--runs 3] [--decisions 200]
                               [--dir /tmp/forge-bench-query-load] [--out bench/results/query_load.txt]

For each size the project is built once with bench/make_ledger.py (reused when the folder holds one of
that size). Each run starts a fresh daemon (`python -m forge_tui daemon`, its own process, as in
production) and measures, in this order:

- the anchor: after WARMUP decisions not counted, --decisions sequential `gate.request`s (one client, `pytest -q`, allowed by the policy,
  each durable before its answer) on an idle daemon: their median latency;
- the query alone: `ledger.query {"type": "genesis", "limit": 1}` on the reviewer socket — only the
  oldest record matches, so it reads and parses the whole ledger (newest block in a thread, the rest in
  the daemon's query worker process);
- the same query again with one client sending sequential `gate.request`s for as long as it runs: the
  query's time and the decisions' median and 99th percentile latency meanwhile.

Prints a markdown table (medians over the runs, the ratio of the decisions' p50 under the query to the
idle p50 of the same runs) and writes it with the command, the machine and the load to --out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

from machine import cpu_model, memory_gib  # bench/ is the script folder, first on sys.path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.gate import isolated_env, spawn_on_own_sockets, stop, wait_for_socket  # noqa: E402

ALLOWED = {"kind": "shell.exec", "command": "pytest -q"}  # bench/make_ledger.py's policy allows it
FULL_SCAN = {"type": "genesis", "limit": 1}
WARMUP = 20  # decisions before the idle ones, not counted (the daemon's first answers are slower)


class Client:
    """One JSON-RPC connection: a call at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer, self.next_id = reader, writer, 0

    @classmethod
    async def open(cls, path: Path) -> Client:
        reader, writer = await asyncio.open_unix_connection(str(path), limit=16 << 20)
        return cls(reader, writer)

    async def call(self, method: str, params: dict) -> dict:
        self.next_id += 1
        line = {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}
        self.writer.write(json.dumps(line).encode() + b"\n")
        reply = json.loads(await self.reader.readline())
        if "result" not in reply:
            raise SystemExit(f"{method} failed: {reply}")
        return reply["result"]

    def close(self) -> None:
        self.writer.close()


async def decide(agent: Client, i: int) -> float:
    t0 = time.perf_counter()
    res = await agent.call("gate.request", {"action": ALLOWED, "actor": {"id": "bench", "session": f"s{i}"}})
    took = time.perf_counter() - t0
    if res.get("status") != "allowed":
        raise SystemExit(f"the bench's request was not allowed: {res}")
    return took


async def one_run(agent_sock: Path, review_sock: Path, decisions: int) -> dict:
    agent, reviewer = await Client.open(agent_sock), await Client.open(review_sock)
    try:
        for i in range(WARMUP):
            await decide(agent, -1 - i)
        idle = [await decide(agent, i) for i in range(decisions)]
        t0 = time.perf_counter()
        got = await reviewer.call("ledger.query", FULL_SCAN)
        alone = time.perf_counter() - t0
        if [r["type"] for r in got["records"]] != ["genesis"]:
            raise SystemExit(f"the full scan did not find the genesis record: {got}")
        t0 = time.perf_counter()
        query = asyncio.ensure_future(reviewer.call("ledger.query", FULL_SCAN))
        during: list[float] = []
        while not query.done():
            during.append(await decide(agent, len(during)))
        await query
        together = time.perf_counter() - t0
    finally:
        agent.close()
        reviewer.close()
    during.sort()
    return {
        "idle_p50": statistics.median(idle),
        "alone": alone,
        "together": together,
        "during_p50": statistics.median(during),
        "during_p99": during[min(len(during) - 1, int(len(during) * 0.99))],
        "during_n": len(during),
    }


def start_daemon(env: dict[str, str], root: Path) -> tuple[object, Path, Path, str]:
    proc, agent, review, sockdir = spawn_on_own_sockets(env, root, "fq-")
    wait_for_socket(agent, proc, timeout=600)
    wait_for_socket(review, proc, timeout=60)
    return proc, agent, review, sockdir


def measure(size: int, base: Path, runs: int, decisions: int) -> dict:
    from bench.make_ledger import ensure

    info = ensure(base / str(size), size, grows=10**9)  # each run appends its decisions
    env = isolated_env(base / f"home-{size}")
    env["FORGE_DATA_DIR"] = info["data_dir"]
    env["PYTHONPATH"] = str(ROOT)
    root = Path(info["root"])
    runs_out = []
    for _ in range(runs):
        proc, agent, review, sockdir = start_daemon(env, root)
        try:
            runs_out.append(asyncio.run(one_run(agent, review, decisions)))
        finally:
            stop(proc)
            shutil.rmtree(sockdir, ignore_errors=True)
        print(json.dumps({"size": size, **runs_out[-1]}), file=sys.stderr)
    med = statistics.median
    row = {k: med(r[k] for r in runs_out) for k in runs_out[0]}
    row.update(size=size, mib=Path(info["ledger"]).stat().st_size / 2**20, load=os.getloadavg()[0])
    return row


def table(rows: list[dict]) -> str:
    lines = [
        "| records (MiB) | full-scan query alone | query with decisions | decisions meanwhile "
        "| their p50 (× idle) | their p99 | idle decision p50 (anchor) | load |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['size']:,} ({r['mib']:.0f}) | {r['alone']:.2f} s | {r['together']:.2f} s "
            f"| {r['during_n']:.0f} | {r['during_p50'] * 1e3:.2f} ms ({r['during_p50'] / r['idle_p50']:.2f}×) "
            f"| {r['during_p99'] * 1e3:.2f} ms | {r['idle_p50'] * 1e3:.2f} ms | {r['load']:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--decisions", type=int, default=200, help="idle decisions per run (the anchor)")
    ap.add_argument("--dir", default="/tmp/forge-bench-query-load")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "query_load.txt"))
    args = ap.parse_args(argv)
    load0 = os.getloadavg()[0]
    rows = [measure(int(s), Path(args.dir), args.runs, args.decisions) for s in args.sizes.split(",")]
    text = table(rows)
    header = (
        f"command: python bench/query_load.py --sizes {args.sizes} --runs {args.runs} --decisions {args.decisions}\n"
        f"machine: {os.cpu_count()} CPUs ({cpu_model()}), {memory_gib():.0f} GiB, Python {sys.version.split()[0]}; "
        f"load average (1 min) {load0:.2f} at the start, {os.getloadavg()[0]:.2f} at the end\n"
        f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n\n"
    )
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(header + text + "\n\nrows: " + json.dumps(rows) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
