"""The attacks of issue 7, run from INSIDE `forge-tui run` against a real daemon: the kernel refuses
them (EROFS, ENOENT, EBUSY), not a parser. Each test also checks on the host that nothing changed, so
a sandbox that merely reported an error while the write went through would fail."""

from __future__ import annotations

import json
import sys

from forge_tui.client import Client
from forge_tui.protocol import QUEUE_LIST, UNAUTHORIZED


def test_trust_roots_in_forge_are_read_only(box):
    # What would be wrong on failure: the agent could enrol its own reviewer or loosen the policy.
    before = {p: p.read_bytes() for p in (box.root / ".forge").rglob("*") if p.is_file()}
    out = box.probe(
        ["write", ".forge/reviewers.toml"],
        ["write", ".forge/policy.toml"],
        ["write", ".forge/new-file"],
        ["unlink", ".forge/policy.toml"],
        ["rename", ".forge/policy.toml", "policy.toml"],  # out of the read-only mount: EXDEV
    )
    assert out == ["EROFS"] * 4 + ["EXDEV"]
    after = {p: p.read_bytes() for p in (box.root / ".forge").rglob("*") if p.is_file()}
    assert after == before


def test_git_log_output_into_reviewers_is_refused(box):
    # The self-approval attack: a "read-only" git command writing a commit message over reviewers.toml.
    before = (box.root / ".forge/reviewers.toml").read_bytes()
    res = box.run("git", "log", "-1", "--format=%B", "--output=.forge/reviewers.toml")
    assert res.returncode != 0
    assert "Read-only file system" in res.stderr
    assert (box.root / ".forge/reviewers.toml").read_bytes() == before


def test_git_hooks_and_config_are_read_only(box):
    # What would be wrong on failure: a pre-commit hook or a core.hooksPath runs code outside the sandbox.
    config = (box.root / ".git/config").read_bytes()
    out = box.probe(
        ["write", ".git/hooks/pre-commit"],
        ["append", ".git/config"],
        ["unlink", ".git/config"],
        ["rename", ".git/hooks", ".git/hooks-old"],
    )
    assert out == ["EROFS", "EROFS", "EBUSY", "EBUSY"]
    res = box.run("git", "config", "core.hooksPath", "/tmp/evil")  # lock file + rename onto the mount
    assert res.returncode != 0
    assert (box.root / ".git/config").read_bytes() == config
    assert not (box.root / ".git/hooks/pre-commit").exists()


def test_agent_settings_folders_are_read_only(box):
    # `.claude/settings.local.json` with disableAllHooks would switch the gate's hook off.
    out = box.probe(
        ["write", ".claude/settings.local.json"],
        ["write", ".codex/hooks.json"],
        ["write", ".gemini/settings.json"],
    )
    assert out == ["EROFS"] * 3
    assert not (box.root / ".claude/settings.local.json").exists()


def test_protected_folders_cannot_be_moved_aside(box):
    # Renaming `.forge` (or the whole project) away and putting a writable copy in its place.
    out = box.probe(
        ["rename", ".forge", "forge-old"],
        ["rename", ".git", "git-old"],
        ["rename", str(box.root), str(box.root) + "-old"],
        ["rename", str(box.data), str(box.data) + "-old"],
    )
    assert out == ["EBUSY"] * 4
    assert (box.root / ".forge/project.toml").is_file()


def test_data_folder_is_invisible(box):
    # The private keys and the authoritative ledger: not readable, not deletable, not even listed.
    keys = box.ledger_key_files()
    ledgers = box.authoritative_ledgers()
    assert keys and ledgers, "the fixture should have a ledger key and an authoritative ledger"
    ops = [["listdir", str(box.data)]]
    ops += [["read", str(p)] for p in keys + ledgers]
    ops += [["unlink", str(p)] for p in keys + ledgers]
    ops += [["write", str(box.data / "keys" / "planted.key")], ["write", str(box.data / "planted")]]
    out = box.probe(*ops)
    n = len(keys) + len(ledgers)
    assert out[0] == []
    assert out[1 : 1 + 2 * n] == ["ENOENT"] * (2 * n)
    assert out[1 + 2 * n :] == ["ENOENT", "EROFS"]
    assert box.ledger_key_files() == keys
    assert all(p.exists() for p in ledgers)


def test_pytest_basetemp_on_the_data_folder_deletes_nothing(box):
    # `pytest --basetemp=<data folder>` empties basetemp first: inside, there is nothing there to delete.
    keys = {p: p.read_bytes() for p in box.ledger_key_files()}
    (box.root / "test_basetemp.py").write_text("def test_x(tmp_path):\n    assert tmp_path.exists()\n")
    try:
        box.run(
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            f"--basetemp={box.data}",
            "test_basetemp.py",
        )
    finally:
        (box.root / "test_basetemp.py").unlink()
    assert {p: p.read_bytes() for p in box.ledger_key_files()} == keys
    assert box.authoritative_ledgers()


def test_conftest_rewriting_the_policy_is_refused(box):
    # An allowed edit of conftest.py plus an allowed `pytest` runs arbitrary code: the kernel still says no.
    policy = (box.root / ".forge/policy.toml").read_bytes()
    tests = box.root / "t"
    tests.mkdir(exist_ok=True)
    (tests / "conftest.py").write_text(
        "import errno, json, pathlib\n"
        "here = pathlib.Path(__file__).parent\n"
        "try:\n"
        "    (here.parent / '.forge/policy.toml').write_text('version = 1\\ndefault = \"allow\"\\n')\n"
        "    result = 'ok'\n"
        "except OSError as exc:\n"
        "    result = errno.errorcode[exc.errno]\n"
        "(here / 'result.json').write_text(json.dumps(result))\n"
    )
    (tests / "test_nothing.py").write_text("def test_nothing():\n    pass\n")
    res = box.run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", ".")
    assert res.returncode == 0, res.stdout + res.stderr
    result = json.loads((tests / "result.json").read_text())
    assert result == "EROFS"
    assert (box.root / ".forge/policy.toml").read_bytes() == policy


def test_reviewer_socket_and_runtime_folder_are_invisible(box):
    # Only the agent socket is reachable: no reviewer socket, no session bus or other sockets.
    import socket

    outside = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    outside.connect(str(box.review_sock))  # reachable from the host, so the refusal below means something
    outside.close()
    bus = box.xdg_run / "bus"
    bus.write_text("")
    out = box.probe(
        ["connect", str(box.review_sock)],
        ["listdir", str(box.review_sock.parent)],
        ["exists", str(bus)],
        ["connect", str(box.agent_sock)],
    )
    assert out == ["ENOENT", [], False, "ok"]


def test_daemon_files_not_reachable_through_proc(box):
    # /proc/<daemon pid>/root would lead back to the host's view of the data folder.
    pid = box.daemon.pid
    out = box.probe(["exists", f"/proc/{pid}/root{box.data}/keys"], ["exists", f"/proc/{pid}"])
    assert out == [False, False]


def test_passphrase_is_not_passed_in(box):
    assert box.env["FORGE_PASSPHRASE"]
    assert box.probe(["env", "FORGE_PASSPHRASE"], ["env", "FORGE_SANDBOX"]) == [None, "bwrap"]


def test_project_files_are_writable(box):
    # The sandbox must not get in the way of normal work.
    scratch = box.base / "scratch"  # under /tmp, removed with the box
    out = box.probe(["write", "src.py"], ["append", "src.py"], ["write", str(scratch)])
    assert out == ["ok", "ok", "ok"]
    assert scratch.is_file()
    assert "mallory" in (box.root / "src.py").read_text()
    (box.root / "src.py").unlink()


def test_gate_request_from_inside_is_answered(box):
    # The agent socket works from inside: an agent's request gets a decision.
    code = (
        "import json\n"
        "from forge_tui.client import Client, project_socket\n"
        "from forge_tui.protocol import GATE_REQUEST\n"
        "with Client(project_socket(), client='probe') as c:\n"
        "    print(json.dumps(c.call(GATE_REQUEST, {'action': {'kind': 'shell.exec', 'command': 'ls'},\n"
        "                                           'actor': {'id': 'agent:probe', 'kind': 'agent'}})))\n"
    )
    res = box.run(sys.executable, "-c", code)
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert got["status"] in ("allowed", "denied", "pending")
    assert got["request_id"] and got["seq"] > 0


def test_reviewer_methods_on_the_agent_socket_are_refused_from_inside(box):
    # The only socket the agent reaches answers agents' methods only: approving from inside is refused.
    code = (
        "import json\n"
        "from forge_tui.client import Client, project_socket\n"
        "from forge_tui.protocol import QUEUE_DECIDE, QUEUE_LIST, RPCError\n"
        "out = []\n"
        "with Client(project_socket(), client='probe') as c:\n"
        "    for method, params in ((QUEUE_DECIDE, {'approval': {}, 'reviewer_sig': ''}), (QUEUE_LIST, {})):\n"
        "        try:\n"
        "            c.call(method, params)\n"
        "            out.append('answered')\n"
        "        except RPCError as exc:\n"
        "            out.append(exc.code)\n"
        "print(json.dumps(out))\n"
    )
    res = box.run(sys.executable, "-c", code)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout.strip().splitlines()[-1]) == [UNAUTHORIZED, UNAUTHORIZED]
    # The same call on the reviewer socket, from the host, is answered: the refusal is about the socket.
    with Client(box.review_sock, client="host") as c:
        assert "pending" in c.call(QUEUE_LIST, {})


def test_home_files_that_run_later_outside_are_read_only(box):
    # A core.hooksPath in the global git config, or a line in ~/.bashrc, would run the agent's code
    # outside the sandbox at the reviewer's next commit or shell. ~/.gitconfig is created to be bound.
    home = box.root.parent / "home"
    (home / ".bashrc").write_text("# the user's\n")
    out = box.probe(
        ["append", str(home / ".gitconfig")],
        ["write", str(home / ".config/git/config")],
        ["append", str(home / ".bashrc")],
    )
    assert out == ["EROFS"] * 3
    assert (home / ".gitconfig").read_text() == ""
    res = box.run("git", "config", "--global", "core.hooksPath", "/tmp/evil")
    assert res.returncode != 0 and (home / ".gitconfig").read_text() == ""
