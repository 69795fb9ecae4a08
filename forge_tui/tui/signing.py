"""Who is signing at this console, and when the key locks itself.

A console holds at most one unlocked reviewer key. It is dropped (locked) on request — to hand the
keyboard to another reviewer, who then unlocks their own —, after `lock_after_s` without a key press,
and when the terminal session goes away (a hang-up, a detached tmux session). Pure apart from the
tmux probe: the app drives it from its clock tick and its key events.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Clock = Callable[[], float]


@dataclass
class SigningSession:
    """The unlocked reviewer key (or none) and the idle timer that locks it."""

    lock_after_s: float | None
    clock: Clock = time.monotonic
    key: Any = None
    last_activity: float = field(default=0.0)

    @property
    def name(self) -> str | None:
        return getattr(self.key, "name", None) if self.key is not None else None

    def unlock(self, key: Any) -> None:
        self.key = key
        self.touch()

    def lock(self) -> str | None:
        """Forget the key; returns whose it was (None when none was unlocked)."""
        name, self.key = self.name, None
        return name

    def touch(self) -> None:
        """A key press or click: the reviewer is still at the keyboard."""
        self.last_activity = self.clock()

    def locks_in(self) -> float | None:
        """Seconds until the idle lock, None when no key is unlocked or idleness never locks."""
        if self.key is None or not self.lock_after_s:
            return None
        return max(0.0, self.last_activity + self.lock_after_s - self.clock())

    def idle_expired(self) -> bool:
        left = self.locks_in()
        return left is not None and left <= 0


def tmux_attached(env: dict[str, str] | None = None) -> bool | None:
    """False when this process runs in a tmux pane whose session no client is attached to; None when
    not under tmux or tmux cannot be asked."""
    env = os.environ if env is None else env
    if not env.get("TMUX") or shutil.which("tmux") is None:
        return None
    cmd = ["tmux", "display-message", "-p"]
    if env.get("TMUX_PANE"):
        cmd += ["-t", env["TMUX_PANE"]]
    try:
        out = subprocess.run(
            [*cmd, "#{session_attached}"], capture_output=True, text=True, timeout=2, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    value = out.stdout.strip()
    if out.returncode != 0 or not value.isdigit():
        return None
    return int(value) > 0


async def witnessed_checkpoint(link: Any, project: Any) -> dict[str, Any]:
    """The checkpoint {size, root} the console cosigns with an approval: the daemon's latest signed one,
    checked against the project's ledger key and what this reviewer last witnessed
    (forge_tui/core/witness.py; the check runs in a thread). Raises ForgeError when it does not check
    out, so nothing is signed."""
    import asyncio

    from forge_tui.core.witness import check_reply, request_params
    from forge_tui.protocol import HELLO, LEDGER_CHECKPOINT

    ledger = (await link.call(HELLO, {"client": "console"})).get("ledger") or {}
    params = request_params(project, ledger.get("id") if isinstance(ledger, dict) else None)
    reply = await link.call(LEDGER_CHECKPOINT, params, timeout=30)
    return (await asyncio.to_thread(check_reply, project, reply)).cosigned()
