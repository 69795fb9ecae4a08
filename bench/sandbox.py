"""What `forge-tui run` costs: starting a command in the sandbox, and the daemon's per-connection check
of whether a peer is sandboxed (forge_tui/daemon/peer.py).

    .venv/bin/python bench/sandbox.py --runs 20

Anchors from the same run: the same command started directly, and `python -I -S -c pass` (the
interpreter start that `forge-tui run` itself adds); for the peer check, one `os.stat` of a file.
Needs bubblewrap. Prints a Markdown table; medians of --runs repetitions.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import cpu_model  # noqa: E402


def _env(base: Path) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(base / "home"),
        "XDG_RUNTIME_DIR": str(base / "xr"),
        "FORGE_DATA_DIR": str(base / "data"),
        "FORGE_RUNTIME_DIR": str(base / "run"),
    }
    for name in ("home", "xr"):
        (base / name).mkdir(mode=0o700)
    return env


def _time(cmd: list[str], env: dict[str, str], cwd: Path, runs: int) -> float:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(
            cmd, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def _per_call(fn, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def _find(cmdline: bytes) -> int:
    """The host pid of the process whose command line is `cmdline`."""
    for p in os.listdir("/proc"):
        try:
            if p.isdigit() and Path(f"/proc/{p}/cmdline").read_bytes() == cmdline:
                return int(p)
        except OSError:
            continue  # exited meanwhile
    raise SystemExit("bench/sandbox.py: the sandboxed process was not found")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--calls", type=int, default=20000)
    args = ap.parse_args()
    if shutil.which("bwrap") is None:
        print("bench/sandbox.py: bubblewrap is not installed", file=sys.stderr)
        return 2
    base = Path(tempfile.mkdtemp(prefix="fsbb-", dir="/tmp"))
    try:
        env = _env(base)
        root = base / "proj"
        root.mkdir()
        subprocess.run(
            [sys.executable, "-m", "forge_tui", "init", str(root)], env=env, check=True, capture_output=True
        )
        direct = _time(["/bin/true"], env, root, args.runs)
        interp = _time([sys.executable, "-I", "-S", "-c", "pass"], env, root, args.runs)
        run = _time([sys.executable, "-m", "forge_tui", "run", "-q", "--", "/bin/true"], env, root, args.runs)

        os.environ.update(env)  # the peer check reads the data folder the daemon would use
        from forge_tui.daemon import peer

        inner = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "forge_tui",
                "run",
                "-q",
                "--",
                "/bin/sh",
                "-c",
                "echo up; exec sleep 613",
            ],
            env=env,
            cwd=root,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert inner.stdout is not None and inner.stdout.readline().strip() == "up"
        sandboxed_pid = _find(b"sleep\x00613\x00")
        assert peer.sandboxed(sandboxed_pid) is True
        check_in = _per_call(lambda: peer.sandboxed(sandboxed_pid), args.calls)
        check_out = _per_call(lambda: peer.sandboxed(os.getpid()), args.calls)
        stat = _per_call(lambda: os.stat(root / ".forge/policy.toml"), args.calls)
        inner.kill()
        inner.wait()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    load = os.getloadavg()[0]
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs, load (1 min) {load:.2f}; runs {args.runs}")
    print()
    print("| what | median | ratio |")
    print("| --- | ---: | ---: |")
    print(f"| `/bin/true` started directly | {direct * 1e3:.1f} ms | 1 |")
    print(f"| `python -I -S -c pass` (anchor) | {interp * 1e3:.1f} ms | {interp / direct:.1f} |")
    print(f"| `forge-tui run -q -- /bin/true` | {run * 1e3:.1f} ms | {run / direct:.1f} |")
    print(f"| peer check, sandboxed peer | {check_in * 1e6:.1f} µs | {check_in / stat:.1f} × stat |")
    print(f"| peer check, unsandboxed peer | {check_out * 1e6:.1f} µs | {check_out / stat:.1f} × stat |")
    print(f"| `os.stat` (anchor) | {stat * 1e6:.2f} µs | 1 |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
