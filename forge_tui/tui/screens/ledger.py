"""The Ledger screen: browse, filter and inspect a ledger's records, newest first.

Works on the file alone (no daemon): a `LedgerIndex` over the ledger, a line-API `LedgerView` that renders
only what is visible, filters run in a thread worker, and a detail panel that shows a record literally
with its signature checked against the ledger's public key from the project (`.forge/keys/<id>.pub`).
"""

from __future__ import annotations

import json
import re
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Input, Static
from textual.worker import Worker, WorkerState, get_current_worker

from forge_tui.core.ledger_index import LedgerFilter, LedgerIndex
from forge_tui.tui.text import literal
from forge_tui.tui.widgets.ledger_view import LedgerView

if TYPE_CHECKING:
    from forge_tui.core.note import Verifier
    from forge_tui.core.project import Project

SIG_OK, SIG_BAD, SIG_UNKNOWN = "ok", "bad", "unknown key"
_TIME_RE = re.compile(r"^\d{4}(-\d{2}(-\d{2}(T\d{2}(:\d{2}(:\d{2}(\.\d{1,3})?)?)?)?)?)?Z?$")
# Filter inputs: (field, placeholder, width in fractions of the bar; the search box takes 2)
FILTER_FIELDS: tuple[tuple[str, str, int], ...] = (
    ("type", "type", 1),
    ("actor", "actor", 1),
    ("path", "path glob", 1),
    ("status", "status", 1),
    ("rule", "rule", 1),
    ("since", "since", 1),
    ("until", "until", 1),
)
_SMALL_SYNC = 20_000  # appended records filtered inline below this; a worker above
# The newest this many bytes (a few thousand records) are indexed before the first paint; the rest of
# the line index is built in a thread worker after it (LedgerIndex.build_prefix).
TAIL_BYTES = 2 << 20


class LedgerScreen(Screen):
    """Every record of one ledger file; `reload()` picks up records appended since."""

    BINDINGS = [
        Binding("escape,q", "close", "Back", id="ledger.close", tooltip="Leave the field, panel or screen"),
        Binding("enter", "detail", "Detail", id="ledger.detail", tooltip="Show the whole record"),
        Binding("slash", "search", "Search", id="ledger.search", tooltip="Search the records' text"),
        Binding("f", "filter", "Filter", id="ledger.filter", tooltip="Filter by type, actor, path, …"),
        Binding("g", "goto", "Go to seq", id="ledger.goto", tooltip="Jump to a record by its seq"),
        Binding("c", "clear", "Clear", id="ledger.clear", tooltip="Clear the filters and the search"),
        Binding("r", "reload", "Reload", id="ledger.reload", tooltip="Pick up appended records"),
    ]

    DEFAULT_CSS = """
    LedgerScreen #ledger-title { height: 1; padding: 0 1; background: $panel; text-style: bold; }
    LedgerScreen #ledger-filters { height: 1; margin: 1 0 0 0; }
    LedgerScreen #ledger-filters Input { margin: 0 1 0 0; }
    LedgerScreen #ledger-filters #search { width: 2fr; margin: 0; }
    LedgerScreen LedgerView { margin: 1 0 0 0; }
    LedgerScreen #ledger-detail {
        height: 45%; border-top: solid $accent; display: none; padding: 0 1;
    }
    LedgerScreen #ledger-detail.open { display: block; }
    LedgerScreen #detail-sig { height: auto; margin: 0 0 1 0; }
    LedgerScreen #goto { display: none; }
    LedgerScreen #goto.open { display: block; }
    LedgerScreen #ledger-status { height: 1; padding: 0 1; background: $panel; color: $text-muted; }
    """

    def __init__(
        self,
        ledger_path: Path,
        *,
        project: Project | None = None,
        name: str | None = None,
        tail_bytes: int = TAIL_BYTES,
        index_step: Callable[[int, int], None] | None = None,
    ) -> None:
        """`index_step(done, total)` is called by the worker that builds the rest of the index, before
        each part of it (tests hold it there to look at the screen before the index is complete)."""
        super().__init__(name=name)
        self.ledger_path = Path(ledger_path)
        self.project = project
        self.ledger_id = self.ledger_path.stem
        self.index = LedgerIndex(self.ledger_path, tail_bytes=tail_bytes)
        self._index_step = index_step
        self._index_worker: Worker | None = None
        self._index_progress = (0, 0)
        self.filter = LedgerFilter()  # the filter whose result is shown
        self._wanted = LedgerFilter()  # the filter being computed
        self._searching = False
        self._search_worker: Worker | None = None
        self._progress = (0, 0)
        self._message = ""
        self._verifiers: list[Verifier] | None = None
        self._detail_index: int | None = None

    # ---- layout ------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(id="ledger-title")
        with Horizontal(id="ledger-filters"):
            for field, placeholder, width in FILTER_FIELDS:
                box = Input(placeholder=placeholder, id=f"f-{field}", compact=True)
                box.styles.width = f"{width}fr"
                yield box
            yield Input(placeholder="/ search text", id="search", compact=True)
        yield LedgerView(self.index, id="ledger-view")
        with VerticalScroll(id="ledger-detail"):
            yield Static(id="detail-sig")
            yield Static(id="detail-body")
        yield Input(placeholder="go to seq (Enter)", id="goto", compact=True, type="integer")
        yield Static(id="ledger-status")
        yield Footer()

    @property
    def view(self) -> LedgerView:
        return self.query_one(LedgerView)

    def on_mount(self) -> None:
        title = Text("Ledger ", style="bold")
        title.append_text(literal(self.ledger_id, one_line=True))
        title.append("  ")
        shown = self.ledger_path
        if self.project is not None:
            try:
                shown = self.ledger_path.resolve().relative_to(self.project.root)
            except ValueError:
                pass
        title.append_text(literal(str(shown), "dim", one_line=True))
        self.query_one("#ledger-title", Static).update(title)
        self.view.focus()
        self._update_status()
        self.set_interval(0.2, self._tick, name="ledger-progress")
        if not self.index.complete:
            self.call_after_refresh(self._index_rest)  # after the first paint of the newest records

    def _index_rest(self) -> None:
        if not self.index.complete and self._index_worker is None:
            self._index_worker = self._build_index()

    @work(thread=True, exclusive=True, group="ledger-index", exit_on_error=False)
    def _build_index(self):
        worker = get_current_worker()
        hook = self._index_step

        def step(done: int, total: int) -> None:
            self._index_progress = (done, total)
            if hook is not None:
                hook(done, total)

        return self.index.build_prefix(step=step, cancelled=lambda: worker.is_cancelled)

    def _index_built(self, worker: Worker) -> None:
        self._index_worker = None
        if worker.state == WorkerState.ERROR:
            self._say(f"indexing failed: {worker.error}")
            return
        right = self.index.complete_with(worker.result)
        if right is None:  # stale (the file was replaced meanwhile): start again
            self._index_rest()
            return
        if right is False:  # the estimated line numbers were off: every row moves
            self.view.set_rows(None)
        else:
            self.view.refresh()
        if not self._wanted.is_empty():
            self.apply_filter(self._wanted)
        self._update_status()

    def on_unmount(self) -> None:
        self.workers.cancel_group(self, "ledger-search")
        self.workers.cancel_group(self, "ledger-index")
        self.index.close()

    # ---- status line -------------------------------------------------------------------------------

    def _update_status(self) -> None:
        total = len(self.index)
        shown = self.view.row_count
        parts = [f"{total:,} records"]
        if not self.index.complete:
            done, of = self._index_progress
            parts.append(f"indexing older records {100 * done // of if of else 0}%…")
        desc = describe_filter(self.filter)
        if desc:
            parts.append(f"{shown:,} match {desc}")
        if self._searching:
            done, of = self._progress
            pct = f" {100 * done // of}%" if of else ""
            parts.append(f"filtering{pct}…")
        cur = self.view.cursor_index
        if cur is not None and shown:
            parts.append(f"row {self.view.cursor + 1:,}/{shown:,}")
        if self._message:
            parts.append(self._message)
        self.query_one("#ledger-status", Static).update(literal(" · ".join(parts), one_line=True))
        self.refresh_bindings()  # Detail is enabled only with a record under the cursor

    def _say(self, message: str) -> None:
        self._message = message
        self._update_status()

    @on(LedgerView.Highlighted)
    def _highlighted(self, event: LedgerView.Highlighted) -> None:
        if self._detail_open and event.index is not None:
            self._show_detail(event.index)
        self._update_status()

    # ---- actions -----------------------------------------------------------------------------------

    def action_close(self) -> None:
        focused = self.focused
        if isinstance(focused, Input):
            if focused.id == "goto":
                focused.remove_class("open")
            self.view.focus()
        elif self._detail_open:
            self.query_one("#ledger-detail").remove_class("open")
            self._detail_index = None
            self.view.focus()
        elif len(self.app.screen_stack) > 1:
            self.app.pop_screen()
        else:
            self.app.exit()

    def action_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_filter(self) -> None:
        self.query_one("#f-type", Input).focus()

    def action_goto(self) -> None:
        box = self.query_one("#goto", Input)
        box.value = ""
        box.add_class("open")
        box.focus()

    def action_clear(self) -> None:
        for field, _p, _w in FILTER_FIELDS:
            self.query_one(f"#f-{field}", Input).value = ""
        self.query_one("#search", Input).value = ""
        self._message = ""
        self.apply_filter(LedgerFilter())

    def action_reload(self) -> None:
        added = self.reload()
        self._say(f"{added:,} new" if added else "no new records")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Detail needs a record under the cursor.
        return not (action == "detail" and self.is_mounted and self.view.cursor_index is None)

    def action_detail(self) -> None:
        index = self.view.cursor_index
        if index is None:
            return
        self.query_one("#ledger-detail").add_class("open")
        self._show_detail(index)

    @property
    def _detail_open(self) -> bool:
        return self.query_one("#ledger-detail").has_class("open")

    # ---- inputs ------------------------------------------------------------------------------------

    @on(Input.Submitted, "#goto")
    def _goto_submitted(self, event: Input.Submitted) -> None:
        event.input.remove_class("open")
        self.view.focus()
        try:
            seq = int(event.value.strip())
        except ValueError:
            self._say("seq must be a number")
            return
        self.jump_to_seq(seq)

    @on(Input.Submitted, "#ledger-filters Input")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        try:
            flt = self._filter_from_inputs()
        except ValueError as exc:
            self._say(str(exc))
            return
        self._message = ""
        self.apply_filter(flt)
        self.view.focus()

    def _filter_from_inputs(self) -> LedgerFilter:
        from forge_tui.core.query import normalise_time

        values = {f: self.query_one(f"#f-{f}", Input).value.strip() for f, _p, _w in FILTER_FIELDS}
        for key in ("since", "until"):
            if values[key] and not _TIME_RE.match(values[key]):
                raise ValueError(f"{key}: use an RFC 3339 prefix like 2026-11-23 or 2026-11-23T20:12")
        types = frozenset(t.strip() for t in values["type"].split(",") if t.strip()) or None
        text = self.query_one("#search", Input).value
        return LedgerFilter(
            types=types,
            actor=values["actor"] or None,
            path=values["path"] or None,
            status=values["status"] or None,
            rule=values["rule"] or None,
            since=normalise_time(values["since"] or None),
            until=normalise_time(values["until"] or None, end=True),
            text=text or None,
        )

    # ---- filtering ---------------------------------------------------------------------------------

    def apply_filter(self, flt: LedgerFilter) -> None:
        """Show only the records matching `flt` (computed in a thread; the view updates when done)."""
        self._wanted = flt
        if not self.index.complete and not flt.is_empty():
            self._searching = True  # the search starts once the index is complete (_index_built)
            self._progress = (0, 0)
            self._update_status()
            return
        if flt.is_empty():
            self.workers.cancel_group(self, "ledger-search")
            self._searching = False
            self.filter = flt
            self.view.set_rows(None)
            self._update_status()
            return
        self._searching = True
        self._progress = (0, len(self.index))
        self._update_status()
        self._search_worker = self._search(flt, len(self.index))

    @work(thread=True, exclusive=True, group="ledger-search", exit_on_error=False)
    def _search(self, flt: LedgerFilter, stop: int) -> tuple[LedgerFilter, int, array | None]:
        worker = get_current_worker()

        def progress(done: int, total: int) -> None:
            self._progress = (done, total)

        rows = self.index.search(flt, cancelled=lambda: worker.is_cancelled, stop=stop, progress=progress)
        return flt, stop, rows

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group == "ledger-index":
            if worker is self._index_worker and event.state in (WorkerState.SUCCESS, WorkerState.ERROR):
                self._index_built(worker)
            return
        if worker.group != "ledger-search" or worker is not self._search_worker:
            return  # not ours, or superseded by a newer search
        if event.state == WorkerState.ERROR:  # e.g. the file became unreadable: say so, keep the old rows
            self._searching = False
            self._say(f"filter failed: {worker.error}")
            return
        if event.state != WorkerState.SUCCESS:
            return
        flt, stop, rows = worker.result
        if rows is None or flt != self._wanted:
            return
        if stop < len(self.index):  # records appended while the search ran
            more = self.index.search(flt, start=stop)
            if more:
                rows.extend(more)
        self._searching = False
        self.filter = flt
        self.view.set_rows(rows)
        self._update_status()

    def _tick(self) -> None:
        if self._searching or not self.index.complete:
            self._update_status()

    # ---- jumping, reloading ------------------------------------------------------------------------

    def jump_to_seq(self, seq: int) -> bool:
        """Move the cursor to the record with this seq; False (and a message) if there is none shown."""
        index = self.index.find_seq(seq)
        if index is None:
            self._say(f"no record with seq {seq}" if self.index.complete else f"seq {seq}: still indexing")
            return False
        if not self.view.move_to_index(index):
            self._say(f"seq {seq} is hidden by the filter (c clears it)")
            return False
        self._message = ""
        self._update_status()
        return True

    def reload(self) -> int:
        """Index records appended to the ledger since the last look; returns how many were added.

        The console calls this when decisions arrive. With a filter active, the new records are filtered
        too (inline when few, else by a new search)."""
        if not self.is_mounted:  # not shown yet: the view reads the index when it is composed
            return self.index.refresh()
        before = len(self.index)
        generation = self.index.generation
        added = self.index.refresh()
        if self.index.generation != generation:  # the file was replaced: start over
            self._index_rest()
            self.view.set_rows(None)
            self.apply_filter(self._wanted)
            self._update_status()
            return added
        if not added:
            return 0
        if self._searching:
            pass  # the running search takes the new records in when it ends (never restart it: under
            # steady traffic a restarted search would never finish)
        elif self.filter.is_empty():
            self.view.appended(added)
        elif added <= _SMALL_SYNC:
            new_rows = self.index.search(self.filter, start=before)
            self.view.appended(added, new_rows)
        else:
            self.apply_filter(self._wanted)
        if self._detail_open and self._detail_index is not None:
            self._show_detail(self._detail_index)
        self._update_status()
        return added

    # ---- detail ------------------------------------------------------------------------------------

    def _show_detail(self, index: int) -> None:
        self._detail_index = index
        status, detail = self.signature_status(index)
        style = {SIG_OK: "bold green", SIG_BAD: "bold red"}.get(status, "bold yellow")
        head = Text(f"line {index} · signature: ")
        head.append(status, style=style)
        head.append(" — ")
        head.append_text(literal(detail, one_line=True))
        self.query_one("#detail-sig", Static).update(head)
        try:
            raw = self.index.raw(index)
        except IndexError:
            return
        try:
            body = json.dumps(json.loads(raw), indent=2, ensure_ascii=False, sort_keys=True)
        except ValueError:
            body = raw.decode("utf-8", errors="backslashreplace")
        self.query_one("#detail-body", Static).update(literal(body))

    def verifiers(self) -> list[Verifier]:
        """The ledger's trusted public keys from the project, or none without a project or key file."""
        if self._verifiers is None:
            self._verifiers = []
            if self.project is not None:
                from forge_tui.errors import ForgeError

                try:
                    self._verifiers = self.project.ledger_verifiers(self.ledger_id)
                except ForgeError:
                    self._verifiers = []
        return self._verifiers

    def signature_status(self, index: int) -> tuple[str, str]:
        """(`ok` | `bad` | `unknown key`, explanation) for the record at `index`: a strict parse, then
        its signature against the ledger's key named by its `kid`. Key validity ranges and the chain are
        `forge-tui verify`'s business."""
        from forge_tui.core.jcs import parse_canonical
        from forge_tui.core.note import NoteError
        from forge_tui.core.records import check_shape, verify_record_sig
        from forge_tui.errors import CanonicalError, SignatureError

        try:
            rec = parse_canonical(self.index.raw(index))
            check_shape(rec)
        except (CanonicalError, NoteError) as exc:
            return SIG_BAD, f"not a well-formed record: {exc}"
        kid = rec["kid"]
        keys = [v for v in self.verifiers() if v.kid == kid]
        if not keys:
            where = "no project" if self.project is None else f"not in .forge/keys/{self.ledger_id}.pub"
            return SIG_UNKNOWN, f"key {kid} ({where})"
        try:
            verify_record_sig(rec, keys[0])
        except (SignatureError, NoteError, CanonicalError) as exc:
            return SIG_BAD, str(exc)
        return SIG_OK, f"signed by {kid}"


def describe_filter(flt: LedgerFilter) -> str:
    parts = []
    if flt.types:
        parts.append("type=" + ",".join(sorted(flt.types)))
    for key in ("actor", "path", "status", "rule", "since", "until"):
        value = getattr(flt, key)
        if value:
            parts.append(f"{key}={value}")
    if flt.text:
        parts.append(f"text~{flt.text!r}")
    return " ".join(parts)
