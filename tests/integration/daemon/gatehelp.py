"""Helpers for the gate daemon tests: an isolated data folder, a project with a per-test policy and
reviewer keys, an in-process daemon on a short socket path, and a small asyncio JSON-RPC client.

tests/conftest.py (another engineer's) may add autouse isolation; these fixtures set what the daemon
needs themselves so they work with or without it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger_read import complete_lines, complete_records
from settle_kit import ledger_settled as settled

from forge_tui.core.keys import ReviewerKey
from forge_tui.core.note import Signer
from forge_tui.core.project import Project
from forge_tui.paths import atomic_write

REVIEWERS = ("alice", "bob", "carol")

# Allow pytest, deny rm -rf, ask for anything else: the policy of the lifecycle, fuzz and kill tests.
SMALL_POLICY = """\
version = 1
default = "ask"
approval_timeout = "10m"

[[rule]]
id = "tests"
match = { kind = "shell.exec", command = ["pytest*"] }
decision = "allow"

[[rule]]
id = "no-rm"
match = { kind = "shell.exec", command = ["rm -rf *"] }
decision = "deny"
reason = "no recursive deletes"
"""


@dataclass
class World:
    home: Path
    project: Project
    sock: Path
    keys: dict[str, ReviewerKey] = field(default_factory=dict)
    review_sock: Path | None = None  # the reviewer socket (default: <home>/rv/<sock name>)

    def __post_init__(self) -> None:
        if self.review_sock is None:
            self.review_sock = self.home / "rv" / self.sock.name

    @property
    def rsock(self) -> Path:
        assert self.review_sock is not None
        return self.review_sock

    def write_policy(self, text: str) -> None:
        atomic_write(self.project.policy_path, text.encode())

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
        env["FORGE_SOCKET"] = str(self.sock)
        env["FORGE_REVIEW_SOCKET"] = str(self.review_sock)
        env.update(extra)
        return env

    def records(self) -> list[dict[str, Any]]:
        """Every record of the authoritative ledger copy, in order."""
        lid = self.project.local_ledger_id()
        path = self.project.state_dir / "ledger" / f"{lid}.jsonl"
        return complete_records(path)

    def ledger_lines(self) -> list[bytes]:
        lid = self.project.local_ledger_id()
        path = self.project.state_dir / "ledger" / f"{lid}.jsonl"
        return complete_lines(path)


def reviewer_key(name: str) -> ReviewerKey:
    """A reviewer key in memory (no argon2 file: the daemon only needs the registered public key)."""
    return ReviewerKey(name, Signer.generate(f"forge-tui.reviewer/{name}"))


def action(kind: str = "shell.exec", **kw: Any) -> dict[str, Any]:
    return {"kind": kind, **kw}


def actor(aid: str = "agent-1", session: str = "s1", kind: str = "agent") -> dict[str, Any]:
    return {"id": aid, "kind": kind, "session": session}


def req(command: str | None = None, *, kind: str = "shell.exec", **kw: Any) -> dict[str, Any]:
    """gate.request params for a shell command (or another kind with paths=...)."""
    a = {"kind": kind}
    if command is not None:
        a["command"] = command
    if "paths" in kw:
        a["paths"] = kw.pop("paths")
    return {"action": a, "actor": actor(kw.pop("aid", "agent-1"), kw.pop("session", "s1")), **kw}


def ask_pending(world: World, command: str = "make deploy") -> str:
    """Ask the world's running daemon (over its agent socket, as an agent) for `command` without
    waiting; asserts the answer is pending and returns the request id."""
    from forge_tui.client import Client

    with Client(world.sock) as agent:
        asked = agent.call("gate.request", req(command, wait_s=0))
    assert asked["status"] == "pending", asked
    return asked["request_id"]


def propose_policy(world: World, text: str) -> str:
    """Write `text` as the policy of the world's running daemon (reviewers enrolled) and wait until the
    daemon shows it as the pending change a reviewer must approve; returns its digest."""
    import hashlib

    from forge_tui.client import Client

    world.write_policy(text)
    digest = hashlib.sha256(text.encode()).hexdigest()
    with Client(world.rsock) as c:
        deadline = time.monotonic() + 20
        while (c.call("status")["policy"].get("pending") or {}).get("digest") != digest:
            assert time.monotonic() < deadline, "the edit never became a pending change"
            time.sleep(0.02)  # polling a condition with a deadline
    return digest


def sign(
    world: World,
    signer: str,
    item: dict[str, Any],
    verdict: str = "approve",
    reason: str = "",
    as_name: str | None = None,
    request_hash: str | None = None,
) -> dict[str, Any]:
    """queue.decide params: `signer`'s key signs an approval naming `as_name` (default: signer)."""
    from forge_tui.review import build_approval

    approval = build_approval(
        item["request_id"], request_hash or item["request_hash"], verdict, reason, as_name or signer
    )
    return {"approval": approval, "reviewer_sig": world.keys[signer].sign_approval(approval)}


# ---- subprocess daemons ------------------------------------------------------------------------


def wait_for_socket(path: Path, proc: subprocess.Popen | None = None, timeout: float = 60.0) -> None:
    """Bounded polling until the daemon answers `hello` on `path` (not a sleep-as-synchronisation).

    An answer, not a bare connect(): the daemon binds its agent socket before its reviewer socket, and a
    connect() to the first can succeed in between (4 of 15 starts on a loaded machine, for up to 0.3 ms),
    after which a test that opens the reviewer socket finds nothing there. The daemon serves no request
    before its startup has bound both. The deadline is generous: a daemon starts in about a second, but
    a loaded 2-core machine has taken several."""
    from forge_tui.daemon.spawn import daemon_answers

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(
                f"daemon exited with {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}"
            )
        if path.exists() and daemon_answers(path, timeout=max(0.2, min(5.0, deadline - time.monotonic()))):
            return
        time.sleep(0.02)  # polling interval of a bounded condition loop
    raise AssertionError(f"no daemon answered on {path} within {timeout} s")


def spawn_daemon(world: World, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "forge_tui",
            "-C",
            str(world.project.root),
            "daemon",
            "--socket",
            str(world.sock),
            "--review-socket",
            str(world.review_sock),
            *extra,
        ],
        env=world.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_cli(
    world: World, *args: str, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "forge_tui", "-C", str(world.project.root), *args],
        env=env or world.env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def ledger_settled(world: World, timeout: float = 60.0) -> bool:
    """settle_kit.ledger_settled for a World (see there)."""
    return settled(world.project, timeout)


def verify_clean(world: World) -> None:
    """The ledger verifies (exit 0) with no forensic error (notices for recorded refusals are fine)."""
    from forge_tui.core.verify import verify_project

    ledger_settled(world)
    report = verify_project(world.project, workers=1)
    lines = [f.line() for f in report.findings]
    assert report.exit_code() == 0, lines
    assert not [f for f in report.findings if f.severity == "error"], lines


def started_appender(world: World):
    """(writer, appender) on the world's ledger, the appender's threads started (on the running loop)."""
    from forge_tui.core.ledger import LedgerWriter
    from forge_tui.daemon.appender import GroupAppender

    writer = LedgerWriter.open(world.project)
    appender = GroupAppender(writer)
    appender.start()
    return writer, appender


async def worker_ready(offload, timeout: float = 60.0) -> None:
    """Wait (polling a bounded condition) until the PolicyOffload's worker has said it is ready."""
    import asyncio

    deadline = time.monotonic() + timeout
    while not offload.available():
        assert time.monotonic() < deadline, "the policy worker never became ready"
        await asyncio.sleep(0.01)
