"""The daemon tells sandboxed peers from others by looking at them through /proc (daemon/peer.py), and
the request records and the status say so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from forge_tui.client import Client
from forge_tui.daemon import peer
from forge_tui.protocol import GATE_REQUEST, STATUS

ASK_INSIDE = (
    "import json\n"
    "from forge_tui.client import Client, project_socket\n"
    "with Client(project_socket(), client='probe') as c:\n"
    "    print(json.dumps(c.call('gate.request', {'action': {'kind': 'shell.exec', 'command': 'ls'},\n"
    "                                             'actor': {'id': 'agent:inside', 'kind': 'agent'}})))\n"
)


def _records(box) -> list[dict]:
    (path,) = box.authoritative_ledgers()
    return [json.loads(line) for line in path.read_bytes().split(b"\n") if line]


def _request_record(box, rid: str) -> dict:
    return next(r for r in _records(box) if r["type"] == "request" and r["body"]["request_id"] == rid)


def test_requests_from_inside_are_recorded_sandboxed_and_others_not(box):
    # What would be wrong on failure: `status`/`verify` would claim "agents sandboxed" on a label.
    with Client(box.agent_sock, client="host") as c:
        before = c.call(STATUS, {})["requests_by_sandbox"]
        outside = c.call(
            GATE_REQUEST,
            {
                "action": {"kind": "shell.exec", "command": "ls"},
                "actor": {"id": "agent:outside", "kind": "agent"},
            },
        )
    res = box.run(sys.executable, "-c", ASK_INSIDE)
    assert res.returncode == 0, res.stderr
    inside = json.loads(res.stdout.strip().splitlines()[-1])
    assert _request_record(box, inside["request_id"])["body"]["process"]["sandboxed"] is True
    assert _request_record(box, outside["request_id"])["body"]["process"]["sandboxed"] is False
    with Client(box.agent_sock, client="host") as c:
        after = c.call(STATUS, {})["requests_by_sandbox"]
    assert after == {"sandboxed": before["sandboxed"] + 1, "unsandboxed": before["unsandboxed"] + 1}


def test_an_environment_variable_does_not_make_a_peer_sandboxed(box):
    # FORGE_SANDBOX=bwrap set outside the sandbox is a claim; the daemon does not read it.
    env = dict(box.env, FORGE_SANDBOX="bwrap", FORGE_SOCKET=str(box.agent_sock))
    res = subprocess.run(
        [sys.executable, "-c", ASK_INSIDE], cwd=box.root, env=env, capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stderr
    rid = json.loads(res.stdout.strip().splitlines()[-1])["request_id"]
    assert _request_record(box, rid)["body"]["process"]["sandboxed"] is False


def test_a_mount_namespace_that_still_shows_the_keys_is_not_sandboxed(box):
    # A new mount and pid namespace alone (bwrap without forge-tui run's mounts) is not enough.
    import shutil

    env = dict(box.env, FORGE_SOCKET=str(box.agent_sock))
    res = subprocess.run(
        [
            shutil.which("bwrap"),
            "--unshare-user-try",
            "--cap-drop",
            "ALL",
            "--unshare-pid",
            "--bind",
            "/",
            "/",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
            "--",
            sys.executable,
            "-c",
            ASK_INSIDE,
        ],
        cwd=box.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    rid = json.loads(res.stdout.strip().splitlines()[-1])["request_id"]
    assert _request_record(box, rid)["body"]["process"]["sandboxed"] is False


def test_self_and_unknown_pids():
    # The test process shares the daemon side's namespaces; a pid that does not exist cannot be told.
    assert peer.sandboxed(os.getpid()) is False
    assert peer.sandboxed(None) is None
    assert peer.sandboxed(2**22 + 12345) is None


def test_watched_folders_follow_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("FORGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FORGE_REVIEW_SOCKET", str(tmp_path / "rv" / "r.sock"))
    assert peer.watched_folders() == (str((tmp_path / "data").resolve()), str((tmp_path / "rv").resolve()))
    assert Path(peer.watched_folders()[0]).is_dir()
