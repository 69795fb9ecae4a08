"""Cost against ledger size: daemon start, `log --tail 20`, `verify --fast` and `verify` at several sizes.

    python bench/scale.py [--sizes 10000,100000,1000000] [--runs 3] [--dir /tmp/forge-bench-scale]
                          [--out bench/results/scale.txt] [--svg bench/results/scale.svg]

Work that is O(1) in the ledger's size (daemon start, its memory, `log --tail`) should stay flat as the
ledger grows; `verify` is O(n) by nature. For each size the ledger is built once with
bench/make_ledger.py (reused when the folder already holds one of that size). Each figure is the
median of --runs fresh processes:

- daemon start: from spawning `forge-tui daemon` to its socket accepting a connection; its peak RSS
  (VmHWM) read from /proc once it answers;
- `log --tail 20`: wall time of the command and its peak RSS (VmHWM, read by a wrapper at exit);
- `verify --fast --no-local` and `verify --no-local` (every signature): wall time.

Anchor, in the same run: the interpreter starting and importing the command line (`python -c "import
forge_tui.cli"`), the floor under every command above. Prints a markdown table with ratios to the
smallest size, writes it with the command and the machine to --out, and draws the curves as an SVG.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import cpu_model, memory_gib  # bench/ is the script folder, first on sys.path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.gate import isolated_env, stop, wait_for_socket  # noqa: E402

# Runs forge_tui.cli.main in this process, then writes VmHWM (kB), the child's own peak RSS, to the
# pipe whose fd number is in BENCH_RSS_FD.
RSS_WRAPPER = """
import os, sys
from forge_tui.cli import main
code = main(sys.argv[1:])
for line in open('/proc/self/status'):
    if line.startswith('VmHWM:'):
        os.write(int(os.environ['BENCH_RSS_FD']), line.split()[1].encode())
sys.exit(code)
"""


def ensure(folder: Path, records: int) -> dict:
    from bench.make_ledger import build

    root = folder / "project"
    if (root / ".forge" / "ledger").is_dir():
        ledger = next((root / ".forge" / "ledger").glob("*.jsonl"))
        with open(ledger, "rb") as fh:
            count = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 24), b""))
        if records <= count < records + 1000:  # each daemon start appends a record or two
            return {"root": root, "data_dir": str(folder / "data")}
        raise SystemExit(f"{folder} holds {count} records, not {records}")
    print(f"building {records:,} records in {folder} …", file=sys.stderr)
    info = build(folder, records)
    return {"root": Path(info["root"]), "data_dir": info["data_dir"]}


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def daemon_start(env: dict[str, str], root: Path) -> tuple[float, float]:
    sockdir = tempfile.mkdtemp(prefix="fs-", dir="/tmp")
    sock = Path(sockdir) / "a.sock"
    env = dict(env, FORGE_SOCKET=str(sock), FORGE_REVIEW_SOCKET=str(Path(sockdir) / "r.sock"))
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "forge_tui", "-C", str(root), "daemon"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_socket(sock, proc, timeout=120)
        took = time.perf_counter() - t0
        rss = vm_hwm_mb(proc.pid)
    finally:
        stop(proc)
    return took, rss


def cli_with_rss(env: dict[str, str], root: Path, *args: str) -> tuple[float, float]:
    r, w = os.pipe()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", RSS_WRAPPER, "-C", str(root), *args],
        env=dict(env, BENCH_RSS_FD=str(w)),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        pass_fds=(w,),
    )
    os.close(w)
    proc.wait()
    took = time.perf_counter() - t0
    kb = os.read(r, 64)
    os.close(r)
    return took, (int(kb) / 1024 if kb else float("nan"))


def cli_time(env: dict[str, str], root: Path, *args: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "forge_tui", "-C", str(root), *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return time.perf_counter() - t0


def anchor(env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import forge_tui.cli"], env=env, check=True)
    return time.perf_counter() - t0


def svg(rows: list[dict], metrics: list[tuple[str, str]]) -> str:
    """A small log-log line chart of each metric against ledger size (hand-made SVG, no plotting lib)."""
    import math

    w, h, pad = 640, 360, 56
    xs = [r["size"] for r in rows]
    ys = [r[k] for r in rows for k, _ in metrics if r[k] == r[k] and r[k] > 0]
    if not ys:
        return ""
    x0, x1 = math.log10(min(xs)), math.log10(max(xs)) or 1
    y0, y1 = math.floor(math.log10(min(ys))), math.ceil(math.log10(max(ys)))
    y1 = max(y1, y0 + 1)

    def px(x: float) -> float:
        return pad + (math.log10(x) - x0) / ((x1 - x0) or 1) * (w - 2 * pad)

    def py(y: float) -> float:
        return h - pad - (math.log10(y) - y0) / (y1 - y0) * (h - 2 * pad)

    colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
        f'<rect width="{w}" height="{h}" fill="white"/>',
        f'<text x="{w / 2}" y="20" text-anchor="middle" font-size="14">forge-tui: seconds against ledger size (log-log)</text>',
    ]
    for e in range(y0, y1 + 1):
        y = py(10**e)
        out.append(f'<line x1="{pad}" y1="{y:.1f}" x2="{w - pad}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{pad - 6}" y="{y + 4:.1f}" text-anchor="end">{10**e:g} s</text>')
    for x in xs:
        out.append(f'<text x="{px(x):.1f}" y="{h - pad + 18}" text-anchor="middle">{x:,}</text>')
    for i, (key, label) in enumerate(metrics):
        pts = [(px(r["size"]), py(r[key])) for r in rows if r[key] == r[key] and r[key] > 0]
        c = colours[i % len(colours)]
        out.append(
            f'<polyline fill="none" stroke="{c}" stroke-width="2" points="{" ".join(f"{a:.1f},{b:.1f}" for a, b in pts)}"/>'
        )
        out.extend(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{c}"/>' for a, b in pts)
        out.append(f'<text x="{w - pad + 4}" y="{pad + 16 * i}" fill="{c}">{label}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", default="/tmp/forge-bench-scale")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "scale.txt"))
    ap.add_argument("--svg", default=str(ROOT / "bench" / "results" / "scale.svg"))
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    base = Path(args.dir)
    rows = []
    for size in sizes:
        info = ensure(base / str(size), size)
        env = isolated_env(base / f"home-{size}")
        env["FORGE_DATA_DIR"] = info["data_dir"]
        env["PYTHONPATH"] = str(ROOT)
        root = info["root"]
        starts, drss, tails, trss, fasts, fulls, anchors = [], [], [], [], [], [], []
        for _ in range(args.runs):
            anchors.append(anchor(env))
            t, m = daemon_start(env, root)
            starts.append(t)
            drss.append(m)
            t, m = cli_with_rss(env, root, "log", "--tail", "20")
            tails.append(t)
            trss.append(m)
            fasts.append(cli_time(env, root, "verify", "--fast", "--no-local"))
            fulls.append(cli_time(env, root, "verify", "--no-local"))
        med = statistics.median
        rows.append(
            {
                "size": size,
                "anchor": med(anchors),
                "start": med(starts),
                "start_rss": med(drss),
                "tail": med(tails),
                "tail_rss": med(trss),
                "fast": med(fasts),
                "full": med(fulls),
            }
        )
        print(rows[-1], file=sys.stderr)
    first = rows[0]
    lines = [
        "| records | anchor (import cli) | daemon start | daemon RSS | `log --tail 20` | its RSS | `verify --fast` | `verify` |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['size']:,} | {r['anchor']:.2f} s | {r['start']:.2f} s ({r['start'] / first['start']:.1f}×) "
            f"| {r['start_rss']:.0f} MB | {r['tail']:.2f} s ({r['tail'] / first['tail']:.1f}×) | {r['tail_rss']:.0f} MB "
            f"| {r['fast']:.2f} s | {r['full']:.2f} s |"
        )
    table = "\n".join(lines)
    load = os.getloadavg()[0]
    header = (
        f"command: python bench/scale.py --sizes {args.sizes} --runs {args.runs}\n"
        f"machine: {os.cpu_count()} CPUs ({cpu_model()}), {memory_gib():.0f} GiB, Python {sys.version.split()[0]}; "
        f"load average at the end {load:.2f}\n"
        f"(ratios in parentheses: against the smallest ledger in the same run)\n\n"
    )
    print(table)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(header + table + "\n")
    picture = svg(
        rows,
        [
            ("start", "daemon start"),
            ("tail", "log --tail 20"),
            ("fast", "verify --fast"),
            ("full", "verify"),
            ("anchor", "anchor: import cli"),
        ],
    )
    if picture:
        Path(args.svg).write_text(picture)
    return 0


if __name__ == "__main__":
    sys.exit(main())
