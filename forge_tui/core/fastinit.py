"""A cheaper `__init__` for the frozen dataclasses the policy engine builds on every decision.

`dataclass(frozen=True)` generates an `__init__` that stores each field with its own
`object.__setattr__` call (the class's own `__setattr__` refuses). For the records `decide()` builds per
decision (command views, path views, matches, part decisions, the Evaluation: about forty fields per
decision) that is a measurable share of the decision. `fast_init(cls)` replaces it with an `__init__`
of the same signature (the fields in order, the same defaults) that stores every field at once, as the
instance's `__dict__`: the same attributes, the same values, equality, hashing, `repr`, pickling,
`dataclasses.replace` and immutability unchanged. Only for classes without `__post_init__`,
`default_factory`, `init=False` fields or slots (it refuses the others).
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")

# The __init__ each class had from dataclass, kept for the test that compares the two.
DATACLASS_INITS: dict[type, Any] = {}


def fast_init(cls: type[T]) -> type[T]:
    params = dataclasses.fields(cls)  # type: ignore[arg-type]
    if (
        hasattr(cls, "__post_init__")
        or hasattr(cls, "__slots__")
        or any(not f.init or f.default_factory is not dataclasses.MISSING for f in params)
    ):
        raise TypeError(f"fast_init does not apply to {cls.__name__}")
    names = [f.name for f in params]
    defaults = {f"_d_{f.name}": f.default for f in params if f.default is not dataclasses.MISSING}
    signature = ", ".join(f"{n}=_d_{n}" if f"_d_{n}" in defaults else n for n in names)
    body = ", ".join(f"{n!r}: {n}" for n in names)
    source = f"def __init__(self, {signature}):\n    _setattr(self, '__dict__', {{{body}}})\n"
    namespace: dict[str, Any] = {"_setattr": object.__setattr__, **defaults}
    exec(source, namespace)  # noqa: S102 - the source is built from the dataclass's own field names
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    DATACLASS_INITS[cls] = cls.__init__
    cls.__init__ = init  # type: ignore[misc]
    return cls
