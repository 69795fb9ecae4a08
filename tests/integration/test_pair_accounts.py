"""Pair review under two OS accounts (issue 13): two users, created here as root, approve one
`approvals = 2, distinct_by = ["uid"]` request through the pair socket, each with `forge-tui approve`
run under their own uid (tests/integration/as_account.py drops to it); one user holding two reviewer keys cannot complete such a request;
an account the owner did not list, and the owner's own uid, are refused at the pair socket.

The reviewers are enrolled through the ledger, which only the owner's daemon holds: the other accounts'
CLI takes the reviewer set from the daemon's `reviewer.proof` and checks it against the committed keys
and reviewer view (forge_tui/core/trust_proof.py) before it asks for a passphrase.

Skipped, with the reason, where accounts cannot be made (not root, no useradd/setpriv).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from ledger_read import complete_records

from forge_tui.client import Client
from forge_tui.core.keys import create_reviewer_key
from forge_tui.core.project import Project, init_project
from forge_tui.core.reviewers import enrol_reviewers
from forge_tui.daemon.admission import PAIR_FILE
from forge_tui.daemon.server import Daemon
from forge_tui.paths import atomic_write
from forge_tui.protocol import UNAUTHORIZED, RPCError

PASSPHRASE = "pair passphrase"
POLICY = """\
version = 1
default = "ask"
approval_timeout = "15m"

[[rule]]
id = "four-eyes"
match = { kind = "deploy" }
decision = "ask"
approvals = 2
distinct_by = ["uid"]
"""


def _why_not() -> str:
    if os.geteuid() != 0:
        return "creating OS accounts needs root"
    missing = [t for t in ("useradd", "userdel", "setpriv") if shutil.which(t) is None]
    return f"{', '.join(missing)} not installed" if missing else ""


pytestmark = pytest.mark.skipif(bool(_why_not()), reason=_why_not() or "n/a")


@dataclass
class Account:
    name: str
    uid: int
    gid: int
    data: Path  # FORGE_DATA_DIR of this account
    run: Path  # FORGE_RUNTIME_DIR of this account


@dataclass
class PairWorld:
    base: Path
    project: Project
    agent_sock: Path
    review_sock: Path
    pair_sock: Path
    accounts: dict[str, Account]

    def records(self) -> list[dict]:
        lid = self.project.local_ledger_id()
        path = self.project.state_dir / "ledger" / f"{lid}.jsonl"
        return complete_records(path)


def _useradd(name: str) -> pwd.struct_passwd:
    subprocess.run(
        ["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", name],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return pwd.getpwnam(name)


def _account(base: Path, name: str, keys: tuple[str, ...], monkeypatch) -> tuple[Account, dict]:
    """An OS account with its own data folder holding reviewer keys `keys`."""
    pw = _useradd(name)
    acct = Account(name, pw.pw_uid, pw.pw_gid, base / f"data-{name}", base / f"run-{name}")
    for folder in (acct.data, acct.run):
        folder.mkdir(mode=0o700)
    monkeypatch.setenv("FORGE_DATA_DIR", str(acct.data))
    made = {k: create_reviewer_key(k, PASSPHRASE, kdf="interactive") for k in keys}
    for root, dirs, files in os.walk(acct.data):
        for entry in [root, *(os.path.join(root, x) for x in dirs + files)]:
            os.chown(entry, acct.uid, acct.gid)
    for folder in (acct.run,):
        os.chown(folder, acct.uid, acct.gid)
    return acct, made


@pytest.fixture
def pair_world(monkeypatch):
    base = Path(tempfile.mkdtemp(prefix="fpo-", dir="/tmp"))
    base.chmod(0o755)  # the accounts pass through to the project and their own folders
    tag = secrets.token_hex(3)
    made_users: list[str] = []
    try:
        accounts, reviewer_keys = {}, {}
        for short, keys in (("a", ("alice", "carol")), ("b", ("bob",)), ("c", ("mallory",))):
            name = f"fpr{tag}{short}"
            made_users.append(name)
            acct, keys_made = _account(base, name, keys, monkeypatch)
            accounts[short] = acct
            reviewer_keys.update(keys_made)
        owner_data = base / "data-owner"
        owner_data.mkdir(mode=0o700)
        monkeypatch.setenv("FORGE_DATA_DIR", str(owner_data))
        monkeypatch.setenv("FORGE_RUNTIME_DIR", str(base / "run-owner"))
        for var in ("FORGE_SOCKET", "FORGE_REVIEW_SOCKET", "FORGE_PASSPHRASE"):
            monkeypatch.delenv(var, raising=False)
        root = base / "proj"
        root.mkdir(mode=0o755)
        project = init_project(root, pack="solo", name="shop")
        atomic_write(project.policy_path, POLICY.encode(), mode=0o644)
        enrol_reviewers(
            project, reviewer_keys
        )  # signed enrolment records in the owner's ledger; exports the view
        for path in (root / ".forge", *(root / ".forge").rglob("*")):
            path.chmod(0o755 if path.is_dir() else 0o644)  # a shared checkout both accounts can read
        pair_sock = base / "pair" / "review.sock"
        admitted = [accounts["a"].name, accounts["b"].name]  # not c: nobody listed c
        atomic_write(
            project.state_dir / PAIR_FILE,
            f"users = {json.dumps(admitted)}\nsocket = {json.dumps(str(pair_sock))}\n".encode(),
            mode=0o600,
        )
        yield PairWorld(base, project, base / "a.sock", base / "rv" / "r.sock", pair_sock, accounts)
    finally:
        for name in made_users:
            subprocess.run(["userdel", name], capture_output=True, timeout=60, check=False)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
async def pair_daemon(pair_world):
    (pair_world.base / "rv").mkdir(mode=0o700)
    d = Daemon(
        pair_world.project,
        pair_world.agent_sock,
        review_socket_path=pair_world.review_sock,
        policy_debounce_ms=50,
    )
    await d.start()
    yield d
    with contextlib.suppress(Exception):
        await d.stop()


AS_ACCOUNT = Path(__file__).with_name("as_account.py")


def run_as(acct: Account, world: PairWorld, *args: str) -> subprocess.CompletedProcess:
    """`forge-tui ARGS` in the project under `acct`'s uid and gid only, on the pair socket. The command
    runs in the test's interpreter, which the account may not be able to enter: as_account.py loads it
    as root and drops to the account before the command line runs."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(acct.data),
        "FORGE_DATA_DIR": str(acct.data),
        "FORGE_RUNTIME_DIR": str(acct.run),
        "FORGE_REVIEW_SOCKET": str(world.pair_sock),
        "FORGE_PASSPHRASE": PASSPHRASE,
    }
    return subprocess.run(
        [sys.executable, str(AS_ACCOUNT), str(acct.uid), str(acct.gid), "-C", str(world.project.root), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


async def deploy_request(world: PairWorld) -> str:
    from forge_tui.client import Client

    def ask() -> str:
        with Client(world.agent_sock, client="sdk") as c:
            res = c.call(
                "gate.request",
                {
                    "action": {"kind": "deploy", "tool": "Bash", "command": "make deploy"},
                    "actor": {"id": "claude", "kind": "agent", "session": "s1"},
                    "wait_s": 0,
                },
            )
        assert res["status"] == "pending", res
        return res["request_id"]

    return await asyncio.to_thread(ask)


async def approve(world: PairWorld, who: str, key: str, rid: str) -> subprocess.CompletedProcess:
    return await asyncio.to_thread(run_as, world.accounts[who], world, "approve", rid, "--as", key)


def approvals_of(world: PairWorld, rid: str) -> list[dict]:
    return [
        r["body"]
        for r in world.records()
        if r["type"] == "approval" and r["body"]["approval"]["request_id"] == rid
    ]


def decision_of(world: PairWorld, rid: str) -> dict:
    return [r["body"] for r in world.records() if r["type"] == "decision" and r["body"]["request_id"] == rid][
        -1
    ]


async def test_two_accounts_complete_a_distinct_uid_quorum(pair_world, pair_daemon):
    """Broken if two people under their own accounts cannot approve together through the pair socket,
    or the approval records do not say which account each came from."""
    rid = await deploy_request(pair_world)
    first = await approve(pair_world, "a", "alice", rid)
    assert first.returncode == 0, first.stderr
    assert "1 of 2 approvals" in first.stdout
    second = await approve(pair_world, "b", "bob", rid)
    assert second.returncode == 0, second.stderr
    assert f"{rid} allowed" in second.stdout
    assert decision_of(pair_world, rid)["status"] == "allowed"
    peers = [(a["peer"]["uid"], a["peer"]["user"]) for a in approvals_of(pair_world, rid)]
    a, b = pair_world.accounts["a"], pair_world.accounts["b"]
    assert peers == [(a.uid, a.name), (b.uid, b.name)]


async def test_one_account_with_two_keys_cannot_complete_it(pair_world, pair_daemon):
    """Broken if one person holding two reviewer keys (alice and carol) makes a `distinct_by = ["uid"]`
    quorum alone, or the attempt leaves no trace."""
    rid = await deploy_request(pair_world)
    assert (await approve(pair_world, "a", "alice", rid)).returncode == 0
    again = await approve(pair_world, "a", "carol", rid)
    assert again.returncode != 0
    assert "OS account" in again.stderr, again.stderr
    assert rid in pair_daemon.gate.pending  # still waiting for another person
    assert [a["approval"]["reviewer"] for a in approvals_of(pair_world, rid)] == ["alice"]
    kinds = [r["body"]["kind"] for r in pair_world.records() if r["type"] == "violation"]
    assert "same_account_approval" in kinds


async def test_pair_socket_refuses_unlisted_accounts_and_the_owner(pair_world, pair_daemon):
    """Broken if an account nobody listed, or the owner's own uid (an agent's, when the agent runs as
    the owner), reaches the reviewer role through the pair socket."""
    rid = await deploy_request(pair_world)
    probe = (
        "import json, socket, sys\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        "s.settimeout(10)\n"
        "s.connect(sys.argv[1])\n"
        "try:\n"  # the daemon may refuse and close before the question is even sent
        '    s.sendall(b\'{"jsonrpc":"2.0","id":1,"method":"queue.list","params":{}}\\n\')\n'
        "except OSError:\n"
        "    pass\n"
        "print(s.recv(65536).decode())\n"
    )
    c = pair_world.accounts["c"]
    outsider = await asyncio.to_thread(
        subprocess.run,
        [
            "setpriv",
            f"--reuid={c.uid}",
            f"--regid={c.gid}",
            "--clear-groups",
            "--",
            # The probe needs only the standard library. The test's own interpreter may live under a
            # folder the other account cannot enter (a 0700 /root holding pyenv); the system one can.
            "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable,
            "-c",
            probe,
            str(pair_world.pair_sock),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    answer = json.loads(outsider.stdout)
    assert answer["error"]["code"] == 4001 and "result" not in answer, outsider.stdout + outsider.stderr
    assert rid in pair_daemon.gate.pending

    def owner_tries() -> bytes:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(str(pair_world.pair_sock))
        with contextlib.suppress(OSError):  # refused and closed before the question was sent
            s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"queue.list","params":{}}\n')
        data = s.recv(65536)
        s.close()
        return data

    reply = json.loads(await asyncio.to_thread(owner_tries))
    assert reply["error"]["code"] == 4001 and "result" not in reply

    def owner_calls() -> RPCError:
        # The shipped client says why (the refusal), not "broken pipe" or "daemon unavailable".
        with pytest.raises(RPCError) as refused, Client(pair_world.pair_sock) as client:
            client.call("queue.list")
        return refused.value

    refusal = await asyncio.to_thread(owner_calls)
    assert refusal.code == UNAUTHORIZED and "refused" in refusal.message
    assert (pair_world.pair_sock.parent.stat().st_mode & 0o777) == 0o711
