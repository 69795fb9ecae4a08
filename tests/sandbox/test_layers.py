"""The sandbox in the default socket layout ($XDG_RUNTIME_DIR/forge-tui), and the Landlock layer."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys

import pytest
from sandbox_kit import PROBE, bwrap_refusal, close_box, make_box

from forge_tui.sandbox_init import SCOPE_ABI, landlock_abi


@pytest.fixture(scope="module")
def xdg_box():
    """A project whose daemon uses the default runtime folder: $XDG_RUNTIME_DIR/forge-tui/."""
    why = bwrap_refusal()
    if why:
        pytest.skip(why)
    b = make_box(runtime="xdg")
    try:
        yield b
    finally:
        close_box(b)


def test_default_layout_keeps_only_the_agent_socket(xdg_box):
    # $XDG_RUNTIME_DIR is hidden (the session bus lives there), its forge-tui folder is bound back, and
    # the reviewer socket below that is hidden again.
    box = xdg_box
    assert box.agent_sock.parent == box.xdg_run / "forge-tui"
    assert box.review_sock.exists()
    (box.xdg_run / "bus").write_text("")
    out = box.probe(
        ["connect", str(box.agent_sock)],
        ["connect", str(box.review_sock)],
        ["exists", str(box.xdg_run / "bus")],
        ["listdir", str(box.xdg_run)],
    )
    assert out == ["ok", "ENOENT", False, ["forge-tui"]]


def test_agent_socket_survives_a_daemon_restart(xdg_box):
    # The folder, not the socket file, is bound in: a new daemon's socket is reachable from a sandbox
    # started before it.
    from forge_tui.daemon.spawn import start_daemon, stop_daemon

    box = xdg_box
    inner = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "forge_tui",
            "run",
            "-q",
            "--",
            sys.executable,
            "-c",
            "import sys, time, os\n"
            "sys.stdout.write('ready\\n'); sys.stdout.flush()\n"
            "sys.stdin.readline()\n"
            "import socket; s = socket.socket(socket.AF_UNIX); s.connect(os.environ['FORGE_SOCKET']); print('ok')\n",
        ],
        cwd=box.root,
        env=box.env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert inner.stdout.readline().strip() == "ready"
        stop_daemon(box.daemon)
        box.daemon = start_daemon(box.root, box.agent_sock, log_path=box.log, env=box.env, timeout=60)
        out, _ = inner.communicate("go\n", timeout=60)
        assert out.strip().splitlines()[-1] == "ok"
    finally:
        if inner.poll() is None:
            inner.kill()


@pytest.mark.skipif(landlock_abi() < SCOPE_ABI, reason=f"the kernel's Landlock ABI is below {SCOPE_ABI}")
def test_landlock_scopes_abstract_sockets(xdg_box):
    # The network namespace is shared, so without Landlock an abstract socket made outside is reachable.
    name = f"forge-sandbox-test-{secrets.token_hex(4)}"
    outside = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    outside.bind("\0" + name)
    outside.listen(4)
    try:
        box = xdg_box
        refused, applied = box.probe(["connect_abstract", name], ["env", "FORGE_SANDBOX_LANDLOCK"])
        assert refused == "EPERM" and applied.startswith("scoped")
        res = box.run(
            sys.executable, str(PROBE), f'[["connect_abstract", "{name}"]]', args=("-q", "--no-landlock")
        )
        assert res.stdout.strip().endswith('["ok"]')
    finally:
        outside.close()


def _on_a_terminal(cmd: list[str], box) -> str:
    """Run `cmd` as the session leader of a new pseudo-terminal (its controlling terminal), as an agent
    started from an interactive shell is; returns the probe's last line."""
    import fcntl
    import pty
    import termios

    master, slave = pty.openpty()
    try:
        res = subprocess.run(
            cmd,
            cwd=box.root,
            env=box.env,
            stdin=slave,
            capture_output=True,
            text=True,
            timeout=120,
            start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )
    finally:
        os.close(slave)
        os.close(master)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip().splitlines()[-1]


def test_no_typing_into_the_terminal_outside(box):
    # TIOCSTI pushes keystrokes into the terminal: the shell that started the agent would run them,
    # outside the sandbox. The same probe outside the sandbox can (control), inside it cannot.
    probe = [sys.executable, str(PROBE), '[["tiocsti"]]']
    outside = _on_a_terminal(probe, box)
    if outside != '["ok"]':
        pytest.skip(f"this kernel refuses TIOCSTI everywhere ({outside}): nothing to contain")
    inside = _on_a_terminal([sys.executable, "-m", "forge_tui", "run", "-q", "--", *probe], box)
    assert inside == '["EPERM"]'
