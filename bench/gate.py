"""Gate throughput and latency: 32 concurrent clients against a real daemon, next to a bare echo server.

docs/design.md §12: decisions durable before the reply (group commit, fdatasync), 32 concurrent clients,
>= 5,000 decisions/s on 2 cores, p99 <= 20 ms. The daemon runs as its own process exactly as in
production (`python -m forge_tui daemon`), with a policy of allow and deny rules, so every request is
decided by the policy and written (request + decision records, signed, chained, fdatasync'd, checkpoint
signed) before its reply. The same load generator then drives a bare asyncio JSON-line echo server
(also its own process, same socket type): the ratio daemon/echo is the figure that travels between
machines.

Each client is closed-loop (send one request, wait for its reply, send the next); the load generator is
one asyncio process. Several runs alternate daemon and echo; the table shows medians.

    .venv/bin/python bench/gate.py [--runs 5] [--seconds 3] [--clients 32] [--distinct] [--out FILE]
                                   [--baseline SRC]

--baseline SRC also runs, in the same runs (alternating), a daemon imported from the source folder SRC
(the folder holding an older `forge_tui/`, e.g. `git archive <commit> forge_tui | tar -x -C SRC`): a
before/after under the same load. Server CPU counts the daemon and its child processes (the policy
worker).

--distinct sends a command never seen before in every request (`pytest -q tests/test_<client>_<i>.py`,
`rm -rf build/<client>_<i>`), so the shell parser's and the matcher's caches miss as with real agents.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from machine import cpu_model  # bench/ is the script folder, first on sys.path

POLICY = """\
version = 1
default = "ask"
approval_timeout = "10m"

[[rule]]
id = "tests"
match = { kind = "shell.exec", command = ["pytest*"] }
decision = "allow"

[[rule]]
id = "no-rm"
match = { kind = "shell.exec", command = ["rm -rf *"] }
decision = "deny"
reason = "no recursive deletes"
"""

ECHO_SERVER = textwrap.dedent(
    """
    import asyncio, json, os, sys

    async def handle(reader, writer):
        while True:
            line = await reader.readline()
            if not line:
                break
            msg = json.loads(line)
            writer.write((json.dumps({"jsonrpc": "2.0", "id": msg.get("id"), "result": msg.get("params")},
                                     separators=(",", ":")) + "\\n").encode())
            await writer.drain()
        writer.close()

    async def main(path):
        old = os.umask(0o177)
        server = await asyncio.start_unix_server(handle, path=path, limit=1 << 20)
        os.umask(old)
        async with server:
            await server.serve_forever()

    asyncio.run(main(sys.argv[1]))
    """
)


def isolated_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FORGE_", "XDG_", "PYTEST"))}
    for var, sub in (
        ("HOME", "home"),
        ("FORGE_DATA_DIR", "data"),
        ("FORGE_RUNTIME_DIR", "run"),
        ("XDG_DATA_HOME", "xdg/data"),
        ("XDG_CONFIG_HOME", "xdg/config"),
        ("XDG_STATE_HOME", "xdg/state"),
        ("XDG_CACHE_HOME", "xdg/cache"),
        ("XDG_RUNTIME_DIR", "xdg/run"),
    ):
        (home / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
        env[var] = str(home / sub)
    return env


class BenchProject:
    """A solo-pack project under a fresh home in /tmp, with an environment that points every forge-tui
    and XDG folder there (os.environ takes it too, for what the bench imports afterwards)."""

    def __init__(self, prefix: str, name: str, policy: str | None = None) -> None:
        self.home = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
        self.env = isolated_env(self.home)
        os.environ.update(self.env)
        from forge_tui.core.project import init_project
        from forge_tui.paths import atomic_write

        self.root = self.home / "proj"
        self.root.mkdir()
        self.project = init_project(self.root, pack="solo", name=name)
        if policy is not None:
            atomic_write(self.project.policy_path, policy.encode())
        self.sock = self.home / "s.sock"


def wait_for_socket(path: Path, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(str(path))
            return
        except OSError:
            time.sleep(0.02)  # polling a bounded condition
        finally:
            s.close()
    raise SystemExit(f"nothing answered on {path}")


DISTINCT = False  # --distinct: every request a command never seen before (the parse caches miss)


def request_line(i: int, client: int) -> bytes:
    if DISTINCT:
        cmd = f"pytest -q tests/test_{client}_{i}.py" if i % 4 else f"rm -rf build/{client}_{i}"
    else:
        cmd = "pytest -q tests" if i % 4 else "rm -rf build"
    msg = {
        "jsonrpc": "2.0",
        "id": i,
        "method": "gate.request",
        "params": {
            "action": {"kind": "shell.exec", "command": cmd},
            "actor": {"id": f"bench-{client}", "kind": "agent", "session": f"bench-{client}"},
        },
    }
    return json.dumps(msg, separators=(",", ":")).encode() + b"\n"


async def one_client(
    path: str, client: int, stop_at: float, warm_until: float, lat: list[float], every: list[int]
) -> int:
    reader, writer = await asyncio.open_unix_connection(path, limit=1 << 20)
    done = 0
    i = 0
    try:
        while True:
            t0 = time.perf_counter()
            if t0 >= stop_at:
                break
            i += 1
            writer.write(request_line(i, client))
            line = await reader.readline()
            t1 = time.perf_counter()
            msg = json.loads(line)
            if msg.get("id") != i or "result" not in msg:
                raise SystemExit(f"bad reply: {line[:200]!r}")
            every[0] += 1
            if t0 >= warm_until:
                lat.append(t1 - t0)
                done += 1
    finally:
        writer.close()
    return done


async def drive(
    path: str,
    clients: int,
    seconds: float,
    warmup: float,
    every: list[int] | None = None,
    on_warm: Callable[[], None] | None = None,
) -> tuple[float, float, float, int]:
    """(replies/s, p50 ms, p99 ms, replies) after the warm-up; `on_warm` is called when it ends."""
    if on_warm is not None:
        asyncio.get_running_loop().call_later(warmup, on_warm)
    lat: list[float] = []
    every = every if every is not None else [0]
    start = time.perf_counter()
    warm_until = start + warmup
    stop_at = warm_until + seconds
    counts = await asyncio.gather(
        *(one_client(path, c, stop_at, warm_until, lat, every) for c in range(clients))
    )
    measured = time.perf_counter() - warm_until
    total = sum(counts)
    lat.sort()
    p50 = lat[len(lat) // 2] * 1000
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
    return total / measured, p50, p99, total


def start_daemon(env: dict[str, str], root: Path, sock: Path, src: str | None = None) -> subprocess.Popen:
    if src is not None:
        env = {**env, "PYTHONPATH": src}
    proc = subprocess.Popen(
        [sys.executable, "-m", "forge_tui", "-C", str(root), "daemon", "--socket", str(sock)],
        cwd=root,  # not the checkout: `-m` puts the working folder first on sys.path, before PYTHONPATH
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_socket(sock, proc)
    return proc


def spawn_on_own_sockets(
    env: dict[str, str], root: Path, prefix: str
) -> tuple[subprocess.Popen, Path, Path, str]:
    """Start a daemon for `root` on an agent and a reviewer socket in a new short folder in /tmp, without
    waiting for it to listen: (the process, the agent socket, the reviewer socket, the folder)."""
    sockdir = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    agent, review = Path(sockdir) / "a.sock", Path(sockdir) / "r.sock"
    proc = subprocess.Popen(
        [sys.executable, "-m", "forge_tui", "-C", str(root), "daemon"],
        env=dict(env, FORGE_SOCKET=str(agent), FORGE_REVIEW_SOCKET=str(review)),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, agent, review, sockdir


def start_echo(env: dict[str, str], sock: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", ECHO_SERVER, str(sock)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_socket(sock, proc)
    return proc


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


class CpuMeter:
    """CPU time of a server and of the child processes it runs (the daemon's policy worker) from
    `start()` (the end of the warm-up: a worker started then has its start-up behind it) to `used()`;
    a child first seen after `start()` counts whole, one that exits before the end is lost."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.start_at: dict[int, float] = {}
        self.last: dict[int, float] = {}

    def start(self) -> None:
        self.sample()
        self.start_at = dict(self.last)
        self.loop_at = self.loop_seconds()

    def loop_seconds(self) -> float:
        """CPU time of the server's main thread alone (the daemon's event loop: its serial part)."""
        fields = Path(f"/proc/{self.pid}/task/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def loop_used(self) -> float:
        return self.loop_seconds() - self.loop_at

    def sample(self) -> None:
        for p in [self.pid, *children(self.pid)]:
            try:
                self.last[p] = cpu_seconds(p)
            except OSError:
                continue
            self.start_at.setdefault(p, 0.0)

    def used(self) -> float:
        self.sample()
        return sum(self.last[p] - self.start_at[p] for p in self.last)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def machine() -> str:
    return f"{os.cpu_count()} CPUs ({cpu_model()}), Python {platform.python_version()}, {platform.system()} {platform.release()}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--warmup", type=float, default=0.5)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--distinct", action="store_true", help="a new command in every request")
    ap.add_argument("--baseline", metavar="SRC", help="also run a daemon imported from this source folder")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "gate.txt"))
    args = ap.parse_args(argv)
    global DISTINCT
    DISTINCT = args.distinct

    home = Path(tempfile.mkdtemp(prefix="fgb-", dir="/tmp"))
    env = isolated_env(home)
    os.environ.update(env)  # init_project below writes keys into the isolated data folder
    from forge_tui.core.project import init_project
    from forge_tui.paths import atomic_write

    root = home / "proj"
    root.mkdir()
    project = init_project(root, pack="solo", name="bench")
    atomic_write(project.policy_path, POLICY.encode())
    sock = home / "g.sock"
    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    kinds = ("daemon", "echo", *(("baseline",) if args.baseline else ()))
    rows: dict[str, list[tuple[float, float, float, int, float, float]]] = {k: [] for k in kinds}
    try:
        for run in range(args.runs):
            for kind in kinds:
                if kind == "echo":
                    proc = start_echo(env, sock)
                else:
                    proc = start_daemon(env, root, sock, args.baseline if kind == "baseline" else None)
                every = [0]
                try:
                    meter = CpuMeter(proc.pid)
                    r = asyncio.run(
                        drive(str(sock), args.clients, args.seconds, args.warmup, every, meter.start)
                    )
                    loop_us = meter.loop_used() / r[3] * 1e6
                    cpu_us = meter.used() / r[3] * 1e6
                finally:
                    stop(proc)
                    sock.unlink(missing_ok=True)
                rows[kind].append((*r, cpu_us, loop_us))
                print(
                    f"run {run + 1} {kind:8}: {r[0]:8.0f}/s  p50 {r[1]:6.2f} ms  p99 {r[2]:6.2f} ms  "
                    f"server CPU {cpu_us:5.0f} us/reply, its loop {loop_us:5.0f}  ({r[3]} replies)",
                    file=sys.stderr,
                )
        ledger_records = next((project.state_dir / "ledger").glob("*.jsonl")).read_bytes().count(b"\n")
    finally:
        shutil.rmtree(home, ignore_errors=True)

    def med(kind: str, k: int) -> float:
        return statistics.median(r[k] for r in rows[kind])

    out = [
        f"# gate benchmark ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        "",
        f"machine: {machine()}",
        f"command: python bench/gate.py --runs {args.runs} --seconds {args.seconds} --clients {args.clients}"
        + (" --distinct" if args.distinct else "")
        + (" --baseline SRC" if args.baseline else ""),
        f"{args.clients} closed-loop clients, one asyncio load process; medians of {args.runs} runs of "
        f"{args.seconds:g} s (after {args.warmup:g} s warm-up); daemon replies only after fdatasync.",
        "",
        "| server | replies/s | p50 ms | p99 ms | server CPU per reply | main thread (loop) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        f"| forge-tui daemon (gate.request, durable) | {med('daemon', 0):,.0f} | {med('daemon', 1):.2f} | {med('daemon', 2):.2f} | {med('daemon', 4):.0f} µs | {med('daemon', 5):.0f} µs |",
        f"| bare asyncio JSON-line echo | {med('echo', 0):,.0f} | {med('echo', 1):.2f} | {med('echo', 2):.2f} | {med('echo', 4):.0f} µs | {med('echo', 5):.0f} µs |",
        f"| ratio daemon / echo | {med('daemon', 0) / med('echo', 0):.3f} | | | | |",
        *(
            [
                "| baseline daemon (--baseline SRC) |"
                f" {med('baseline', 0):,.0f} | {med('baseline', 1):.2f} | {med('baseline', 2):.2f} | {med('baseline', 4):.0f} µs | {med('baseline', 5):.0f} µs |",
                f"| ratio baseline / echo | {med('baseline', 0) / med('echo', 0):.3f} | | | | |",
                f"| ratio daemon / baseline | {med('daemon', 0) / med('baseline', 0):.2f} | | | {med('daemon', 4) / med('baseline', 4):.2f} | {med('daemon', 5) / med('baseline', 5):.2f} |",
            ]
            if args.baseline
            else []
        ),
        "",
        "goal (docs/design.md §12): >= 5,000 decisions/s on 2 cores, p99 <= 20 ms",
        f"ledger after the runs: {ledger_records:,} records",
        "",
        "server CPU per reply: user+system time of the server process (all threads) and its child processes",
        "after the warm-up, divided by the replies after the warm-up; less sensitive than replies/s to",
        "other load on the machine. main thread (loop): the same for the server's main thread alone, the",
        "event loop, which one core runs under the GIL: 1e6 / that figure is the loop's ceiling in replies/s.",
        f"load average before the runs: {load_before}",
        "",
        "per run (replies/s, p50 ms, p99 ms, server CPU µs/reply, main thread µs/reply):",
    ]
    for kind in kinds:
        out.append(
            f"  {kind}: "
            + "; ".join(f"{r[0]:.0f} {r[1]:.2f} {r[2]:.2f} {r[4]:.0f} {r[5]:.0f}" for r in rows[kind])
        )
    text = "\n".join(out) + "\n"
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
