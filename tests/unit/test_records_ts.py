"""format_ts keeps the date and time of the last second it formatted: whatever order the stamps come
in, it gives exactly what formatting each one afresh gives."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from forge_tui.core.records import format_ts, parse_ts


def _fresh(epoch_ms: int) -> str:
    dt = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=4_102_444_800_000), min_size=1, max_size=20))
def test_the_same_as_formatting_afresh(stamps):
    for ms in stamps + [s + 1 for s in stamps] + [s - (s % 1000) for s in stamps]:
        assert format_ts(ms) == _fresh(ms)
        assert parse_ts(format_ts(ms)) == ms


def test_second_boundaries():
    base = 1_764_082_800_000
    for ms in range(base - 3, base + 1003):
        assert format_ts(ms) == _fresh(ms)
