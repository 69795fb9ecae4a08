"""`forge-tui run` does not expose the pair socket (daemon/admission.py: the reviewer role for other
OS accounts, in /tmp/forge-tui-pair-<project id>/ by default): from inside the sandbox, connecting to
it fails with ENOENT and its folder is empty, while on the host the daemon listens there. (The daemon
also refuses the owner's uid on that socket; the sandbox makes it unreachable in the first place.)"""

from __future__ import annotations

import os
import shutil
import socket
import sys

import pytest
from sandbox_kit import bwrap_refusal, close_box, make_box

from forge_tui.daemon.admission import default_socket
from forge_tui.daemon.spawn import start_daemon

NOBODY = 65534  # an account other than ours: with it admitted, the daemon opens the pair socket


@pytest.fixture
def pair_box():
    why = bwrap_refusal()
    if why:
        pytest.skip(why)
    b = make_box(daemon=False)
    state = b.data / "projects" / b.project_id
    state.mkdir(parents=True, exist_ok=True)
    (state / "pair.toml").write_text(f"uids = [{NOBODY}]\n")
    os.chmod(state / "pair.toml", 0o600)
    sock = default_socket(b.project_id)
    try:
        b.daemon = start_daemon(b.root, b.agent_sock, log_path=b.log, env=b.env, timeout=60)
        yield b, sock
    finally:
        close_box(b)
        shutil.rmtree(sock.parent, ignore_errors=True)


def test_the_pair_socket_is_not_there_inside_the_sandbox(pair_box):
    box, sock = pair_box
    assert os.getuid() != NOBODY
    outside = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    outside.connect(str(sock))  # the daemon listens there: the ENOENT below is the sandbox's doing
    outside.close()
    out = box.probe(
        ["connect", str(sock)],
        ["listdir", str(sock.parent)],
        ["write", str(sock.parent / "review.sock")],
        ["connect", str(box.agent_sock)],
    )
    assert out == ["ENOENT", [], "EROFS", "ok"]
    assert sock.exists(), "the probe changed the host's pair socket"


def test_a_pair_folder_made_before_the_daemon_is_hidden_too(tmp_path):
    """`forge-tui run` started before any daemon: the default pair folder is prepared (0711, ours) and
    hidden, so a daemon started later with pair.toml does not put the socket in the agent's reach."""
    why = bwrap_refusal()
    if why:
        pytest.skip(why)
    b = make_box(daemon=False)
    sock = default_socket(b.project_id)
    try:
        res = b.run(sys.executable, "-c", f"import os; print(os.path.isdir({str(sock.parent)!r}))")
        assert res.returncode == 0, res.stderr
        assert res.stdout.strip() == "True"  # a mount point inside: the empty read-only tmpfs
        assert sock.parent.is_dir() and (sock.parent.stat().st_mode & 0o777) == 0o711
        printed = b.run("true", args=("--print",))
        assert f"--tmpfs {sock.parent}" in printed.stdout
    finally:
        close_box(b)
        shutil.rmtree(sock.parent, ignore_errors=True)
