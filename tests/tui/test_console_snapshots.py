"""How the console looks: the queue, its empty state and the inspect screen, made deterministic (fixed
size, a frozen clock, fixed request data through a fake link, animations off).

Update the pictures with `pytest tests/tui/test_console_snapshots.py --snapshot-update` after checking
the change is wanted.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")

from forge_tui.client import RPCError  # noqa: E402
from forge_tui.core.approvals import APPROVAL_FIELDS  # noqa: E402
from forge_tui.core.keys import ReviewerKey  # noqa: E402
from forge_tui.core.note import Signer  # noqa: E402
from forge_tui.core.project import Project  # noqa: E402
from forge_tui.core.reviewers import Reviewer, save_reviewers  # noqa: E402
from forge_tui.protocol import METHOD_NOT_FOUND, REVIEWER_PROOF  # noqa: E402
from forge_tui.tui.app import ForgeApp  # noqa: E402
from forge_tui.tui.link import CONNECTED, LinkState, QueueSnapshot  # noqa: E402
from forge_tui.tui.sample import reviewer_key  # noqa: E402
from forge_tui.tui.screens.dialogs import ConfirmDialog, MessageDialog  # noqa: E402
from forge_tui.tui.screens.inspect import InspectScreen  # noqa: E402
from forge_tui.tui.widgets.queue_table import parse_ts  # noqa: E402

SIZE = (118, 34)
NOW = parse_ts("2026-11-23T20:04:12.000Z")
DIFF = """\
--- a/src/auth/session.py
+++ b/src/auth/session.py
@@ -12,4 +12,5 @@ def issue_token(user: User) -> str:
-    expires = now() + timedelta(hours=12)
+    # Shorter sessions after the incident review (SEC-142).
+    expires = now() + timedelta(hours=1)
     token = sign({"sub": user.id, "exp": expires})
"""


def item(n: int, received: str, expires: str, **over: Any) -> dict[str, Any]:
    base = {
        "request_id": f"r-00000000000000{n:02d}",
        "seq": 10 + n,
        "request_hash": "ab" * 32,
        "received_at": received,
        "expires_at": expires,
        "actor": {"id": "claude-code", "kind": "agent", "session": "sess-7f3a"},
        "principal": "dana",
        "process": {"pid": 4242, "uid": 1000, "exe": "/usr/bin/node"},
        "action": {
            "kind": "shell.exec",
            "tool": "Bash",
            "command": "make deploy",
            "paths": [],
            "summary": None,
        },
        "content": None,
        "requirement": None,
        "client": "hook",
        "rule": "deploy-after-tests",
        "rules": ["deploy-after-tests"],
        "reason": "deploys need a passing test run first and a human",
        "approvals_needed": 1,
        "approvals": [],
        "distinct_from": ["requester"],
        "session_history": [],
    }
    base.update(over)
    return base


PENDING = [
    item(
        1,
        "2026-11-23T20:00:00.000Z",
        "2026-11-23T20:15:00.000Z",
        action={
            "kind": "file.write",
            "tool": "Edit",
            "command": None,
            "paths": ["src/auth/session.py"],
            "summary": "Shorten session lifetime to 1 h [bold red]x[/]",
            "input_digest": "sha256:" + "0f" * 32,
        },
        content={"kind": "diff", "text": DIFF, "size": len(DIFF)},
        requirement="SEC-142",
        rule="protect-auth",
        rules=["edit-project", "protect-auth"],
        reason="authentication code needs a human review",
        approvals_needed=2,
        approvals=[
            {
                "reviewer": "bob",
                "verdict": "approve",
                "ts": "2026-11-23T20:02:00.000Z",
                "uid": 1001,
                "user": "bob",
            }
        ],
        distinct_from=["principal", "requester"],
        distinct_by=["reviewer", "uid"],
    ),
    item(2, "2026-11-23T20:03:30.000Z", "2026-11-23T20:18:30.000Z"),
    item(
        3,
        "2026-11-23T20:04:02.000Z",
        "2026-11-23T20:04:50.000Z",
        actor={"id": "release-bot", "kind": "agent", "session": "bot-1"},
        action={
            "kind": "shell.exec",
            "tool": "Bash",
            "command": "git push origin v1.4.0 \x1b[31m",
            "paths": [],
        },
        rule="push",
        rules=["push"],
        reason="pushes leave this machine",
    ),
]

HISTORY = [
    {
        "seq": 3,
        "ts": "2026-11-23T19:58:01.120Z",
        "type": "request",
        "body": {
            "request_id": "r-00000000000000a1",
            "actor": {"id": "claude-code", "kind": "agent", "session": "sess-7f3a"},
            "action": {
                "kind": "file.read",
                "tool": "Read",
                "paths": ["README.md"],
                "summary": "Read README.md",
            },
        },
    },
    {
        "seq": 4,
        "ts": "2026-11-23T19:58:01.130Z",
        "type": "decision",
        "body": {"request_id": "r-00000000000000a1", "status": "allowed"},
    },
    {
        "seq": 5,
        "ts": "2026-11-23T19:58:02.000Z",
        "type": "outcome",
        "body": {"request_id": "r-00000000000000a1", "status": "succeeded"},
    },
    {
        "seq": 6,
        "ts": "2026-11-23T19:59:10.000Z",
        "type": "request",
        "body": {
            "request_id": "r-00000000000000a2",
            "actor": {"id": "claude-code", "kind": "agent", "session": "sess-7f3a"},
            "action": {
                "kind": "shell.exec",
                "tool": "Bash",
                "command": "git push --force origin main",
                "paths": [],
            },
        },
    },
    {
        "seq": 7,
        "ts": "2026-11-23T19:59:10.010Z",
        "type": "decision",
        "body": {"request_id": "r-00000000000000a2", "status": "denied"},
    },
]


REVIEWERS = ("alice", "bob", "carol", "dana")  # dana is the principal: she may not approve


def approval_record(pending: dict[str, Any], vote: dict[str, Any], seq: int) -> dict[str, Any]:
    """The ledger's approval record of `vote`, signed with the sample key of its reviewer."""
    approval = {
        "request_id": pending["request_id"],
        "request_hash": pending["request_hash"],
        "verdict": vote["verdict"],
        "reason": "",
        "reviewer": vote["reviewer"],
        "ts": vote["ts"],
    }
    assert set(approval) == set(APPROVAL_FIELDS)
    key = reviewer_key(vote["reviewer"])
    return {
        "seq": seq,
        "ts": vote["ts"],
        "type": "approval",
        "body": {
            "approval": approval,
            "reviewer_kid": key.verifier.kid,
            "reviewer_sig": key.sign_approval(approval),
            "peer": {"pid": 5151, "uid": vote["uid"], "user": vote["user"], "exe": "/usr/bin/python3"},
        },
    }


LEDGER_ID = "0123456789abcdef"
PROJECT_ID = "00000000-0000-4000-8000-000000000000"
LEDGER_KEY = Signer(f"forge-tui.local/{PROJECT_ID}/{LEDGER_ID}", bytes(range(32, 64)))


def ledger_checkpoint() -> dict[str, Any]:
    """What `ledger.checkpoint` answers: a signed checkpoint of an empty ledger (the approval cosigns it)."""
    import hashlib

    from forge_tui.core.note import Checkpoint

    root = hashlib.sha256(b"").digest()
    note = Checkpoint(LEDGER_KEY.name, 0, root).sign([LEDGER_KEY])
    return {"ledger_id": LEDGER_ID, "note": note, "size": 0, "root": root.hex()}


class FakeLink:
    """A link that reports a fixed, connected daemon with a fixed queue (the app's Link protocol)."""

    def __init__(self, post, pending: list[dict[str, Any]]) -> None:
        self.post = post
        self.pending = pending
        self.state = "connecting"
        self._stop = asyncio.Event()

    async def run(self) -> None:
        self.state = CONNECTED
        self.post(LinkState(CONNECTED))
        self.post(QueueSnapshot([dict(p) for p in self.pending], {"policy": {}, "ledger": {}}))
        await self._stop.wait()

    async def call(
        self, method: str, params: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> Any:
        if method == "hello":
            return {"protocol": 1, "project_id": PROJECT_ID, "ledger": {"id": LEDGER_ID}}
        if method == "ledger.checkpoint":
            return ledger_checkpoint()
        if method == REVIEWER_PROOF:  # a daemon whose ledger this account does not hold, predating
            raise RPCError(METHOD_NOT_FOUND, f"unknown method {REVIEWER_PROOF!r}")  # it: the view stays
        if method == "queue.decide":
            rid = params["approval"]["request_id"]
            raise RPCError(4002, f"self-approval refused: alice is the requester of {rid}")
        if method == "ledger.query":
            types = set(params.get("type") or [])
            if types == {"approval"}:
                p = next(p for p in self.pending if p["request_id"] == params["request_id"])
                return {"records": [approval_record(p, v, 20 + k) for k, v in enumerate(p["approvals"])]}
            return {"records": [r for r in HISTORY if r["type"] in types]}
        raise AssertionError(f"unexpected call {method}")

    def reconnect_now(self) -> None:
        pass

    async def close(self) -> None:
        self._stop.set()


def make_app(pending: list[dict[str, Any]], root: Path) -> ForgeApp:
    """The console over the fake link, for a project whose reviewers are REVIEWERS (sample keys)."""
    project = Project(root=root, project_id=PROJECT_ID, name="shop")
    project.reviewers_path.parent.mkdir(parents=True, exist_ok=True)
    project.pub_dir.mkdir(parents=True, exist_ok=True)
    (project.pub_dir / f"{LEDGER_ID}.pub").write_text(LEDGER_KEY.verifier.vkey + "\n")
    save_reviewers(project.reviewers_path, {n: Reviewer(n, reviewer_key(n).verifier) for n in REVIEWERS})
    app = ForgeApp(
        project,
        link_factory=lambda post: FakeLink(post, pending),
        clock=lambda: NOW,
        tick_interval=None,
    )
    app.animation_level = "none"
    return app


async def _until(pilot, cond, rounds: int = 500) -> None:
    for _ in range(rounds):
        if cond():
            return
        await pilot.pause()
    raise AssertionError("the app never reached the expected state")


def test_queue_snapshot(snap_compare, tmp_path):
    """Broken if the queue's look changes: columns, oldest first, ages from the clock, literal text, and
    the quorum of the two-approval request half-way (bob approved 2m ago; alice or carol may finish it,
    dana may not: she is the principal)."""
    app = make_app(PENDING, tmp_path / "shop")

    async def ready(pilot) -> None:
        await _until(pilot, lambda: len(app.queue_screen.table.items) == 3)

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_empty_queue_snapshot(snap_compare, tmp_path):
    """Broken if the empty state stops saying that nothing waits."""
    app = make_app([], tmp_path / "shop")

    async def ready(pilot) -> None:
        await _until(pilot, lambda: app.link_state == CONNECTED)

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_inspect_snapshot(snap_compare, tmp_path):
    """Broken if the inspect screen's look changes: the diff highlighting, the requirement and rules,
    the requester, the quorum half-way (bob's approval with his OS account and a verified signature, who
    may still approve, who may not), and the session's earlier actions."""
    app = make_app(PENDING, tmp_path / "shop")

    async def ready(pilot) -> None:
        await _until(pilot, lambda: len(app.queue_screen.table.items) == 3)
        await pilot.press("enter")
        await _until(pilot, lambda: isinstance(app.screen, InspectScreen))
        await _until(pilot, lambda: app.screen.history_loaded)
        await _until(pilot, lambda: app.screen.checks is not None)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(118, 60), run_before=ready)


def _unlocked(app: ForgeApp) -> None:
    # The look of the dialogs, not the key store: an in-memory key stands for one unlocked earlier.
    app.signing.unlock(ReviewerKey("alice", Signer.generate("forge-tui.reviewer/alice")))


def test_confirm_dialog_snapshot(snap_compare, tmp_path):
    """Broken if the approval confirmation stops naming the request, actor, action and rule literally."""
    app = make_app(PENDING, tmp_path / "shop")
    _unlocked(app)

    async def ready(pilot) -> None:
        await _until(pilot, lambda: len(app.queue_screen.table.items) == 3)
        await pilot.press("a")
        await _until(pilot, lambda: isinstance(app.screen, ConfirmDialog))

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_refusal_dialog_snapshot(snap_compare, tmp_path):
    """Broken if a refusal by the daemon (self-approval, 4002) is not shown plainly with its code."""
    app = make_app(PENDING, tmp_path / "shop")
    _unlocked(app)

    async def ready(pilot) -> None:
        await _until(pilot, lambda: len(app.queue_screen.table.items) == 3)
        await pilot.press("a")
        await _until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("enter")
        await _until(pilot, lambda: isinstance(app.screen, MessageDialog))

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_queue_at_80x24_snapshot(snap_compare, tmp_path):
    """Broken if the queue stops fitting a small terminal: at 80x24 the summary keeps a readable width
    (the kind column gives way) and the header still says who is signing."""
    app = make_app(PENDING, tmp_path / "shop")

    async def ready(pilot) -> None:
        await _until(pilot, lambda: len(app.queue_screen.table.items) == 3)

    assert snap_compare(app, terminal_size=(80, 24), run_before=ready)
