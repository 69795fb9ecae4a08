"""The agent hook's wall time against the interpreter's own start (docs/design.md §12; issue 11 item 2).

Each sample is one process, started as a host starts a hook (fork+exec, the payload on standard input,
standard output read to the end), timed from spawn to exit. The runs are interleaved — one of each
command per round, in turn — so that load on the shared machine hits every command alike; the table
shows medians.

- `python3 -I -S -c pass`: the interpreter's start, the budget's unit (≤ 2×, goal ≤ 1.5×);
- anchor: a minimal `-I -S` script that reads standard input and connects to the daemon's Unix socket
  (and closes it): the least any hook that asks a daemon can do;
- the anchor plus the one `hook.run` call the hook makes (the daemon's durable decision included: it
  answers once the records are fdatasync'd, the checkpoint follows): the least a hook that asks the
  daemon can cost, whatever its own code does;
- the hook exactly as `init --claude-code` writes it (`/bin/sh -c 'python -I -S
  …/forge_tui/hooks/run.py claude-code --deadline 630 || exit 2'`) for a Bash call the policy allows (`pytest -q`, rule `tests`), against
  a real daemon that records the request and decision durably before answering;
- the same call through the `forge-tui hook claude-code` console script (argparse and the CLI), for
  comparison.

    .venv/bin/python bench/hook.py [--rounds 200] [--out bench/results/hook.txt]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import cpu_model  # bench/ is the script folder, first on sys.path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

ANCHOR = (
    "import sys, _socket\n"
    "sys.stdin.buffer.read()\n"
    "s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)\n"
    "s.connect(sys.argv[1])\n"
    "s.close()\n"
)
# The anchor plus the one call the hook makes: the least a hook that asks the daemon can cost,
# including the daemon's durable decision.
ANCHOR_CALL = (
    "import sys, _socket, binascii\n"
    "data = sys.stdin.buffer.read()\n"
    "s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)\n"
    "s.connect(sys.argv[1])\n"
    's.sendall(b\'{"jsonrpc":"2.0","id":1,"method":"hook.run","params":{"host":"claude-code",\'\n'
    "          b'\"payload\":\"' + binascii.b2a_base64(data, newline=False) + b'\"}}\\n')\n"
    "buf = b''\n"
    "while b'\\n' not in buf:\n"
    "    buf += s.recv(65536)\n"
    "sys.stdout.buffer.write(buf)\n"
)


# The solo pack's rules without its per-session rate limit (a benchmark is a runaway loop by design).
POLICY = """\
version = 1
default = "ask"
approval_timeout = "10m"

[[rule]]
id = "tests"
match = { kind = "shell.exec", command = ["pytest*"] }
decision = "allow"
"""


def _payload(root: Path, n: int) -> bytes:
    return json.dumps(
        {
            "session_id": "bench",
            "transcript_path": "/dev/null",
            "cwd": str(root),
            "permission_mode": "default",
            "hook_event_name": "PreToolUse",
            "tool_name": "Bash",
            "tool_input": {"command": "pytest -q", "description": "run the tests"},
            "tool_use_id": f"toolu_{n}",
        }
    ).encode()


def _round_trips(sock: Path, root: Path, n: int) -> float:
    """Median ms of one `hook.run` call on an open connection: the daemon's own share."""
    import binascii

    from forge_tui.client import Client
    from forge_tui.protocol import HOOK_RUN

    ts = []
    with Client(sock, client="bench", timeout=30) as c:
        for i in range(n):
            b64 = binascii.b2a_base64(_payload(root, 10_000 + i), newline=False).decode()
            t0 = time.perf_counter()
            c.call(HOOK_RUN, {"host": "claude-code", "payload": b64, "wait_s": 10})
            ts.append(time.perf_counter() - t0)
    return statistics.median(ts) * 1000


def _time(argv: list[str], data: bytes, cwd: Path, env: dict[str, str]) -> tuple[float, int, bytes]:
    t0 = time.perf_counter()
    p = subprocess.run(argv, input=data, capture_output=True, cwd=cwd, env=env)
    return time.perf_counter() - t0, p.returncode, p.stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    from forge_tui.core.project import init_project
    from forge_tui.daemon.spawn import start_daemon, stop_daemon
    from forge_tui.hooks.settings import HOSTS, entry_argv, hook_entry
    from forge_tui.paths import socket_path

    home = Path(tempfile.mkdtemp(prefix="fhb-", dir="/tmp"))
    env = dict(os.environ, FORGE_DATA_DIR=str(home / "data"), FORGE_RUNTIME_DIR=str(home / "run"))
    os.environ.update(env)
    root = home / "proj"
    root.mkdir()
    project = init_project(root, pack="solo", name="bench")
    project.policy_path.write_text(POLICY)
    sock = socket_path(project.project_id)
    proc = start_daemon(root, sock, log_path=home / "daemon.log", env=env)
    exe = sys.executable
    entry = hook_entry(HOSTS["claude-code"], 600)
    hook = [entry["command"], *entry["args"]]  # exactly what Claude Code runs: sh -c '… || exit 2'
    assert entry_argv(entry)[0] == exe
    cli = [str(Path(exe).parent / "forge-tui"), "hook", "claude-code", "--deadline", "630"]
    commands: dict[str, tuple[list[str], bytes]] = {
        "python3 -I -S -c pass": ([exe, "-I", "-S", "-c", "pass"], b""),
        "anchor: read stdin + connect": ([exe, "-I", "-S", "-c", ANCHOR, str(sock)], b""),
        "anchor + the hook.run call": ([exe, "-I", "-S", "-c", ANCHOR_CALL, str(sock)], b'"exit":0'),
        "hook (as init writes it)": (hook, b'"allow"'),
        "forge-tui hook claude-code": (cli, b'"allow"'),
    }
    times: dict[str, list[float]] = {k: [] for k in commands}
    try:
        for name, (argv, expect) in commands.items():  # warm the page cache and the .pyc files
            _, code, out = _time(argv, _payload(root, -1), root, env)
            if code != 0 or expect not in out:
                raise SystemExit(f"{name}: the hook did not allow (exit {code}): {out[:200]!r}")
        load0 = os.getloadavg()[0]
        for n in range(args.rounds):
            for name, (argv, _) in commands.items():
                dt, code, out = _time(argv, _payload(root, n), root, env)
                if code != 0:
                    raise SystemExit(f"{name} exited {code}: {out[:300]!r}")
                times[name].append(dt)
        load1 = os.getloadavg()[0]
        decision = _round_trips(sock, root, args.rounds)
    finally:
        stop_daemon(proc)
        shutil.rmtree(home, ignore_errors=True)

    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    base = med["python3 -I -S -c pass"]
    anchor = med["anchor: read stdin + connect"]
    lines = [
        f"# bench/hook.py --rounds {args.rounds}",
        f"# {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}; {cpu_model()}, {os.cpu_count()} CPUs; "
        f"Python {platform.python_version()}; load average {load0:.2f} -> {load1:.2f}",
        f"# interpreter: {os.path.relpath(exe, REPO) if exe.startswith(str(REPO)) else Path(exe).name}",
        "",
        "| command | median | p90 | × `-c pass` | × anchor |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, v in times.items():
        p90 = statistics.quantiles(v, n=10)[-1] * 1000
        lines.append(
            f"| {name} | {med[name]:.2f} ms | {p90:.2f} ms | {med[name] / base:.2f} | {med[name] / anchor:.2f} |"
        )
    lines += [
        "",
        f"daemon's share: one hook.run on an open connection (request + decision signed and fdatasync'd;"
        f" the checkpoint follows the answer): median {decision:.2f} ms",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "a", encoding="utf-8") as fh:
            fh.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
