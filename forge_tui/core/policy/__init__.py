"""The policy engine (docs/policy.md): load and validate `.forge/policy.toml`, decide allow / ask / deny.

Headless and pure (standard library, wcmatch and `forge_tui.core.shell`). One purpose per module:

* `model`: decisions, action kinds (`ACTION_KINDS`, the one list), rules, `Evaluation`, `Context`, `Policy`;
* `load`: reading and validating a policy file, with line-precise errors (`PolicyFileError`);
* `normalize`: what a command part means (program, wrappers, git options, flag clusters, written
  paths, code the gate cannot see);
* `match`: patterns against normalised commands, paths and URLs;
* `evaluate`: `decide(policy, action, context)`, the one decision function the gate, `policy explain`
  and `verify` call;
* `guard`: the built-in rules no policy lifts;
* `cache`: the process-wide caches, in one clearable object (`CACHES`).

The names below are imported from their module when first asked for (`from forge_tui.core.policy import
decide`), not when this package is: importing `forge_tui.core.policy.model` for a constant does not load
the shell parser, wcmatch or tomllib (each module's regular expressions are compiled on first use too,
`forge_tui.core.lazyre`).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what the lazy names are, for type checkers and readers
    from forge_tui.core.policy.cache import CACHES, PolicyCaches
    from forge_tui.core.policy.evaluate import decide, governing_rules
    from forge_tui.core.policy.guard import data_folder
    from forge_tui.core.policy.load import PolicyFileError, load_policy, parse_duration, parse_policy
    from forge_tui.core.policy.match import match_words
    from forge_tui.core.policy.model import (
        ACTION_KINDS,
        DECISIONS,
        KINDS,
        MATCH_KEYS,
        OUTSIDE,
        RULE_KEYS,
        TOP_KEYS,
        Context,
        Evaluation,
        PartDecision,
        Policy,
        Rule,
        RuleMatch,
        default_policy,
    )
    from forge_tui.core.shell import ASSIGN, REDIRECT

_P = "forge_tui.core.policy."
# name -> the module that defines it
_HOME = {
    **dict.fromkeys(("CACHES", "PolicyCaches"), _P + "cache"),
    **dict.fromkeys(("decide", "governing_rules"), _P + "evaluate"),
    "data_folder": _P + "guard",
    **dict.fromkeys(("PolicyFileError", "load_policy", "parse_duration", "parse_policy"), _P + "load"),
    "match_words": _P + "match",
    **dict.fromkeys(
        (
            "ACTION_KINDS",
            "DECISIONS",
            "KINDS",
            "MATCH_KEYS",
            "OUTSIDE",
            "RULE_KEYS",
            "TOP_KEYS",
            "Context",
            "Evaluation",
            "PartDecision",
            "Policy",
            "Rule",
            "RuleMatch",
            "default_policy",
        ),
        _P + "model",
    ),  # fmt: skip
    **dict.fromkeys(("ASSIGN", "REDIRECT"), "forge_tui.core.shell"),
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value  # asked once: the next lookup finds it here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME})


__all__ = [
    "ACTION_KINDS",
    "ASSIGN",
    "CACHES",
    "DECISIONS",
    "KINDS",
    "MATCH_KEYS",
    "OUTSIDE",
    "REDIRECT",
    "RULE_KEYS",
    "TOP_KEYS",
    "Context",
    "Evaluation",
    "PartDecision",
    "Policy",
    "PolicyCaches",
    "PolicyFileError",
    "Rule",
    "RuleMatch",
    "data_folder",
    "decide",
    "default_policy",
    "governing_rules",
    "load_policy",
    "match_words",
    "parse_duration",
    "parse_policy",
]
