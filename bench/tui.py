"""Benchmark the Ledger screen over a 1,000,000-record ledger (docs/design.md §12: first paint ≤ 1.5 s, jump to end
≤ 0.1 s, RSS ≤ 300 MB).

    python bench/tui.py [--records 1000000] [--dir /tmp/forge-bench-tui] [--runs 5] [--out FILE]

Builds the project once with bench/make_ledger.py (reused when DIR already holds one of that size), then
runs the app headless (`App.run_test`) in a fresh Python process per run, so every run pays the imports,
the index build and the first layout, as `forge-tui browse` does (the file is in the page cache after
the build, as a ledger in use would be). Each run measures:

- first paint, from process start: wall-clock time from just before the parent spawns the process to
  the first time the ledger view renders a row (`render_line`), i.e. the first frame with records;
- first paint, in process: the same from just before `BrowseApp(...)` is built (imports excluded);
- jump to end: from the End key press to the repaint that shows the cursor on the oldest record;
- a type filter (type=approval) over every record, in the worker thread: from Enter to the rows shown;
- peak RSS of the process at the end of the run: VmHWM from /proc/self/status where there is one (it
  belongs to the process's own address space; Linux carries `ru_maxrss` over from the parent across
  fork and exec, so a parent that has just built the ledger would inflate it), else `ru_maxrss`.

Prints a markdown table of medians over the runs and writes it, with the command and the machine, to
bench/results/tui.txt (or --out).
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

from machine import cpu_model, memory_gib  # bench/ is the script folder, first on sys.path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

GOALS = {"first_paint_s": 1.5, "jump_end_s": 0.1, "rss_mb": 300}
SIZE = (120, 40)


def ensure_ledger(folder: Path, records: int) -> Path:
    """The project root holding a `records`-record ledger in `folder` (built if missing)."""
    from bench.make_ledger import ensure

    return Path(ensure(folder, records)["root"])


# ---- one measured run (in a fresh process) -------------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB (see the module docstring)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(root: Path, spawned_at: float) -> dict:
    import asyncio

    os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
    from forge_tui.core.project import find_project
    from forge_tui.tui.browse_app import BrowseApp
    from forge_tui.tui.widgets.ledger_view import LedgerView

    marks: dict[str, float] = {}
    original = LedgerView.render_line

    def render_line(self, y):  # note when rows first reach the screen, and when the end does
        strip = original(self, y)
        now = time.perf_counter()
        if y >= 1 and self.row_count:  # a record row, not just the header
            marks.setdefault("first_row", now)
            marks.setdefault("first_row_wall", time.time())
        if "pressed_end" in marks and "end_row" not in marks:
            top = round(self.scroll_offset.y)
            if self.cursor == self.row_count - 1 and top + y - 1 == self.cursor:  # line 0: header
                marks["end_row"] = now
        return strip

    LedgerView.render_line = render_line
    project = find_project(root)
    path = project.tracked_ledger(project.ledger_ids()[0])

    async def main() -> dict:
        marks["start"] = time.perf_counter()
        app = BrowseApp(path, project)
        async with app.run_test(size=SIZE) as pilot:
            while "first_row" not in marks:
                await pilot.pause()
            view = app.screen.query_one(LedgerView)
            while not app.screen.index.complete:  # the rest of the index is built after the first paint
                await pilot.pause()
            marks["indexed"] = time.perf_counter()
            records = view.row_count
            await pilot.pause()
            marks["pressed_end"] = time.perf_counter()
            await pilot.press("end")
            while "end_row" not in marks:
                await pilot.pause()
            assert view.cursor_index == 0
            await pilot.press("home")
            app.screen.query_one("#f-type").value = "approval"
            await pilot.press("f")
            t = time.perf_counter()
            await pilot.press("enter")
            await app.workers.wait_for_complete()
            await pilot.pause()
            filtered = time.perf_counter() - t
            matches = view.row_count
        return {
            "records": records,
            "first_paint_s": marks["first_row_wall"] - spawned_at,
            "first_paint_in_process_s": marks["first_row"] - marks["start"],
            "indexed_in_process_s": marks["indexed"] - marks["start"],
            "jump_end_s": marks["end_row"] - marks["pressed_end"],
            "filter_type_s": filtered,
            "filter_matches": matches,
            "rss_mb": peak_rss_mb(),
        }

    return asyncio.run(main())


# ---- the driver ------------------------------------------------------------------------------------------


def machine() -> str:
    return (
        f"{cpu_model()}, {os.cpu_count()} cores, {memory_gib():.0f} GiB RAM, Linux {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def run_once(root: Path) -> dict:
    spawned = time.time()
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(root), "--spawned-at", repr(spawned)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode:
        raise SystemExit(f"benchmark run failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(results: list[dict], ledger: Path) -> str:
    def med(key: str) -> float:
        return statistics.median(r[key] for r in results)

    size_mb = ledger.stat().st_size / 2**20
    rows = [
        ("first paint (process start → first rows)", med("first_paint_s"), "s", GOALS["first_paint_s"]),
        ("first paint (app built → first rows)", med("first_paint_in_process_s"), "s", None),
        ("jump to end (End → repaint at oldest)", med("jump_end_s"), "s", GOALS["jump_end_s"]),
        (f"filter type=approval ({int(med('filter_matches')):,} rows)", med("filter_type_s"), "s", None),
        ("peak RSS", med("rss_mb"), "MB", GOALS["rss_mb"]),
    ]
    lines = [
        f"Ledger screen over {results[0]['records']:,} records ({size_mb:.0f} MiB), "
        f"median of {len(results)} runs, terminal {SIZE[0]}x{SIZE[1]} (headless)",
        "",
        "| measure | median | min | max | goal | met |",
        "| --- | ---: | ---: | ---: | ---: | :---: |",
    ]
    keys = ["first_paint_s", "first_paint_in_process_s", "jump_end_s", "filter_type_s", "rss_mb"]
    for (label, value, unit, goal), key in zip(rows, keys, strict=True):
        lo = min(r[key] for r in results)
        hi = max(r[key] for r in results)
        fmt = "{:.0f}" if unit == "MB" else "{:.3f}"
        goal_s = "—" if goal is None else f"≤ {goal:g} {unit}"
        met = "—" if goal is None else ("yes" if value <= goal else "**no**")
        lines.append(
            f"| {label} | {fmt.format(value)} {unit} | {fmt.format(lo)} | {fmt.format(hi)} | {goal_s} | {met} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--records", type=int, default=1_000_000)
    p.add_argument("--dir", type=Path, default=Path("/tmp/forge-bench-tui"))
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "tui.txt")
    p.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--spawned-at", type=float, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.spawned_at)))
        return 0
    root = ensure_ledger(args.dir.resolve(), args.records)
    ledger = sorted((root / ".forge" / "ledger").glob("*.jsonl"))[0]
    run_once(root)  # warm-up: page cache and .pyc files, not counted
    results = [run_once(root) for _ in range(args.runs)]
    command = "python bench/tui.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = table(results, ledger)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    report = f"$ {command.strip()}\nmachine: {machine()}\nload average after the runs: {load}\n\n{text}"
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
