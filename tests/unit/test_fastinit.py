"""`fast_init` (forge_tui/core/fastinit.py) builds the very objects dataclass's own `__init__` builds,
for every class the policy engine gives it, and the objects stay frozen."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

import forge_tui.core.policy  # noqa: F401  (imports every module that applies fast_init)
from forge_tui.core.fastinit import DATACLASS_INITS, fast_init
from forge_tui.core.policy.model import Evaluation, PartDecision, RuleMatch
from forge_tui.core.policy.normalize import CommandView
from forge_tui.core.shell import SimpleCommand


def _values(cls: type, salt: str) -> list[object]:
    return [f"{salt}{f.name}" for f in dataclasses.fields(cls)]


def test_the_policy_records_use_it() -> None:
    """If this fails, a class lost fast_init (or the test below checks fewer classes than it should)."""
    assert {Evaluation, RuleMatch, PartDecision, CommandView, SimpleCommand} <= set(DATACLASS_INITS)


@pytest.mark.parametrize(
    "cls", sorted(DATACLASS_INITS, key=lambda c: c.__qualname__), ids=lambda c: c.__name__
)
def test_it_builds_what_the_dataclass_init_builds(cls: type) -> None:
    """If this fails, an object built by fast_init differs from the dataclass's (a field, a default, an
    argument order), so a record of the engine would differ from what its class says."""
    original = DATACLASS_INITS[cls]
    fields = dataclasses.fields(cls)
    required = [f for f in fields if f.default is dataclasses.MISSING]
    for args in (_values(cls, "a"), _values(cls, "b")[: len(required)]):
        ref = object.__new__(cls)
        original(ref, *args)
        got = cls(*args)
        assert type(got) is cls
        assert got.__dict__ == ref.__dict__
        assert list(got.__dict__) == list(ref.__dict__)  # the same order: repr and asdict unchanged
        assert got == ref and repr(got) == repr(ref)
        assert pickle.loads(pickle.dumps(got)) == ref
    kwargs = {f.name: f"k{f.name}" for f in fields}
    ref = object.__new__(cls)
    original(ref, **kwargs)
    assert cls(**kwargs).__dict__ == ref.__dict__
    with pytest.raises(TypeError):
        cls(*_values(cls, "a"), "one too many")
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(cls(*_values(cls, "a")), fields[0].name, "changed")


def test_it_refuses_a_class_it_cannot_build() -> None:
    """If this fails, fast_init would skip a __post_init__ or a default_factory of a class."""

    @dataclasses.dataclass(frozen=True)
    class WithPost:
        x: int

        def __post_init__(self) -> None:
            pass

    @dataclasses.dataclass(frozen=True)
    class WithFactory:
        x: list = dataclasses.field(default_factory=list)

    for cls in (WithPost, WithFactory):
        with pytest.raises(TypeError):
            fast_init(cls)
