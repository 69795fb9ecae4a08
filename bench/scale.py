"""Cost against ledger size: daemon start, `log --tail 20`, `browse` first paint and `verify`, each with
its anchor measured in the same run (issue 11, docs/design.md §12).

    python bench/scale.py [--sizes 10000,100000,1000000] [--runs 3] [--verify-runs 1] [--verify-max N]
                          [--dir /tmp/forge-bench-scale] [--out bench/results/scale.txt]
                          [--svg bench/results/scale.svg]

For each size the project is built once with bench/make_ledger.py (reused when the folder already holds
one of that size). Each figure is the median of --runs fresh processes (--verify-runs for the two
O(n) verify figures, whose runs take a minute at a million records):

- daemon start: spawning `forge-tui daemon` until its socket accepts a connection, and its peak RSS
  (VmHWM, read from /proc once it answers). A warm-up start first writes the saved Merkle range (a
  ledger built by make_ledger has none), so the figure is the resumed start; "no range" is one start
  with the `.range` file removed (the full rebuild every start did before). Anchor: the daemon start
  on the smallest ledger of the same run.
- `log --tail 20`: wall time and peak RSS of the command. Anchor: `python -c "import forge_tui.cli"`,
  the floor under every command.
- `browse` first paint: process start to the first record rows drawn, headless at 120x40 (the child
  of bench/tui.py). Anchor: a minimal Textual app (one Static) from process start to its first frame,
  the same way.
- `verify --no-local` (every signature) and `verify --fast --no-local`: wall time, of runs that exit 0
  (the ledger verifies; any other exit stops the bench). Anchor: one
  process verifying the ledger's N signatures with PyNaCl in a loop (bench/verify.py's bare loop).
  Above --verify-max records only `--fast` is run (the full verify re-evaluates every policy decision,
  minutes at a million records on a loaded machine).

Prints a markdown table, writes it with the command, the machine and the load to --out, and draws the
cost of each against ledger size, with its anchors dashed, as an SVG (hand-written, no plotting
library) to --svg.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from machine import cpu_model, memory_gib  # bench/ is the script folder, first on sys.path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.gate import isolated_env, spawn_on_own_sockets, stop, wait_for_socket  # noqa: E402

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

# The first-paint anchor: a minimal Textual app, headless like bench/tui.py's child, timed from the
# parent's spawn (argv[1], time.time()) to its first frame.
MINIMAL_APP = """
import asyncio, os, sys, time
os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
from textual.app import App
from textual.widgets import Static
seen = {}
class Minimal(App):
    def compose(self):
        yield Static("x")
    def on_mount(self):
        self.call_after_refresh(lambda: seen.setdefault("t", time.time()))
async def main():
    app = Minimal()
    async with app.run_test(size=(120, 40)) as pilot:
        while "t" not in seen:
            await pilot.pause()
asyncio.run(main())
print(seen["t"] - float(sys.argv[1]))
"""


def ensure(folder: Path, records: int) -> dict:
    from bench.make_ledger import ensure as ensure_built

    # Each daemon start appends a record or two, and bench/query_load.py (which may share the folder)
    # its decisions.
    info = ensure_built(folder, records, grows=100_000)
    return {"root": Path(info["root"]), "data_dir": info["data_dir"], "ledger": Path(info["ledger"])}


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def daemon_start(env: dict[str, str], root: Path) -> tuple[float, float]:
    t0 = time.perf_counter()
    proc, sock, _review, _sockdir = spawn_on_own_sockets(env, root, "fs-")
    try:
        wait_for_socket(sock, proc, timeout=300)
        took = time.perf_counter() - t0
        rss = vm_hwm_mb(proc.pid)
    finally:
        stop(proc)
    return took, rss


def range_files(data_dir: str) -> list[Path]:
    return list(Path(data_dir).glob("projects/*/ledger/*.range"))


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
    res = subprocess.run(
        [sys.executable, "-m", "forge_tui", "-C", str(root), *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
    took = time.perf_counter() - t0
    # make_ledger's ledgers verify clean (its policy decides as its records say): a verify that fails
    # did other work than a clean one, so its time is no figure.
    if res.returncode != 0:
        raise SystemExit(f"forge-tui {' '.join(args)} exited {res.returncode}: {res.stdout[-500:]!r}")
    return took


def import_cli(env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import forge_tui.cli"], env=env, check=True)
    return time.perf_counter() - t0


def minimal_app(env: dict[str, str]) -> float:
    spawned = time.time()
    out = subprocess.run(
        [sys.executable, "-c", MINIMAL_APP, repr(spawned)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def browse_first_paint(env: dict[str, str], root: Path) -> float:
    """bench/tui.py's child (which also presses End and filters; only its first paint is used)."""
    spawned = time.time()
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "tui.py"), "--child", str(root), "--spawned-at", repr(spawned)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode:
        raise SystemExit(f"browse run failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])["first_paint_s"]


def bare_verify_loop(info: dict) -> float:
    from bench.verify import bare_loop, signed_messages

    lid = info["ledger"].stem
    pk, sms = signed_messages({"root": str(info["root"]), "ledger_id": lid, "ledger": str(info["ledger"])})
    return bare_loop(pk, sms)[0]


def svg(rows: list[dict], series: list[tuple[str, str, str, bool]]) -> str:
    """A log-log chart of each series against ledger size: (key, label, colour, dashed)."""
    import math

    w, h, pad, right = 760, 420, 60, 230
    xs = [r["size"] for r in rows]
    ys = [r[k] for r in rows for k, *_ in series if r.get(k, 0) == r.get(k, 0) and r.get(k, 0) > 0]
    if not ys:
        return ""
    x0, x1 = math.log10(min(xs)), math.log10(max(xs))
    y0, y1 = math.floor(math.log10(min(ys))), math.ceil(math.log10(max(ys)))
    y1 = max(y1, y0 + 1)
    plot_w = w - pad - right

    def px(x: float) -> float:
        return pad + (math.log10(x) - x0) / ((x1 - x0) or 1) * plot_w

    def py(y: float) -> float:
        return h - pad - (math.log10(y) - y0) / (y1 - y0) * (h - 2 * pad)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
        f'<rect width="{w}" height="{h}" fill="white"/>',
        f'<text x="{pad + plot_w / 2}" y="22" text-anchor="middle" font-size="14">'
        "forge-tui: seconds against ledger size (log-log); anchors dashed</text>",
    ]
    for e in range(y0, y1 + 1):
        y = py(10**e)
        out.append(f'<line x1="{pad}" y1="{y:.1f}" x2="{pad + plot_w}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{pad - 6}" y="{y + 4:.1f}" text-anchor="end">{10**e:g} s</text>')
    for x in xs:
        out.append(f'<line x1="{px(x):.1f}" y1="{pad}" x2="{px(x):.1f}" y2="{h - pad}" stroke="#eee"/>')
        out.append(f'<text x="{px(x):.1f}" y="{h - pad + 18}" text-anchor="middle">{x:,}</text>')
    out.append(f'<text x="{pad + plot_w / 2}" y="{h - 14}" text-anchor="middle">records in the ledger</text>')
    for i, (key, label, colour, dashed) in enumerate(series):
        pts = [
            (px(r["size"]), py(r[key])) for r in rows if r.get(key, 0) == r.get(key, 0) and r.get(key, 0) > 0
        ]
        if not pts:
            continue
        dash = ' stroke-dasharray="6 4"' if dashed else ""
        line = " ".join(f"{a:.1f},{b:.1f}" for a, b in pts)
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2"{dash} points="{line}"/>')
        out.extend(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{colour}"/>' for a, b in pts)
        ly = pad + 18 * i
        lx = pad + plot_w + 14
        out.append(
            f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 22}" y2="{ly - 4}" stroke="{colour}" stroke-width="2"{dash}/>'
        )
        out.append(f'<text x="{lx + 28}" y="{ly}">{label}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


SERIES = [
    ("start", "daemon start (resumed)", "#1f77b4", False),
    ("start_full", "daemon start, no range", "#1f77b4", True),
    ("tail", "log --tail 20", "#d62728", False),
    ("anchor_cli", "anchor: import cli", "#d62728", True),
    ("paint", "browse first paint", "#2ca02c", False),
    ("anchor_app", "anchor: minimal Textual app", "#2ca02c", True),
    ("full", "verify (every signature)", "#9467bd", False),
    ("anchor_loop", "anchor: bare PyNaCl loop", "#9467bd", True),
    ("fast", "verify --fast", "#ff7f0e", False),
]


def measure(size: int, base: Path, runs: int, verify_runs: int, verify_max: int) -> dict:
    info = ensure(base / str(size), size)
    env = isolated_env(base / f"home-{size}")
    env["FORGE_DATA_DIR"] = info["data_dir"]
    env["PYTHONPATH"] = str(ROOT)
    root = info["root"]
    med = statistics.median
    daemon_start(env, root)  # warm-up: page cache, .pyc files, and the saved range
    for p in range_files(info["data_dir"]):
        p.unlink()
    start_full, _ = daemon_start(env, root)  # one start that rebuilds (and saves the range again)
    browse_first_paint(env, root)  # warm-up of the TUI imports
    m: dict[str, list[float]] = {k: [] for k in ("cli", "app", "start", "rss", "tail", "trss", "paint")}
    for _ in range(runs):
        m["cli"].append(import_cli(env))
        t, rss = daemon_start(env, root)
        m["start"].append(t)
        m["rss"].append(rss)
        t, rss = cli_with_rss(env, root, "log", "--tail", "20")
        m["tail"].append(t)
        m["trss"].append(rss)
        m["app"].append(minimal_app(env))
        m["paint"].append(browse_first_paint(env, root))
    fasts, fulls, loops = [], [], []
    for _ in range(verify_runs):
        fasts.append(cli_time(env, root, "verify", "-q", "--fast", "--no-local"))
        if size <= verify_max:
            fulls.append(cli_time(env, root, "verify", "-q", "--no-local"))
            loops.append(bare_verify_loop(info))
    row = {
        "size": size,
        "mib": info["ledger"].stat().st_size / 2**20,
        "anchor_cli": med(m["cli"]),
        "anchor_app": med(m["app"]),
        "start": med(m["start"]),
        "start_full": start_full,
        "start_rss": med(m["rss"]),
        "tail": med(m["tail"]),
        "tail_rss": med(m["trss"]),
        "paint": med(m["paint"]),
        "fast": med(fasts),
        "full": med(fulls) if fulls else float("nan"),
        "anchor_loop": med(loops) if loops else float("nan"),
        "load": os.getloadavg()[0],
    }
    print(json.dumps(row), file=sys.stderr)
    return row


def tables(rows: list[dict]) -> str:
    a = rows[0]
    lines = [
        "| records (MiB) | daemon start, resumed (× smallest) | no range | daemon RSS "
        "| `log --tail 20` (× import cli) | its RSS | import cli (anchor) | load |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['size']:,} ({r['mib']:.0f}) | {r['start']:.3f} s ({r['start'] / a['start']:.2f}×) "
            f"| {r['start_full']:.2f} s | {r['start_rss']:.0f} MB "
            f"| {r['tail']:.3f} s ({r['tail'] / r['anchor_cli']:.2f}×) | {r['tail_rss']:.0f} MB "
            f"| {r['anchor_cli']:.3f} s | {r['load']:.1f} |"
        )
    lines += [
        "",
        "| records | `browse` first paint (× minimal app) | minimal Textual app (anchor) "
        "| `verify` (× bare loop) | bare PyNaCl loop (anchor) | `verify --fast` |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        full = (
            "not run"
            if r["full"] != r["full"]
            else f"{r['full']:.2f} s ({r['full'] / r['anchor_loop']:.2f}×)"
        )
        loop = "not run" if r["anchor_loop"] != r["anchor_loop"] else f"{r['anchor_loop']:.2f} s"
        lines.append(
            f"| {r['size']:,} | {r['paint']:.3f} s ({r['paint'] / r['anchor_app']:.2f}×) | {r['anchor_app']:.3f} s "
            f"| {full} | {loop} | {r['fast']:.2f} s |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--verify-runs", type=int, default=1)
    ap.add_argument("--verify-max", type=int, default=100_000, help="full verify only up to this size")
    ap.add_argument("--dir", default="/tmp/forge-bench-scale")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "scale.txt"))
    ap.add_argument("--svg", default=str(ROOT / "bench" / "results" / "scale.svg"))
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    load0 = os.getloadavg()[0]
    rows = [measure(size, Path(args.dir), args.runs, args.verify_runs, args.verify_max) for size in sizes]
    table = tables(rows)
    header = (
        f"command: python bench/scale.py --sizes {args.sizes} --runs {args.runs} --verify-runs {args.verify_runs}"
        f" --verify-max {args.verify_max}\n"
        f"machine: {os.cpu_count()} CPUs ({cpu_model()}), {memory_gib():.0f} GiB, Python {sys.version.split()[0]}; "
        f"load average (1 min) {load0:.2f} at the start, {os.getloadavg()[0]:.2f} at the end\n"
        f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n\n"
    )
    print(table)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(header + table + "\n\nrows: " + json.dumps(rows) + "\n")
    picture = svg(rows, SERIES)
    if picture:
        Path(args.svg).write_text(picture)
    return 0


if __name__ == "__main__":
    sys.exit(main())
