"""The policy in force, pending policy changes, their stable reads, and the rate limiter.

The policy in force changes only with a reviewer's signature (docs/trust-model.md). A changed
`.forge/policy.toml` (an edit, a checkout, a branch switch) that parses becomes a *pending policy
change*: recorded, shown with its diff in `status` and the console, and enforced only once a reviewer
signs its digest (`policy.approve`). Until the first reviewer is enrolled (setup mode) a change is put in
force at once, and `status` says so. At start-up, the init policy (no policy was ever in force) and any
digest the ledger shows approved or last in force are loaded; another digest waits as pending while the
last one in force is read back from the policy archive.

Reads are stable: the file is parsed only when its bytes and metadata are the same across the settle
window, no process holds it open for writing (forge_tui/daemon/openwriters.py), and only bytes that end
in a newline (a prefix cut mid-line never loads) — an editor's in-place write in two chunks is never
read as a prefix, however long its pause, and an atomic rename is read whole. Every policy text
that gets a `policy` record is archived by digest (`<state>/policies/<digest>.toml` and
`.forge/policies/<digest>.toml`), so verify can re-evaluate any decision.
"""

from __future__ import annotations

import asyncio
import difflib
import hashlib
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forge_tui.core.policy import Policy, default_policy, parse_policy
from forge_tui.core.trust import TrustState
from forge_tui.daemon.openwriters import writers as open_writers
from forge_tui.daemon.ratelimit import RateLimiter
from forge_tui.errors import PolicyError

STABLE_TRIES = 20  # settle windows to wait for a file that keeps changing before giving up this round
# A reload parses bytes that stayed the same for as long as the watch's debounce (two writes 100 ms
# apart are one change); at start-up no write is expected, and the open-for-writing check still holds.
RELOAD_SETTLE_S = 0.2
START_SETTLE_S = 0.05
MAX_POLICY_BYTES = 1 << 20
MAX_DIFF_LINES = 400
RECHECK_MS = 1000  # look at the file at least this often even without a change event


@dataclass(frozen=True)
class StableText:
    data: bytes
    digest: str


def _snapshot(path: Path) -> tuple[tuple[int, int, int, int], bytes] | None:
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            data = fh.read(MAX_POLICY_BYTES + 1)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns), data


def stable_read(
    path: Path,
    settle_s: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
    known: str | None = None,
    writers: Callable[[Path], list[int]] = open_writers,
) -> StableText | None:
    """The file's bytes once they stay the same (content and inode, size, mtime, ctime) across
    `settle_s` and no process holds it open for writing, or None when it is missing or never settled.
    A file whose bytes do not end in a newline is treated as still being written. Bytes whose digest is
    `known` (already handled: nothing new to parse) are returned without looking for writers."""
    prev = _snapshot(path)
    for _ in range(STABLE_TRIES):
        sleep(settle_s)
        # An in-place save still open for writing is not done, however long its pause. The check comes
        # between the two reads: a writer that closes right after it changed the file since `prev`.
        held = prev is not None and hashlib.sha256(prev[1]).hexdigest() != known and bool(writers(path))
        cur = _snapshot(path)
        if cur is None:
            return None
        if not held and cur == prev and (cur[1].endswith(b"\n") or not cur[1]):
            return StableText(cur[1], hashlib.sha256(cur[1]).hexdigest())
        prev = cur
    return None


@dataclass
class PendingChange:
    digest: str
    text: str
    diff: str
    rules: int
    detected_at: float

    def describe(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "diff": self.diff,
            "rules": self.rules,
            "detected_at": self.detected_at,
        }


class PolicyHolder:
    def __init__(
        self,
        path: Path,
        *,
        trust: TrustState | None = None,
        archives: tuple[Path, ...] = (),
        settle_s: float = RELOAD_SETTLE_S,
    ) -> None:
        self.path = path
        self.trust = trust if trust is not None else TrustState("")
        self.archives = archives
        self.settle_s = settle_s
        self.current: Policy = default_policy()
        self.current_text: str = ""
        self.error: str | None = None
        self.error_at: dict[str, Any] | None = None  # PolicyError.location() of `error`, when one
        # A reload or the watch itself that failed (an exception, not a policy error): said in
        # `status` and the log until a later reload succeeds, never dropped in silence.
        self.watch_error: str | None = None
        self.watch_failures = 0
        self.loaded_at: float | None = None
        self.pending: PendingChange | None = None
        self.limiter = RateLimiter(None)
        self._limit: int | None = None
        self._seen_digest: str | None = None  # the file's digest last handled

    # ---- archive ----------------------------------------------------------------------------------

    def archive(self, data: bytes, digest: str) -> None:
        for folder in self.archives:
            target = folder / f"{digest}.toml"
            if target.exists():
                continue
            try:
                from forge_tui.paths import atomic_write

                folder.mkdir(parents=True, exist_ok=True)
                atomic_write(target, data)
            except OSError:
                continue  # another copy may still be written; verify says when a text is missing

    def archived(self, digest: str) -> bytes | None:
        for folder in self.archives:
            try:
                data = (folder / f"{digest}.toml").read_bytes()
            except OSError:
                continue
            if hashlib.sha256(data).hexdigest() == digest:
                return data
        return None

    # ---- installing -------------------------------------------------------------------------------

    def _install(self, policy: Policy, text: str) -> None:
        self.current = policy
        self.current_text = text
        self.error = None
        self.error_at = None
        self.loaded_at = time.time()
        if self._limit != policy.max_per_minute:
            self._limit = policy.max_per_minute
            self.limiter = RateLimiter(policy.max_per_minute)

    def record_body(self, *, event: str = "loaded") -> dict[str, Any]:
        return {
            "event": event,
            "digest": self.current.digest,
            "path": str(self.path),
            "loaded": True,
            "rules": len(self.current.rules),
            "protected": not self.trust.setup_mode,
        }

    def error_body(self, error: str, digest: str | None) -> dict[str, Any]:
        return {
            "event": "error",
            "digest": digest,
            "path": str(self.path),
            "loaded": False,
            "error": error,
            "in_force": self.current.digest,
        }

    def _pending_body(self, change: PendingChange) -> dict[str, Any]:
        return {
            "event": "pending",
            "digest": change.digest,
            "path": str(self.path),
            "loaded": False,
            "rules": change.rules,
            "in_force": self.current.digest,
        }

    def _parse(self, text: StableText) -> Policy:
        policy = parse_policy(text.data, str(self.path))
        if policy.digest != text.digest:  # the engine digests the same bytes; anything else is a bug
            raise PolicyError(f"{self.path}: digest mismatch while loading")
        return policy

    # ---- start-up and reloads -----------------------------------------------------------------------

    def load_initial(self) -> list[tuple[str, dict[str, Any]]]:
        """What is in force at start-up, and the `policy` record bodies to write (event type, body)."""
        text = stable_read(self.path, min(self.settle_s, START_SETTLE_S))
        last = self.trust.in_force
        if last is not None and (text is None or text.digest != last):
            data = self.archived(last)
            if data is not None:
                try:
                    self._install(self._parse(StableText(data, last)), data.decode("utf-8"))
                except PolicyError:
                    pass
        out = self._consider(text, initial=True)
        return out or [("policy.reloaded", self.record_body())]

    def read(self) -> StableText | None:
        """The file, once stable (blocking for a settle window or more: run it off the event loop)."""
        return stable_read(self.path, self.settle_s, known=self._seen_digest)

    def consider(self, text: StableText | None) -> list[tuple[str, dict[str, Any]]]:
        """The (event type, record body) pairs a freshly read file calls for, maybe none."""
        return self._consider(text, initial=False)

    def reload(self) -> list[tuple[str, dict[str, Any]]]:
        return self.consider(self.read())

    def _consider(self, text: StableText | None, *, initial: bool) -> list[tuple[str, dict[str, Any]]]:
        if text is None:
            err = f"{self.path} is missing or still being written"
            holders = open_writers(self.path)
            if holders:  # (a process that keeps it open holds back every reload: say which)
                err += f" (open for writing by pid {', '.join(map(str, holders[:5]))})"
            if self.error == err and not initial:
                return []
            self.error, self.error_at = err, None
            return [("policy.error", self.error_body(err, None))]
        if text.digest == self._seen_digest and not initial:
            return []
        if not initial and text.digest == self.current.digest and self.error is None and self.pending is None:
            self._seen_digest = text.digest
            return []
        try:
            policy = self._parse(text)
        except PolicyError as exc:
            self._seen_digest = text.digest
            if self.error == str(exc) and not initial:
                return []
            self.error, self.error_at = str(exc), exc.location()
            self.archive(text.data, text.digest)
            return [("policy.error", self.error_body(str(exc), text.digest))]
        self._seen_digest = text.digest
        self.archive(text.data, text.digest)
        source = text.data.decode("utf-8", "replace")
        if self.trust.may_enforce(text.digest) or text.digest == self.current.digest:
            self.pending = None
            self._install(policy, source)
            return [("policy.reloaded", self.record_body())]
        self.error = self.error_at = None
        self.pending = PendingChange(
            digest=text.digest,
            text=source,
            diff=self._diff(source),
            rules=len(policy.rules),
            detected_at=time.time(),
        )
        self._pending_policy = policy
        return [("policy.pending", self._pending_body(self.pending))]

    def forget_seen(self) -> None:
        """Look at the file afresh next time (its change could not be recorded)."""
        self._seen_digest = None

    def approve(self, digest: str) -> Policy:
        """Put the pending change `digest` in force (the caller checked the reviewer's signature)."""
        if self.pending is None or self.pending.digest != digest:
            raise PolicyError(f"no pending policy change with digest {digest[:12]}")
        self._install(self._pending_policy, self.pending.text)
        self.pending = None
        return self.current

    def _diff(self, new: str) -> str:
        lines = list(
            difflib.unified_diff(
                self.current_text.splitlines(keepends=True),
                new.splitlines(keepends=True),
                fromfile=f"in force ({self.current.digest[:12]})",
                tofile=f"pending ({hashlib.sha256(new.encode()).hexdigest()[:12]})",
            )
        )
        if len(lines) > MAX_DIFF_LINES:
            lines = [*lines[:MAX_DIFF_LINES], f"... {len(lines) - MAX_DIFF_LINES} more lines\n"]
        return "".join(lines)

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
            "error_at": self.error_at,  # {line, col, detail} of the error (line and col null if unknown)
            "watch_error": self.watch_error,
            "watch_failures": self.watch_failures,
            "loaded_at": self.loaded_at,
            "pending": self.pending.describe() if self.pending is not None else None,
            "protected": not self.trust.setup_mode,
        }

    def watch_failed(self, what: str, exc: BaseException) -> str:
        """Remember a failed reload or watch (for `status`); returns the line to log."""
        self.watch_failures += 1
        self.watch_error = f"{what}: {type(exc).__name__}: {exc}"
        return f"policy {self.watch_error} (the policy in force stays; watching on)"


async def watch_policy(
    holder: PolicyHolder,
    on_change: Callable[[], Awaitable[None]],
    *,
    debounce_ms: int = 200,
    stop=None,
    log: Callable[[str], None] | None = None,
) -> None:
    """Call `on_change` whenever the policy file changes (watching its folder), and also after every
    RECHECK_MS without an event: a change made before the watch was set up, or an event the kernel
    dropped, is still seen (a recheck of an unchanged file costs two reads and records nothing). A
    reload that raises, or a watch that breaks (its folder gone), is logged and kept in the holder's
    `watch_error` (shown by `status`); the watch goes on, restarted after RECHECK_MS if it broke."""
    from watchfiles import awatch

    target = holder.path.name
    say = log or (lambda _line: None)

    def only_policy(_change: Any, path: str) -> bool:
        return Path(path).name == target

    while stop is None or not stop.is_set():
        try:
            async for _changes in awatch(
                holder.path.parent,
                watch_filter=only_policy,
                debounce=debounce_ms,
                step=50,
                stop_event=stop,
                recursive=False,
                rust_timeout=RECHECK_MS,
                yield_on_timeout=True,
            ):
                try:
                    await on_change()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # keep watching: one failed reload must not stop later ones
                    say(holder.watch_failed("reload failed", exc))
                    continue
                holder.watch_error = None
            return  # the stop event ended the watch
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            say(holder.watch_failed("watch failed", exc))
            if stop is None:
                await asyncio.sleep(RECHECK_MS / 1000)
                continue
            try:
                await asyncio.wait_for(stop.wait(), RECHECK_MS / 1000)
            except TimeoutError:
                pass
