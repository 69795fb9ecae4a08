"""The verify screen runs the real verifier in a thread and shows what holds and what broke.

The project is the deterministic sample (forge_tui.tui.sample) in a temporary folder; the tampered case
edits one signed record and appends an outcome for a denied request, so the screen must name the ledger,
the seq and the reason of each break.
"""

from __future__ import annotations

import io

from panel_kit import Host
from rich.console import Console
from textual.widgets import DataTable, ProgressBar, Static

from forge_tui.tui.sample import LEDGER_ID, append_unauthorized_outcome, build_sample, tamper
from forge_tui.tui.screens.verify import VerifyScreen


def text_of(widget: Static) -> str:
    """What the Static shows, as plain text (its content rendered by rich)."""
    console = Console(width=200, color_system=None, record=True, file=io.StringIO())
    console.print(widget.content)
    return console.export_text()


async def finished(pilot, screen: VerifyScreen) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    assert not screen.running


def table_rows(screen: VerifyScreen) -> list[list[str]]:
    table = screen.query_one("#verify-findings", DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_clean_ledger_is_all_green_and_progress_finishes(sample):
    app = Host(lambda: VerifyScreen(sample.project, workers=1))
    async with app.run_test(size=(110, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, VerifyScreen)
        await finished(pilot, screen)
        assert screen.report is not None and screen.report.exit_code() == 0
        assert text_of(screen.query_one("#verify-verdict", Static)).startswith(
            "VERIFIED  1 ledger, 19 records, no errors or warnings"
        )
        checks = text_of(screen.query_one("#verify-checks-text", Static))
        for line in ("✓ chain", "✓ signatures", "✓ checkpoint", "✓ anchors", "✓ forensics"):
            assert line in checks, checks
        assert "19 of 19 records verified" in checks
        assert "✗" not in checks and "!" not in checks
        assert "1 refusal recorded by the gate" in checks
        # The callback fed the bar the ledger's size in bytes (nothing else sets that total).
        bar = screen.query_one("#verify-progress", ProgressBar)
        assert bar.total == sample.ledger_path.stat().st_size and bar.progress == bar.total
        # The only finding is the gate's own recorded refusal: a notice, not an error.
        rows = table_rows(screen)
        assert [r[0] for r in rows] == ["notice"]


async def test_tampered_ledger_names_ledger_seq_and_reason(sample):
    unauthorized = append_unauthorized_outcome(sample)
    edited = tamper(sample)["edited"]
    app = Host(lambda: VerifyScreen(sample.project, workers=1))
    async with app.run_test(size=(110, 40)) as pilot:
        screen = app.screen
        await finished(pilot, screen)
        assert text_of(screen.query_one("#verify-verdict", Static)).startswith("FAILED")
        rows = table_rows(screen)
        by_code = {r[3]: r for r in rows}
        assert by_code["signature"][1:3] == [LEDGER_ID, str(edited)]
        assert by_code["chain"][1:3] == [LEDGER_ID, str(edited + 1)]
        assert by_code["unauthorized_execution"][2] == str(unauthorized)
        assert by_code["unauthorized_execution"][4].startswith("outcome for 'r-4d5e6f708192a3b4'")
        assert "root_mismatch" in by_code
        # Errors come before the notice.
        assert rows[-1][0] == "notice"
        checks = text_of(screen.query_one("#verify-checks-text", Static))
        assert f"✗ signatures seq {edited}: record signature does not verify" in checks
        assert "✗ chain" in checks and "✗ checkpoint" in checks and "✗ forensics" in checks
        # Moving the cursor shows that finding in full.
        table = screen.query_one("#verify-findings", DataTable)
        table.focus()
        target = next(i for i, r in enumerate(rows) if r[3] == "unauthorized_execution")
        table.move_cursor(row=target)
        await pilot.pause()
        detail = text_of(screen.query_one("#verify-detail", Static))
        assert f"seq {unauthorized}" in detail and "[unauthorized_execution]" in detail
        assert "outcome for 'r-4d5e6f708192a3b4' with no earlier allowing decision" in detail


async def test_fast_toggle_reruns_without_signatures(sample):
    app = Host(lambda: VerifyScreen(sample.project, workers=1))
    async with app.run_test(size=(110, 40)) as pilot:
        screen = app.screen
        await finished(pilot, screen)
        assert screen.report is not None and not screen.report.fast
        await pilot.press("f")
        await finished(pilot, screen)
        assert screen.report is not None and screen.report.fast
        checks = text_of(screen.query_one("#verify-checks-text", Static))
        assert "– signatures" in checks and "skipped" in checks
        # --fast reads no records, so it cannot claim the forensic rules found nothing.
        assert "– forensics" in checks and "no violation of the forensic rules" not in checks
        # r re-runs: a record tampered meanwhile is found on the next run.
        tamper(sample)
        await pilot.press("r")
        await finished(pilot, screen)
        assert screen.report is not None and screen.report.exit_code() == 1
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, VerifyScreen)


async def test_ledger_text_is_shown_literally(tmp_path, monkeypatch):
    """A ledger file name with markup is shown as written (the screen must not parse it)."""
    monkeypatch.setenv("FORGE_DATA_DIR", str(tmp_path / "data"))
    s = build_sample(tmp_path / "shop")
    bogus = s.project.ledger_dir / "[red]x[b].jsonl"
    bogus.write_bytes(b"")
    app = Host(lambda: VerifyScreen(s.project, workers=1))
    async with app.run_test(size=(110, 40)) as pilot:
        screen = app.screen
        await finished(pilot, screen)
        assert any(r[1] == "[red]x[b]" for r in table_rows(screen))
        assert "[red]x[b]" in text_of(screen.query_one("#verify-checks-text", Static))


async def test_progress_spans_every_ledger(sample, tmp_path, monkeypatch):
    """A second machine's ledger: the bar's total is both files and each ledger gets its check list."""
    from forge_tui.core.project import join_project

    monkeypatch.setenv("FORGE_DATA_DIR", str(tmp_path / "data-2"))
    other = join_project(sample.project)
    monkeypatch.setenv("FORGE_DATA_DIR", str(tmp_path / "data"))
    paths = [sample.project.tracked_ledger(lid) for lid in sample.project.ledger_ids()]
    assert len(paths) == 2
    seen: list[tuple[float, float | None]] = []

    def make() -> VerifyScreen:
        screen = VerifyScreen(sample.project, workers=1)
        original = screen._on_progress

        def spy(done, total, hashed):  # what the bar shows after each progress callback
            original(done, total, hashed)
            bar = screen.query_one("#verify-progress", ProgressBar)
            seen.append((bar.progress, bar.total))

        screen._on_progress = spy
        return screen

    app = Host(make)
    async with app.run_test(size=(110, 40)) as pilot:
        screen = app.screen
        await finished(pilot, screen)
        assert screen.report is not None and screen.report.exit_code() == 0
        total = sum(p.stat().st_size for p in paths)
        assert seen and all(t == total for _, t in seen)
        progress = [p for p, _ in seen]
        assert progress == sorted(progress) and progress[-1] == total  # never goes back, ends full
        checks = text_of(screen.query_one("#verify-checks-text", Static))
        assert f"ledger {other}" in checks and f"ledger {LEDGER_ID}" in checks


async def test_copy_findings(sample):
    edited = tamper(sample)["edited"]
    app = Host(lambda: VerifyScreen(sample.project, workers=1))
    async with app.run_test(size=(110, 40)) as pilot:
        screen = app.screen
        await finished(pilot, screen)
        await pilot.press("c")
        lines = app.clipboard.splitlines()
        assert f"error: {LEDGER_ID} seq {edited}: record signature does not verify [signature]" in lines
        assert len(lines) == len(table_rows(screen))


async def test_unreadable_ledger_is_reported_not_a_crash(sample):
    # A folder where a ledger file should be, with a key so that verify tries to read it.
    (sample.project.ledger_dir / "0000000000000000.jsonl").mkdir()
    pub = sample.project.pub_dir
    (pub / "0000000000000000.pub").write_bytes((pub / f"{LEDGER_ID}.pub").read_bytes())
    app = Host(lambda: VerifyScreen(sample.project, workers=1))
    async with app.run_test(size=(110, 40)) as pilot:
        screen = app.screen
        await finished(pilot, screen)
        assert screen.report is None and screen.error is not None
        verdict = text_of(screen.query_one("#verify-verdict", Static))
        assert verdict.startswith("CANNOT VERIFY") and "0000000000000000.jsonl" in verdict
        (sample.project.ledger_dir / "0000000000000000.jsonl").rmdir()
        await pilot.press("r")  # still usable: with the folder gone the next run verifies
        await finished(pilot, screen)
        assert screen.error is None and screen.report is not None and screen.report.exit_code() == 0


def test_the_phase_says_what_the_one_pass_checks():
    """If this fails, the console tells a reviewer a full verify is only hashing while it is checking
    every signature and forensic rule in the same pass (or claims signatures in a --fast pass)."""
    from forge_tui.tui.screens.verify import phase_label

    assert "signatures" in phase_label(False, False) and "forensic" in phase_label(False, False)
    assert "signatures" not in phase_label(True, False)
    assert phase_label(False, True) == phase_label(True, True) == "checking the checkpoint…"
