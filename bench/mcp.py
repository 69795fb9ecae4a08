"""`forge-tui mcp`: how long the server takes to start, and what one gate call costs over MCP.

A real daemon (its own process) decides every call by policy (`pytest …` allowed), durably, as in
production. Measured, interleaved over the runs:

- start: spawn `forge-tui mcp` (stdio) and wait for its `initialize` reply, next to
  `python3 -I -S -c pass` (the interpreter's own start, the anchor);
- per call: `tools/call request_approval` over stdio and over Streamable HTTP (raw JSON-RPC, no client
  SDK on this side, so the figures are the server's), next to the same `gate.request` sent straight
  to the agent socket with the standard-library client (the anchor).

    .venv/bin/python bench/mcp.py [--runs 5] [--calls 200] [--out bench/results/mcp.txt]
"""

from __future__ import annotations

import argparse
import http.client
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

from gate import POLICY, isolated_env, start_daemon  # bench/ is the script folder, first on sys.path
from machine import cpu_model, memory_gib

ARGS = {"kind": "shell.exec", "command": "pytest -q tests", "summary": "run the tests"}
INIT = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "bench", "version": "0"},
    },
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def call_msg(i: int) -> dict:
    return {
        "jsonrpc": "2.0",
        "id": i,
        "method": "tools/call",
        "params": {"name": "request_approval", "arguments": ARGS},
    }


def line(msg: dict) -> bytes:
    return json.dumps(msg, separators=(",", ":")).encode() + b"\n"


def interpreter_start() -> float:
    t0 = time.perf_counter()
    subprocess.run(["python3", "-I", "-S", "-c", "pass"], check=True)
    return time.perf_counter() - t0


def stdio_run(env: dict, root: Path, calls: int) -> tuple[float, list[float]]:
    """(seconds to the initialize reply, per-call latencies) of one `forge-tui mcp` process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "forge_tui", "-C", str(root), "mcp"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(line(INIT))
    proc.stdin.flush()
    reply = json.loads(proc.stdout.readline())
    started = time.perf_counter() - t0
    assert reply.get("id") == 0 and "result" in reply, reply
    proc.stdin.write(line(INITIALIZED))
    lat = []
    for i in range(1, calls + 1):
        t1 = time.perf_counter()
        proc.stdin.write(line(call_msg(i)))
        proc.stdin.flush()
        reply = json.loads(proc.stdout.readline())
        lat.append(time.perf_counter() - t1)
        assert reply["result"]["structuredContent"]["status"] == "allowed", reply
    proc.stdin.close()
    proc.wait(timeout=60)
    return started, lat


def socket_run(sock: Path, calls: int) -> list[float]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from forge_tui.client import Client

    params = {
        "action": {k: ARGS[k] for k in ("kind", "command", "summary")},
        "actor": {"id": "bench", "kind": "agent"},
    }
    lat = []
    for _ in range(calls):  # one connection per call, as the MCP server's link does
        t0 = time.perf_counter()
        with Client(sock, client="bench") as c:
            res = c.call("gate.request", params)
        lat.append(time.perf_counter() - t0)
        assert res["status"] == "allowed", res
    return lat


class HttpMcp:
    """A Streamable HTTP session on raw http.client (JSON or one-event SSE replies)."""

    def __init__(self, url: str, token: str) -> None:
        self.host, port = url.split("/")[2].rsplit(":", 1)
        self.port = int(port)
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
        }
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        reply, hdrs = self.post(INIT)
        self.headers["Mcp-Session-Id"] = hdrs["mcp-session-id"]
        self.headers["Mcp-Protocol-Version"] = reply["result"]["protocolVersion"]
        self.post(INITIALIZED)

    def post(self, msg: dict) -> tuple[dict, dict]:
        self.conn.request("POST", "/mcp", body=json.dumps(msg), headers=self.headers)
        resp = self.conn.getresponse()
        body = resp.read().decode()
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
        if not body.strip():
            return {}, hdrs
        if hdrs.get("content-type", "").startswith("text/event-stream"):
            data = [ln[5:].strip() for ln in body.splitlines() if ln.startswith("data:")]
            return json.loads(data[-1]), hdrs
        return json.loads(body), hdrs


def http_run(env: dict, root: Path, runs: int, calls: int) -> list[list[float]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "forge_tui", "-C", str(root), "mcp", "--http", "127.0.0.1:0"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    try:
        url = proc.stdout.readline().split(" at ", 1)[1].split()[0]
        token = proc.stdout.readline().rsplit(": ", 1)[1].strip()
        out = []
        for _ in range(runs):
            s = HttpMcp(url, token)
            lat = []
            for i in range(1, calls + 1):
                t0 = time.perf_counter()
                reply, _ = s.post(call_msg(i))
                lat.append(time.perf_counter() - t0)
                assert reply["result"]["structuredContent"]["status"] == "allowed", reply
            out.append(lat)
        return out
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def ms(xs: list[float]) -> float:
    return statistics.median(xs) * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--out", type=Path, default=Path("bench/results/mcp.txt"))
    a = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="fbm-", dir="/tmp"))
    env = isolated_env(home)
    root = home / "proj"
    root.mkdir()
    sock = home / "a.sock"
    env["FORGE_SOCKET"] = str(sock)
    subprocess.run(
        [sys.executable, "-m", "forge_tui", "-C", str(root), "init"], env=env, check=True, capture_output=True
    )
    (root / ".forge" / "policy.toml").write_text(POLICY)
    daemon = start_daemon(env, root, sock)
    rows: dict[str, list[float]] = {"python3 -I -S -c pass": [], "forge-tui mcp start": []}
    calls: dict[str, list[float]] = {
        "agent socket (stdlib client)": [],
        "MCP stdio": [],
        "MCP Streamable HTTP": [],
    }
    try:
        for _ in range(a.runs):
            rows["python3 -I -S -c pass"].append(interpreter_start())
            started, lat = stdio_run(env, root, a.calls)
            rows["forge-tui mcp start"].append(started)
            calls["MCP stdio"].append(ms(lat))
            calls["agent socket (stdlib client)"].append(ms(socket_run(sock, a.calls)))
        calls["MCP Streamable HTTP"] = [ms(lat) for lat in http_run(env, root, a.runs, a.calls)]
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)
    load = os.getloadavg()[0]
    anchor_start = statistics.median(rows["python3 -I -S -c pass"])
    anchor_call = statistics.median(calls["agent socket (stdlib client)"])
    out = [
        f"# bench/mcp.py --runs {a.runs} --calls {a.calls}",
        f"# {cpu_model()}, {os.cpu_count()} CPUs, {memory_gib():.0f} GiB, Python {platform.python_version()}, load {load:.2f}",
        "start (median of runs)                  seconds   x python3 -I -S",
    ]
    for name, xs in rows.items():
        m = statistics.median(xs)
        out.append(
            f"  {name:36s} {m:8.3f}   {m / anchor_start:6.1f}   runs: {', '.join(f'{x:.3f}' for x in xs)}"
        )
    out.append("one gate call, policy-decided (median of run medians)   ms   x socket")
    for name, xs in calls.items():
        m = statistics.median(xs)
        out.append(
            f"  {name:36s} {m:8.2f}   {m / anchor_call:6.1f}   runs: {', '.join(f'{x:.2f}' for x in xs)}"
        )
    text = "\n".join(out)
    print(text)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    with a.out.open("a", encoding="utf-8") as fh:
        fh.write(text + "\n\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
