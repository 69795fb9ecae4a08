"""The HTML report in a real headless browser (chromium, installed by .ci/run): it renders with the
controls table, and the `<script>` an agent put in a command stays text: no script runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from reportkit import LEDGER_ID, build_report_project

from forge_tui.core.report.controls import load_framework

BROWSER = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no chromium on this machine (.ci/run installs it)")


def _chromium(*args: str) -> subprocess.CompletedProcess:
    profile = tempfile.mkdtemp(prefix="fr-chrome-")
    try:
        return subprocess.run(
            [
                BROWSER,
                "--headless",
                "--no-sandbox",  # CI runs as root, where chromium's own sandbox refuses to start
                "--disable-gpu",
                "--no-first-run",
                f"--user-data-dir={profile}",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=180,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def html_report(tmp_path, monkeypatch):
    from forge_tui.core.keys import load_ledger_key
    from forge_tui.core.project import find_project
    from forge_tui.core.report.build import make_report

    root = tmp_path / "acme"
    build_report_project(root)
    monkeypatch.chdir(root)
    out = tmp_path / "out"
    make_report(
        find_project(root),
        framework_id="soc2",
        since=None,
        until=None,
        formats=("html",),
        out=out,
        signer=load_ledger_key(LEDGER_ID),
        generated_at="2026-06-15T12:00:00.000Z",
        use_local_state=False,
    )
    return out / "report.html"


def test_the_page_renders_its_controls_and_runs_no_script(html_report):
    res = _chromium("--dump-dom", html_report.as_uri())
    dom = res.stdout
    assert res.returncode == 0 and "<html" in dom, res.stderr[-2000:]
    assert 'id="controls-table"' in dom
    for c in load_framework("soc2").controls:
        assert f"<b>{c.id}</b>" in dom, c.id
    # The hostile command is on the page as text; had it run, the body would carry data-pwned.
    assert "&lt;script&gt;document.body.setAttribute('data-pwned','1')&lt;/script&gt;" in dom
    assert "data-pwned=" not in dom and "<script" not in dom.lower()
    assert "<svg" in dom  # the charts are inline


def test_the_page_has_a_screenshot(html_report, tmp_path):
    png = tmp_path / "shot.png"
    res = _chromium(
        "--hide-scrollbars", "--window-size=1280,1600", f"--screenshot={png}", html_report.as_uri()
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    if os.environ.get("FORGE_UPDATE_SCREENSHOT"):  # the README's picture: screenshots/report.png
        shutil.copyfile(png, Path(__file__).parents[2] / "screenshots" / "report.png")
