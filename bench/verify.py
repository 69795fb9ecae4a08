"""Benchmark `forge-tui verify` on a 100,000-record ledger against a bare loop of pynacl verifications.

    python bench/verify.py [--records 100000] [--dir /tmp/forge-bench-verify] [--reps 5] [--out FILE]

docs/design.md §12: verify with every signature must be faster than a bare one-process loop of 100,000 pynacl
`VerifyKey.verify` calls (so it must use both cores); `verify --fast` must take at most 0.5 s.

Builds the ledger with bench/make_ledger.py (or reuses DIR when it already holds one of that size), then
for each repetition, interleaved so that background load hits all three alike:
  - the bare loop: `VerifyKey.verify(sig + message)` over the ledger's own 100,000 signed messages,
    prepared beforehand, in this process (the loop alone is timed);
  - `forge-tui verify` and `forge-tui verify --fast` as subprocesses (wall clock from spawn to exit,
    interpreter start-up included);
  - `verify_project` in this process (no interpreter start-up), full and fast.
Reports medians and the ratio, as a markdown table, and writes it to --out (default
bench/results/verify.txt).
"""

from __future__ import annotations

import argparse
import base64
import os
import platform
import resource
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


def signed_messages(info: dict) -> tuple[bytes, list[bytes]]:
    """The ledger's public key and, per record, signature ‖ signed message (what VerifyKey.verify takes)."""
    from forge_tui.core.note import parse_vkey
    from forge_tui.core.records import RECORD_CONTEXT

    root = Path(info["root"])
    vkey = (root / ".forge" / "keys" / f"{info['ledger_id']}.pub").read_text().split("\n")[0]
    out = []
    with open(info["ledger"], "rb") as fh:
        for line in fh:
            line = line.rstrip(b"\n")
            i = line.rfind(b',"sig":"')
            j = line.index(b'"', i + 8)
            sig = base64.b64decode(line[i + 8 : j])
            out.append(sig + RECORD_CONTEXT + line[:i] + line[j + 1 :])
    return parse_vkey(vkey).public_key, out


def bare_loop(public_key: bytes, sms: list[bytes]) -> tuple[float, float]:
    import nacl.signing

    vk = nacl.signing.VerifyKey(public_key)
    verify = vk.verify
    c = time.process_time()
    t = time.perf_counter()
    for sm in sms:
        verify(sm)
    return time.perf_counter() - t, time.process_time() - c


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def cli(info: dict, *args: str) -> tuple[float, float]:
    """Wall time and CPU time (the command and its worker processes) of one `forge-tui verify`."""
    env = dict(os.environ, **info["env"])
    cmd = [sys.executable, "-m", "forge_tui", "-C", info["root"], "verify", "-q", *args]
    c = _children_cpu()
    t = time.perf_counter()
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {res.returncode}: {res.stdout}{res.stderr}")
    return dt, _children_cpu() - c


def in_process(info: dict, fast: bool) -> tuple[float, float]:
    from forge_tui.core.project import load_project_file
    from forge_tui.core.verify import verify_project

    old = os.environ.get("FORGE_DATA_DIR")
    os.environ["FORGE_DATA_DIR"] = info["env"]["FORGE_DATA_DIR"]
    try:
        project = load_project_file(Path(info["root"]) / ".forge")
        c = time.process_time() + _children_cpu()
        t = time.perf_counter()
        report = verify_project(project, fast=fast)
        dt = time.perf_counter() - t
        cpu = time.process_time() + _children_cpu() - c
    finally:
        if old is None:
            os.environ.pop("FORGE_DATA_DIR", None)
        else:
            os.environ["FORGE_DATA_DIR"] = old
    if report.exit_code() != 0:
        raise SystemExit(f"verify_project failed: {[f.line() for f in report.findings][:5]}")
    return dt, cpu


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--records", type=int, default=100_000)
    p.add_argument("--dir", type=Path, default=None, help="ledger folder (default /tmp/forge-bench-verify-N)")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--out", type=Path, default=HERE / "results" / "verify.txt")
    args = p.parse_args(argv)
    folder = (args.dir or Path(f"/tmp/forge-bench-verify-{args.records}")).resolve()
    info = make_ledger.ensure(folder, args.records)
    public_key, sms = signed_messages(info)
    assert len(sms) == args.records
    load0 = os.getloadavg()
    runs: dict[str, list[float]] = {k: [] for k in ("bare", "cli", "cli_fast", "proc", "proc_fast")}
    cpu: dict[str, list[float]] = {k: [] for k in runs}
    cli(info)  # warm the page cache and the local "latest seen" cache
    for i in range(args.reps):
        for key, fn in (
            ("bare", lambda: bare_loop(public_key, sms)),
            ("cli", lambda: cli(info)),
            ("cli_fast", lambda: cli(info, "--fast")),
            ("proc", lambda: in_process(info, False)),
            ("proc_fast", lambda: in_process(info, True)),
        ):
            wall, c = fn()
            runs[key].append(wall)
            cpu[key].append(c)
        print(
            f"rep {i + 1}/{args.reps}: " + ", ".join(f"{k} {v[-1]:.3f}s" for k, v in runs.items()),
            file=sys.stderr,
        )
    load1 = os.getloadavg()
    med = {k: statistics.median(v) for k, v in runs.items()}
    mcpu = {k: statistics.median(v) for k, v in cpu.items()}
    n = args.records
    rows = [
        ("bare loop: VerifyKey.verify x N, one process", "bare"),
        ("`forge-tui verify` (CLI, every signature)", "cli"),
        ("`forge-tui verify --fast` (CLI)", "cli_fast"),
        ("verify_project() in-process, full", "proc"),
        ("verify_project() in-process, --fast", "proc_fast"),
    ]
    lines = [
        f"# verify benchmark: {n:,}-record ledger",
        "",
        f"Command: `python bench/verify.py --records {n} --reps {args.reps}`  ",
        f"Machine: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {cpu_model()}, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}  ",
        f"Ledger: {Path(info['ledger']).stat().st_size / 1e6:.1f} MB, built by bench/make_ledger.py  ",
        f"Load average (1 min) before/after: {load0[0]:.2f} / {load1[0]:.2f} "
        "(anything above ~0.5 means other work shared the two cores)  ",
        f"Medians of {args.reps} interleaved repetitions (all wall times listed). CPU = user+sys of the "
        "process and its workers.",
        "",
        "| measurement | wall median (s) | µs/record | wall best (s) | CPU median (s) | wall runs (s) |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, key in rows:
        m = med[key]
        lines.append(
            f"| {name} | {m:.3f} | {m / n * 1e6:.1f} | {min(runs[key]):.3f} | {mcpu[key]:.2f} | "
            + ", ".join(f"{x:.3f}" for x in runs[key])
            + " |"
        )
    ratio = med["bare"] / med["cli"]
    lines += [
        "",
        f"- full verify (CLI) vs bare loop, wall: **{ratio:.2f}x** "
        f"({'faster' if ratio > 1 else 'SLOWER'}; goal: faster); in-process {med['bare'] / med['proc']:.2f}x; "
        f"best run against best run {min(runs['bare']) / min(runs['cli']):.2f}x",
        f"- CPU: full verify uses {mcpu['cli'] / mcpu['bare']:.2f}x the bare loop's CPU time, spread over the "
        "cores; it wins on wall time only while both cores are free for it",
        f"- `verify --fast` (CLI): **{med['cli_fast']:.3f} s** (goal ≤ 0.5 s: "
        f"{'met' if med['cli_fast'] <= 0.5 else 'NOT met'}); in-process {med['proc_fast']:.3f} s",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
