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
"""

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
