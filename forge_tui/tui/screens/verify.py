"""The verify screen: `forge-tui verify` inside the console (docs/design.md §5, §7).

The check runs `verify_project` in a thread worker; its progress callback feeds a ProgressBar through
`call_from_thread`. The result shows, per ledger, the chain, signatures, checkpoint, anchors and forensic
rules, then every finding (ledger, seq, rule, what) in a table whose highlighted row is shown in full.
Ledger ids, request ids and messages come from files an attacker may have written: they are shown
through `literal()` / `clean()`, never as markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import DataTable, Footer, ProgressBar, Static
from textual.worker import Worker, WorkerState, get_current_worker

from forge_tui.core.findings import Check
from forge_tui.core.findings import check_of as findings_check_of
from forge_tui.core.verify import ERROR, NOTICE, WARNING, Finding, LedgerReport, VerifyReport, verify_project
from forge_tui.errors import EXIT_FAIL, EXIT_OK, EXIT_WARN, ForgeError
from forge_tui.tui.text import clean, literal, shorten

# Below this many ledger bytes a process pool costs more than it saves (and forking a threaded app is
# best avoided when it buys nothing).
POOL_THRESHOLD_BYTES = 8 << 20

CHECKS = ("chain", "signatures", "checkpoint", "anchors", "forensics")

OK, WARN, FAIL, SKIP, NOTE = "ok", "warn", "fail", "skip", "note"
MARK = {
    OK: ("✓", "green"),
    WARN: ("!", "yellow"),
    FAIL: ("✗", "bold red"),
    SKIP: ("–", "dim"),
    NOTE: ("i", "cyan"),
}
SEVERITY_STYLE = {ERROR: "bold red", WARNING: "yellow", NOTICE: "cyan"}


def check_of(code: str) -> str:
    """The check row a finding code belongs to (from the one table, `forge_tui.core.findings`); the
    `--git` codes have no row of their own and count as forensic."""
    check = findings_check_of(code)
    return "forensics" if check == Check.GIT else check.value


def phase_label(fast: bool, ledger_hashed: bool) -> str:
    """What the verify pass is doing: one pass over the records hashes the chain and (unless fast)
    checks every signature and the forensic rules at once; the checkpoint comes after it."""
    if ledger_hashed:
        return "checking the checkpoint…"
    return "hashing the chain…" if fast else "checking hashes, signatures and forensic rules…"


@dataclass(frozen=True)
class CheckStatus:
    state: str  # ok | warn | fail | skip | note
    detail: str


def ledger_checks(lr: LedgerReport, findings: list[Finding], fast: bool) -> dict[str, CheckStatus]:
    """One status per check for one ledger: the worst finding decides; details say what was covered."""
    mine = [f for f in findings if f.ledger == lr.ledger_id]
    by_check: dict[str, list[Finding]] = {c: [] for c in CHECKS}
    for f in mine:
        by_check[check_of(f.code)].append(f)

    def worst(check: str, ok_detail: str, *, empty_state: str = OK) -> CheckStatus:
        found = by_check[check]
        errors = [f for f in found if f.severity == ERROR]
        warnings = [f for f in found if f.severity == WARNING]
        notices = [f for f in found if f.severity == NOTICE]
        if errors:
            return CheckStatus(FAIL, _summarise(errors))
        if warnings:
            return CheckStatus(WARN, _summarise(warnings))
        if notices:  # the gate refused something and wrote it down: evidence, not a break
            return CheckStatus(OK, f"no violation; {_count(notices, 'refusal')} recorded by the gate")
        return CheckStatus(empty_state, ok_detail)

    n = lr.records
    out = {"chain": worst("chain", f"{n} records, seq and prev intact")}
    if fast:
        sig = by_check["signatures"]
        out["signatures"] = (
            worst("signatures", "")
            if any(f.severity == ERROR for f in sig)
            else CheckStatus(SKIP, "skipped (fast mode: press f for a full check)")
        )
    else:
        out["signatures"] = worst("signatures", f"{lr.signatures_checked} of {n} records verified")
    if lr.checkpoint_size is not None:
        cp_ok = f"signed, covers {lr.checkpoint_size} of {n} records"
    else:
        cp_ok = "no checkpoint"
    out["checkpoint"] = worst("checkpoint", cp_ok)
    if lr.anchors:
        out["anchors"] = worst("anchors", "extends " + "; ".join(lr.anchors))
    else:
        out["anchors"] = worst("anchors", "no anchor to extend", empty_state=SKIP)
    if fast and not by_check["forensics"]:
        out["forensics"] = CheckStatus(SKIP, "skipped (fast mode reads no records: press f)")
    else:
        out["forensics"] = worst("forensics", "no violation of the forensic rules")
    return out


def _count(items: list[Finding], word: str) -> str:
    return f"{len(items)} {word}{'' if len(items) == 1 else 's'}"


def _summarise(items: list[Finding]) -> str:
    """The first finding's reason (at its seq), and how many more there are."""
    first = min(items, key=lambda f: -1 if f.seq is None else f.seq)
    where = f"seq {first.seq}: " if first.seq is not None else ""
    more = f" (+{len(items) - 1} more)" if len(items) > 1 else ""
    return f"{where}{first.message}{more}"


def verdict(report: VerifyReport) -> tuple[str, str]:
    """(headline, style) for a finished report, matching the CLI's exit codes."""
    code = report.exit_code()
    errors = sum(f.severity == ERROR for f in report.findings)
    warnings = sum(f.severity == WARNING for f in report.findings)
    n = len(report.ledgers)
    records = sum(lr.records for lr in report.ledgers)
    mode = " (fast: signatures and forensic rules not checked)" if report.fast else ""
    if code == EXIT_OK:
        where = f"{n} ledger{'s' if n != 1 else ''}, {records} records"
        return f"VERIFIED  {where}, no errors or warnings{mode}", "bold green"
    if code == EXIT_WARN:
        return (
            f"VERIFIED WITH WARNINGS  {warnings} warning{'s' if warnings != 1 else ''}{mode}",
            "bold yellow",
        )
    assert code == EXIT_FAIL
    counted = f"{errors} error{'s' if errors != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''}"
    return f"FAILED  {counted}{mode}", "bold red"


def render_ledgers(report: VerifyReport) -> Group:
    """The per-ledger check lists; a long detail wraps inside its column (ledger ids come from file
    names and messages from the files: both shown literally)."""
    parts: list[RenderableType] = []
    for k, lr in enumerate(report.ledgers):
        head = Text("\n" if k else "")
        head.append("ledger ", style="bold")
        head.append_text(literal(lr.ledger_id, "bold", one_line=True))
        head.append(f"  {lr.records} records", style="dim")
        if lr.root:
            head.append(f"  root {lr.root[:16]}…", style="dim")
        parts.append(head)
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True)  # indent and mark
        grid.add_column(no_wrap=True)  # check name
        grid.add_column(ratio=1, overflow="fold")  # detail
        for name, st in ledger_checks(lr, report.findings, report.fast).items():
            mark, style = MARK[st.state]
            loud = st.state in (FAIL, WARN)
            grid.add_row(
                Text(f" {mark}", style=style),
                Text(name, style="bold" if loud else ""),
                Text(clean(st.detail, one_line=True), style=style if loud else ""),  # wraps, unlike literal()
            )
        parts.append(grid)
    # Findings not tied to a ledger report (e.g. "no ledger found") still get a line here.
    known = {lr.ledger_id for lr in report.ledgers}
    loose = Table.grid(padding=(0, 1))
    loose.add_column(no_wrap=True)
    loose.add_column(ratio=1, overflow="fold")
    for f in report.findings:
        if f.ledger not in known:
            mark, style = MARK[FAIL if f.severity == ERROR else WARN]
            loose.add_row(Text(f" {mark}", style=style), Text(clean(f.message, one_line=True), style=style))
    if loose.row_count:
        parts.append(loose)
    return Group(*parts)


def finding_detail(f: Finding) -> Text:
    """The full text of one finding: where, what, and which rule."""
    out = Text()
    out.append(f.severity.upper(), style=SEVERITY_STYLE.get(f.severity, ""))
    out.append("  ledger ")
    out.append_text(literal(f.ledger, "bold", one_line=True))
    out.append("  ")
    out.append("seq " + str(f.seq) if f.seq is not None else "whole ledger", style="bold")
    out.append("  [")
    out.append_text(literal(f.code, one_line=True))
    out.append("]\n")
    out.append_text(literal(f.message))
    return out


class _Cancelled(Exception):
    """Raised inside verify_project (through its progress callback) when the screen went away."""


class VerifyScreen(Screen):
    """Verify every ledger of the project and show what holds and what broke."""

    BINDINGS = [
        Binding("r", "rerun", "Re-run", id="verify.rerun", tooltip="Verify the ledgers again"),
        Binding(
            "f",
            "toggle_fast",
            "Fast/full",
            id="verify.fast",
            tooltip="Toggle fast mode (skip per-record signatures) and verify again",
        ),
        Binding(
            "c",
            "copy",
            "Copy findings",
            id="verify.copy",
            tooltip="Copy the findings, one line each as `forge-tui verify` prints them",
        ),
        Binding("escape", "app.pop_screen", "Back", id="verify.back", tooltip="Close the verify screen"),
    ]

    DEFAULT_CSS = """
    VerifyScreen { layout: vertical; }
    VerifyScreen #verify-title { height: 1; padding: 0 1; background: $panel; text-style: bold; }
    VerifyScreen #verify-run { height: auto; padding: 0 1; }
    VerifyScreen #verify-progress { width: 1fr; }
    VerifyScreen #verify-phase { height: 1; color: $text-muted; }
    VerifyScreen #verify-verdict { height: auto; padding: 0 1; margin: 1 0 0 0; }
    VerifyScreen #verify-checks { height: auto; max-height: 50%; padding: 0 1; }
    VerifyScreen #verify-findings-title { height: 1; padding: 0 1; margin: 1 0 0 0; text-style: bold; }
    VerifyScreen #verify-findings { height: auto; max-height: 45%; scrollbar-size-horizontal: 1; }
    VerifyScreen #verify-detail { height: auto; max-height: 6; padding: 0 1; margin: 1 0 0 0; }
    """

    fast: reactive[bool] = reactive(False, init=False)
    running: reactive[bool] = reactive(False, init=False)

    def __init__(
        self,
        project: Any,
        *,
        fast: bool = False,
        workers: int | None = None,
        name: str | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id)
        self.project = project
        self.set_reactive(VerifyScreen.fast, fast)
        self._workers = workers
        self.report: VerifyReport | None = None
        self.error: str | None = None
        self._findings: list[Finding] = []

    # ---- layout -------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(self._title(), id="verify-title")
        with Vertical(id="verify-run"):
            yield ProgressBar(total=None, show_eta=False, id="verify-progress")
            yield Static("", id="verify-phase")
        yield Static("", id="verify-verdict")
        with VerticalScroll(id="verify-checks"):
            yield Static("", id="verify-checks-text")
        yield Static("Findings", id="verify-findings-title")
        table: DataTable = DataTable(id="verify-findings", cursor_type="row", zebra_stripes=True)
        table.add_columns("severity", "ledger", "seq", "rule", "what")
        yield table
        yield Static("", id="verify-detail")
        yield Footer()

    def _title(self) -> Text:
        t = Text("Verify  ", style="bold")
        t.append_text(literal(getattr(self.project, "name", ""), one_line=True))
        t.append("  ·  ")
        t.append(
            "fast: chain and checkpoint only" if self.fast else "full: chain, signatures, checkpoint",
            style="italic",
        )
        return t

    def on_mount(self) -> None:
        self.run_verify()

    # ---- running ------------------------------------------------------------------------------------

    def run_verify(self) -> None:
        """Start (or restart) the verification in a thread worker."""
        self.running = True
        self.report = None
        self.error = None
        self.query_one("#verify-title", Static).update(self._title())
        self.query_one("#verify-progress", ProgressBar).update(total=None, progress=0)
        self.query_one("#verify-phase", Static).update("reading the ledgers…")
        self.query_one("#verify-verdict", Static).update(Text("verifying…", style="italic"))
        self.query_one("#verify-checks-text", Static).update("")
        self.query_one("#verify-findings", DataTable).clear()
        self.query_one("#verify-detail", Static).update("")
        self._findings = []
        self.run_worker(
            self._verify, name="verify", group="verify", thread=True, exclusive=True, exit_on_error=True
        )

    def _pool_size(self) -> int:
        if self._workers is not None:
            return self._workers
        return 1 if self._ledger_bytes() < POOL_THRESHOLD_BYTES else 0  # 0: one per CPU

    def _verify(self) -> VerifyReport | str:
        """Runs in a thread: never touches widgets, only calls back into the app thread."""
        worker = get_current_worker()
        app = self.app
        grand = self._ledger_bytes()
        state = {"base": 0, "last_done": 0, "last_total": 0}

        def progress(done: int, total: int) -> None:
            if worker.is_cancelled:
                raise _Cancelled
            if done < state["last_done"] or total != state["last_total"]:
                state["base"] += state["last_total"]  # the next ledger started
            state["last_done"], state["last_total"] = done, total
            overall = state["base"] + done
            try:
                app.call_from_thread(self._on_progress, overall, max(grand, overall), done == total)
            except RuntimeError:
                raise _Cancelled from None

        workers = self._pool_size() or None
        try:
            return verify_project(self.project, fast=self.fast, workers=workers, progress=progress)
        except _Cancelled:
            return "cancelled"
        except ForgeError as exc:
            return exc.diagnostics()
        except OSError as exc:  # an unreadable file is a finding for the reviewer, not a crash
            return f"cannot read {exc.filename or 'a ledger file'}: {exc.strerror or exc}"

    def _ledger_bytes(self) -> int:
        total = 0
        for lid in self.project.ledger_ids():
            try:
                total += self.project.tracked_ledger(lid).stat().st_size
            except OSError:
                pass
        return total

    def _on_progress(self, done: int, total: int, ledger_hashed: bool) -> None:
        self.query_one("#verify-progress", ProgressBar).update(total=max(total, 1), progress=done)
        self.query_one("#verify-phase", Static).update(phase_label(self.fast, ledger_hashed))

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "verify" or event.state != WorkerState.SUCCESS:
            return
        result = event.worker.result
        if result == "cancelled":
            return
        self.running = False
        if isinstance(result, str):
            self._show_error(result)
        else:
            self._show_report(result)

    # ---- results ------------------------------------------------------------------------------------

    def _show_error(self, message: str) -> None:
        self.error = message
        bar = self.query_one("#verify-progress", ProgressBar)
        bar.update(total=1, progress=0)
        self.query_one("#verify-phase", Static).update("")
        t = Text("CANNOT VERIFY  ", style="bold red")
        t.append_text(literal(message, "red"))
        self.query_one("#verify-verdict", Static).update(t)

    def _show_report(self, report: VerifyReport) -> None:
        self.report = report
        bar = self.query_one("#verify-progress", ProgressBar)
        bar.update(total=max(bar.total or 1, 1), progress=max(bar.total or 1, 1))
        self.query_one("#verify-phase", Static).update(
            f"done: {len(report.ledgers)} ledger(s), {sum(lr.records for lr in report.ledgers)} records"
        )
        headline, style = verdict(report)
        self.query_one("#verify-verdict", Static).update(Text(headline, style=style))
        self.query_one("#verify-checks-text", Static).update(render_ledgers(report))
        # Errors first, then warnings, then recorded refusals; by ledger and seq inside each.
        rank = {ERROR: 0, WARNING: 1, NOTICE: 2}
        self._findings = sorted(
            report.findings,
            key=lambda f: (rank.get(f.severity, 3), f.ledger, -1 if f.seq is None else f.seq),
        )
        table = self.query_one("#verify-findings", DataTable)
        table.clear()
        # The reason column takes what the others leave; the detail below shows it in full.
        room = max(24, self.size.width - 64)
        for k, f in enumerate(self._findings):
            table.add_row(
                Text(f.severity, style=SEVERITY_STYLE.get(f.severity, "")),
                literal(f.ledger, one_line=True),
                Text("—" if f.seq is None else str(f.seq), justify="right"),
                literal(f.code, one_line=True),
                literal(shorten(f.message, room), one_line=True),
                key=str(k),
            )
        self.refresh_bindings()
        title = self.query_one("#verify-findings-title", Static)
        if self._findings:
            title.update(f"Findings ({len(self._findings)}): ledger, seq and reason")
            self._show_detail(0)
        else:
            title.update(Text("Findings: none", style="green"))
            self.query_one("#verify-detail", Static).update("")

    def _show_detail(self, index: int) -> None:
        if 0 <= index < len(self._findings):
            self.query_one("#verify-detail", Static).update(finding_detail(self._findings[index]))

    @on(DataTable.RowHighlighted, "#verify-findings")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail(event.cursor_row)

    # ---- actions ------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("rerun", "toggle_fast") and self.running:
            return None  # shown disabled while a check runs
        if action == "copy" and not self._findings:
            return None
        return True

    def watch_running(self, _running: bool) -> None:
        self.refresh_bindings()

    def action_rerun(self) -> None:
        if not self.running:
            self.run_verify()

    def action_toggle_fast(self) -> None:
        if not self.running:
            self.fast = not self.fast
            self.run_verify()

    def findings_text(self) -> list[str]:
        """The findings as the CLI prints them, one cleaned line each."""
        return [clean(f.line(), one_line=True) for f in self._findings]

    def action_copy(self) -> None:
        if self._findings:
            self.app.copy_to_clipboard("\n".join(self.findings_text()) + "\n")
            self.notify(f"{len(self._findings)} finding(s) copied", title="Verify", markup=False)
