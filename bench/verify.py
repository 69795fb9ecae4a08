"""Benchmark `forge-tui verify` (every signature) and `verify --fast` against bare one-process loops.

    python bench/verify.py [--records 100000] [--dir DIR] [--reps 5] [--fast-only] [--out FILE]

Issue 11: full verify at or below a bare one-process loop of PyNaCl `VerifyKey.verify` over the same
records (budget <= 1.0x, goal <= 0.6x on two free cores) without tripling memory; `--fast` on 1,000,000
records in at most 2 s.

Builds the ledger with bench/make_ledger.py (or reuses DIR when it already holds one of that size), then
for each repetition, interleaved so that background load hits all alike:
  - the bare loop: `VerifyKey.verify(sig + message)` over the ledger's own signed messages, prepared
    beforehand, in this process (the loop alone is timed);
  - the bare hash loop: SHA-256 of every line of the file, read in 4 MiB blocks, in this process (what
    --fast cannot do without: it hashes every line for the chain and the Merkle root);
  - `forge-tui verify` and `forge-tui verify --fast` as subprocesses (wall clock from spawn to exit,
    interpreter start-up included, forge_tui's bytecode compiled beforehand as pip does on install),
    with the peak of the summed VmRSS of the command and its worker processes (sampled every 10 ms;
    shared file pages count once per process, so it over-states);
  - `verify_project` in this process (no interpreter start-up), full and fast.
`--fast-only` skips everything about signatures (the signature loop, full verify): for big ledgers.
`--stages` instead prints where the CPU of `--fast` goes: each stage of a worker's loop over the
ledger's lines (verify_chunk.check_chunk's, timed stage by stage in this process, best of --reps), and
the interpreter start and the imports of the command (`python -c pass` and the command's imports, in
fresh processes).
Reports medians and ratios, as a markdown table, and writes it to --out (default
bench/results/verify.txt, or verify-fast-N.txt with --fast-only).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import platform
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import make_ledger  # noqa: E402
from machine import cpu_model  # noqa: E402

NO_RSS = (float("nan"), float("nan"))


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


def bare_loop(public_key: bytes, sms: list[bytes]) -> tuple[float, float, tuple[float, float]]:
    import nacl.signing

    vk = nacl.signing.VerifyKey(public_key)
    verify = vk.verify
    c = time.process_time()
    t = time.perf_counter()
    for sm in sms:
        verify(sm)
    return time.perf_counter() - t, time.process_time() - c, NO_RSS


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def bare_hash_loop(path: str) -> tuple[float, float, tuple[float, float]]:
    """SHA-256 of 0x00 + every line of the file (the leaf hashes), one process, 4 MiB reads."""
    sha256 = hashlib.sha256
    c = time.process_time()
    t = time.perf_counter()
    rest = b""
    with open(path, "rb") as fh:
        while block := fh.read(4 << 20):
            lines = (rest + block).split(b"\n")
            rest = lines.pop()
            for line in lines:
                sha256(b"\x00" + line).digest()
    return time.perf_counter() - t, time.process_time() - c, NO_RSS


def _tree_rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, RssAnon) of `pid` and all its descendants, summed (KiB); 0 for a process gone."""
    rss = anon = 0
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("RssAnon:"):
                    anon = int(line.split()[1])
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            kids = [int(x) for x in fh.read().split()]
    except (OSError, ValueError):
        return rss, anon
    for k in kids:
        r, a = _tree_rss_kib(k)
        rss, anon = rss + r, anon + a
    return rss, anon


def cli_env(info: dict) -> dict[str, str]:
    """The command's environment: the ledger's data folder, and compiled bytecode kept (in a folder
    beside the ledger) as an installed package has it: pip compiles on install, where an environment
    with PYTHONDONTWRITEBYTECODE would have every run compile forge_tui from source (about 0.1 s)."""
    env = dict(os.environ, **info["env"])
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(Path(info["root"]).parent / "pycache")
    return env


def compile_package(info: dict) -> None:
    """Compile the forge_tui this bench runs (PYTHONPATH decides which) into the commands' cache."""
    import forge_tui

    pkg = str(Path(forge_tui.__file__).resolve().parent)
    subprocess.run([sys.executable, "-m", "compileall", "-q", pkg], env=cli_env(info), check=True)


def cli(info: dict, *args: str) -> tuple[float, float, tuple[float, float]]:
    """Wall time, CPU time (the command and its worker processes) and the peaks of its summed RSS and
    summed private (anonymous) RSS (MiB) of one `forge-tui verify`."""
    env = cli_env(info)
    cmd = [sys.executable, "-m", "forge_tui", "-C", info["root"], "verify", "-q", *args]
    c = _children_cpu()
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0, 0]

    def sample() -> None:
        while proc.poll() is None:
            rss, anon = _tree_rss_kib(proc.pid)
            peak[0], peak[1] = max(peak[0], rss), max(peak[1], anon)
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    dt = time.perf_counter() - t
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}: {out}{err}")
    return dt, _children_cpu() - c, (peak[0] / 1024, peak[1] / 1024)


def in_process(info: dict, fast: bool) -> tuple[float, float, tuple[float, float]]:
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
    return dt, cpu, NO_RSS


def worker_stages(path: str) -> tuple[int, dict[str, float]]:
    """CPU seconds of each stage of a --fast worker's loop (verify_chunk.check_chunk) over the file."""
    from forge_tui.core import verify_chunk as vc
    from forge_tui.core.merkle import leaf_hashes, subtree_runs

    cpu = time.process_time
    acc = dict.fromkeys(("read", "split", "leaf hashes", "chain", "typed records", "merkle nodes"), 0.0)
    fd = os.open(path, os.O_RDONLY)
    end, pos, n, parts, prev_hex = os.fstat(fd).st_size, 0, 0, [], b"0" * 64
    try:
        while pos < end:
            t0 = cpu()
            part = os.pread(fd, min(vc.PART_BYTES, end - pos), pos)
            t1 = cpu()
            lines = part.split(b"\n")
            tail = lines.pop()
            t2 = cpu()
            if not lines:
                break
            pos += len(part) - len(tail)
            leaves = leaf_hashes(lines)
            t3 = cpu()
            vc._chain_holds(lines, leaves, n, prev_hex)
            t4 = cpu()
            vc._typed_records(lines)
            t5 = cpu()
            parts.append(leaves)
            prev_hex = leaves[-32:].hex().encode()
            n += len(lines)
            for key, dt in zip(acc, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=False):
                acc[key] += dt
    finally:
        os.close(fd)
    t0 = cpu()
    subtree_runs(0, b"".join(parts))  # a worker does this once per range; here once for the file
    acc["merkle nodes"] = cpu() - t0
    return n, acc


def startup_cpu(code: str, reps: int) -> float:
    """Median CPU seconds (user + sys) of a fresh interpreter running `code`."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    out = []
    for _ in range(reps):
        c = _children_cpu()
        subprocess.run([sys.executable, "-c", code], env=env, check=True)
        out.append(_children_cpu() - c)
    return statistics.median(out)


def stages(info: dict, reps: int) -> str:
    """The --stages report (markdown)."""
    runs = [worker_stages(info["ledger"]) for _ in range(reps)]
    n = runs[0][0]
    best = {k: min(r[1][k] for r in runs) for k in runs[0][1]}
    total = sum(best.values())
    imports = "import forge_tui.cli, forge_tui.core.project, forge_tui.core.verify"
    bare, full = startup_cpu("pass", reps), startup_cpu(imports, reps)
    lines = [
        f"# where `verify --fast` spends its CPU: {n:,} lines, best of {reps}",
        "",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {os.getloadavg()[0]:.2f}",
        "",
        "| stage (one process, every line of the ledger) | CPU (s) | µs/line | share |",
        "| --- | ---: | ---: | ---: |",
    ]
    lines += [f"| {k} | {v:.3f} | {v / n * 1e6:.2f} | {v / total:.0%} |" for k, v in best.items()]
    lines += [
        f"| **all stages** | **{total:.3f}** | **{total / n * 1e6:.2f}** | 100% |",
        "",
        f"Interpreter start (`python -c pass`): CPU {bare:.3f} s; with the command's imports ({imports}):"
        f" {full:.3f} s, so the imports cost {full - bare:.3f} s.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--records", type=int, default=100_000)
    p.add_argument("--dir", type=Path, default=None, help="ledger folder (default /tmp/forge-bench-verify-N)")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--fast-only", action="store_true", help="only --fast and the hash loop (big ledgers)")
    p.add_argument("--stages", action="store_true", help="where --fast's CPU goes, stage by stage")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    folder = (args.dir or Path(f"/tmp/forge-bench-verify-{args.records}")).resolve()
    info = make_ledger.ensure(folder, args.records)
    if args.stages:
        text = stages(info, args.reps)
        print(text)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(text)
        return 0
    n = args.records
    out = args.out or HERE / "results" / (f"verify-fast-{n}.txt" if args.fast_only else "verify.txt")
    fns = {
        "bare": ("bare loop: VerifyKey.verify x N, one process", None),
        "hash": (
            "bare hash loop: SHA-256 of every line, one process",
            lambda: bare_hash_loop(info["ledger"]),
        ),
        "cli": ("`forge-tui verify` (CLI, every signature)", lambda: cli(info)),
        "cli_fast": ("`forge-tui verify --fast` (CLI)", lambda: cli(info, "--fast")),
        "proc": ("verify_project() in-process, full", lambda: in_process(info, False)),
        "proc_fast": ("verify_project() in-process, --fast", lambda: in_process(info, True)),
    }
    if args.fast_only:
        for k in ("bare", "cli", "proc"):
            del fns[k]
    else:
        public_key, sms = signed_messages(info)
        assert len(sms) == n
        fns["bare"] = (fns["bare"][0], lambda: bare_loop(public_key, sms))
    load0 = os.getloadavg()
    runs: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    rss: dict[str, list[tuple[float, float]]] = {k: [] for k in fns}
    compile_package(info)
    cli(info, "--fast")  # warm the page cache and the local "latest seen" cache
    for i in range(args.reps):
        for key, (_name, fn) in fns.items():
            wall, c, mem = fn()
            runs[key].append(wall)
            cpu[key].append(c)
            rss[key].append(mem)
        print(
            f"rep {i + 1}/{args.reps}: " + ", ".join(f"{k} {v[-1]:.3f}s" for k, v in runs.items()),
            file=sys.stderr,
        )
    load1 = os.getloadavg()
    med = {k: statistics.median(v) for k, v in runs.items()}
    mcpu = {k: statistics.median(v) for k, v in cpu.items()}
    lines = [
        f"# verify benchmark: {n:,}-record ledger" + (" (--fast only)" if args.fast_only else ""),
        "",
        f"Command: `python bench/verify.py --records {n} --reps {args.reps}"
        + (" --fast-only`  " if args.fast_only else "`  "),
        f"Machine: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {cpu_model()}, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  ",
        f"Ledger: {Path(info['ledger']).stat().st_size / 1e6:.1f} MB, built by bench/make_ledger.py  ",
        f"Load average (1 min) before/after: {load0[0]:.2f} / {load1[0]:.2f} "
        "(anything above ~0.5 means other work shared the two cores)  ",
        f"Medians of {args.reps} interleaved repetitions (all wall times listed). CPU = user+sys of the "
        "process and its workers. Peak RSS: the CLI process and its workers, summed (file pages of the "
        "memory-mapped ledger count in each process that touched them); private: their anonymous memory. "
        "The CLI runs with forge_tui's bytecode compiled beforehand (as installed by pip).",
        "",
        "| measurement | wall median (s) | µs/record | wall best (s) | CPU median (s) | peak RSS / private "
        "(MiB) | wall runs (s) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for key, (name, _fn) in fns.items():
        m = med[key]
        mem = statistics.median(r for r, _a in rss[key])
        anon = statistics.median(a for _r, a in rss[key])
        lines.append(
            f"| {name} | {m:.3f} | {m / n * 1e6:.1f} | {min(runs[key]):.3f} | {mcpu[key]:.2f} | "
            + ("-" if mem != mem else f"{mem:.0f} / {anon:.0f}")
            + " | "
            + ", ".join(f"{x:.3f}" for x in runs[key])
            + " |"
        )
    lines.append("")
    if not args.fast_only:
        ratio = med["cli"] / med["bare"]
        verdict = "goal met" if ratio <= 0.6 else "budget met, goal not" if ratio <= 1.0 else "budget NOT met"
        lines += [
            f"- full verify (CLI) / bare loop, wall: **{ratio:.2f}x** (budget <= 1.0x, goal <= 0.6x: {verdict}); "
            f"in-process {med['proc'] / med['bare']:.2f}x; best run / best run "
            f"{min(runs['cli']) / min(runs['bare']):.2f}x",
            f"- CPU: full verify uses {mcpu['cli'] / mcpu['bare']:.2f}x the bare loop's CPU time, spread over "
            "the cores; its wall time reaches that CPU / 2 only while both cores are free for it",
        ]
    fast_goal = 2.0 * n / 1_000_000
    lines.append(
        f"- `verify --fast` (CLI): **{med['cli_fast']:.3f} s**, {med['cli_fast'] / med['hash']:.2f}x the bare "
        f"hash loop (2 s per 1,000,000 records would be {fast_goal:.2f} s here: "
        f"{'met' if med['cli_fast'] <= fast_goal else 'NOT met'}); in-process {med['proc_fast']:.3f} s"
    )
    text = "\n".join(lines) + "\n"
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
