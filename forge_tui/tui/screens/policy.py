"""The policy screen: the active policy file, its digest, its rules, and why a reload failed (docs/design.md §8).

With a daemon, `status` is its `status` result (or just the "policy" entry of it): the digest in force,
the rules in force and the last reload error, which the daemon keeps while the last good policy stays in
force. Without one, the screen loads and validates the file itself and shows a validation error at its
line. The file's text is shown through `clean()` in a Syntax view, never parsed as markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from forge_tui.core.policy import Policy, Rule, parse_policy
from forge_tui.errors import PolicyError
from forge_tui.tui.text import clean, literal, shorten

DECISION_STYLE = {"allow": "bold green", "ask": "bold yellow", "deny": "bold red"}


@dataclass(frozen=True)
class Located:
    """A policy error split into where and what, as the parser said it (PolicyError.line/col/detail),
    never read back out of the message text."""

    line: int | None
    col: int | None
    message: str

    @classmethod
    def of_error(cls, exc: PolicyError) -> Located:
        return cls(exc.line, exc.col, exc.detail)

    @classmethod
    def of_status(cls, entry: dict[str, Any]) -> Located:
        """From the daemon's policy status: `error`, and `error_at` {line, col, detail} when it knows."""
        at = entry.get("error_at")
        error = str(entry.get("error") or "")
        if not isinstance(at, dict):
            return cls(None, None, error)
        line, col = at.get("line"), at.get("col")
        return cls(
            line if type(line) is int else None,
            col if type(col) is int else None,
            str(at.get("detail") or error),
        )

    def where(self) -> str:
        if self.line is None:
            return ""
        return f"line {self.line}, column {self.col}"


@dataclass
class FileState:
    """The policy file as it is on disk now."""

    text: str | None  # None when it cannot be read
    digest: str | None
    policy: Policy | None
    error: str | None
    located: Located | None = None  # where and what of `error`


def read_policy_file(path: Path, shown_as: str) -> FileState:
    """Load and validate the file; errors read "<shown_as>:<line>:<col>: <what>"."""
    import hashlib

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return FileState(None, None, None, f"{shown_as}: no such policy file")
    except OSError as exc:
        return FileState(None, None, None, f"{shown_as}: cannot read the policy: {exc.strerror or exc}")
    text = data.decode("utf-8", errors="replace")
    digest = hashlib.sha256(data).hexdigest()
    try:
        return FileState(text, digest, parse_policy(data, shown_as), None)
    except PolicyError as exc:
        return FileState(text, digest, None, str(exc), Located.of_error(exc))


def policy_entry(status: dict[str, Any] | None) -> dict[str, Any] | None:
    """The daemon's policy description from a whole `status` result, or the entry itself."""
    if not status:
        return None
    inner = status.get("policy")
    if isinstance(inner, dict):
        return inner
    return status if "digest" in status else None


def matchers(rule: Rule | dict) -> str:
    """One line: `key=pattern,pattern  key=pattern` in file order (a Rule, or a rule of the daemon's
    status, whose `match` maps keys to lists)."""
    match = rule.match if isinstance(rule, Rule) else rule.get("match")
    if not isinstance(match, dict):
        return "—"
    return "  ".join(
        f"{k}={','.join(map(str, v if isinstance(v, list | tuple) else [v]))}" for k, v in match.items()
    )


def rule_extras(rule: Rule) -> str:
    parts = []
    if rule.approvals > 1:
        parts.append(f"{rule.approvals} approvals")
    extra_distinct = sorted(rule.distinct_from - {"requester"})
    if extra_distinct:
        parts.append("not by " + ", ".join(["requester", *extra_distinct]))
    if rule.requires_prior:
        parts.append("after " + ", ".join(rule.requires_prior))
    if rule.reason:
        parts.append(f"“{rule.reason}”")
    return "; ".join(parts)


class PolicyScreen(Screen):
    """Show the policy in force and the file on disk, and any error that keeps them apart."""

    BINDINGS = [
        Binding(
            "r", "reload", "Re-read", id="policy.reload", tooltip="Read and validate the policy file again"
        ),
        Binding("escape", "app.pop_screen", "Back", id="policy.back", tooltip="Close the policy screen"),
    ]

    DEFAULT_CSS = """
    PolicyScreen { layout: vertical; }
    PolicyScreen #policy-title { height: 1; padding: 0 1; background: $panel; text-style: bold; }
    PolicyScreen #policy-error {
        height: auto; margin: 1 1 0 1; padding: 0 1;
        border: heavy $error; background: $error 15%;
    }
    PolicyScreen #policy-error.hidden { display: none; }
    PolicyScreen #policy-info { height: auto; padding: 0 1; margin: 1 0 0 0; }
    PolicyScreen #policy-rules-title { height: 1; padding: 0 1; margin: 1 0 0 0; text-style: bold; }
    PolicyScreen #policy-rules { height: auto; max-height: 40%; scrollbar-size-horizontal: 1; }
    PolicyScreen #policy-source-title { height: 1; padding: 0 1; margin: 1 0 0 0; text-style: bold; }
    PolicyScreen #policy-source { height: 1fr; min-height: 5; padding: 0 1; }
    """

    def __init__(
        self,
        project: Any,
        status: dict[str, Any] | None = None,
        *,
        name: str | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id)
        self.project = project
        self.entry = policy_entry(status)
        self.file: FileState = FileState(None, None, None, None)

    # ---- layout -------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static("", id="policy-title")
        yield Static("", id="policy-error", classes="hidden")
        yield Static("", id="policy-info")
        yield Static("", id="policy-rules-title")
        table: DataTable = DataTable(id="policy-rules", cursor_type="row", zebra_stripes=True)
        table.add_columns("line", "rule", "decision", "match", "also")
        yield table
        yield Static("", id="policy-source-title")
        with VerticalScroll(id="policy-source"):
            yield Static("", id="policy-source-text")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_view()

    @property
    def shown_path(self) -> str:
        path = Path(self.project.policy_path)
        try:
            return str(path.relative_to(self.project.root))
        except ValueError:
            return str(path)

    # ---- public -------------------------------------------------------------------------------------

    def show_status(self, status: dict[str, Any] | None) -> None:
        """Take a newer daemon status (after a policy.reloaded or policy.error event) and redraw."""
        self.entry = policy_entry(status)
        self.refresh_view()

    def refresh_view(self) -> None:
        """Read the file again and redraw everything."""
        self.file = read_policy_file(Path(self.project.policy_path), self.shown_path)
        self.query_one("#policy-title", Static).update(self._title())
        self._show_error()
        self.query_one("#policy-info", Static).update(self._info())
        self._show_rules()
        self._show_source()

    @property
    def error(self) -> str | None:
        """The error to show: the daemon's last reload error, else the file's validation error."""
        if self.entry is not None and self.entry.get("error"):
            return str(self.entry["error"])
        return self.file.error

    @property
    def located(self) -> Located | None:
        """Where and what of `error`: from the daemon's status, else from the file's PolicyError."""
        if self.entry is not None and self.entry.get("error"):
            return Located.of_status(self.entry)
        if self.file.error is None:
            return None
        return self.file.located or Located(None, None, self.file.error)

    # ---- parts --------------------------------------------------------------------------------------

    def _title(self) -> Text:
        t = Text("Policy  ", style="bold")
        t.append_text(literal(getattr(self.project, "name", ""), one_line=True))
        t.append("  ·  ")
        t.append_text(literal(self.shown_path, one_line=True))
        t.append("  ·  ")
        t.append(
            "from the daemon" if self.entry is not None else "no daemon: read from the file", style="italic"
        )
        return t

    def _show_error(self) -> None:
        box = self.query_one("#policy-error", Static)
        error = self.error
        if not error:
            box.add_class("hidden")
            box.update("")
            return
        loc = self.located or Located(None, None, error)
        t = Text()
        if self.entry is not None and self.entry.get("error"):
            t.append("POLICY RELOAD FAILED", style="bold red")
            in_force = str(self.entry.get("digest") or "")
            t.append("  the last good policy stays in force")
            if in_force:
                t.append(f" (digest {in_force[:12]})")
        else:
            t.append("INVALID POLICY", style="bold red")
            t.append("  the daemon would refuse this file and keep the last good policy")
        t.append("\n")
        if loc.line is not None:
            t.append(loc.where(), style="bold")
            t.append(": ")
        t.append_text(literal(loc.message))
        # Quote the line only when the file on disk still has this very error (the daemon's error may
        # be about an earlier version of the file).
        own = self.file.located
        same = own is not None and (own.line, own.message) == (loc.line, loc.message)
        if same and loc.line is not None and self.file.text is not None:
            lines = self.file.text.split("\n")
            if 1 <= loc.line <= len(lines):
                t.append("\n")
                t.append(f"{loc.line:>4} │ ", style="dim")
                t.append_text(literal(lines[loc.line - 1].rstrip("\r"), one_line=True))
                if loc.col is not None:
                    t.append("\n")
                    t.append(" " * (7 + max(0, loc.col - 1)) + "^", style="bold red")
        box.update(t)
        box.remove_class("hidden")

    def _info(self) -> Text:
        t = Text()
        entry, f = self.entry, self.file
        if entry is not None:
            t.append("in force   ", style="bold")
            t.append(f"digest {str(entry.get('digest') or '?')}")
            loaded = entry.get("loaded_at")
            if isinstance(loaded, int | float):
                at = datetime.fromtimestamp(loaded, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
                t.append(f"  loaded {at}", style="dim")
            t.append("\n")
        t.append("file       ", style="bold")
        if f.digest:
            t.append(f"digest {f.digest}")
        else:
            t.append("unreadable", style="red")
        if f.policy is not None:
            t.append("  valid", style="green")
        elif f.digest:
            t.append("  invalid", style="bold red")
        if entry is not None and f.digest and entry.get("digest") and f.digest != entry.get("digest"):
            t.append("\n")
            t.append(
                "           the file differs from the policy in force"
                + ("" if self.error else " (the daemon has not reloaded it yet)"),
                style="yellow",
            )
        p = f.policy
        default = p.default if p else (entry or {}).get("default")
        timeout = p.approval_timeout_s if p else (entry or {}).get("approval_timeout_s")
        per_minute = p.max_per_minute if p else (entry or {}).get("max_per_minute")
        if default is not None:
            t.append("\n")
            t.append("default    ", style="bold")
            t.append(str(default), style=DECISION_STYLE.get(str(default), ""))
            t.append(" when no rule matches")
            if timeout is not None:
                t.append(f"  ·  approval timeout {_duration(timeout)}")
            t.append(f"  ·  rate limit {per_minute}/min per session" if per_minute else "  ·  no rate limit")
        return t

    def _show_rules(self) -> None:
        table = self.query_one("#policy-rules", DataTable)
        title = self.query_one("#policy-rules-title", Static)
        table.clear()
        p = self.file.policy
        if p is not None:
            title.update(f"Rules in the file ({len(p.rules)}): all matching rules count; deny > ask > allow")
            # Share what the fixed columns leave between `match` and `also` (the source shows it all).
            id_w = max((len(r.id) for r in p.rules), default=4)
            room = max(32, self.size.width - (4 + id_w + 8 + 2 * 5 + 2))
            match_w = max(20, room * 3 // 5)
            also_w = max(12, room - match_w)
            for r in p.rules:
                table.add_row(
                    Text(str(r.line), justify="right"),
                    literal(r.id, "bold", one_line=True),
                    Text(r.decision, style=DECISION_STYLE.get(r.decision, "")),
                    literal(shorten(matchers(r), match_w), one_line=True),
                    literal(shorten(rule_extras(r), also_w), one_line=True),
                    key=r.id,
                )
            return
        rules = (self.entry or {}).get("rules") or []
        if self.entry is not None:
            title.update(f"Rules in force ({len(rules)}, from the daemon: the file on disk is not valid)")
        else:
            title.update("Rules: none (the file is not valid)")
        for k, r in enumerate(rules):
            if not isinstance(r, dict):
                continue
            decision = str(r.get("decision", ""))
            approvals = r.get("approvals")
            line = r.get("line")
            table.add_row(
                Text(str(line) if isinstance(line, int) else "—", justify="right"),
                literal(r.get("id", ""), "bold", one_line=True),
                Text(decision, style=DECISION_STYLE.get(decision, "")),
                literal(shorten(matchers(r), 60), one_line=True),
                Text(f"{approvals} approvals" if isinstance(approvals, int) and approvals > 1 else ""),
                key=f"daemon-{k}",
            )

    def _show_source(self) -> None:
        title = self.query_one("#policy-source-title", Static)
        body = self.query_one("#policy-source-text", Static)
        if self.file.text is None:
            title.update("Source")
            body.update(Text("(the file cannot be read)", style="italic red"))
            return
        loc = self.file.located or Located(None, None, "")
        title.update(
            Text.assemble(("Source  ", "bold"), literal(self.shown_path, one_line=True))
            if loc.line is None
            else Text.assemble(
                ("Source  ", "bold"),
                literal(self.shown_path, one_line=True),
                (f"  (error at line {loc.line})", "red"),
            )
        )
        syntax = Syntax(
            clean(self.file.text),
            "toml",
            line_numbers=True,
            highlight_lines={loc.line} if loc.line else None,
            background_color="default",
            word_wrap=False,
        )
        body.update(syntax)
        if loc.line:
            self.call_after_refresh(self._scroll_to_line, loc.line)

    def _scroll_to_line(self, line: int) -> None:
        scroller = self.query_one("#policy-source", VerticalScroll)
        scroller.scroll_to(y=max(0, line - 3), animate=False)

    def on_resize(self) -> None:
        if self.is_mounted:
            self._show_rules()

    # ---- actions ------------------------------------------------------------------------------------

    def action_reload(self) -> None:
        self.refresh_view()


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, int):
        return str(seconds)
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"
