"""The policy's data: decisions, action kinds, rules, the evaluation record and the decision context.

Nothing here reads files or matches anything; `load` builds a `Policy`, `evaluate.decide` decides.
The list of action kinds is defined here once: the gate validates requests against it and the loader
validates `match.kind` against it (docs/policy.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forge_tui.core.fastinit import fast_init

if TYPE_CHECKING:
    from forge_tui.core.policy.match import CompiledRule

DECISIONS = ("allow", "ask", "deny")
RANK = {"allow": 0, "ask": 1, "deny": 2}
ACTION_KINDS: tuple[str, ...] = (
    "file.read",
    "file.write",
    "file.delete",
    "shell.exec",
    "net.fetch",
    "git.commit",
    "git.push",
    "deploy",
    "mcp.call",
    "other",
)
KINDS = ACTION_KINDS  # the older name
MATCH_KEYS = ("tool", "kind", "paths", "command", "url")
RULE_KEYS = (
    "id",
    "match",
    "decision",
    "approvals",
    "distinct_from",
    "distinct_by",
    "requires_prior",
    "reason",
    "instead",
)
TOP_KEYS = ("version", "default", "approval_timeout", "max_per_minute", "rule")
DISTINCT_FROM = ("requester", "principal")
DISTINCT_BY = ("reviewer", "uid")  # approvals must differ by reviewer name, and by OS account with "uid"
OUTSIDE = "<outside>"
DEFAULT_TIMEOUT_S = 600
MAX_TIMEOUT_S = 7 * 24 * 3600
# hashlib.sha256(b"").hexdigest(), the default policy's digest (tests/unit/test_policy_imports.py checks it;
# hashlib is not imported here for it)
EMPTY_DIGEST = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@dataclass(frozen=True)
class Rule:
    id: str
    match: dict  # key -> tuple of patterns (a single string in the file becomes a 1-tuple)
    decision: str
    approvals: int
    distinct_from: frozenset[str]
    requires_prior: tuple[str, ...]
    reason: str | None
    line: int
    instead: str | None = None  # what the agent may do instead, shown with a denial
    distinct_by: frozenset[str] = frozenset({"reviewer"})  # pair review (daemon/admission.py)


@fast_init
@dataclass(frozen=True)
class RuleMatch:
    rule_id: str
    decision: str  # the decision this match contributes ("ask" for a deny/ask rule that only may match)
    why: str


@fast_init
@dataclass(frozen=True)
class PartDecision:
    """How one part of an action (a simple command, a redirection, an assignment, a path) was decided."""

    kind: str  # "command" | "redirect" | "assign" | "path"
    text: str
    decision: str
    rule: str | None
    via: str = ""


@fast_init
@dataclass(frozen=True)
class Evaluation:
    decision: str  # "allow" | "ask" | "deny"
    rule: str | None  # deciding rule id; "builtin:<name>" for built-ins; None when the default applied
    rules: tuple[str, ...]  # every matching rule id, in file order
    reason: str  # one line
    approvals: int  # approvals needed: >= 1 when decision == "ask", else 0
    distinct_from: frozenset[str]
    missing_prior: tuple[str, ...]
    matches: tuple[RuleMatch, ...]
    parts: tuple[PartDecision, ...] = ()
    unparseable: str | None = None  # why the command could not be analysed, if it could not
    instead: str | None = None  # the deciding rule's `instead`, for the agent


@dataclass(frozen=True)
class Context:
    """Everything a decision depends on besides the policy and the action.

    `decide(policy, action, context)` reads nothing else but the file system's symbolic links under the
    paths it is asked about (and only when `resolve_links` is true): re-evaluating a recorded action
    under its recorded policy with the same context gives the same decision.

    project_root: the project the action runs in (relative paths are relative to it).
    prior_succeeded: ids of rules whose steps succeeded earlier in the session (`requires_prior`).
    protected_dirs: folders the built-in guard protects besides `<root>/.forge` (the data folder with
        the keys and authoritative ledgers; `Context.for_project` adds it).
    resolve_links: resolve symbolic links of the paths and words it checks (off for a commit's tree,
        which is not the working tree).
    """

    project_root: Path
    prior_succeeded: frozenset[str] = frozenset()
    protected_dirs: tuple[Path, ...] = ()
    resolve_links: bool = True

    @classmethod
    def for_project(
        cls,
        project_root: Path | str,
        *,
        prior_succeeded: frozenset[str] = frozenset(),
        protected_dirs: tuple[Path, ...] = (),
        resolve_links: bool = True,
    ) -> Context:
        """The context the gate and `policy explain` decide in: the data folder is always protected."""
        from forge_tui.core.policy.guard import data_folder

        dirs = (data_folder(), *(Path(d) for d in protected_dirs))
        unique = tuple(dict.fromkeys(dirs))
        return cls(Path(project_root), frozenset(prior_succeeded), unique, resolve_links)


@dataclass(frozen=True)
class Policy:
    version: int
    default: str
    approval_timeout_s: int
    rules: tuple[Rule, ...]
    digest: str  # sha256 hex of the file bytes
    path: str
    max_per_minute: int | None = None
    _compiled: tuple[CompiledRule, ...] = field(default=(), init=False, repr=False, compare=False)
    # (kind, tool, url) -> the rules whose kind/tool/url patterns match, with why (evaluate._live_rules):
    # a pure function of the policy and those three values, bounded.
    live_cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    # rule id -> the `instead` of the first rule of that id; whether no two rules share an id (the loader
    # refuses that, a Policy built otherwise may hold them): what `decide` looks up once per decision.
    instead_of: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    unique_ids: bool = field(default=True, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        from forge_tui.core.policy.match import compile_rule

        object.__setattr__(self, "_compiled", tuple(compile_rule(r) for r in self.rules))
        for r in self.rules:
            self.instead_of.setdefault(r.id, r.instead)
        object.__setattr__(self, "unique_ids", len(self.instead_of) == len(self.rules))

    @property
    def compiled(self) -> tuple[CompiledRule, ...]:
        return self._compiled

    def evaluate(
        self,
        action: Any,
        *,
        project_root: Path | str,
        prior_succeeded: frozenset[str] = frozenset(),
        actor_kind: str = "agent",
        protected_dirs: tuple[Path, ...] = (),
    ) -> Evaluation:
        """Decide `action` (docs/design.md §4.3 shape; any field may be missing) as the gate does.

        The same as `decide(self, action, Context.for_project(...))`. `actor_kind` is accepted for
        the callers that pass it and ignored: every request is an agent's, the built-in rules always
        apply. Never raises for bad input: what it cannot understand is at least "ask"."""
        from forge_tui.core.policy.evaluate import decide

        del actor_kind  # a claim, never a reason to lift the built-in rules
        context = Context.for_project(
            project_root, prior_succeeded=prior_succeeded, protected_dirs=tuple(protected_dirs)
        )
        return decide(self, action, context)


def default_policy() -> Policy:
    """The policy in force before any valid one was loaded: no rules, everything asks (fail closed)."""
    return Policy(
        version=1,
        default="ask",
        approval_timeout_s=DEFAULT_TIMEOUT_S,
        rules=(),
        digest=EMPTY_DIGEST,
        path="<built-in default>",
        max_per_minute=None,
    )
