"""Benchmark `forge-tui query` and `forge-tui trace` on a 1,000,000-record ledger.

    python bench/query.py [--records 1000000] [--dir /tmp/forge-bench-query] [--reps 5] [--out FILE]

Builds the ledger with bench/make_ledger.py (or reuses DIR), picks a request id from the middle of the
file, then for each repetition (interleaved, so background load hits all alike):
  - the anchor: reading the whole ledger file and counting its lines (`bytes.count(b"\\n")`), in process;
  - in process: `query_ledger` for a rare value (--reviewer bob --type approval), for a selective
    one (--rule <the middle request's rule>... here --request ID), for a broad one (--type request,
    every match read), and `chain_for(ID)` (the whole trace without git);
  - as subprocesses: `forge-tui query --request ID --format jsonl` and `forge-tui trace ID --json`
    (wall clock, interpreter start-up included).
Reports medians and ratios to the anchor as a markdown table, written to --out (default
bench/results/query.txt).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import make_ledger  # noqa: E402
from machine import cpu_model  # noqa: E402


def middle_request(path: Path) -> str:
    size = path.stat().st_size
    with open(path, "rb") as fh:
        fh.seek(size // 2)
        fh.readline()
        for line in fh:
            if b'"type":"request"' in line:
                return json.loads(line)["body"]["request_id"]
    raise SystemExit("no request in the second half of the ledger")


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--dir", default="/tmp/forge-bench-query")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--out", default=str(HERE / "results" / "query.txt"))
    args = ap.parse_args(argv)
    info = make_ledger.ensure(Path(args.dir), args.records)
    os.environ.update(info["env"])
    from forge_tui.core.project import load_project_file
    from forge_tui.core.query import QuerySpec, query_ledger
    from forge_tui.core.trace import chain_for

    root = Path(info["root"])
    project = load_project_file(root / ".forge")
    ledger = Path(info["ledger"])
    rid = middle_request(ledger)
    cli = [sys.executable, "-m", "forge_tui", "-C", str(root)]
    found: dict[str, int] = {}

    def q(name: str, spec: QuerySpec):
        def run():
            found[name] = sum(1 for _ in query_ledger(ledger, spec))

        return run

    cases = {
        "anchor: read the file and count lines": lambda: ledger.read_bytes().count(b"\n"),
        "query --reviewer bob --type approval": q(
            "reviewer", QuerySpec(reviewer="bob", types=frozenset({"approval"}))
        ),
        f"query --request {rid}": q("request", QuerySpec(request_id=rid)),
        "query --type request (every match)": q("requests", QuerySpec(types=frozenset({"request"}))),
        f"trace {rid} (in process, no git)": lambda: chain_for(project, rid, {}),
        "CLI: forge-tui query --request ID --format jsonl": lambda: subprocess.run(
            [*cli, "query", "--request", rid, "--format", "jsonl"], check=True, capture_output=True
        ),
        "CLI: forge-tui trace ID --json": lambda: subprocess.run(
            [*cli, "trace", rid, "--json"], check=True, capture_output=True
        ),
    }
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(args.reps):
        for name, fn in cases.items():
            times[name].append(timed(fn))
    anchor = statistics.median(times["anchor: read the file and count lines"])
    lines = [
        f"# bench/query.py: {args.records:,} records ({ledger.stat().st_size / 1e6:.0f} MB), "
        f"median of {args.reps}",
        f"machine: {cpu_model()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        f"command: python bench/query.py --records {args.records} --reps {args.reps}",
        f"matches: reviewer bob {found.get('reviewer')}, request {found.get('request')}, "
        f"requests {found.get('requests')}",
        "",
        "| case | median s | × anchor |",
        "| --- | ---: | ---: |",
    ]
    for name, ts in times.items():
        m = statistics.median(ts)
        lines.append(f"| {name} | {m:.3f} | {m / anchor:.1f} |")
    text = "\n".join(lines) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
