"""Helpers for the console tests: a project with reviewer keys, the REAL daemon in-process on a short
socket, an agent-side asyncio JSON-RPC client, and bounded condition waits for Pilot tests.

Import the fixtures into a test module (`from console_kit import console_world, daemon`) to use them.
They set what they need themselves, with or without tests/conftest.py's autouse isolation.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from ledger_read import complete_records
from rpc_kit import RPC

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")

from forge_tui.core.keys import ReviewerKey, create_reviewer_key  # noqa: E402
from forge_tui.core.project import Project, init_project  # noqa: E402
from forge_tui.core.reviewers import enrol_reviewers  # noqa: E402
from forge_tui.daemon.server import Daemon  # noqa: E402
from forge_tui.paths import atomic_write  # noqa: E402

PASSPHRASE = "correct horse"

POLICY = """\
version = 1
default = "ask"
approval_timeout = "15m"

[[rule]]
id = "read-only"
match = { tool = ["Read", "Glob", "Grep"] }
decision = "allow"

[[rule]]
id = "protect-auth"
match = { kind = "file.write", paths = ["src/auth/**"] }
decision = "ask"
reason = "authentication code needs a human review"

[[rule]]
id = "two-keys"
match = { kind = "deploy" }
decision = "ask"
approvals = 2

[[rule]]
id = "no-force-push"
match = { kind = "shell.exec", command = ["git push --force*"] }
decision = "deny"
"""

DIFF = """\
--- a/src/auth/session.py
+++ b/src/auth/session.py
@@ -1,3 +1,3 @@
-    expires = now() + timedelta(hours=12)
+    expires = now() + timedelta(hours=1)
     return token
"""


@dataclass
class ConsoleWorld:
    home: Path
    project: Project
    sock: Path
    keys: dict[str, ReviewerKey] = field(default_factory=dict)
    daemons: list[Daemon] = field(default_factory=list)

    @property
    def review_sock(self) -> Path:
        """The reviewer socket, where the console connects (the agent uses `sock`)."""
        return self.home / "rv" / "d.sock"

    def records(self) -> list[dict[str, Any]]:
        lid = self.project.local_ledger_id()
        path = self.project.state_dir / "ledger" / f"{lid}.jsonl"
        return complete_records(path)

    async def start_daemon(self) -> Daemon:
        d = Daemon(self.project, self.sock, review_socket_path=self.review_sock, policy_debounce_ms=50)
        await d.start()
        self.daemons.append(d)
        return d

    def config(self, text: str) -> Path:
        path = Path(os.environ["XDG_CONFIG_HOME"]) / "forge-tui" / "config.toml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path


def make_console_world(monkeypatch, reviewers: tuple[str, ...] = ("alice",)) -> ConsoleWorld:
    home = Path(tempfile.mkdtemp(prefix="fct-", dir="/tmp"))  # short: the socket path is ≤ 107 bytes
    for var, sub in (
        ("FORGE_DATA_DIR", "data"),
        ("FORGE_RUNTIME_DIR", "run"),
        ("XDG_CONFIG_HOME", "cfg"),
        ("XDG_RUNTIME_DIR", "xrun"),
    ):
        (home / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
        monkeypatch.setenv(var, str(home / sub))
    for var in ("FORGE_SOCKET", "FORGE_REVIEW_SOCKET", "FORGE_PASSPHRASE", "FORGE_TUI_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    root = home / "proj"
    root.mkdir()
    project = init_project(root, pack="solo", name="shop")
    atomic_write(project.policy_path, POLICY.encode())
    keys = {n: create_reviewer_key(n, PASSPHRASE, kdf="interactive") for n in reviewers}
    enrol_reviewers(project, keys)
    return ConsoleWorld(home, project, home / "d.sock", keys)


@pytest.fixture
async def console_world(monkeypatch):
    w = make_console_world(monkeypatch)
    yield w
    for d in w.daemons:
        with contextlib.suppress(Exception):
            await d.stop()
    shutil.rmtree(w.home, ignore_errors=True)


@pytest.fixture
async def daemon(console_world):
    """The world's daemon, started (the console_world fixture stops it)."""
    return await console_world.start_daemon()


class Agent(RPC):
    """The agent side: an asyncio JSON-RPC connection sending gate requests."""

    async def request(
        self,
        action: dict[str, Any],
        *,
        actor: str = "claude",
        kind: str = "agent",
        session: str = "s1",
        content: dict[str, Any] | None = None,
        requirement: str | None = None,
    ) -> dict[str, Any]:
        return await self.call(
            "gate.request",
            {
                "action": action,
                "actor": {"id": actor, "kind": kind, "session": session},
                "principal": "dana",
                "requirement": requirement,
                "content": content,
                "wait_s": 0,
            },
        )


@pytest.fixture
async def agent_factory():
    agents: list[Agent] = []

    async def open_(path: Path) -> Agent:
        a = await Agent.open(path)
        agents.append(a)
        return a

    yield open_
    for a in agents:
        await a.close()


def auth_edit(summary: str = "Shorten session lifetime") -> dict[str, Any]:
    return {"kind": "file.write", "tool": "Edit", "paths": ["src/auth/session.py"], "summary": summary}


async def wait_until(pilot, cond: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Let the app run until `cond()` is truthy; fail after `timeout` s. A bounded condition wait: each
    round lets Textual process its messages (pilot.pause) and the daemon serve its sockets."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await pilot.pause(0.01)
