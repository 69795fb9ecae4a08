"""Benchmark the compliance report's own work (without the `verify` it runs) on a large ledger.

    python bench/report.py [--records 1000000] [--dir /tmp/forge-bench-query] [--reps 1] [--out FILE]

Builds the ledger with bench/make_ledger.py (or reuses DIR, the folder bench/query.py uses), then per
repetition, in process: the anchor (read the whole file and count its lines), `load_evidence` (every
record into the report's rows), and the rest (queries, statuses, sample, CSVs, md + json + html) with
an empty verification. Prints medians, ratios to the anchor and the peak RSS as a markdown table,
also written to --out (default bench/results/report.txt). The full `forge-tui report` adds one
`forge-tui verify` of the ledger (bench/verify.py measures that).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import make_ledger  # noqa: E402
from machine import cpu_model  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--dir", default="/tmp/forge-bench-query")
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--out", default=str(HERE / "results" / "report.txt"))
    args = ap.parse_args(argv)
    info = make_ledger.ensure(Path(args.dir), args.records)
    os.environ.update(info["env"])
    from forge_tui.core.project import load_project_file
    from forge_tui.core.report.build import render
    from forge_tui.core.report.bundle import population_csvs
    from forge_tui.core.report.controls import load_framework
    from forge_tui.core.report.evidence import Period, load_evidence
    from forge_tui.core.report.model import build_report
    from forge_tui.core.report.queries import Verification

    project = load_project_file(Path(info["root"]) / ".forge")
    ledger = Path(info["ledger"])
    times: dict[str, list[float]] = {"anchor": [], "load": [], "rest": []}
    for _ in range(args.reps):
        t0 = time.perf_counter()
        with open(ledger, "rb") as fh:
            fh.read().count(b"\n")
        t1 = time.perf_counter()
        ev = load_evidence(project, Period())
        t2 = time.perf_counter()
        data, ctx, every = build_report(ev, Verification(0, 0, {}, []), load_framework("soc2"), "bench")
        files = population_csvs(ctx, data, every)
        for fmt in ("md", "json", "html"):
            files[fmt] = render(data, fmt)
        t3 = time.perf_counter()
        for k, v in (("anchor", t1 - t0), ("load", t2 - t1), ("rest", t3 - t2)):
            times[k].append(v)
        del ev, data, ctx, every, files
    med = {k: statistics.median(v) for k, v in times.items()}
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines = [
        f"# bench/report.py: {args.records:,} records ({ledger.stat().st_size / 1e6:.0f} MB), median of {args.reps}",
        f"machine: {cpu_model()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f}",
        f"command: python bench/report.py --records {args.records} --reps {args.reps}",
        "",
        "| part | median s | × anchor |",
        "| --- | ---: | ---: |",
        f"| anchor: read the file and count lines | {med['anchor']:.2f} | 1.0 |",
        f"| load_evidence (every record into rows) | {med['load']:.2f} | {med['load'] / med['anchor']:.1f} |",
        f"| queries, sample, CSVs, md + json + html | {med['rest']:.2f} | {med['rest'] / med['anchor']:.1f} |",
        "",
        f"peak RSS {rss:.0f} MiB",
    ]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
