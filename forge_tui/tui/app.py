"""The approval console: the live queue, inspect, approve/reject with the reviewer's own key, and the
ledger, verify and policy views.

The app owns one `DaemonLink` (run as an exclusive worker); the link only posts messages, and the app
keeps the pending requests by id and feeds the screens. "Now" comes from an injectable clock so ages
are deterministic in tests. Key bindings carry ids and can be rebound from the `[keymap]` table of the
user config (forge_tui/tui/config.py).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import events, work
from textual.app import App
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.message import Message
from textual.screen import ModalScreen
from textual.worker import Worker, WorkerFailed, WorkerState

from forge_tui.errors import ForgeError
from forge_tui.protocol import (
    ERROR_TITLES,
    POLICY_APPROVE,
    POLICY_RELOAD,
    QUEUE_DECIDE,
    RECORDED_REFUSALS,
    STATUS,
    DaemonUnavailable,
    RPCError,
)
from forge_tui.tui.config import ConsoleConfig, load_config
from forge_tui.tui.link import (
    CONNECTED,
    DISCONNECTED,
    DaemonEvent,
    DaemonLink,
    Link,
    LinkState,
    QueueSnapshot,
)
from forge_tui.tui.policy_approval import approval_params, describe_change, pending_change
from forge_tui.tui.screens.dialogs import ConfirmDialog, MessageDialog, PassphraseDialog, ReasonDialog
from forge_tui.tui.screens.inspect import InspectScreen
from forge_tui.tui.screens.ledger import LedgerScreen
from forge_tui.tui.screens.policy import PolicyScreen
from forge_tui.tui.screens.queue import QueueScreen
from forge_tui.tui.screens.verify import VerifyScreen
from forge_tui.tui.signing import SigningSession, tmux_attached
from forge_tui.tui.text import clean, cut, literal, shorten
from forge_tui.tui.widgets.header import ConsoleHeader
from forge_tui.tui.widgets.queue_table import AGENT_STYLE, action_of, age_of, agent_says, fmt_duration

LinkFactory = Callable[[Callable[[Message], object]], Link]
Notifier = Callable[[str, str], None]  # (title, body): a desktop notification

REFUSALS = ERROR_TITLES
RECORDED = RECORDED_REFUSALS  # refusals the daemon records as violation records
ANNOUNCE_WINDOW_S = 0.3  # new requests arriving within this window share one notification and one bell
DIALOG_ACTION_CHARS = 1200  # the approve dialog shows a command this long whole (Inspect: any length)
LOCK_WARNING_S = 60  # the header counts down the idle lock in its last minute
DETACH_CHECK_S = 5.0  # how often a tmux session is asked whether a client is still attached


def notify_send(title: str, body: str) -> None:
    """A desktop notification through notify-send (agent text is an argument, never a shell word)."""
    exe = shutil.which("notify-send")
    if exe is None:
        return
    try:
        subprocess.run(
            [exe, "--app-name=forge-tui", title, body],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        pass


class ForgeCommands(Provider):
    """Console commands in the command palette (ctrl+p)."""

    def _commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        app: ForgeApp = self.app  # type: ignore[assignment]
        return [
            (
                "Verify the ledger",
                "check signatures, chain, checkpoint and forensic rules",
                app.action_verify,
            ),
            (
                "Reload the policy",
                "ask the daemon to load .forge/policy.toml again",
                app.action_reload_policy,
            ),
            (
                "Lock the reviewer key",
                "forget the unlocked key: the next approval asks for a passphrase again",
                app.action_lock,
            ),
            (
                "Hand over: unlock another reviewer key",
                "lock the key in use and unlock another reviewer's",
                app.action_unlock,
            ),
            (
                "Approve the pending policy change",
                "show its diff and sign its digest with your reviewer key (A)",
                app.action_approve_policy,
            ),
            ("Save a screenshot", "write an SVG of this screen", app.action_save_screenshot),
            ("Open the ledger", "browse every record", app.action_ledger),
            ("Show the policy", "rules in force, and the last load error", app.action_policy),
            (
                "Reconnect to the daemon",
                "retry now instead of waiting for the next attempt",
                app.action_reconnect,
            ),
        ]

    async def discover(self) -> Hits:
        for name, help_text, callback in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)


class ForgeApp(App[None]):
    """The forge-tui console for one project."""

    CSS_PATH = "forge.tcss"
    TITLE = "forge-tui"
    COMMANDS = App.COMMANDS | {ForgeCommands}
    BINDINGS = [
        Binding(
            "enter",
            "inspect",
            "Inspect",
            show=False,  # the queue table's own Enter binding is the one shown
            id="app.inspect",
            tooltip="the whole request: diff, rules, requester",
        ),
        Binding("a", "approve", "Approve", id="app.approve", tooltip="approve the selected request (signed)"),
        Binding(
            "r", "reject", "Reject", id="app.reject", tooltip="reject the selected request with a reason"
        ),
        Binding(
            "A",
            "approve_policy",
            "Approve policy",
            show=False,  # in the command palette too; the footer is full at 80 columns
            id="app.approve_policy",
            tooltip="approve the pending policy change (its diff, signed with your key)",
        ),
        Binding("l", "ledger", "Ledger", id="app.ledger", tooltip="browse the ledger"),
        Binding("v", "verify", "Verify", id="app.verify", tooltip="verify the ledger"),
        Binding("p", "policy", "Policy", id="app.policy", tooltip="the policy in force"),
        Binding("k", "lock", "Lock", id="app.lock", tooltip="lock the reviewer key (hand the keyboard over)"),
        Binding(
            "u",
            "unlock",
            "Unlock",
            show=False,  # in the command palette as "Hand over"; the footer is full at 80 columns
            id="app.unlock",
            tooltip="lock the key in use and unlock another reviewer's",
        ),
        Binding("q", "quit", "Quit", id="app.quit", tooltip="leave the console (the daemon keeps running)"),
    ]

    def __init__(
        self,
        project: Any,
        *,
        socket: str | Path | None = None,
        title: str | None = None,
        link_factory: LinkFactory | None = None,
        clock: Callable[[], float] = time.time,
        config: ConsoleConfig | None = None,
        reviewer: str | None = None,
        tick_interval: float | None = 1.0,
        idle_clock: Callable[[], float] = time.monotonic,
        notifier: Notifier | None = None,
        session_probe: Callable[[], bool | None] | None = None,
    ) -> None:
        super().__init__()
        self.project = project
        self.socket = Path(socket) if socket is not None else None
        if title:
            self.title = title
        self.clock = clock
        self.config = config if config is not None else ConsoleConfig()
        self.reviewer_name = reviewer or self.config.reviewer
        self.tick_interval = tick_interval
        self.pending: dict[str, dict[str, Any]] = {}
        self.status: dict[str, Any] | None = None
        self.link_state = "connecting"
        self.link_detail = ""
        self.policy_error = ""
        self.ledger_health: dict[str, Any] = {}  # status ledger.health, or the last ledger.* event
        self.signing = SigningSession(self.config.lock_after_s, clock=idle_clock)
        self.notifier: Notifier | None = (
            notifier if notifier is not None else (notify_send if self.config.desktop_notify else None)
        )
        self.session_probe = session_probe if session_probe is not None else tmux_attached
        self._last_probe = 0.0
        self.window_title = ""
        self.reviewers: dict[str, Any] = {}  # active reviewer name -> Verifier (.forge/reviewers.toml)
        # The reviewer set from the daemon's checked `reviewer.proof` when this account holds no copy of
        # the ledger (a second OS account: core/trust_proof.py), and why a proof was refused.
        self.trust: Any = None
        self.trust_error = ""
        self._arrivals: list[dict[str, Any]] = []
        if link_factory is None:
            if self.socket is None:
                raise ValueError("ForgeApp needs a socket or a link_factory")
            sock = self.socket
            link_factory = lambda post: DaemonLink(sock, post)  # noqa: E731
        self.link: Link = link_factory(self.post_message)
        self.queue_screen = QueueScreen(clock=clock)
        if self.config.keymap:
            self.set_keymap(self.config.keymap)

    @classmethod
    def for_project(
        cls, project: Any, *, socket: str | Path | None = None, title: str | None = None, **kw: Any
    ) -> ForgeApp:
        """The console for `project`, on its reviewer socket (default: FORGE_REVIEW_SOCKET or the runtime
        folder), with the user's config (keymap, reviewer, locking, notifications)."""
        if socket is None:
            from forge_tui.paths import review_socket_path

            socket = review_socket_path(project.project_id)
        kw.setdefault("config", load_config())
        return cls(project, socket=socket, title=title, **kw)

    # ---- lifecycle -----------------------------------------------------------------------------------

    def get_default_screen(self) -> QueueScreen:
        return self.queue_screen

    def on_mount(self) -> None:
        self.load_reviewers()
        self.sync_headers()
        self.run_worker(
            self.link.run(), name="daemon-link", group="link", exclusive=True, exit_on_error=False
        )
        if self.tick_interval:
            self.set_interval(self.tick_interval, self.tick)
        for problem in self.config.problems:
            self.notify(problem, title="config", severity="warning", markup=False, timeout=10)
        if not self.is_headless:
            self._write_terminal("\x1b[22;2t")  # save the terminal's title (restored on exit)
            loop = asyncio.get_running_loop()
            try:
                loop.add_signal_handler(signal.SIGHUP, self.session_lost, "the terminal hung up")
            except (NotImplementedError, RuntimeError, ValueError):
                pass

    async def on_unmount(self) -> None:
        self.signing.lock()
        if not self.is_headless:
            self._write_terminal("\x1b[23;2t")
        await self.link.close()

    def tick(self) -> None:
        self.queue_screen.table.tick()
        if isinstance(self.screen, InspectScreen):
            self.screen.tick()
        self.check_lock()
        self.sync_headers()

    def on_event(self, event: events.Event) -> Any:
        # Every key press or click anywhere counts as the reviewer being at the keyboard.
        if isinstance(event, events.Key | events.MouseDown):
            self.signing.touch()
        return super().on_event(event)

    # ---- the signing key: lock, unlock, hand over, auto-lock -----------------------------------------

    def check_lock(self) -> None:
        """Lock the key when it was idle too long, or when the tmux session lost its last client."""
        if self.signing.idle_expired():
            self.lock_key("idle for too long")
        if self.signing.key is None or not self.config.lock_on_detach:
            return
        now = self.signing.clock()
        if now - self._last_probe >= DETACH_CHECK_S:
            self._last_probe = now
            self.probe_session()

    @work(thread=True, exclusive=True, group="session-probe", exit_on_error=False)
    def probe_session(self) -> None:
        if self.session_probe() is False:
            self.call_from_thread(self.session_lost, "the terminal session was detached")

    def session_lost(self, why: str) -> None:
        """The terminal went away (a hang-up, a detach): nobody can be at this keyboard now."""
        if self.config.lock_on_detach:
            self.lock_key(why)

    def on_app_blur(self, event: events.AppBlur) -> None:
        if self.config.lock_on_blur:
            self.lock_key("the terminal lost focus")

    def lock_key(self, why: str = "") -> None:
        name = self.signing.lock()
        if name is not None:
            self.notify(
                f"{name}'s key is locked" + (f" ({why})" if why else ""),
                title="Reviewer key locked",
                markup=False,
            )
        self.sync_headers()

    def action_lock(self) -> None:
        if self.signing.key is None:
            self.notify("no reviewer key is unlocked", title="Lock", markup=False)
            return
        self.lock_key("locked by hand")

    @work(group="unlock-dialog", exclusive=True)
    async def action_unlock(self) -> None:
        """Hand over: lock the key in use, then ask whose key to unlock (any reviewer on this machine)."""
        self.lock_key("handing over")
        await self.unlock_reviewer(choose=True)
        self.sync_headers()

    # ---- the model: link messages -------------------------------------------------------------------

    def on_link_state(self, message: LinkState) -> None:
        if not self.screen_stack:  # the app is closing: the link's last words have nobody to tell
            return
        self.link_state = message.state
        self.link_detail = message.detail
        if message.state != CONNECTED and message.retry_in is not None:
            self.link_detail = f"{message.detail}; retrying in {message.retry_in:.1f} s".lstrip("; ")
        if message.state == DISCONNECTED:
            self.forget_queue()
        self.queue_screen.update_empty(connected=message.state == CONNECTED)
        self.sync_headers()
        self.refresh_bindings()

    def forget_queue(self) -> None:
        """The daemon is gone: what it had pending was denied when it stopped (or died with it, and the
        agents waiting on it were denied), so nothing listed here is pending any more."""
        if not self.pending:
            return
        self.pending = {}
        self.queue_screen.table.replace_all([])
        for screen in self.screen_stack:
            if isinstance(screen, InspectScreen) and screen.decided is None:
                screen.mark_decided({"status": "denied", "decided_by": "the daemon going away"})

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # The link never raises for daemon trouble; if it died anyway (a bug), say so instead of
        # showing "connecting" for ever.
        if event.worker.name == "daemon-link" and event.state == WorkerState.ERROR:
            self.link_state = "disconnected"
            self.link_detail = f"the daemon link failed: {event.worker.error!r}"
            self.notify(self.link_detail, title="Internal error", severity="error", markup=False, timeout=30)
            self.queue_screen.update_empty(connected=False)
            self.sync_headers()
            self.refresh_bindings()

    def on_queue_snapshot(self, message: QueueSnapshot) -> None:
        if not self.screen_stack:
            return
        if message.status is not None:
            self.status = message.status
            err = (message.status.get("policy") or {}).get("error")
            self.policy_error = str(err) if err else ""
            self.ledger_health = (message.status.get("ledger") or {}).get("health") or {}
        self.load_reviewers()
        self.refresh_trust()
        self.pending = {p["request_id"]: p for p in message.pending}
        self.queue_screen.table.replace_all(message.pending)
        self.queue_screen.update_empty(connected=True)
        if isinstance(self.screen, InspectScreen):
            item = self.pending.get(self.screen.request_id)
            if item is not None:
                self.screen.update_item(item)
            elif self.screen.decided is None:
                self.screen.mark_decided({"status": "no longer pending", "decided_by": "the daemon"})
        self.sync_headers()
        self.refresh_bindings()

    def on_daemon_event(self, message: DaemonEvent) -> None:
        if not self.screen_stack:
            return
        ev = message.event
        kind = ev.get("type")
        if kind in ("request.new", "request.updated") and isinstance(ev.get("request"), dict):
            item = ev["request"]
            rid = item.get("request_id")
            if not isinstance(rid, str):
                return
            self.pending[rid] = item
            new = self.queue_screen.table.upsert(item)
            self.queue_screen.update_empty(connected=True)
            if isinstance(self.screen, InspectScreen) and self.screen.request_id == rid:
                self.screen.update_item(item)
            if kind == "request.new" and new:
                self._announce(item)
        elif kind == "request.decided":
            rid = ev.get("request_id")
            if not isinstance(rid, str):
                return
            self.pending.pop(rid, None)
            self.queue_screen.table.remove_request(rid)
            self.queue_screen.update_empty(connected=self.link_state == CONNECTED)
            for screen in self.screen_stack:
                if isinstance(screen, InspectScreen) and screen.request_id == rid:
                    screen.mark_decided(ev)
            if isinstance(self.screen, LedgerScreen):
                self.screen.reload()
        elif kind == "violation":
            self.notify(
                f"{shorten(ev.get('kind', '?'), 30)}: {shorten(ev.get('detail', ''), 100)}",
                title="Violation recorded",
                severity="warning",
                markup=False,
            )
        elif kind == "policy.reloaded":
            self.policy_error = ""
            self.notify(
                f"policy {shorten(ev.get('digest', ''), 12)} in force", title="Policy reloaded", markup=False
            )
        elif kind in ("ledger.degraded", "ledger.healed"):
            self.ledger_health = ev
        elif kind == "policy.pending":
            diff = [
                ln
                for ln in str(ev.get("diff") or "").splitlines()
                if ln[:1] in "+-" and ln[:3] not in ("+++", "---")
            ]
            shown = "\n".join(shorten(ln, 100) for ln in diff[:8]) + ("\n…" if len(diff) > 8 else "")
            self.notify(
                f"policy.toml changed to {shorten(ev.get('digest', ''), 12)}; "
                f"{shorten(ev.get('in_force', ''), 12)} stays in force until a reviewer signs it "
                f"(A, or forge-tui policy approve --as NAME)\n{shown}",
                title="Policy change pending",
                severity="warning",
                markup=False,
                timeout=20,
            )
        elif kind == "policy.error":
            self.policy_error = str(ev.get("error") or "error")
            self.notify(
                f"{shorten(self.policy_error, 120)} (the last good policy stays in force)",
                title="Policy error",
                severity="error",
                markup=False,
                timeout=10,
            )
        if kind in ("policy.reloaded", "policy.error", "policy.pending"):
            self.refresh_status()
        self.sync_headers()
        self.refresh_bindings()

    @work(exclusive=True, group="status")
    async def refresh_status(self) -> None:
        """Fetch the daemon's status after a policy event and redraw an open policy panel with it."""
        try:
            status = await self.link.call(STATUS, {})
        except (DaemonUnavailable, RPCError):
            return
        if not isinstance(status, dict):
            return
        self.status = status
        for screen in self.screen_stack:
            if isinstance(screen, PolicyScreen):
                screen.show_status(status)

    @work(exclusive=True, group="trust")
    async def refresh_trust(self) -> None:
        """Without a copy of the daemon's ledger, take its reviewer set from `reviewer.proof`, checked
        here (in a thread) before anyone unlocks a key against it."""
        from forge_tui.core.trust_proof import ReviewerProof, verify_reviewer_proof
        from forge_tui.protocol import HELLO, REVIEWER_PROOF
        from forge_tui.review import owns_ledger

        try:
            if owns_ledger(self.project, await self.link.call(HELLO, {"client": "console"})):
                self.trust, self.trust_error = None, ""
                return
            proof = ReviewerProof.from_wire(await self.link.call(REVIEWER_PROOF, {}))
            self.trust = await asyncio.to_thread(verify_reviewer_proof, self.project, proof)
            self.trust_error = ""
        except (DaemonUnavailable, RPCError):
            return
        except ForgeError as exc:
            self.trust, self.trust_error = None, exc.diagnostics()
            self.notify(self.trust_error, title="Reviewer set refused", severity="error", markup=False)
        self.load_reviewers()

    def load_reviewers(self) -> None:
        """The project's active reviewers (who may approve, and whose keys check the signatures)."""
        from forge_tui.core.reviewers import load_reviewers

        if self.trust is not None:
            self.reviewers = {n: r.verifier for n, r in self.trust.active().items()}
            self.queue_screen.table.set_reviewers(self.reviewers)
            return
        try:
            registered = load_reviewers(self.project.reviewers_path)
        except (ForgeError, OSError, AttributeError):
            registered = {}
        self.reviewers = {n: r.verifier for n, r in registered.items() if r.retired_at_seq is None}
        self.queue_screen.table.set_reviewers(self.reviewers)

    def _announce(self, item: dict[str, Any]) -> None:
        """A notification, a bell and the terminal title for new requests; a burst (an agent firing
        several at once) is gathered into one toast, one bell and one desktop notification."""
        self._arrivals.append(item)
        if len(self._arrivals) == 1:
            self.set_timer(ANNOUNCE_WINDOW_S, self._flush_arrivals)

    def _flush_arrivals(self) -> None:
        batch, self._arrivals = self._arrivals, []
        if not batch:
            return
        lines = [
            f"{shorten((i.get('actor') or {}).get('id', '?'), 30)}: {shorten(action_of(i), 70)}"
            for i in batch[:3]
        ]
        if len(batch) > 3:
            lines.append(f"… and {len(batch) - 3} more")
        title = "New request waiting" if len(batch) == 1 else f"{len(batch)} new requests waiting"
        self.notify("\n".join(lines), title=title, markup=False)
        self.bell()
        self.sync_headers()
        if self.notifier is not None:
            self.run_worker(
                partial(self.notifier, f"forge-tui: {title.lower()}", "\n".join(lines)),
                thread=True,
                group="desktop-notify",
                exit_on_error=False,
            )

    def _write_terminal(self, data: str) -> None:
        driver = self._driver
        if driver is not None and not self.is_headless:
            driver.write(data)

    def set_window_title(self, title: str) -> None:
        """The terminal's title (OSC 2): a tmux window or a terminal tab shows the queue at a glance."""
        if title == self.window_title:
            return
        self.window_title = title
        self._write_terminal(f"\x1b]2;{clean(title, one_line=True)}\x07")

    def sync_headers(self) -> None:
        oldest = min(self.pending.values(), key=lambda i: i.get("received_at") or "", default=None)
        project = getattr(self.project, "name", "") or ""
        left = self.signing.locks_in()
        locks_in = fmt_duration(left) if left is not None and left <= LOCK_WARNING_S else ""
        for screen in self.screen_stack:
            for header in screen.query(ConsoleHeader):
                header.title = self.title
                header.project = project
                header.state = self.link_state
                header.detail = self.link_detail
                header.pending = len(self.pending)
                header.oldest = fmt_duration(age_of(oldest, self.clock())) if oldest else ""
                header.policy_error = self.policy_error
                health = self.ledger_health
                header.ledger_state = str(health.get("state") or "")
                header.ledger_detail = str(health.get("fault") or health.get("tracked_error") or "")
                header.signer = self.signing.name or ""
                header.locks_in = locks_in
        count = len(self.pending)
        self.set_window_title(
            f"forge-tui {project}: {count} pending" if count else f"forge-tui {project}".rstrip()
        )

    def on_console_header_attached(self, message: ConsoleHeader.Attached) -> None:
        self.sync_headers()

    # ---- which request the keys act on --------------------------------------------------------------

    def current_item(self) -> dict[str, Any] | None:
        screen = self.screen
        if isinstance(screen, InspectScreen):
            return None if screen.decided is not None else self.pending.get(screen.request_id)
        if screen is self.queue_screen:
            return self.queue_screen.table.selected_item()
        return None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("approve", "reject", "inspect", "lock", "unlock", "approve_policy"):
            if isinstance(self.screen, ModalScreen):
                return False
            if action == "inspect":
                return self.screen is self.queue_screen and self.current_item() is not None
            if action in ("lock", "unlock"):
                return True
            if action == "approve_policy":
                return self.link_state == CONNECTED and pending_change(self.status) is not None
            return self.link_state == CONNECTED and self.current_item() is not None
        return True

    # ---- actions --------------------------------------------------------------------------------------

    def on_queue_screen_inspect_requested(self, message: QueueScreen.InspectRequested) -> None:
        self.open_inspect(message.request_id)

    def action_inspect(self) -> None:
        item = self.current_item()
        if item is not None and self.screen is self.queue_screen:
            self.open_inspect(item["request_id"])

    def open_inspect(self, request_id: str) -> None:
        item = self.pending.get(request_id)
        if item is not None and self.screen is self.queue_screen:
            self.push_screen(
                InspectScreen(item, clock=self.clock, daemon_call=self.link.call, verifiers=self.reviewers)
            )

    def action_approve(self) -> None:
        item = self.current_item()
        if item is not None and not self._reviewing():
            self.review(item["request_id"], "approve")

    def action_reject(self) -> None:
        item = self.current_item()
        if item is not None and not self._reviewing():
            self.review(item["request_id"], "reject")

    def action_approve_policy(self) -> None:
        if not self._reviewing():
            self.review_policy()

    @work(group="review")
    async def review_policy(self) -> None:
        """Approve the pending policy change: its diff in a dialog, then the key signs its digest."""
        try:
            status = await self.link.call(STATUS, {})  # the change as the daemon has it now
        except (DaemonUnavailable, RPCError) as exc:
            self.notify(f"not sent: {exc}", title="Daemon unreachable", severity="error", markup=False)
            return
        self.status = status
        pending = pending_change(status)
        if pending is None:
            self.notify("no policy change is pending", title="Policy", markup=False)
            return
        body = describe_change(status, pending, self.signing.name)
        if not await self.push_screen_wait(
            ConfirmDialog("Approve this policy change?", body, confirm_label="Approve")
        ):
            return
        key = await self.unlock_reviewer()
        if key is None:
            return

        async def params() -> dict[str, Any]:
            return await approval_params(self.link, self.project, key, pending["digest"])

        res = await self.send_signed(POLICY_APPROVE, params)
        if res is None:
            return
        self.notify(
            f"policy {pending['digest'][:12]} approved by {key.name} and in force (ledger seq {res.get('seq')})",
            title="Policy approved",
            markup=False,
        )
        self.refresh_status()

    def _reviewing(self) -> bool:
        """A review is under way (a key pressed twice before its dialog opened must not start another)."""
        return any(w.group == "review" and not w.is_finished for w in self.workers)

    def action_ledger(self) -> None:
        if not isinstance(self.screen, LedgerScreen):
            self.push_screen(LedgerScreen(self._ledger_path(), project=self.project))

    def action_verify(self) -> None:
        if not isinstance(self.screen, VerifyScreen):
            self.push_screen(VerifyScreen(self.project))

    def action_policy(self) -> None:
        if not isinstance(self.screen, PolicyScreen):
            self.push_screen(PolicyScreen(self.project, self.status))

    def action_reconnect(self) -> None:
        self.link.reconnect_now()

    def action_save_screenshot(self) -> None:
        path = self.save_screenshot()
        self.notify(f"saved {path}", title="Screenshot", markup=False)

    @work(exclusive=True, group="policy-reload")
    async def action_reload_policy(self) -> None:
        try:
            described = await self.link.call(POLICY_RELOAD, {})
        except (DaemonUnavailable, RPCError) as exc:
            self.notify(f"could not reload the policy: {exc}", severity="error", markup=False)
            return
        if isinstance(described, dict) and described.get("error"):
            self.notify(str(described["error"]), title="Policy error", severity="error", markup=False)
        else:
            self.notify("the daemon reloaded the policy", title="Policy", markup=False)
        try:
            self.status = await self.link.call(STATUS, {})
        except (DaemonUnavailable, RPCError):
            pass

    def _ledger_path(self) -> Path:
        path = ((self.status or {}).get("ledger") or {}).get("path")
        if path:
            return Path(path)
        return self.project.tracked_ledger(self.project.local_ledger_id())

    # ---- review: confirm, unlock, sign, send ----------------------------------------------------------

    def describe_item(self, item: dict[str, Any]) -> Text:
        """The dialog's account of what is approved: the real action leads (command, paths, URL, whole
        up to DIALOG_ACTION_CHARS), the agent's summary follows, labelled as its words; all escaped."""
        actor = item.get("actor") or {}
        action = item.get("action") or {}
        t = Text()

        def row(label: str, value: Text) -> None:
            t.append(f"{label:<11} ", style="bold")
            t.append_text(value)
            t.append("\n")

        row("request", literal(item.get("request_id", ""), one_line=True))
        row("actor", literal(shorten(actor.get("id", "?"), 60), one_line=True))
        row("kind", literal(shorten(action.get("kind", "?"), 30), one_line=True))
        shown = False
        for label, value in (
            ("command", action.get("command")),
            ("paths", "\n".join(str(p) for p in action.get("paths") or [])),
            ("url", action.get("url")),
        ):
            if value:
                row(label, literal(cut(str(value), DIALOG_ACTION_CHARS)))
                shown = True
        if not shown:
            row("action", literal(shorten(action_of(item), 200), one_line=True))
        said = agent_says(item)
        if said:
            row("agent says", literal(cut(said, 400), AGENT_STYLE))
        row("rule", literal(item.get("rule") or "default", one_line=True))
        t.append("signing     ", style="bold")
        t.append_text(
            literal(self.signing.name or "(a key is unlocked next)", "" if self.signing.name else "dim")
        )
        return t

    @work(group="review")
    async def review(self, request_id: str, verdict: str) -> None:
        item = self.pending.get(request_id)
        if item is None:
            return
        if verdict == "approve":
            if not await self.push_screen_wait(
                ConfirmDialog("Approve this request?", self.describe_item(item), confirm_label="Approve")
            ):
                return
            reason = ""
        else:
            answer = await self.push_screen_wait(
                ReasonDialog("Reject this request?", self.describe_item(item))
            )
            if answer is None:
                return
            reason = answer
        key = await self.unlock_reviewer()
        if key is None:
            return
        item = self.pending.get(request_id)
        if item is None:
            self.notify(f"{request_id} was decided meanwhile", severity="warning", markup=False)
            return
        from forge_tui.review import build_approval
        from forge_tui.tui.signing import witnessed_checkpoint

        approval = build_approval(item["request_id"], item["request_hash"], verdict, reason, key.name)

        async def params() -> dict[str, Any]:
            approval["checkpoint"] = await witnessed_checkpoint(self.link, self.project)
            return {"approval": approval, "reviewer_sig": key.sign_approval(approval)}

        res = await self.send_signed(QUEUE_DECIDE, params)
        if res is None:
            return
        if res.get("status") == "pending":
            self.notify(
                f"{key.name}'s approval of {request_id} is recorded: "
                f"{res.get('approvals')} of {res.get('needed')}",
                title="Approval recorded",
                markup=False,
            )
        else:
            self.notify(
                f"{request_id} {res.get('status')} (ledger seq {res.get('seq')})",
                title="Approved" if verdict == "approve" else "Rejected",
                markup=False,
            )
            if isinstance(self.screen, InspectScreen) and self.screen.request_id == request_id:
                self.pop_screen()

    async def send_signed(
        self, method: str, params: Callable[[], Awaitable[dict[str, Any]]]
    ) -> dict[str, Any] | None:
        """Build the signed params and send them; None, with the reason shown, when nothing was recorded
        (a refusal, the daemon gone, or a checkpoint to cosign that did not check out: nothing signed)."""
        try:
            return await self.link.call(method, await params(), timeout=30)
        except RPCError as exc:
            await self.show_refusal(exc)
        except DaemonUnavailable as exc:
            self.notify(f"not sent: {exc}", title="Daemon unreachable", severity="error", markup=False)
        except ForgeError as exc:
            self.notify(exc.diagnostics(), title="Not signed", severity="error", markup=False)
        return None

    async def show_refusal(self, exc: RPCError) -> None:
        title = REFUSALS.get(exc.code, "Refused by the daemon")
        body = literal(exc.message)
        body.append(f"\n\nerror {exc.code}", style="dim")
        if exc.code in RECORDED:
            body.append(" · the attempt is recorded in the ledger as a violation", style="dim")
        await self.push_screen_wait(MessageDialog(title, body))

    async def unlock_reviewer(self, *, choose: bool = False) -> Any:
        """The unlocked reviewer key, unlocking one first when none is (argon2 runs in a thread). With
        `choose` (a hand-over) every reviewer key on this machine is offered, not only the configured
        one."""
        if self.signing.key is not None and not choose:
            return self.signing.key
        from forge_tui.core.reviewers import ReviewerStore
        from forge_tui.review import PASSPHRASE_ENV

        store = ReviewerStore(self.project, self.trust)
        try:
            if self.trust_error:
                raise ForgeError(self.trust_error)
            names = store.names()
        except ForgeError as exc:
            await self.push_screen_wait(
                MessageDialog("Cannot read the reviewers", literal(exc.diagnostics()))
            )
            return None
        if self.reviewer_name and not choose:
            if self.reviewer_name not in names:
                await self.push_screen_wait(
                    MessageDialog(
                        "No such reviewer key",
                        literal(
                            f"{self.reviewer_name!r} has no key on this machine registered in "
                            f"{self.project.reviewers_path}"
                        ),
                    )
                )
                return None
            names = [self.reviewer_name]
        if not names:
            await self.push_screen_wait(
                MessageDialog(
                    "No reviewer key",
                    literal(
                        "No reviewer key on this machine is registered for this project. "
                        "Create one with `forge-tui reviewer add NAME`."
                    ),
                )
            )
            return None
        env = os.environ.get(PASSPHRASE_ENV)
        error = ""
        for _attempt in range(3):
            if env is not None and len(names) == 1 and not choose:
                name, passphrase = names[0], env
            else:
                answer = await self.push_screen_wait(
                    PassphraseDialog(names, passphrase=None if choose else env, error=error)
                )
                if answer is None:
                    return None
                name, passphrase = answer
            worker = self.run_worker(
                partial(store.unlock, name, passphrase), thread=True, group="unlock", exit_on_error=False
            )
            try:
                key = await worker.wait()
            except WorkerFailed as failed:
                if not isinstance(failed.error, ForgeError):
                    raise
                error = failed.error.diagnostics()
                if env is not None and not choose:  # a wrong FORGE_PASSPHRASE will not get better
                    await self.push_screen_wait(
                        MessageDialog("Cannot unlock the reviewer key", literal(error))
                    )
                    return None
                continue
            self.signing.unlock(key)
            self.sync_headers()
            self.notify(f"signing as {name} {self._until()}", title="Reviewer key unlocked", markup=False)
            return key
        await self.push_screen_wait(MessageDialog("Cannot unlock the reviewer key", literal(error)))
        return None

    def _until(self) -> str:
        after = self.signing.lock_after_s
        return (
            f"until you lock it (k) or {fmt_duration(after)} without a key press"
            if after
            else ("until you lock it (k) or quit")
        )
