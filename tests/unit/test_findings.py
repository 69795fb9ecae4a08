"""The one table of finding codes (forge_tui/core/findings.py): docs, CLI and console read it."""

from __future__ import annotations

from pathlib import Path

import pytest

from forge_tui.core.findings import Check, Code, Severity, check_of, markdown_page, recorded
from forge_tui.core.verify import Finding

DOCS = Path(__file__).resolve().parents[2] / "docs" / "findings.md"


def test_docs_hold_the_generated_table():
    """docs/findings.md is what a reader sees; a code added to the table without regenerating the
    page (python -m forge_tui.core.findings > docs/findings.md) would leave it undocumented."""
    assert DOCS.read_text(encoding="utf-8") == markdown_page()


def test_codes_are_unique_lowercase_and_meant():
    values = [c.value for c in Code]
    assert len(values) == len(set(values))
    for c in Code:
        assert c.value == c.value.lower() and " " not in c.value
        assert c.meaning and "\n" not in c.meaning and "|" not in c.meaning
        assert isinstance(c.check, Check) and isinstance(c.severity, Severity)


def test_finding_takes_its_severity_from_the_table_and_refuses_unknown_codes():
    assert Finding("l", 1, "torn_tail", "m").severity == "warning"
    assert Finding("l", 1, "chain", "m").severity == "error"
    assert Finding("l", 1, "chain", "m", "warning").severity == "warning"  # an explicit one stands
    with pytest.raises(ValueError):
        Finding("l", 1, "no_such_code", "m")


def test_recorded_violations_map_to_their_code_or_the_catch_all():
    assert recorded("self_approval") is Code.RECORDED_SELF_APPROVAL
    assert recorded("something_new") is Code.RECORDED_VIOLATION
    assert all(c.severity is Severity.NOTICE for c in Code if c.value.startswith("recorded_"))


def test_check_of_groups_codes_for_the_console():
    from forge_tui.tui.screens.verify import check_of as console_check

    assert check_of("fork") is Check.ANCHORS and console_check("fork") == "anchors"
    assert console_check("ungated_commit") == "forensics"  # git findings have no row of their own
    assert console_check("unknown-to-the-table") == "forensics"
