"""parse_command keeps the results of short command lines (bounded LRU): a cached answer is the same as
a fresh parse, and a refusal is raised again, as a new exception, every time."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forge_tui.core import shell
from forge_tui.core.shell import Unparseable, parse_command


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ab $'\"\\;|&()<>`=*-.\n", max_size=40))
def test_a_cached_parse_equals_a_fresh_one(command: str) -> None:
    def outcome(fn):
        try:
            return fn(command)
        except Unparseable as exc:
            return ("refused", str(exc))

    first = outcome(parse_command)
    assert outcome(parse_command) == first == outcome(shell._parse)


def test_a_refusal_is_raised_afresh_each_time() -> None:
    command = "foo ( bar"
    errors = []
    for _ in range(2):
        with pytest.raises(Unparseable) as info:
            parse_command(command)
        errors.append(info.value)
    assert errors[0] is not errors[1] and str(errors[0]) == str(errors[1])


def test_long_command_lines_are_not_cached() -> None:
    shell._parse_cached.cache_clear()
    command = "echo " + "x" * (shell._CACHE_MAX_LEN + 1)
    assert parse_command(command) == parse_command(command)
    assert shell._parse_cached.cache_info().currsize == 0
    parse_command("ls -la")
    assert shell._parse_cached.cache_info().currsize == 1
