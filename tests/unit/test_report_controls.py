"""How a control's status follows from its evidence queries (docs/report.md, "Statuses")."""

from __future__ import annotations

import pytest

from forge_tui.core.report.controls import Control, control_status, parse_framework
from forge_tui.core.report.queries import QueryResult, Status
from forge_tui.errors import ConfigError

P, PA, G, NA = Status.PRESENT, Status.PARTIAL, Status.GAP, Status.NOT_APPLICABLE


def _c(org: bool = False) -> Control:
    return Control("X-1", "t", "text", ("event_logging",), "org", organisation_defined=org)


def _r(*statuses: Status) -> list[QueryResult]:
    return [QueryResult(f"q{i}", "t", s, {}, "") for i, s in enumerate(statuses)]


@pytest.mark.parametrize(
    ("statuses", "org", "want"),
    [
        ((P, P), False, P),
        ((P, PA), False, PA),  # one query with exceptions makes the control partial
        ((PA, G, P), False, G),  # a gap outranks everything
        ((NA, NA), False, NA),
        ((NA, P), False, P),  # a query with nothing to apply to does not hide the others
        ((P,), True, Status.ORGANISATION),  # evidence present, but the criterion is the organisation's
        ((PA,), True, PA),  # exceptions are never hidden behind "needs organisation input"
    ],
)
def test_the_worst_query_decides(statuses, org, want):
    assert control_status(_c(org), _r(*statuses)) == want


def test_a_mapping_naming_an_unknown_query_is_refused():
    text = """
[framework]
id = "x"
name = "X"
scope = "s"
[[control]]
id = "X-1"
title = "t"
text = "t"
queries = ["event_logging", "vibes"]
organisation = "o"
"""
    with pytest.raises(ConfigError, match="vibes"):
        parse_framework(text)
