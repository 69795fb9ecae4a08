# ruff: noqa: F811 - pytest fixtures imported from console_kit are redefined as test parameters
"""A reviewer on another machine (issue 13): the console over the reviewer socket forwarded with
`ssh -L LOCAL.sock:REMOTE.sock` (stream-local forwarding). The ssh client talks to a real sshd started
for the test in inetd mode (`sshd -i` as its ProxyCommand), so nothing listens on TCP: not the daemon,
not sshd. Without openssh the same test runs over an equivalent stream-local relay, and says so.

Each test says what would be broken if it failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from console_kit import PASSPHRASE, agent_factory, auth_edit, console_world, daemon, wait_until  # noqa: F401

from forge_tui.tui.app import ForgeApp
from forge_tui.tui.screens.dialogs import ConfirmDialog

SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else None)
SSH = shutil.which("ssh")
SSH_KEYGEN = shutil.which("ssh-keygen")

SSHD_CONFIG = """\
HostKey {d}/host
AuthorizedKeysFile {d}/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
AllowStreamLocalForwarding yes
StreamLocalBindUnlink yes
PidFile none
LogLevel ERROR
"""


async def ssh_forward(local: Path, remote: Path, d: Path) -> asyncio.subprocess.Process:
    """`ssh -N -L local:remote` through an sshd started on the ssh client's stdio (no TCP)."""
    for name in ("host", "client"):
        keygen = await asyncio.create_subprocess_exec(
            SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)
        )
        assert await keygen.wait() == 0
    shutil.copy(d / "client.pub", d / "authorized_keys")
    (d / "sshd_config").write_text(SSHD_CONFIG.format(d=d))
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation folder
    return await asyncio.create_subprocess_exec(
        SSH,
        "-N",
        "-F",
        "/dev/null",
        "-i",
        str(d / "client"),
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "ExitOnForwardFailure=yes",
        "-o",
        f"ProxyCommand={SSHD} -i -f {d}/sshd_config -E {d}/sshd.log",
        "-L",
        f"{local}:{remote}",
        "localhost",
        stdin=asyncio.subprocess.DEVNULL,
        stderr=open(d / "ssh.err", "wb"),  # noqa: SIM115 - the child holds it
    )


async def relay(local: Path, remote: Path) -> asyncio.base_events.Server:
    """What `ssh -L` does for a stream-local forward, in-process: each connection to `local` is piped
    to a new connection to `remote`."""

    async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await r.read(65536):
                w.write(data)
                await w.drain()
        w.close()

    async def serve(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        rr, rw = await asyncio.open_unix_connection(str(remote))
        await asyncio.gather(pipe(r, rw), pipe(rr, w))

    return await asyncio.start_unix_server(serve, path=str(local))


def can_run_sshd() -> str:
    if not (SSHD and SSH and SSH_KEYGEN):
        return "openssh-server and openssh-client are not installed"
    if os.geteuid() != 0:
        return "sshd -i must run as root to log in (the test runs as another user)"
    return ""


@pytest.mark.parametrize("via", ["ssh", "relay"])
async def test_console_over_a_forwarded_reviewer_socket(
    console_world, daemon, agent_factory, monkeypatch, via
):
    """Broken if a console on the far end of a stream-local forward cannot see the queue live, approve
    with its own key, and have the approval take effect on the daemon's machine."""
    why = can_run_sshd()
    if via == "ssh" and why:
        pytest.skip(f"{why}: the relay case covers the forward")
    d = Path(tempfile.mkdtemp(prefix="fsh-", dir="/tmp"))
    local = d / "local.sock"
    tunnel = None
    proc = None
    try:
        if via == "ssh":
            proc = await ssh_forward(local, console_world.review_sock, d)
        else:
            tunnel = await relay(local, console_world.review_sock)
        deadline = time.monotonic() + 30
        while not local.exists():
            assert proc is None or proc.returncode is None, (d / "ssh.err").read_text()
            assert time.monotonic() < deadline, "the forward never appeared"
            await asyncio.sleep(0.05)  # polling for the forwarded socket, with a deadline
        monkeypatch.setenv("FORGE_PASSPHRASE", PASSPHRASE)
        app = ForgeApp.for_project(
            console_world.project, socket=local, reviewer=None, notifier=lambda t, b: None
        )
        app.animation_level = "none"
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_until(pilot, lambda: app.link_state == "connected", timeout=30, what="connected")
            agent = await agent_factory(console_world.sock)  # the agent, on the daemon's machine
            rid = (await agent.request(auth_edit("over the tunnel")))["request_id"]
            await wait_until(pilot, lambda: rid in app.pending, timeout=20, what="the request, live")
            await pilot.press("a")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the confirm dialog")
            await pilot.press("enter")
            await wait_until(pilot, lambda: rid not in app.pending, timeout=20, what="the decision")
            waited = await agent.call("gate.wait", {"request_id": rid, "wait_s": 5})
            assert (waited["status"], waited["reason"]) == ("allowed", "approved by alice")
    finally:
        if proc is not None and proc.returncode is None:
            proc.terminate()
            await proc.wait()
        if tunnel is not None:
            tunnel.close()
        shutil.rmtree(d, ignore_errors=True)


def test_the_daemon_never_listens_on_tcp():
    """Broken if the daemon grows a TCP listener for remote reviewers (they come over ssh)."""
    import ast
    import inspect

    import forge_tui.daemon.server as server

    tree = ast.parse(inspect.getsource(server))
    calls = {
        getattr(n.func, "attr", getattr(n.func, "id", "")) for n in ast.walk(tree) if isinstance(n, ast.Call)
    }
    assert "start_server" not in calls and "create_server" not in calls
    assert "start_unix_server" in calls
