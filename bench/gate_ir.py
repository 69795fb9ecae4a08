"""Instructions per decision in each of the daemon's threads, counted by callgrind: a figure the
machine's load does not move (replies/s and CPU time on this shared 2-core machine scatter by 2x).

    cd bench && ../.venv/bin/python gate_ir.py --baseline SRC [--few 5] [--many 15] [--clients 32]

Runs this tree's daemon and the one imported from SRC (a folder holding an older `forge_tui/`) under
`valgrind --tool=callgrind --separate-threads=yes` (about 50x slower; its policy worker is a child
process and runs outside valgrind), drives --clients closed-loop clients with bench/gate.py's
`--distinct` requests, --few per client in one daemon and --many in another, and divides the
difference in each thread's instruction count by the difference in replies: start-up and shutdown
cancel out. Threads are numbered as callgrind numbers them, by creation: 1 the event loop, 2 the
group commit's writer, 3 its preparer (daemon/appender.py starts the writer first); others (the
policy file's reads, queries) do little here. Under valgrind the daemon runs slowly, so its batches
are larger than at full speed and nearly every one signs a checkpoint (its 50 ms have passed): the
counts compare trees, they are not a profile of a real run.
User-space instructions only: system calls (fdatasync, socket writes) and cache misses are not in
them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import gate  # bench/, the script's folder, is first on sys.path

REPO = Path(__file__).resolve().parents[1]


async def _client(path: str, client: int, count: int, first: int) -> None:
    reader, writer = await asyncio.open_unix_connection(path, limit=1 << 20)
    try:
        for i in range(first, first + count):
            writer.write(gate.request_line(i, client))
            msg = json.loads(await reader.readline())
            if msg.get("id") != i or "result" not in msg:
                raise SystemExit(f"bad reply: {msg!r:.200}")
    finally:
        writer.close()


def counts(src: str, per_client: int, clients: int) -> dict[int, int]:
    """Instructions per callgrind thread number of one daemon that answered per_client requests per client
    (after three per client to start its policy worker)."""
    bp = gate.BenchProject("fgi-", "bench", gate.POLICY)
    out = bp.home / "cg"
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--separate-threads=yes", f"--callgrind-out-file={out}.%p",
         sys.executable, "-m", "forge_tui", "-C", str(bp.root), "daemon", "--socket", str(bp.sock)],
        cwd=bp.root, env={**bp.env, "PYTHONPATH": src},
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        gate.wait_for_socket(bp.sock, proc, timeout=600)

        async def drive() -> None:
            path = str(bp.sock)
            await asyncio.gather(*(_client(path, c, 3, 1) for c in range(clients)))
            await asyncio.gather(*(_client(path, c, per_client, 100) for c in range(clients)))

        asyncio.run(drive())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=600)
    per: dict[int, int] = {}
    for f in bp.home.glob("cg.*"):
        text = f.read_text(errors="replace")
        thread = re.search(r"^thread: (\d+)", text, re.M)
        total = re.search(r"^summary: (\d+)", text, re.M)
        if thread and total:
            per[int(thread.group(1))] = int(total.group(1))
    shutil.rmtree(bp.home, ignore_errors=True)
    return per


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", metavar="SRC", required=True, help="the older tree (holds forge_tui/)")
    ap.add_argument("--few", type=int, default=5, help="requests per client in the first daemon")
    ap.add_argument("--many", type=int, default=15, help="requests per client in the second")
    ap.add_argument("--clients", type=int, default=32)
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    gate.DISTINCT = True
    replies = (args.many - args.few) * args.clients
    rows = {}
    for name, src in (("this tree", str(REPO)), ("baseline", args.baseline)):
        few, many = counts(src, args.few, args.clients), counts(src, args.many, args.clients)
        rows[name] = {t: (many.get(t, 0) - few.get(t, 0)) / replies for t in many}
        shown = ", ".join(f"thread {t} {v / 1000:,.0f}k" for t, v in sorted(rows[name].items()) if v > 5000)
        print(f"{name:9}: instructions per decision: {shown}; all {sum(rows[name].values()) / 1000:,.0f}k")
    names = {1: "event loop", 2: "writer", 3: "preparer"}
    for t, label in names.items():
        a, b = rows["this tree"].get(t, 0), rows["baseline"].get(t, 0)
        print(f"  {label:10} this tree / baseline {a / b:.3f}" if b else f"  {label}: not seen")
    a, b = sum(rows["this tree"].values()), sum(rows["baseline"].values())
    print(f"  all        this tree / baseline {a / b:.3f}   (load average {os.getloadavg()[0]:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
