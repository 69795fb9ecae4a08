"""System-call faults injected by `strace -e inject=…` into a real daemon process (no seam involved):
fdatasync failing with EIO or ENOSPC, and rename failing with EIO, for a few calls and then never again.

After each: the gate denied (5001) while the fault lasted, healed by itself without a restart, every
request answered `allowed` has its decision at the seq it was told, no request answered 5001 left a
record, and `verify` passes. Skipped, with the reason, where strace is missing or cannot ptrace (a
container without CAP_SYS_PTRACE, Yama ptrace_scope 3)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from gatehelp import SMALL_POLICY as POLICY
from gatehelp import verify_clean, wait_for_socket
from test_write_path_faults import check_ledger_matches_answers

from forge_tui.client import Client, RPCError
from forge_tui.protocol import LEDGER_UNAVAILABLE


def strace_unavailable() -> str | None:
    if shutil.which("strace") is None:
        return "strace is not installed (CI installs it: .ci/run)"
    probe = subprocess.run(
        ["strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=none", "true"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        return f"strace cannot trace here: {probe.stderr.strip()[:200]}"
    return None


class Told:
    """What the test's callers were told, in the shape check_ledger_matches_answers reads."""

    def __init__(self) -> None:
        self.told: dict[str, dict] = {}
        self.refused = 0


@pytest.mark.parametrize(
    ("syscalls", "err", "first"),
    [("fdatasync", "EIO", 3), ("fdatasync", "ENOSPC", 3), ("rename,renameat,renameat2", "EIO", 6)],
    ids=["fdatasync-EIO", "fdatasync-ENOSPC", "rename-EIO"],
)
def test_a_real_daemon_under_strace_injection_denies_heals_and_contradicts_nothing(
    make_world, syscalls, err, first
):
    reason = strace_unavailable()
    if reason:
        pytest.skip(reason)
    world = make_world(POLICY)
    cmd = [
        "strace",
        "-f",
        "-qq",
        "--seccomp-bpf",
        "-o",
        "/dev/null",
        "-e",
        f"trace={syscalls}",
        "-e",
        f"inject={syscalls}:error={err}:when={first}..{first + 3}",
        sys.executable,
        "-m",
        "forge_tui",
        "-C",
        str(world.project.root),
        "daemon",
        "--socket",
        str(world.sock),
    ]
    proc = subprocess.Popen(
        cmd,
        env=world.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    agent = Told()
    allowed_after_refusal = 0
    daemon_pid = None
    try:
        wait_for_socket(world.sock, proc, timeout=60)
        deadline = time.monotonic() + 90
        with Client(world.sock, timeout=30) as c:
            daemon_pid = c.call("status")["pid"]  # strace's child: signals to strace do not reach it
            while allowed_after_refusal < 3:
                assert time.monotonic() < deadline, (
                    f"no healing: {agent.refused} refusals, {len(agent.told)} allowed"
                )
                params = {"action": {"kind": "shell.exec", "command": "pytest -q"}, "actor": {"id": "a"}}
                try:
                    res = c.call("gate.request", params)
                except RPCError as exc:
                    assert exc.code == LEDGER_UNAVAILABLE, exc
                    agent.refused += 1
                    time.sleep(0.01)  # the polling interval while the daemon heals (bounded above)
                    continue
                assert res["status"] == "allowed"
                agent.told[res["request_id"]] = res
                if agent.refused:
                    allowed_after_refusal += 1
    finally:
        if daemon_pid is not None:
            os.kill(daemon_pid, signal.SIGTERM)
        else:
            proc.send_signal(signal.SIGTERM)
        try:
            _out, log = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            _out, log = proc.communicate()
    assert agent.refused > 0, "the injected fault never denied a request"
    assert "ledger degraded" in log and "ledger healed" in log, log[-2000:]
    check_ledger_matches_answers(world, agent)
    verify_clean(world)
