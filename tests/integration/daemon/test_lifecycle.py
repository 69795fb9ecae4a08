"""The daemon as a process: signals, the one-daemon-per-project lock, stale sockets, socket mode, the
agent-side `forge-tui request` exit codes and headless `forge-tui approve/reject`."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import threading

import pytest
from gatehelp import SMALL_POLICY as POLICY
from gatehelp import run_cli, spawn_daemon, verify_clean, wait_for_socket

from forge_tui.client import Client, DaemonUnavailable
from forge_tui.core.keys import create_reviewer_key
from forge_tui.core.reviewers import enrol_reviewers
from forge_tui.errors import ConfigError


@pytest.fixture
def daemon_proc(make_world):
    procs = []

    def start(world):
        proc = spawn_daemon(world)
        procs.append(proc)
        wait_for_socket(world.sock, proc)
        return proc

    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=10)
        for f in (p.stdout, p.stderr):
            if f:
                f.close()


def ask(sock, command: str, wait_s: float = 0, session: str = "s", timeout: float = 20) -> dict:
    with Client(sock, timeout=timeout) as c:
        return c.call(
            "gate.request",
            {
                "action": {"kind": "shell.exec", "command": command},
                "actor": {"id": "agent", "session": session},
                "wait_s": wait_s,
            },
        )


def test_sigterm_denies_every_pending_request_and_records_it(make_world, daemon_proc):
    w = make_world(POLICY)
    proc = daemon_proc(w)
    results: dict[int, dict | Exception] = {}

    def agent(i: int) -> None:
        try:
            results[i] = ask(w.sock, f"make step{i}", wait_s=60, session=f"s{i}", timeout=30)
        except Exception as exc:  # recorded and asserted below
            results[i] = exc

    threads = [threading.Thread(target=agent, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    with Client(w.rsock) as c:  # bounded polling until all five are queued
        import time

        deadline = time.monotonic() + 10
        while len(c.call("queue.list")["pending"]) < 5:
            assert time.monotonic() < deadline, "requests never reached the queue"
            time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(timeout=30)
    assert proc.wait(timeout=30) == 0, proc.stderr.read()
    for i in range(5):
        res = results[i]
        assert isinstance(res, dict), f"agent {i} heard no answer on SIGTERM: {res!r}"
        assert (res["status"], res["decided_by"]) == ("denied", "fallback"), res
    decisions = {
        r["body"]["request_id"]: r
        for r in w.records()
        if r["type"] == "decision" and r["body"]["decided_by"] == "fallback"
    }
    for res in results.values():
        assert decisions[res["request_id"]]["seq"] == res["seq"], (
            "the fallback denial the agent heard is not in the ledger"
        )
    assert not w.sock.exists(), "the socket outlived the daemon"
    verify_clean(w)


def test_a_second_daemon_for_the_project_refuses_clearly(make_world, daemon_proc):
    w = make_world(POLICY)
    first = daemon_proc(w)
    other = w.home / "o.sock"
    r = run_cli(w, "daemon", "--socket", str(other), timeout=20)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "already runs for this project" in r.stderr and str(first.pid) in r.stderr, r.stderr
    assert ask(w.sock, "pytest")["status"] == "allowed", "the refused second daemon disturbed the first"


async def test_second_daemon_in_process_refuses_and_leaves_the_first_serving(
    make_world, start_daemon, connect
):
    w = make_world(POLICY)
    await start_daemon(w)
    from forge_tui.daemon.server import Daemon

    with pytest.raises(ConfigError, match="already runs"):
        await Daemon(w.project, w.home / "x.sock").start()
    c = await connect(w.sock)
    assert (
        await c.call(
            "gate.request", {"action": {"kind": "shell.exec", "command": "pytest"}, "actor": {"id": "a"}}
        )
    )["status"] == "allowed"


async def test_stale_socket_is_replaced_and_the_socket_is_private(make_world, start_daemon, connect):
    w = make_world(POLICY)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(w.sock))  # bound, never listening, closed: what a killed daemon leaves behind
    stale.close()
    assert w.sock.exists()
    await start_daemon(w)
    mode = stat.S_IMODE(os.stat(w.sock).st_mode)
    assert mode == 0o600, f"socket mode {oct(mode)}: other users could connect"
    c = await connect(w.sock)
    assert (await c.call("hello"))["protocol"] == 1, "the stale socket was not replaced by a live one"


def test_request_exit_codes(make_world, daemon_proc):
    w = make_world(POLICY)
    r = run_cli(w, "request", "--kind", "shell.exec", "--command", "pytest -q")
    assert r.returncode == 3 and "daemon unreachable" in r.stderr, "no daemon must be exit 3 (fail closed)"
    daemon_proc(w)
    ok = run_cli(w, "request", "--kind", "shell.exec", "--command", "pytest -q", "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["status"] == "allowed", ok
    no = run_cli(w, "request", "--kind", "shell.exec", "--command", "rm -rf /tmp/x")
    assert no.returncode == 1 and "no recursive deletes" in no.stdout, no
    pend = run_cli(w, "request", "--kind", "shell.exec", "--command", "make", "--wait", "0")
    assert pend.returncode == 1 and "pending" in pend.stdout, "a pending request must not exit 0"
    bad = run_cli(w, "request", "--kind", "teleport")
    assert bad.returncode == 2, bad


def test_headless_approve_and_reject_with_forge_passphrase(make_world, daemon_proc):
    w = make_world(POLICY, reviewers=())
    dave = create_reviewer_key("dave", "dave keeps a secret", kdf="interactive")
    enrol_reviewers(w.project, {"dave": dave})
    daemon_proc(w)
    a = ask(w.sock, "make a")
    b = ask(w.sock, "make b")
    env = w.env(FORGE_PASSPHRASE="dave keeps a secret")
    wrong = run_cli(w, "approve", a["request_id"], "--as", "dave", env=w.env(FORGE_PASSPHRASE="nope"))
    assert wrong.returncode != 0 and "Traceback" not in wrong.stderr, "a wrong passphrase signed anyway"
    ok = run_cli(w, "approve", a["request_id"], "--as", "dave", env=env)
    assert ok.returncode == 0 and "allowed" in ok.stdout, (ok.stdout, ok.stderr)
    rej = run_cli(w, "reject", b["request_id"], "--as", "dave", "--reason", "not now", env=env)
    assert rej.returncode == 0 and "denied" in rej.stdout, (rej.stdout, rej.stderr)
    again = run_cli(w, "approve", a["request_id"], "--as", "dave", env=env)
    assert again.returncode == 1 and "not pending" in again.stderr, (again.stdout, again.stderr)
    with Client(w.sock) as c:
        assert c.call("gate.wait", {"request_id": a["request_id"]})["status"] == "allowed"
        res_b = c.call("gate.wait", {"request_id": b["request_id"]})
        assert res_b["status"] == "denied" and "not now" in res_b["reason"]
    verify_clean(w)


def test_client_reports_a_missing_daemon_as_unavailable(make_world):
    w = make_world(POLICY)
    with pytest.raises(DaemonUnavailable):
        Client(w.sock, timeout=1).connect()
