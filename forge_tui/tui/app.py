"""The approval console: the live queue, inspect, approve/reject with the reviewer's own key, and the
ledger, verify and policy views.

The app owns one `DaemonLink` (run as an exclusive worker); the link only posts messages, and the app
keeps the pending requests by id and feeds the screens. "Now" comes from an injectable clock so ages
are deterministic in tests. Key bindings carry ids and can be rebound from the `[keymap]` table of the
user config (forge_tui/tui/config.py).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.app import App
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.message import Message
from textual.screen import ModalScreen
from textual.worker import Worker, WorkerFailed, WorkerState

from forge_tui.errors import ForgeError
from forge_tui.protocol import ERROR_TITLES, RECORDED_REFUSALS, DaemonUnavailable, RPCError
from forge_tui.tui.config import ConsoleConfig, load_config
from forge_tui.tui.link import CONNECTED, DaemonEvent, DaemonLink, Link, LinkState, QueueSnapshot
from forge_tui.tui.screens.dialogs import ConfirmDialog, MessageDialog, PassphraseDialog, ReasonDialog
from forge_tui.tui.screens.inspect import InspectScreen
from forge_tui.tui.screens.queue import QueueScreen
from forge_tui.tui.text import literal, shorten
from forge_tui.tui.widgets.header import ConsoleHeader
from forge_tui.tui.widgets.queue_table import age_of, fmt_duration, summary_of

LinkFactory = Callable[[Callable[[Message], object]], Link]

REFUSALS = ERROR_TITLES
RECORDED = RECORDED_REFUSALS
ANNOUNCE_WINDOW_S = 0.3  # new requests arriving within this window share one notification and one bell  # refusals the daemon records as violation records


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
        Binding("l", "ledger", "Ledger", id="app.ledger", tooltip="browse the ledger"),
        Binding("v", "verify", "Verify", id="app.verify", tooltip="verify the ledger"),
        Binding("p", "policy", "Policy", id="app.policy", tooltip="the policy in force"),
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
        self.reviewer_key: Any = None
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
        """The console for `project`, on its daemon's reviewer socket (default: FORGE_REVIEW_SOCKET or
        the runtime folder), with the user's config (keymap, reviewer)."""
        if socket is None:
            from forge_tui.paths import review_socket_path

            socket = review_socket_path(project.project_id)
        kw.setdefault("config", load_config())
        return cls(project, socket=socket, title=title, **kw)

    # ---- lifecycle -----------------------------------------------------------------------------------

    def get_default_screen(self) -> QueueScreen:
        return self.queue_screen

    def on_mount(self) -> None:
        self.sync_headers()
        self.run_worker(
            self.link.run(), name="daemon-link", group="link", exclusive=True, exit_on_error=False
        )
        if self.tick_interval:
            self.set_interval(self.tick_interval, self.tick)
        for problem in self.config.problems:
            self.notify(problem, title="config", severity="warning", markup=False, timeout=10)

    async def on_unmount(self) -> None:
        await self.link.close()

    def tick(self) -> None:
        self.queue_screen.table.tick()
        if isinstance(self.screen, InspectScreen):
            self.screen.tick()
        self.sync_headers()

    # ---- the model: link messages -------------------------------------------------------------------

    def on_link_state(self, message: LinkState) -> None:
        self.link_state = message.state
        self.link_detail = message.detail
        if message.state != CONNECTED and message.retry_in is not None:
            self.link_detail = f"{message.detail}; retrying in {message.retry_in:.1f} s".lstrip("; ")
        self.queue_screen.update_empty(connected=message.state == CONNECTED)
        self.sync_headers()
        self.refresh_bindings()

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
        if message.status is not None:
            self.status = message.status
            err = (message.status.get("policy") or {}).get("error")
            self.policy_error = str(err) if err else ""
            self.ledger_health = (message.status.get("ledger") or {}).get("health") or {}
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
            self.queue_screen.table.remove(rid)
            self.queue_screen.update_empty(connected=self.link_state == CONNECTED)
            for screen in self.screen_stack:
                if isinstance(screen, InspectScreen) and screen.request_id == rid:
                    screen.mark_decided(ev)
            self._reload_ledger_view()
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
                f"(forge-tui policy approve --as NAME)\n{shown}",
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
            status = await self.link.call("status", {})
        except (DaemonUnavailable, RPCError):
            return
        if not isinstance(status, dict):
            return
        self.status = status
        for screen in self.screen_stack:
            show = getattr(screen, "show_status", None)
            if type(screen).__name__ == "PolicyScreen" and callable(show):
                show(status)

    def _announce(self, item: dict[str, Any]) -> None:
        """A notification and a bell for new requests; a burst (an agent firing several at once) is
        gathered into one toast and one bell."""
        self._arrivals.append(item)
        if len(self._arrivals) == 1:
            self.set_timer(ANNOUNCE_WINDOW_S, self._flush_arrivals)

    def _flush_arrivals(self) -> None:
        batch, self._arrivals = self._arrivals, []
        if not batch:
            return
        lines = [
            f"{shorten((i.get('actor') or {}).get('id', '?'), 30)}: {shorten(summary_of(i), 70)}"
            for i in batch[:3]
        ]
        if len(batch) > 3:
            lines.append(f"… and {len(batch) - 3} more")
        title = "New request waiting" if len(batch) == 1 else f"{len(batch)} new requests waiting"
        self.notify("\n".join(lines), title=title, markup=False)
        self.bell()

    def sync_headers(self) -> None:
        oldest = min(self.pending.values(), key=lambda i: i.get("received_at") or "", default=None)
        for screen in self.screen_stack:
            for header in screen.query(ConsoleHeader):
                header.title = self.title
                header.project = getattr(self.project, "name", "") or ""
                header.state = self.link_state
                header.detail = self.link_detail
                header.pending = len(self.pending)
                header.oldest = fmt_duration(age_of(oldest, self.clock())) if oldest else ""
                header.policy_error = self.policy_error
                health = self.ledger_health
                header.ledger_state = str(health.get("state") or "")
                header.ledger_detail = str(health.get("fault") or health.get("tracked_error") or "")

    def _reload_ledger_view(self) -> None:
        reload = getattr(self.screen, "reload", None)
        if type(self.screen).__name__ == "LedgerScreen" and callable(reload):
            reload()

    # ---- which request the keys act on --------------------------------------------------------------

    def current_item(self) -> dict[str, Any] | None:
        screen = self.screen
        if isinstance(screen, InspectScreen):
            return None if screen.decided is not None else self.pending.get(screen.request_id)
        if screen is self.queue_screen:
            return self.queue_screen.table.selected_item()
        return None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("approve", "reject", "inspect"):
            if isinstance(self.screen, ModalScreen):
                return False
            if action == "inspect":
                return self.screen is self.queue_screen and self.current_item() is not None
            return self.link_state == CONNECTED and self.current_item() is not None
        return True

    # ---- actions --------------------------------------------------------------------------------------

    def action_inspect(self) -> None:
        item = self.current_item()
        if item is not None and self.screen is self.queue_screen:
            self.push_screen(InspectScreen(item))

    def action_approve(self) -> None:
        item = self.current_item()
        if item is not None and not self._reviewing():
            self.review(item["request_id"], "approve")

    def action_reject(self) -> None:
        item = self.current_item()
        if item is not None and not self._reviewing():
            self.review(item["request_id"], "reject")

    def _reviewing(self) -> bool:
        """A review is under way (a key pressed twice before its dialog opened must not start another)."""
        return any(w.group == "review" and not w.is_finished for w in self.workers)

    def action_ledger(self) -> None:
        try:
            from forge_tui.tui.screens.ledger import LedgerScreen
        except ImportError:
            self._missing("ledger")
            return
        if not isinstance(self.screen, LedgerScreen):
            self.push_screen(LedgerScreen(self._ledger_path(), project=self.project))

    def action_verify(self) -> None:
        try:
            from forge_tui.tui.screens.verify import VerifyScreen
        except ImportError:
            self._missing("verify")
            return
        if not isinstance(self.screen, VerifyScreen):
            self.push_screen(VerifyScreen(self.project))

    def action_policy(self) -> None:
        try:
            from forge_tui.tui.screens.policy import PolicyScreen
        except ImportError:
            self._missing("policy")
            return
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
            described = await self.link.call("policy.reload", {})
        except (DaemonUnavailable, RPCError) as exc:
            self.notify(f"could not reload the policy: {exc}", severity="error", markup=False)
            return
        if isinstance(described, dict) and described.get("error"):
            self.notify(str(described["error"]), title="Policy error", severity="error", markup=False)
        else:
            self.notify("the daemon reloaded the policy", title="Policy", markup=False)
        try:
            self.status = await self.link.call("status", {})
        except (DaemonUnavailable, RPCError):
            pass

    def _missing(self, what: str) -> None:
        self.notify(f"the {what} view is not available in this build", severity="warning", markup=False)

    def _ledger_path(self) -> Path:
        path = ((self.status or {}).get("ledger") or {}).get("path")
        if path:
            return Path(path)
        return self.project.tracked_ledger(self.project.local_ledger_id())

    # ---- review: confirm, unlock once, sign, send ---------------------------------------------------

    def describe_item(self, item: dict[str, Any]) -> Text:
        actor = item.get("actor") or {}
        t = Text()
        t.append("request   ", style="bold")
        t.append_text(literal(item.get("request_id", ""), one_line=True))
        t.append("\nactor     ", style="bold")
        t.append_text(literal(shorten(actor.get("id", "?"), 60), one_line=True))
        t.append("\naction    ", style="bold")
        t.append_text(literal(shorten(summary_of(item), 200), one_line=True))
        t.append("\nrule      ", style="bold")
        t.append_text(literal(item.get("rule") or "default", one_line=True))
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

        approval = build_approval(item["request_id"], item["request_hash"], verdict, reason, key.name)
        try:
            res = await self.link.call(
                "queue.decide",
                {"approval": approval, "reviewer_sig": key.sign_approval(approval)},
                timeout=30,
            )
        except RPCError as exc:
            await self.show_refusal(exc)
            return
        except DaemonUnavailable as exc:
            self.notify(f"not sent: {exc}", title="Daemon unreachable", severity="error", markup=False)
            return
        if res.get("status") == "pending":
            self.notify(
                f"your approval of {request_id} is recorded: {res.get('approvals')} of {res.get('needed')}",
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

    async def show_refusal(self, exc: RPCError) -> None:
        title = REFUSALS.get(exc.code, "Refused by the daemon")
        body = literal(exc.message)
        body.append(f"\n\nerror {exc.code}", style="dim")
        if exc.code in RECORDED:
            body.append(" · the attempt is recorded in the ledger as a violation", style="dim")
        await self.push_screen_wait(MessageDialog(title, body))

    async def unlock_reviewer(self) -> Any:
        """The reviewer key of this session, unlocked once (argon2 runs in a thread)."""
        if self.reviewer_key is not None:
            return self.reviewer_key
        from forge_tui.core.reviewers import ReviewerStore
        from forge_tui.review import PASSPHRASE_ENV

        store = ReviewerStore(self.project)
        try:
            names = store.names()
        except ForgeError as exc:
            await self.push_screen_wait(
                MessageDialog("Cannot read the reviewers", literal(exc.diagnostics()))
            )
            return None
        if self.reviewer_name:
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
            if env is not None and len(names) == 1:
                name, passphrase = names[0], env
            else:
                answer = await self.push_screen_wait(PassphraseDialog(names, passphrase=env, error=error))
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
                if env is not None:  # a wrong FORGE_PASSPHRASE will not get better by asking again
                    await self.push_screen_wait(
                        MessageDialog("Cannot unlock the reviewer key", literal(error))
                    )
                    return None
                continue
            self.reviewer_key = key
            self.notify(f"signing as {name} until you quit", title="Reviewer key unlocked", markup=False)
            return key
        await self.push_screen_wait(MessageDialog("Cannot unlock the reviewer key", literal(error)))
        return None
