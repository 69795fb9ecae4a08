"""Inspect one pending request: the whole action, its diff, who asked and why, what matched, and what the
same session did before. Every value here came from an agent or the ledger: it is shown literally."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from forge_tui.protocol import LEDGER_QUERY, DaemonUnavailable, RPCError
from forge_tui.tui.durations import fmt_ago, parse_ts
from forge_tui.tui.quorum import ApprovalCheck, Quorum, check_approvals, quorum_of, who_may
from forge_tui.tui.text import clean, literal, shorten
from forge_tui.tui.widgets.header import ConsoleHeader
from forge_tui.tui.widgets.queue_table import age_of, expiry_of, fmt_duration, summary_of

DaemonCall = Callable[[str, dict[str, Any]], Awaitable[Any]]  # a daemon call: method, params -> result


def fields(*pairs: tuple[str, Any]) -> Text:
    """Label/value lines; values are literal (None shown as a dim dash)."""
    out = Text(end="")
    for i, (label, value) in enumerate(pairs):
        if i:
            out.append("\n")
        out.append(f"{label:<14}", style="bold")
        if value is None or value == "" or value == []:
            out.append("—", style="dim")
        elif isinstance(value, Text):
            out.append_text(value)
        else:
            out.append_text(literal(value))
    return out


def content_renderable(content: dict[str, Any]) -> RenderableType:
    """A diff with diff highlighting (from the cleaned literal text), anything else as plain text."""
    text = clean(content.get("text", ""))
    kind = str(content.get("kind") or "text")
    if kind == "diff" or text.startswith(("--- ", "diff ")):
        return Syntax(text, "diff", theme="ansi_dark", word_wrap=True)
    return literal(text)


def history_table(rows: list[dict[str, Any]]) -> RenderableType:
    if not rows:
        return Text("No earlier actions in this session.", style="dim")
    table = Table(box=None, show_header=True, header_style="bold", pad_edge=False, expand=True)
    for col in ("when", "request", "kind", "summary", "decision", "outcome"):
        table.add_column(col, overflow="fold" if col == "summary" else "ellipsis", no_wrap=col != "summary")
    for r in rows:
        status = r.get("status") or "?"
        style = {"allowed": "green", "denied": "red", "pending": "yellow"}.get(status, "")
        table.add_row(
            literal(shorten(r.get("ts", ""), 24)),
            literal(shorten(r.get("request_id", ""), 20)),
            literal(shorten(r.get("kind", ""), 12)),
            literal(shorten(r.get("summary", ""), 80)),
            literal(status, style=style),
            literal(r.get("outcome") or "—"),
        )
    return table


def session_rows(records: list[dict[str, Any]], session: str, exclude: str) -> list[dict[str, Any]]:
    """Earlier requests of `session`, oldest first, with their decision and outcome, from ledger records
    (any order). Pure: the tests and the screen share it."""
    requests: dict[str, dict[str, Any]] = {}
    decided: dict[str, str] = {}
    outcomes: dict[str, str] = {}
    for rec in records:
        body = rec.get("body") or {}
        rid = body.get("request_id")
        if not isinstance(rid, str) or rid == exclude:
            continue
        t = rec.get("type")
        if t == "request" and (body.get("actor") or {}).get("session") == session:
            action = body.get("action") or {}
            requests[rid] = {
                "ts": rec.get("ts", ""),
                "seq": rec.get("seq", 0),
                "request_id": rid,
                "kind": action.get("kind", ""),
                "summary": summary_of(body),
            }
        elif t == "decision" and body.get("status") != "pending":
            decided[rid] = body.get("status", "")
        elif t == "decision":
            decided.setdefault(rid, "pending")
        elif t == "outcome":
            outcomes[rid] = body.get("status", "")
    rows = sorted(requests.values(), key=lambda r: r["seq"])
    for r in rows:
        r["status"] = decided.get(r["request_id"])
        r["outcome"] = outcomes.get(r["request_id"])
    return rows


def _account(uid: int | None, user: str | None) -> str:
    if uid is None:
        return ""
    return f"uid {uid}" + (f" ({user})" if user else "")


def approvals_text(q: Quorum, checks: list[ApprovalCheck] | None, now: float) -> Text:
    """The quorum: each approval (who, when, from which OS account, its signature status), who may
    still approve and who may not. `checks` is None while the ledger is still being read."""
    t = Text(end="")
    t.append(f"{q.have} of {q.needed} approvals", style="bold")
    t.append(f"  ·  distinct by {', '.join(q.distinct_by)}", style="dim")
    by_name = {c.reviewer: c for c in checks or [] if c.verdict == "approve"}
    for v in q.votes:
        t.append("\n  ✓ ", style="green")
        t.append_text(literal(shorten(v.reviewer, 32), "bold", one_line=True))
        t.append_text(literal(f"  {v.ts}", one_line=True))
        at = parse_ts(v.ts)
        if at is not None:
            t.append(f" ({fmt_ago(now - at)} ago)", style="dim")
        check = by_name.get(v.reviewer)
        account = _account(v.uid, v.user) or (_account(check.uid, check.user) if check else "")
        if account:
            t.append_text(literal(f"  {account}", one_line=True))
        if checks is None:
            t.append("  signature: checking…", style="dim")
        elif check is None:
            t.append("  signature: no approval record found", style="bold red")
        elif check.ok:
            t.append("  signature verified", style="green")
            t.append(f" (seq {check.seq})", style="dim")
        else:
            t.append_text(literal(f"  signature: {check.status}", "bold red", one_line=True))
    if q.missing:
        t.append("\nmay approve  ", style="bold")
        t.append_text(literal(who_may(q), "bold red" if q.stuck else "", one_line=True))
        t.append(f"  ({q.missing} more needed)", style="dim")
    if q.excluded:
        t.append("\nmay not      ", style="bold")
        t.append_text(
            literal(", ".join(f"{n} ({why})" for n, why in sorted(q.excluded.items())), one_line=True)
        )
    return t


SECTIONS = (
    ("action", "Action"),
    ("content", "Content"),
    ("why", "Requirement and policy"),
    ("approvals", "Approvals"),  # before who asked: the quorum is what a reviewer decides against
    ("who", "Requested by"),
    ("history", "Earlier in this session"),
)


class InspectScreen(Screen[None]):
    """The full picture of request `request_id`. `a`/`r` (the app's bindings) act on it."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="inspect.back", tooltip="back to the queue"),
    ]

    DEFAULT_CSS = """
    InspectScreen VerticalScroll {
        padding: 0 1;
    }
    InspectScreen .section {
        border: round $primary-darken-1;
        border-title-color: $accent;
        border-title-style: bold;
        height: auto;
        padding: 0 1;
        margin-bottom: 0;
    }
    InspectScreen #banner {
        display: none;
        background: $warning 30%;
        padding: 0 1;
        text-style: bold;
    }
    InspectScreen #banner.shown {
        display: block;
    }
    """

    def __init__(
        self,
        item: dict[str, Any],
        *,
        clock: Callable[[], float],
        daemon_call: DaemonCall,
        verifiers: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.item = item
        self.request_id: str = item["request_id"]
        self.clock = clock
        self.daemon_call = daemon_call
        self.verifiers = verifiers or {}  # reviewer name -> Verifier, for the approvals' signatures
        self.checks: list[ApprovalCheck] | None = None
        self.decided: dict[str, Any] | None = None
        self.history_loaded = False
        # Held, not queried: daemon events may update this screen while the app tears it down.
        self.banner = Static(id="banner")
        self.sections: dict[str, Static] = {}
        for sid, title in SECTIONS:
            section = Static(id=sid, classes="section")
            section.border_title = title
            self.sections[sid] = section

    def compose(self) -> ComposeResult:
        yield ConsoleHeader()
        yield self.banner
        with VerticalScroll(id="inspect"):
            yield from self.sections.values()
        yield Footer()

    def on_mount(self) -> None:
        self.render_item()
        self.query_one(VerticalScroll).focus()
        self.load_history()
        self.load_approvals()

    # ---- rendering -----------------------------------------------------------------------------------

    def render_item(self) -> None:
        item = self.item
        self.render_action()
        content = item.get("content")
        section = self.sections["content"]
        if content and content.get("text") is not None:
            section.display = True
            section.border_title = f"Content ({shorten(content.get('kind') or 'text', 12)}, {content.get('size', len(content.get('text', '')))} chars)"
            section.update(content_renderable(content))
        else:
            section.display = False
        rules = item.get("rules") or []
        self.sections["why"].update(
            fields(
                ("requirement", item.get("requirement")),
                ("rule", item.get("rule") or "default"),
                ("all matched", ", ".join(clean(r, one_line=True) for r in rules) if rules else None),
                ("reason", item.get("reason")),
            )
        )
        actor = item.get("actor") or {}
        proc = item.get("process") or {}
        claims: list[tuple[str, Any]] = []  # what the agent said about itself, shown only as a claim
        if actor.get("claimed_kind") not in (None, actor.get("kind")):
            claims.append(("claimed kind", actor.get("claimed_kind")))
        if item.get("claimed_principal"):
            claims.append(("agent claims", item.get("claimed_principal")))
        self.sections["who"].update(
            fields(
                ("actor", actor.get("id")),
                ("actor kind", actor.get("kind")),
                ("session", actor.get("session")),
                ("on behalf of", item.get("principal")),
                *claims,
                ("client", item.get("client")),
                (
                    "process",
                    f"pid {proc.get('pid')}  uid {proc.get('uid')}  {proc.get('exe') or ''}".rstrip()
                    if proc
                    else None,
                ),
            )
        )
        self.render_approvals()

    def render_approvals(self) -> None:
        item = self.item
        q = quorum_of(item, self.verifiers)
        body = approvals_text(q, self.checks, self.clock())
        body.append("\n")
        body.append_text(fields(("distinct from", ", ".join(item.get("distinct_from") or []) or None)))
        self.sections["approvals"].update(body)

    def render_action(self) -> None:
        """The action and its clock-driven lines (the only part the one-second tick repaints)."""
        item = self.item
        now = self.clock()
        action = item.get("action") or {}
        paths = action.get("paths") or []
        self.sections["action"].update(
            fields(
                ("request", item.get("request_id")),
                ("kind", action.get("kind")),
                ("tool", action.get("tool")),
                ("command", action.get("command")),
                ("paths", literal("\n".join(clean(p, one_line=True) for p in paths)) if paths else None),
                ("url", action.get("url")),
                ("agent says", action.get("summary")),  # its own words, after what really runs
                ("input digest", action.get("input_digest")),
                ("waiting", Text(fmt_duration(age_of(item, now)))),
                ("expires in", Text(fmt_duration(expiry_of(item, now) or 0))),
            )
        )

    def update_item(self, item: dict[str, Any]) -> None:
        grew = len(item.get("approvals") or []) != len(self.item.get("approvals") or [])
        self.item = item
        self.render_item()
        if grew:
            self.load_approvals()

    def mark_decided(self, event: dict[str, Any]) -> None:
        """The request left the queue (decided here, by another reviewer, or by timeout)."""
        self.decided = event
        banner = self.banner
        banner.update(
            literal(
                f"Decided: {event.get('status')} by {event.get('decided_by')}"
                + (f" — {event['reason']}" if event.get("reason") else ""),
                one_line=True,
            )
        )
        banner.add_class("shown")
        self.refresh_bindings()

    def tick(self) -> None:
        if self.decided is None:
            self.render_action()

    # ---- the session's history -----------------------------------------------------------------------

    @work(exclusive=True, group="inspect-history")
    async def load_history(self) -> None:
        section = self.sections["history"]
        actor = self.item.get("actor") or {}
        session = actor.get("session")
        rows: list[dict[str, Any]] | None = None
        note = ""
        try:
            reqs = await self.daemon_call(
                LEDGER_QUERY, {"actor": actor.get("id"), "type": ["request"], "limit": 200}
            )
            others = await self.daemon_call(LEDGER_QUERY, {"type": ["decision", "outcome"], "limit": 1000})
            rows = session_rows(reqs["records"] + others["records"], session, self.request_id)
        except (DaemonUnavailable, RPCError) as exc:
            note = f"(the ledger could not be queried: {exc}; showing what the daemon remembers)"
        if rows is None:
            rows = [dict(r) for r in self.item.get("session_history") or []]
        body: list[RenderableType] = [history_table(rows[-20:])]
        if note:
            body.append(literal(note, style="dim"))
        section.update(Group(*body))
        self.history_loaded = True

    @work(exclusive=True, group="inspect-approvals")
    async def load_approvals(self) -> None:
        """Read this request's approval records and check each signature with the reviewers' keys."""
        if not (self.item.get("approvals") or []):
            self.checks = []
            return
        try:
            found = await self.daemon_call(
                LEDGER_QUERY, {"request_id": self.request_id, "type": ["approval"], "limit": 100}
            )
            self.checks = check_approvals(found["records"], self.item["request_hash"], self.verifiers)
        except (DaemonUnavailable, RPCError, KeyError, TypeError):
            self.checks = None
            return
        self.render_approvals()

    def action_back(self) -> None:
        self.dismiss()
