"""The active policy, its hot reload, and the per-session rate limiter.

The `.forge/` folder is watched (editors save by rename; a watch on the file itself goes deaf after the
first save). A changed policy is validated whole before it replaces the current one; a broken file keeps
the last good policy in force. Either way a `policy` record is appended and an event is sent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from forge_tui.core.policy import Policy, default_policy, load_policy
from forge_tui.daemon.ratelimit import RateLimiter
from forge_tui.errors import PolicyError


class PolicyHolder:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.current: Policy = default_policy()
        self.error: str | None = None
        self.loaded_at: float | None = None
        self.limiter = RateLimiter(None)
        self._limit: int | None = None

    def load_initial(self) -> tuple[str, dict[str, Any]]:
        """Load at start-up; on error the built-in fail-closed policy (default ask) is in force."""
        try:
            self._install(load_policy(self.path))
            return "loaded", self.record_body()
        except PolicyError as exc:
            self.error = str(exc)
            return "error", self.error_body(exc)

    def _install(self, policy: Policy) -> None:
        import time

        self.current = policy
        self.error = None
        self.loaded_at = time.time()
        if self._limit != policy.max_per_minute:
            self._limit = policy.max_per_minute
            self.limiter = RateLimiter(policy.max_per_minute)

    def record_body(self) -> dict[str, Any]:
        return {
            "digest": self.current.digest,
            "path": str(self.path),
            "loaded": True,
            "rules": len(self.current.rules),
        }

    def error_body(self, exc: Exception) -> dict[str, Any]:
        try:
            digest = hashlib.sha256(self.path.read_bytes()).hexdigest()
        except OSError:
            digest = None
        return {
            "digest": digest,
            "path": str(self.path),
            "loaded": False,
            "error": str(exc),
            "in_force": self.current.digest,
        }

    def reload(self) -> tuple[str, dict[str, Any]] | None:
        """Try the file again; returns (event type, record body), or None when nothing changed."""
        try:
            policy = load_policy(self.path)
        except PolicyError as exc:
            if self.error == str(exc):
                return None
            self.error = str(exc)
            return "policy.error", self.error_body(exc)
        if policy.digest == self.current.digest and self.error is None:
            return None
        self._install(policy)
        return "policy.reloaded", self.record_body()

    def describe(self) -> dict[str, Any]:
        p = self.current
        return {
            "path": str(self.path),
            "digest": p.digest,
            "default": p.default,
            "approval_timeout_s": p.approval_timeout_s,
            "max_per_minute": p.max_per_minute,
            "rules": [
                {
                    "id": r.id,
                    "line": r.line,
                    "decision": r.decision,
                    "match": {k: list(v) for k, v in r.match.items()},
                    "approvals": r.approvals,
                }
                for r in p.rules
            ],
            "error": self.error,
            "loaded_at": self.loaded_at,
        }


async def watch_policy(
    holder: PolicyHolder, on_change: Callable[[], Awaitable[None]], *, debounce_ms: int = 200, stop=None
) -> None:
    """Call `on_change` whenever the policy file changes (watching its folder)."""
    from watchfiles import awatch

    target = holder.path.name

    def only_policy(_change: Any, path: str) -> bool:
        return Path(path).name == target

    async for _changes in awatch(
        holder.path.parent,
        watch_filter=only_policy,
        debounce=debounce_ms,
        step=50,
        stop_event=stop,
        recursive=False,
    ):
        try:
            await on_change()
        except Exception:  # keep watching: one failed reload must not silently stop later ones
            continue
