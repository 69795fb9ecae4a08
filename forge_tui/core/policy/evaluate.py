"""The decision: `decide(policy, action, context)` (docs/policy.md, "How an action is decided").

The gate (`Policy.evaluate`), `forge-tui policy explain` and re-evaluation by `verify` all call this one
function. It is a pure function of its three arguments, except that with `context.resolve_links` it
reads where symbolic links under the action's paths point (so a link cannot smuggle a path past a
rule). It never raises for bad input: what it cannot understand is at least "ask".

An action is cut into units: each command part (from `forge_tui.core.shell`, normalised by
`normalize`) crossed with each path. Each unit takes the strongest decision of the rules that match it
(deny > ask > allow), or the default; the action takes the strongest unit. Then:
* an allow needs a rule that matches for certain and speaks about the unit's content: a rule without
  `command` never allows a command part unless its `kind` patterns cover shell.exec (a `tool` rule
  for "Grep" does not allow the shell command an action carries); a rule without `paths` never
  allows a written or deleted path unless its `kind` patterns cover that kind;
* a part whose code cannot be seen (`CommandView.opaque`) is allowed only by a rule whose command
  pattern names its program; the default and other rules give at most "ask";
* the paths a command part writes (redirect targets, `--output=`...) are also matched by the policy's
  ask and deny rules on `paths` for file.write (they can only tighten);
* the built-in rules (`guard`) deny last, whatever the actor claims.
"""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path
from typing import Any, NamedTuple

from forge_tui.core.lazyre import LazyPattern
from forge_tui.core.policy.cache import CACHES
from forge_tui.core.policy.guard import BuiltinHit, Guard, check_builtins
from forge_tui.core.policy.match import (
    MAYBE,
    NO,
    YES,
    CompiledRule,
    PathView,
    match_command,
    match_path,
    normal_url,
    path_views,
    relative,
)
from forge_tui.core.policy.model import (
    DECISIONS,
    RANK,
    Context,
    Evaluation,
    PartDecision,
    Policy,
    Rule,
    RuleMatch,
)
from forge_tui.core.policy.normalize import CommandView, normalize
from forge_tui.core.shell import Unparseable, parse_command

_MAX_UNITS = 4096
_MAX_LIVE_CACHE = 256  # (kind, tool, url) combinations remembered per policy
_HOME_VAR = LazyPattern(globals(), r"^(\$HOME|\$\{HOME\})(?=/|$)")
_RUN_TIME = LazyPattern(globals(), r"[$`*?\[{]")  # a written path known only at run time
_CHANGE_KINDS = ("file.write", "file.delete", "git.commit")


def decide(policy: Policy, action: Any, context: Context) -> Evaluation:
    """Decide `action` (docs/design.md §4.3 shape: kind, tool, command, paths, url; any may be missing) under
    `policy` in `context`. Pure (see the module docstring); never raises for bad input."""
    return _Evaluator(policy, action, context).run()


class _Unit(NamedTuple):  # internal and immutable; a named tuple is built faster than a frozen dataclass
    cmd: int | None  # index into the command parts
    path: int | None  # index into the path views


class _Result(NamedTuple):
    unit: _Unit
    decision: str
    rule: str | None
    reason: str


class _Evaluator:
    def __init__(self, policy: Policy, action: Any, context: Context) -> None:
        self.p = policy
        self.action = action if isinstance(action, dict) else {}
        self.malformed = None if isinstance(action, dict) else "the action is not an object"
        self.root = _normal_root(str(context.project_root))
        self.links = context.resolve_links
        self.real_root = CACHES.trusted_realpath(self.root) if self.links else self.root
        self.prior = frozenset(context.prior_succeeded)
        self.protected = tuple(context.protected_dirs)
        get = self.action.get
        kind, tool, url, command = get("kind"), get("tool"), get("url"), get("command")
        if not (
            (kind is None or isinstance(kind, str))
            and (tool is None or isinstance(tool, str))
            and (url is None or isinstance(url, str))
            and (command is None or isinstance(command, str))
        ):  # one is neither: each asked in turn, as `_field` names the last bad one
            kind, tool, url, command = (self._field(n) for n in ("kind", "tool", "url", "command"))
        self.kind, self.tool, self.url, self.command = kind, tool, url, command
        raw_paths = get("paths")
        if raw_paths is None:
            raw_paths = []
        elif isinstance(raw_paths, str):
            raw_paths = [raw_paths]
        if not isinstance(raw_paths, list) or not all(isinstance(p, str) for p in raw_paths):
            self.malformed = "the action's paths are not a list of strings"
            raw_paths = [p for p in raw_paths if isinstance(p, str)] if isinstance(raw_paths, list) else []
        self.paths: list[str] = raw_paths
        self.resolved: dict[str, str] = {}  # lexical path -> realpath: each resolved once per decision
        self.views: list[PathView] = []
        for p in raw_paths:
            self.views += path_views(p, self.root, self.real_root, self.links, self.resolved)
        self.parts: tuple[CommandView, ...] = ()
        self.unparseable: str | None = None
        if command is not None and command.strip():
            try:
                parsed = parse_command(command)
                self.parts = tuple(
                    [normalize(c, self.root, self.real_root, self.links, self.resolved) for c in parsed]
                )
            except Unparseable as exc:
                self.unparseable = str(exc) or "unsupported shell syntax"
        self.written: dict[int, list[PathView]] = {}
        for k, v in enumerate(self.parts):
            if v.writes:
                self.written[k] = self._written_views(v)

    def _field(self, name: str) -> str | None:
        value = self.action.get(name)
        if value is None or isinstance(value, str):
            return value
        self.malformed = f"the action's {name} is not a string"
        return None

    def _written_views(self, part: CommandView) -> list[PathView]:
        out: list[PathView] = []
        for w in part.writes:
            word = _HOME_VAR.sub("~", w) if "$" in w else w
            if _RUN_TIME.search(word):
                continue  # known only at run time: deny/ask rules "may match" it through the guard
            out.extend(path_views(word, self.root, self.real_root, self.links, self.resolved))
        return out

    # -- the decision ------------------------------------------------------------------------------

    def run(self) -> Evaluation:
        cmd_idx: list[int | None] = list(range(len(self.parts))) or [None]
        path_idx: list[int | None] = list(range(len(self.views))) or [None]
        too_big = len(cmd_idx) * len(path_idx) > _MAX_UNITS
        if too_big:  # decide each dimension on its own and ask a human
            units = [_Unit(c, None) for c in cmd_idx] + [_Unit(None, p) for p in path_idx]
        else:
            units = [_Unit(c, p) for c in cmd_idx for p in path_idx]

        matches: dict[str, RuleMatch] = {}
        counted: list[Rule] = []
        missing: list[str] = []
        live = self._live_rules()
        results = [self._decide_unit(u, live, matches, counted, missing) for u in units]
        results += self._written_results(matches, counted)

        # The strongest part decides; among equals, one a rule decided explains more than the default.
        top = results[0] if len(results) == 1 else max(results, key=_strength)
        decision, rule_id, reason = top.decision, top.rule, top.reason
        floor = self._floor(too_big) if self.malformed or self.unparseable or too_big else None
        if floor and (rule_id is None or RANK[decision] < RANK["ask"]):
            decision = decision if RANK[decision] > RANK["ask"] else "ask"
            rule_id, reason = "builtin:unparseable", floor
        hit = None
        if decision != "deny" or rule_id is None or rule_id.startswith("builtin:"):
            # A policy rule that denies already says it; otherwise the built-in rules deny last.
            guard, private = Guard.pair(self.root, self.protected)
            hit = check_builtins(
                guard,
                private,
                self.kind,
                self.paths,
                self.parts,
                self.command,
                self.unparseable,
                self.resolved if self.links else None,
            )
        if hit:
            decision, rule_id, reason = "deny", hit.rule, hit.reason

        distinct = _REQUESTER.union(*[r.distinct_from for r in counted])
        approvals = 0
        if decision == "ask":
            approvals = max([r.approvals for r in counted if matches[r.id].decision == "ask"] + [1])
        policy = self.p
        if not matches:
            in_order: tuple[str, ...] = ()
        elif len(matches) == 1 and policy.unique_ids:
            in_order = tuple(matches)  # the one id, which names one rule
        else:
            in_order = tuple([r.id for r in policy.rules if r.id in matches])
        return Evaluation(
            decision,
            rule_id,
            in_order,
            " ".join(reason.split()),
            approvals,
            distinct,
            tuple(missing),
            tuple([matches[i] for i in in_order]),
            self._part_decisions(results, hit),
            self.unparseable,
            policy.instead_of.get(rule_id) if rule_id is not None else None,
        )

    def _live_rules(self) -> tuple[tuple[CompiledRule, tuple[str, ...]], ...]:
        """The rules whose `kind`, `tool` and `url` patterns match the action, each with what it says
        about them (for explain). These keys are the same for every unit of the action and come first
        in every rule's key order, so a rule left out here would match no unit (`_match` gives NO).
        A pure function of the policy and the three values: kept in `Policy.live_cache` (bounded)."""
        cache = self.p.live_cache
        key = (self.kind, self.tool, self.url)
        live = cache.get(key)
        if live is None:
            live = self._find_live_rules()
            if len(cache) >= _MAX_LIVE_CACHE:
                cache.clear()
            cache[key] = live
        return live

    def _find_live_rules(self) -> tuple[tuple[CompiledRule, tuple[str, ...]], ...]:
        live: list[tuple[CompiledRule, tuple[str, ...]]] = []
        url = normal_url(self.url) if self.url is not None else None
        for comp in self.p.compiled:
            whys: list[str] = []
            for key in comp.keys:
                if key == "kind":
                    hit = comp.kinds.first(self.kind)
                    if hit is None:
                        break
                    whys.append(f"kind {self.kind} matches {hit!r}")
                elif key == "tool":
                    hit = comp.tools.first(self.tool)
                    if hit is None:
                        break
                    whys.append(f"tool {self.tool!r} matches {hit!r}")
                elif key == "url":
                    hit = comp.urls.first(url)
                    if hit is None:
                        break
                    whys.append(f"url {self.url} matches {hit!r}")
            else:
                live.append((comp, tuple(whys)))
        return tuple(live)

    def _decide_unit(
        self,
        unit: _Unit,
        live: tuple[tuple[CompiledRule, tuple[str, ...]], ...],
        matches: dict[str, RuleMatch],
        counted: list[Rule],
        missing: list[str],
    ) -> _Result:
        best: tuple[int, str | None, str] | None = None  # (rank, rule id, reason)
        part = self.parts[unit.cmd] if unit.cmd is not None else None
        for comp, whys in live:
            strength, why, names_program = self._match(comp, whys, unit)
            if strength == NO:
                continue
            rule = comp.rule
            decision = rule.decision
            reason = rule.reason or _default_reason(rule)
            if strength == MAYBE:
                if decision == "allow":
                    continue  # an allow must match for certain
                decision = "ask"
                reason = f"{self._unit_label(unit)} may match rule {rule.id!r} ({rule.decision}); a human must look"
                why += " (may match: part of it is known only at run time)"
            elif decision == "allow" and (blocked := self._allow_blocked(comp, unit, part, names_program)):
                decision = "ask"
                reason = blocked
                why += f" (cannot allow: {blocked})"
            elif rule.requires_prior:
                lacking = [r for r in rule.requires_prior if r not in self.prior]
                if lacking:
                    decision = "deny"
                    reason = f"rule {rule.id!r} requires a prior succeeded step in this session: {', '.join(lacking)}"
                    missing.extend(x for x in lacking if x not in missing)
            if rule.id not in matches:
                matches[rule.id] = RuleMatch(rule.id, decision, why)
                counted.append(rule)
            elif RANK[decision] > RANK[matches[rule.id].decision]:
                matches[rule.id] = RuleMatch(rule.id, decision, why)
            if best is None or RANK[decision] > best[0]:
                best = (RANK[decision], rule.id, reason)
        if best is None:
            default = self.p.default
            reason = f"no rule matches {self._unit_label(unit)} (default: {default})"
            if part is not None and part.opaque and default != "deny":
                default = "ask"
                reason = f"{self._unit_label(unit)}: {part.opaque}; {_who_may_allow(part)}"
            return _Result(unit, default, None, reason)
        return _Result(unit, DECISIONS[best[0]], best[1], best[2])

    def _allow_blocked(
        self, comp: CompiledRule, unit: _Unit, part: CommandView | None, names_program: bool
    ) -> str | None:
        """Why an allow rule that matched may still not allow this unit, or None."""
        keys = comp.rule.match
        if part is not None:
            if "command" not in keys and comp.kinds.first("shell.exec") is None:
                return (
                    f"rule {comp.rule.id!r} says nothing about commands, and this action runs `{part.text()}`"
                )
            if part.opaque and not names_program:
                return f"{part.opaque}; {_who_may_allow(part)}"
        if self.url is not None and "url" not in keys and comp.kinds.first("net.fetch") is None:
            return f"rule {comp.rule.id!r} says nothing about URLs, and this action fetches {self.url}"
        writes = unit.path is not None and self.kind in ("file.write", "file.delete")
        if writes and "paths" not in keys and comp.kinds.first(self.kind) is None:
            shown = self.views[unit.path].shown if unit.path is not None else ""
            return f"rule {comp.rule.id!r} says nothing about paths, and this action writes {shown}"
        return None

    def _floor(self, too_big: bool) -> str | None:
        if self.malformed:
            return f"{self.malformed}: a human must look"
        if self.unparseable:
            return f"the command could not be analysed ({self.unparseable}): a human must look"
        if too_big:
            return "the action has too many parts to decide one by one: a human must look"
        return None

    def _unit_label(self, unit: _Unit) -> str:
        bits = []
        if unit.cmd is not None and (len(self.parts) > 1 or unit.path is None):
            bits.append(f"command part `{self.parts[unit.cmd].text()}`")
        if unit.path is not None:
            bits.append(f"path {self.views[unit.path].shown}")
        if not bits:
            return "this action" if self.unparseable is None else "the rest of this action"
        return " with ".join(bits)

    def _match(self, comp: CompiledRule, whys_so_far: tuple[str, ...], unit: _Unit) -> tuple[int, str, bool]:
        """How well a live rule (`_live_rules`: its `kind`, `tool` and `url` match, which
        `whys_so_far` says) matches one unit of the action, why (for explain), and whether a command
        pattern that matched names the part's program. The keys are taken in the rule's order."""
        keys = comp.keys
        strength = YES
        names_program = False
        why_path = why_command = None
        if "paths" in keys:
            if unit.path is None:
                return NO, "", False
            view = self.views[unit.path]
            hit = next((pat for pat, m in comp.paths if match_path(pat, m, view)), None)
            if not hit:
                return NO, "", False
            where = view.rel if view.rel is not None else f"{view.abs}, outside the project"
            why_path = f"path {view.shown} ({where}) matches {hit!r}"
        if "command" in keys:
            if unit.cmd is None:
                return NO, "", False
            part = self.parts[unit.cmd]
            best, hit_pat = NO, None
            for pat in comp.commands_for(part):  # those that can match at all, in order
                s = match_command(pat, part)
                if s > best:
                    best, hit_pat = s, pat
                if best == YES:
                    break
            if best == NO or hit_pat is None:
                return NO, "", False
            names_program = (
                hit_pat.program == part.program
                and 0 not in part.dynamic
                and (
                    not part.explicit
                    or all(any(w == r or w.startswith(r) for w in hit_pat.words) for r in part.explicit)
                )
            )
            strength = min(strength, best)
            why_command = f"command part `{part.text()}` matches {hit_pat.source!r}"
        whys = list(whys_so_far)
        if why_path is not None:
            whys.append(why_path)
        if why_command is not None:
            whys.append(why_command)
        return strength, "; ".join(whys), names_program

    def _written_results(self, matches: dict[str, RuleMatch], counted: list[Rule]) -> list[_Result]:
        """The ask and deny rules on `paths` for file.write, applied to the paths command parts write
        (`> f`, `--output=f`, `tee f`...): a shell command is held to the rules a Write would be."""
        out: list[_Result] = []
        if not self.written:
            return out
        for k, views in self.written.items():
            for comp in self.p.compiled:
                rule = comp.rule
                m = rule.match
                if rule.decision == "allow" or not comp.paths or "command" in m or "url" in m:
                    continue
                if "kind" in m and comp.kinds.first("file.write") is None:
                    continue
                if "tool" in m and comp.tools.first(self.tool) is None:
                    continue
                view = next((v for v in views if any(match_path(p, mt, v) for p, mt in comp.paths)), None)
                if view is None:
                    continue
                why = f"command part `{self.parts[k].text()}` writes {view.shown}, which rule {rule.id!r} governs"
                if rule.id not in matches:
                    matches[rule.id] = RuleMatch(rule.id, rule.decision, why)
                    counted.append(rule)
                elif RANK[rule.decision] > RANK[matches[rule.id].decision]:
                    matches[rule.id] = RuleMatch(rule.id, rule.decision, why)
                out.append(
                    _Result(_Unit(k, None), rule.decision, rule.id, rule.reason or _default_reason(rule))
                )
        return out

    def _part_decisions(self, results: list[_Result], hit: BuiltinHit | None) -> tuple[PartDecision, ...]:
        # The strongest result of each part and of each path (the first among equals), in one pass.
        by_cmd: dict[int, _Result] = {}
        by_path: dict[int, _Result] = {}
        for r in results:
            cmd, path = r.unit
            if cmd is not None and (
                (top := by_cmd.get(cmd)) is None or RANK[r.decision] > RANK[top.decision]
            ):
                by_cmd[cmd] = r
            if path is not None and (
                (top := by_path.get(path)) is None or RANK[r.decision] > RANK[top.decision]
            ):
                by_path[path] = r
        out: list[PartDecision] = []
        for k, part in enumerate(self.parts):
            via = part.source.via if part.source is not None else ""
            if hit is not None and hit.part == k:
                out.append(PartDecision(part.kind, part.text(), "deny", hit.rule, via))
                continue
            top = by_cmd.get(k)
            if top is not None:
                out.append(PartDecision(part.kind, part.text(), top.decision, top.rule, via))
        for k, view in enumerate(self.views):
            top = by_path.get(k)
            if top is not None:
                text = (
                    view.shown
                    if k == 0 or self.views[k - 1].shown != view.shown
                    else f"{view.shown} -> {view.abs}"
                )
                if hit is not None and hit.path == view.shown:
                    out.append(PartDecision("path", text, "deny", hit.rule))
                else:
                    out.append(PartDecision("path", text, top.decision, top.rule))
        return tuple(out)


_REQUESTER = frozenset({"requester"})


def _strength(r: _Result) -> tuple[int, bool]:
    return RANK[r.decision], r.rule is not None


_ROOTS: dict[str, str] = {}


def _normal_root(root: str) -> str:
    """os.path.normpath(os.path.abspath(root)); for an absolute root (a pure function of the string)
    remembered."""
    if not os.path.isabs(root):
        return os.path.normpath(os.path.abspath(root))
    normal = _ROOTS.get(root)
    if normal is None:
        if len(_ROOTS) >= 64:
            _ROOTS.clear()
        normal = _ROOTS[root] = os.path.normpath(root)
    return normal


def _who_may_allow(part: CommandView) -> str:
    if "\0" in part.explicit:
        return "no rule may allow it"
    named = " ".join((part.program, *(e.rstrip("=") for e in part.explicit)))
    return f"only a rule naming `{named}` may allow it"


def _default_reason(rule: Rule) -> str:
    if rule.decision == "allow":
        return f"allowed by rule {rule.id!r}"
    if rule.decision == "ask":
        return f"rule {rule.id!r} requires approval"
    if rule.decision == "deny":
        return f"denied by rule {rule.id!r}"
    raise KeyError(rule.decision)


def governing_rules(policy: Policy, path: str, *, project_root: str | Path) -> tuple[Rule, ...]:
    """The "ask" and "deny" rules whose `paths` match a path a change (a commit) touches, with the gate's
    own path matchers (`verify --git`, docs/design.md §7). `path` is relative to the project root, or absolute
    for a path outside it. Only the path is known: a rule whose `kind` names no kind that changes files
    (file.write, file.delete, git.commit) does not govern it; `tool`, `command` and `url` are not
    known and so do not narrow a rule (it governs). Paths are taken as written: a commit's tree is not
    the working tree, so symbolic links are not resolved. Built-in rules are not policy rules."""
    root = os.path.normpath(os.path.abspath(str(project_root)))
    lexical = os.path.normpath(os.path.join(root, path))
    view = PathView(path, lexical, relative(lexical, root))
    out = []
    for comp in policy.compiled:
        rule = comp.rule
        if rule.decision == "allow" or not comp.paths:
            continue
        kinds = rule.match.get("kind")
        if kinds is not None and not any(fnmatch.fnmatchcase(k, pat) for k in _CHANGE_KINDS for pat in kinds):
            continue
        if any(match_path(pat, m, view) for pat, m in comp.paths):
            out.append(rule)
    return tuple(out)
