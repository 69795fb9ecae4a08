"""The policy engine (DESIGN §8): load and validate `.forge/policy.toml`, decide allow / ask / deny.

Headless and pure (standard library, wcmatch and `forge_tui.core.shell`); it reads the file system only
to resolve symbolic links of the paths it is asked about, so a link cannot smuggle a path past a rule.

Matching, in short:
* A rule's `match` keys (`tool`, `kind`, `paths`, `command`, `url`) must all match (AND); the values
  of one key are alternatives (OR). `tool`, `kind` and `url` are `fnmatch` globs on the whole value.
* `command` patterns are split into words with shlex and matched word by word against every simple
  command of the action (see `forge_tui.core.shell`). A pattern word that is exactly `*` stands for
  any number of words (zero included); a last word that ends in `*` (`pytest*`, `--force*`) is a glob
  for one word followed by any further words; other words are globs for exactly one word. A command
  word whose value is known only at run time (`$X`, `$(...)`, globs) may stand for anything: it can
  complete a deny or ask pattern (which then asks, "may match") but never an allow pattern; the
  same holds for a command named by a path (`/usr/bin/git` "may match" `git`).
* `paths` patterns are globs with `**` (wcmatch GLOBSTAR | DOTMATCH | BRACE). A relative pattern
  matches paths inside the project, relative to its root, after `normpath` (so `src/../../etc` is
  outside). A path outside the project never matches a relative pattern: it matches absolute
  patterns (`/etc/**`, `~/.ssh/**`) and the special pattern `"<outside>"`. When a path is a symbolic
  link, both the path as written and where it resolves must pass.
* An action with several command parts or several paths is decided per part: each part takes the
  strongest decision of the rules that match it (deny > ask > allow), or `default` when none does,
  and the action takes the strongest part. So an allow rule for `pytest*` never allows
  `pytest; rm -rf /`. A command that cannot be parsed is at least "ask".
* Built-in rules that no policy lifts apply to agents (DESIGN §6): see `_builtin`.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import shlex
import stat
import time
import tomllib
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from wcmatch import glob as wcglob

from forge_tui.core.shell import ASSIGN, REDIRECT, SimpleCommand, Unparseable, parse_command
from forge_tui.errors import PolicyError

DECISIONS = ("allow", "ask", "deny")
_RANK = {"allow": 0, "ask": 1, "deny": 2}
KINDS = (
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
MATCH_KEYS = ("tool", "kind", "paths", "command", "url")
RULE_KEYS = ("id", "match", "decision", "approvals", "distinct_from", "requires_prior", "reason")
TOP_KEYS = ("version", "default", "approval_timeout", "max_per_minute", "rule")
DISTINCT_FROM = ("requester", "principal")
OUTSIDE = "<outside>"
DEFAULT_TIMEOUT_S = 600
_MAX_TIMEOUT_S = 7 * 24 * 3600
_MAX_UNITS = 4096
_GLOB_FLAGS = wcglob.GLOBSTAR | wcglob.DOTMATCH | wcglob.BRACE
_RULE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
_DURATION = re.compile(r"(\d+)([smh]?)")
_NO, _MAYBE, _YES = 0, 1, 2  # how well a rule matches a part

# -- data -----------------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class RuleMatch:
    rule_id: str
    decision: str  # the decision this match contributes ("ask" for a deny/ask rule that only may match)
    why: str


@dataclass(frozen=True)
class PartDecision:
    """How one part of an action (a simple command, a redirection, an assignment, a path) was decided."""

    kind: str  # "command" | "redirect" | "assign" | "path"
    text: str
    decision: str
    rule: str | None
    via: str = ""


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


@dataclass(frozen=True)
class _Pattern:
    source: str
    words: tuple[str, ...]


@dataclass(frozen=True)
class _Compiled:
    rule: Rule
    commands: tuple[_Pattern, ...]
    paths: tuple[tuple[str, Any], ...]  # (pattern, compiled wcmatch matcher or None for "<outside>")
    keys: tuple[str, ...]  # the match keys, cheapest first
    first_words: frozenset[str] | None  # literal command names of the patterns; None if any is a glob


@dataclass(frozen=True)
class _PathView:
    shown: str  # the path as the action gave it
    abs: str  # absolute, normalised (lexically, or resolved through links)
    rel: str | None  # relative to the project root, None when outside


@dataclass(frozen=True)
class Policy:
    version: int
    default: str
    approval_timeout_s: int
    rules: tuple[Rule, ...]
    digest: str  # sha256 hex of the file bytes
    path: str
    max_per_minute: int | None = None
    _compiled: tuple[_Compiled, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        order = ("kind", "tool", "url", "paths", "command")
        compiled = tuple(
            _Compiled(
                r,
                tuple(_Pattern(p, _pattern_words(p)) for p in r.match.get("command", ())),
                tuple((p, _compile_path(p)) for p in r.match.get("paths", ())),
                tuple(k for k in order if k in r.match),
                _first_words(r.match.get("command", ())),
            )
            for r in self.rules
        )
        object.__setattr__(self, "_compiled", compiled)

    def evaluate(
        self,
        action: dict,
        *,
        project_root: Path,
        prior_succeeded: frozenset[str] = frozenset(),
        actor_kind: str = "agent",
        protected_dirs: tuple[Path, ...] = (),
    ) -> Evaluation:
        """Decide `action` (DESIGN §4.3 shape; any field may be missing). Never raises for bad input:
        what it cannot understand is at least "ask"."""
        root = project_root if isinstance(project_root, Path) else Path(project_root)
        return _Evaluator(self, action, root, prior_succeeded, actor_kind, protected_dirs).run()


def default_policy() -> Policy:
    """The policy in force before any valid one was loaded: no rules, everything asks (fail closed)."""
    return Policy(
        version=1,
        default="ask",
        approval_timeout_s=DEFAULT_TIMEOUT_S,
        rules=(),
        digest=hashlib.sha256(b"").hexdigest(),
        path="<built-in default>",
        max_per_minute=None,
    )


class RateLimiter:
    """Per-session circuit breaker: at most `max_per_minute` requests in any 60-second window."""

    WINDOW_S = 60.0

    def __init__(self, max_per_minute: int | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._max = max_per_minute
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}

    def allow(self, session: str) -> bool:
        """Count one request for `session`; False (and not counted) when over the limit."""
        if self._max is None:
            return True
        now = self._clock()
        if len(self._hits) > 10_000:  # forget idle sessions so a session-id flood cannot grow memory
            self._hits = {s: q for s, q in self._hits.items() if q and now - q[-1] < self.WINDOW_S}
        hits = self._hits.setdefault(session, deque())
        while hits and now - hits[0] >= self.WINDOW_S:
            hits.popleft()
        if len(hits) >= self._max:
            return False
        hits.append(now)
        return True


# -- loading and validation ------------------------------------------------------------------------


def load_policy(path: Path) -> Policy:
    """Read and validate a policy file; every problem is a one-line PolicyError."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise PolicyError(f"{path}: no such policy file") from None
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read the policy: {exc.strerror or exc}") from None
    return parse_policy(data, str(path))


def parse_policy(data: bytes, path: str = "<policy>") -> Policy:
    """Parse and validate policy bytes. Errors read "<path>:<line>:<col>: <what is wrong>"."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise PolicyError(f"{path}:{line}:{col}: the policy is not valid UTF-8") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\s*\(at line (\d+), column (\d+)\)$", msg)
        if m:
            raise PolicyError(f"{path}:{m.group(1)}:{m.group(2)}: {msg[: m.start()]}") from None
        m = re.search(r"\s*\(at end of document\)$", msg)
        if m:
            msg = msg[: m.start()] + " at the end of the file"
        lines = text.split("\n")
        raise PolicyError(f"{path}:{len(lines)}:{len(lines[-1]) + 1}: {msg}") from None
    return _Validator(doc, text, path).policy(hashlib.sha256(data).hexdigest())


def parse_duration(value: Any) -> int:
    """Seconds from "90", "30s", "10m", "1h" or an integer; raises ValueError."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str) and (m := _DURATION.fullmatch(value.strip())):
        seconds = int(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]
    else:
        raise ValueError(value)
    if not 1 <= seconds <= _MAX_TIMEOUT_S:
        raise ValueError(value)
    return seconds


class _Locator:
    """Finds the line and column of keys in the raw text: tomllib reports none for semantic errors."""

    def __init__(self, text: str) -> None:
        self.lines = [ln.rstrip("\r") for ln in text.split("\n")]
        self.headers = [k for k, ln in enumerate(self.lines) if re.match(r"\s*\[\[\s*rule\s*\]\]", ln)]
        first_table = next((k for k, ln in enumerate(self.lines) if re.match(r"\s*\[", ln)), len(self.lines))
        self.top_end = first_table

    def _key_in(self, key: str, start: int, end: int) -> tuple[int, int] | None:
        rx = re.compile(r"""(?:^|[\s{,.])(["']?)""" + re.escape(key) + r"""\1\s*=""")
        for k in range(start, min(end, len(self.lines))):
            m = rx.search(self.lines[k])
            if m:
                return k + 1, m.start(1) + 1
        return None

    def top(self, key: str) -> tuple[int, int]:
        found = self._key_in(key, 0, self.top_end) or self._key_in(key, 0, len(self.lines))
        if found:
            return found
        rx = re.compile(r"\s*\[+\s*[\"']?" + re.escape(key) + r"\b")  # a table: [key] or [[key]]
        for k, ln in enumerate(self.lines):
            if rx.match(ln):
                return k + 1, ln.index("[") + 1
        return 1, 1

    def rule(
        self, index: int, key: str | None = None, sub: str | None = None, rule_id: Any = None
    ) -> tuple[int, int]:
        if index < len(self.headers):
            start = self.headers[index]
            end = self.headers[index + 1] if index + 1 < len(self.headers) else len(self.lines)
            base = (start + 1, self.lines[start].index("[") + 1)
        else:  # rules written as an inline array: anchor on the id
            start, end, base = 0, len(self.lines), (1, 1)
            if isinstance(rule_id, str):
                rx = re.compile(r"""\bid\s*=\s*["']""" + re.escape(rule_id) + """["']""")
                for k, ln in enumerate(self.lines):
                    if m := rx.search(ln):
                        start, end, base = k, len(self.lines), (k + 1, m.start() + 1)
                        break
        if key is None:
            return base
        pos = self._key_in(key, start, end)
        if sub is not None:  # a key inside `match = {...}` or a `[rule.match]` table
            return self._key_in(sub, pos[0] - 1 if pos else start, end) or pos or base
        return pos or base


class _Validator:
    def __init__(self, doc: dict, text: str, path: str) -> None:
        self.doc = doc
        self.loc = _Locator(text)
        self.path = path

    def fail(self, pos: tuple[int, int], message: str) -> PolicyError:
        return PolicyError(f"{self.path}:{pos[0]}:{pos[1]}: {message}")

    def policy(self, digest: str) -> Policy:
        doc, loc = self.doc, self.loc
        for key in doc:
            if key not in TOP_KEYS:
                raise self.fail(loc.top(key), f"unknown key {key!r} (expected one of: {', '.join(TOP_KEYS)})")
        if "version" not in doc:
            raise self.fail((1, 1), "missing `version = 1`")
        if type(doc["version"]) is not int or doc["version"] != 1:
            raise self.fail(loc.top("version"), f"unsupported version {doc['version']!r} (expected 1)")
        default = doc.get("default", "ask")
        if default not in DECISIONS:
            raise self.fail(loc.top("default"), f"default must be one of {_alts(DECISIONS)}, not {default!r}")
        timeout = DEFAULT_TIMEOUT_S
        if "approval_timeout" in doc:
            try:
                timeout = parse_duration(doc["approval_timeout"])
            except ValueError:
                raise self.fail(
                    loc.top("approval_timeout"),
                    f"bad duration {doc['approval_timeout']!r} for approval_timeout "
                    '(use seconds like "90" or "30s", "10m", "1h"; at most 7 days)',
                ) from None
        per_minute = doc.get("max_per_minute")
        if per_minute is not None and (type(per_minute) is not int or per_minute < 1):
            raise self.fail(
                loc.top("max_per_minute"), f"max_per_minute must be a whole number >= 1, not {per_minute!r}"
            )
        raw_rules = doc.get("rule", [])
        if not isinstance(raw_rules, list):
            raise self.fail(loc.top("rule"), "`rule` must be an array of tables ([[rule]])")
        rules = [self.rule(k, r) for k, r in enumerate(raw_rules)]
        seen: dict[str, Rule] = {}
        for k, r in enumerate(rules):
            if r.id in seen:
                raise self.fail(
                    loc.rule(k, "id", rule_id=r.id),
                    f"duplicate rule id {r.id!r} (first defined at line {seen[r.id].line})",
                )
            seen[r.id] = r
        for k, r in enumerate(rules):
            for prior in r.requires_prior:
                if prior == r.id:
                    raise self.fail(
                        loc.rule(k, "requires_prior", rule_id=r.id), f"rule {r.id!r} requires itself"
                    )
                if prior not in seen:
                    raise self.fail(
                        loc.rule(k, "requires_prior", rule_id=r.id),
                        f"requires_prior names unknown rule {prior!r}",
                    )
        return Policy(1, default, timeout, tuple(rules), digest, self.path, per_minute)

    def rule(self, k: int, raw: Any) -> Rule:
        loc = self.loc
        if not isinstance(raw, dict):
            raise self.fail(loc.rule(k), "each rule must be a table")
        rid = raw.get("id")

        def at(key: str | None = None, sub: str | None = None) -> tuple[int, int]:
            return loc.rule(k, key, sub, rule_id=rid)

        for key in raw:
            if key not in RULE_KEYS:
                raise self.fail(
                    at(key), f"unknown rule key {key!r} (expected one of: {', '.join(RULE_KEYS)})"
                )
        if not isinstance(rid, str) or not _RULE_ID.fullmatch(rid):
            where = at("id") if "id" in raw else at()
            raise self.fail(where, f"rule needs an `id` of letters, digits, '.', '_' or '-' (got {rid!r})")
        decision = raw.get("decision")
        if decision not in DECISIONS:
            where = at("decision") if "decision" in raw else at()
            raise self.fail(
                where, f"rule {rid!r}: decision must be one of {_alts(DECISIONS)}, not {decision!r}"
            )
        match = self.match(raw.get("match"), rid, at)
        approvals = raw.get("approvals", 1)
        if type(approvals) is not int or approvals < 1:
            raise self.fail(
                at("approvals"), f"rule {rid!r}: approvals must be a whole number >= 1, not {approvals!r}"
            )
        if approvals != 1 and decision != "ask":
            raise self.fail(at("approvals"), f'rule {rid!r}: approvals only applies to decision = "ask"')
        distinct = self.strings(
            raw.get("distinct_from", []), at("distinct_from"), f"rule {rid!r}: distinct_from"
        )
        for d in distinct:
            if d not in DISTINCT_FROM:
                raise self.fail(
                    at("distinct_from"),
                    f"rule {rid!r}: distinct_from takes {_alts(DISTINCT_FROM)}, not {d!r}",
                )
        prior = self.strings(
            raw.get("requires_prior", []), at("requires_prior"), f"rule {rid!r}: requires_prior"
        )
        reason = raw.get("reason")
        if reason is not None and (not isinstance(reason, str) or not reason.strip() or "\n" in reason):
            raise self.fail(at("reason"), f"rule {rid!r}: reason must be a one-line string")
        return Rule(
            id=rid,
            match=match,
            decision=decision,
            approvals=approvals,
            distinct_from=frozenset(distinct) | {"requester"},
            requires_prior=tuple(prior),
            reason=reason,
            line=at()[0],
        )

    def match(self, raw: Any, rid: str, at: Callable[..., tuple[int, int]]) -> dict:
        if raw is None:
            raise self.fail(at(), f"rule {rid!r} has no `match` (use `default` for a catch-all)")
        if not isinstance(raw, dict) or not raw:
            raise self.fail(at("match"), f"rule {rid!r}: match must be a non-empty table")
        out: dict[str, tuple[str, ...]] = {}
        for key, value in raw.items():
            pos = at("match", key)
            if key not in MATCH_KEYS:
                raise self.fail(
                    pos, f"rule {rid!r}: unknown match key {key!r} (expected one of: {', '.join(MATCH_KEYS)})"
                )
            values = self.strings(value, pos, f"rule {rid!r}: match.{key}", one_ok=True)
            if not values:
                raise self.fail(pos, f"rule {rid!r}: match.{key} is empty")
            for v in values:
                if not v.strip():
                    raise self.fail(pos, f"rule {rid!r}: match.{key} has an empty pattern")
                if key == "kind" and not any(fnmatch.fnmatchcase(kind, v) for kind in KINDS):
                    raise self.fail(pos, f"rule {rid!r}: unknown kind {v!r} (kinds: {', '.join(KINDS)})")
                if key == "command":
                    try:
                        _pattern_words(v)
                    except ValueError as exc:
                        raise self.fail(pos, f"rule {rid!r}: bad command pattern {v!r}: {exc}") from None
            out[key] = tuple(values)
        return out

    def strings(self, value: Any, pos: tuple[int, int], what: str, one_ok: bool = False) -> list[str]:
        if one_ok and isinstance(value, str):
            return [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(pos, f"{what} must be a list of strings{' or a string' if one_ok else ''}")
        return list(value)


def _alts(values: Iterable[str]) -> str:
    return ", ".join(f'"{v}"' for v in values)


def _pattern_words(pattern: str) -> tuple[str, ...]:
    """Words of a command pattern; a last word `x*` (not `*` itself) gains an implicit `*` tail."""
    words = shlex.split(pattern)
    if not words:
        raise ValueError("the pattern has no words")
    if words[-1] != "*" and words[-1].endswith("*"):
        words.append("*")
    return tuple(words)


# -- matching --------------------------------------------------------------------------------------


def match_words(
    pattern: tuple[str, ...], words: tuple[str, ...], dynamic: frozenset[int] = frozenset()
) -> int:
    """0 no match, 1 may match (a dynamic word or a path-named command is involved), 2 matches."""
    memo: dict[tuple[int, int], int] = {}

    def m(pi: int, wi: int) -> int:
        key = (pi, wi)
        if key in memo:
            return memo[key]
        memo[key] = _NO  # guards the dynamic-word recursion below against cycles
        if pi == len(pattern):
            if wi == len(words):
                r = _YES
            else:  # left-over dynamic words may expand to nothing
                r = _MAYBE if all(k in dynamic for k in range(wi, len(words))) else _NO
        elif pattern[pi] == "*":
            r = m(pi + 1, wi)
            for k in range(wi, len(words)):
                if r == _YES:
                    break
                r = max(r, m(pi + 1, k + 1))
        elif wi == len(words):
            r = _NO
        elif wi in dynamic:
            # Could be this word, nothing, or several words: never more than "may match".
            r = min(_MAYBE, max(m(pi + 1, wi + 1), m(pi, wi + 1), m(pi + 1, wi)))
        else:
            word, pat = words[wi], pattern[pi]
            if fnmatch.fnmatchcase(word, pat):
                r = m(pi + 1, wi + 1)
            elif (
                wi == 0
                and "/" not in pat
                and "/" in word
                and fnmatch.fnmatchcase(os.path.basename(word), pat)
            ):
                r = min(_MAYBE, m(pi + 1, wi + 1))  # /usr/bin/git is probably git, ./pytest is not pytest
            else:
                r = _NO
        memo[key] = r
        return r

    if len(words) > 1000:  # absurdly long: only "may match", which can never allow
        return _MAYBE
    # Fast path: most patterns fail on the command name.
    if pattern and words and pattern[0] != "*" and 0 not in dynamic:
        first = words[0]
        if not fnmatch.fnmatchcase(first, pattern[0]) and (
            "/" not in first or not fnmatch.fnmatchcase(os.path.basename(first), pattern[0])
        ):
            return _NO
    return m(0, 0)


_TRUSTED_TTL_S = 1.0
_trusted_real: dict[str, tuple[float, str]] = {}


def _trusted_realpath(path: str) -> str:
    """realpath of a trusted folder (the project root, .forge, the key folder), reused for one second.
    Only these are cached, never a path or word from an action: they change only by actions the built-in
    guard denies (or by the human), and resolving them on every decision cost a dozen lstat calls, the
    largest single cost of a gate decision."""
    now = time.monotonic()
    hit = _trusted_real.get(path)
    if hit is not None and now - hit[0] < _TRUSTED_TTL_S:
        return hit[1]
    real = os.path.realpath(path)
    if len(_trusted_real) > 256:
        _trusted_real.clear()
    _trusted_real[path] = (now, real)
    return real


def _path_views(raw: str, root: str, real_root: str) -> list[_PathView]:
    expanded = os.path.expanduser(raw) if raw.startswith("~") else raw
    lexical = os.path.normpath(os.path.join(root, expanded or "."))
    views = [_PathView(raw, lexical, _relative(lexical, root))]
    real = os.path.realpath(lexical)
    if real != lexical:
        views.append(_PathView(raw, real, _relative(real, real_root)))
    return views


def _relative(path: str, root: str) -> str | None:
    if path == root:
        return "."
    prefix = root.rstrip("/") + "/"
    return path[len(prefix) :] if path.startswith(prefix) else None


def _first_words(patterns: Iterable[str]) -> frozenset[str] | None:
    firsts = [_pattern_words(p)[0] for p in patterns]
    if any(re.search(r"[*?\[]", w) for w in firsts):
        return None
    return frozenset(firsts)


def _compile_path(pattern: str) -> Any:
    if pattern == OUTSIDE:
        return None
    return wcglob.compile(
        os.path.expanduser(pattern) if pattern.startswith("~") else pattern, flags=_GLOB_FLAGS
    )


def _match_path(pattern: str, matcher: Any, view: _PathView) -> bool:
    """Absolute patterns see the absolute path; relative ones only paths inside the project."""
    if matcher is None:
        return view.rel is None
    if pattern.startswith(("/", "~")):
        return bool(matcher.match(view.abs))
    return view.rel is not None and bool(matcher.match(view.rel))


def governing_rules(policy: Policy, path: str, *, project_root: str | Path) -> tuple[Rule, ...]:
    """The "ask" and "deny" rules whose `paths` match a path a change (a commit) touches, with the gate's
    own path matchers (`verify --git`, DESIGN §7). `path` is relative to the project root, or absolute
    for a path outside it. Only the path is known: a rule whose `kind` names no kind that changes files
    (file.write, file.delete, git.commit) does not govern it; `tool`, `command` and `url` are not
    known and so do not narrow a rule (it governs). Paths are taken as written: a commit's tree is not
    the working tree, so symbolic links are not resolved. Built-in rules are not policy rules."""
    root = os.path.normpath(os.path.abspath(str(project_root)))
    lexical = os.path.normpath(os.path.join(root, path))
    view = _PathView(path, lexical, _relative(lexical, root))
    out = []
    for comp in policy._compiled:
        rule = comp.rule
        if rule.decision == "allow" or not comp.paths:
            continue
        kinds = rule.match.get("kind")
        if kinds is not None and not any(fnmatch.fnmatchcase(k, pat) for k in _CHANGE_KINDS for pat in kinds):
            continue
        if any(_match_path(pat, m, view) for pat, m in comp.paths):
            out.append(rule)
    return tuple(out)


_CHANGE_KINDS = ("file.write", "file.delete", "git.commit")


def _normal_url(url: str) -> str:
    """Scheme and host lower-cased, user info dropped: `https://pypi.org@evil.example/` is evil.example."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.port:
            host += f":{parts.port}"
    except ValueError:
        return url
    if not parts.scheme or not host:
        return url
    rest = url.split(parts.netloc, 1)[1] if parts.netloc else ""
    return f"{parts.scheme.lower()}://{host}{rest}"


# -- evaluation ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Unit:
    cmd: int | None  # index into the command parts
    path: int | None  # index into the path views


class _Evaluator:
    def __init__(
        self,
        policy: Policy,
        action: Any,
        root: Path,
        prior: frozenset[str],
        actor_kind: str,
        protected: Sequence[Path],
    ) -> None:
        self.p = policy
        self.action = action if isinstance(action, dict) else {}
        self.malformed = None if isinstance(action, dict) else "the action is not an object"
        self.root = os.path.normpath(os.path.abspath(str(root)))
        self.real_root = _trusted_realpath(self.root)
        self.prior = frozenset(prior)
        self.actor_kind = actor_kind
        self.protected = protected
        self.kind = self._field("kind")
        self.tool = self._field("tool")
        self.url = self._field("url")
        self.command = self._field("command")
        raw_paths = self.action.get("paths")
        if raw_paths is None:
            raw_paths = []
        elif isinstance(raw_paths, str):
            raw_paths = [raw_paths]
        if not isinstance(raw_paths, list) or not all(isinstance(p, str) for p in raw_paths):
            self.malformed = "the action's paths are not a list of strings"
            raw_paths = [p for p in raw_paths if isinstance(p, str)] if isinstance(raw_paths, list) else []
        self.paths: list[str] = raw_paths
        self.views = [v for p in raw_paths for v in _path_views(p, self.root, self.real_root)]
        self.parts: tuple[SimpleCommand, ...] = ()
        self.unparseable: str | None = None
        if self.command is not None and self.command.strip():
            try:
                self.parts = parse_command(self.command)
            except Unparseable as exc:
                self.unparseable = str(exc) or "unsupported shell syntax"

    def _field(self, name: str) -> str | None:
        value = self.action.get(name)
        if value is None or isinstance(value, str):
            return value
        self.malformed = f"the action's {name} is not a string"
        return None

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
        unit_results: list[tuple[_Unit, str, str | None, str]] = []
        for unit in units:
            best: tuple[int, str | None, str] | None = None  # (rank, rule id, reason)
            for comp in self.p._compiled:
                strength, why = self._match(comp, unit)
                if strength == _NO:
                    continue
                rule = comp.rule
                decision = rule.decision
                reason = rule.reason or _default_reason(rule)
                if strength == _MAYBE:
                    if decision == "allow":
                        continue  # an allow must match for certain
                    decision = "ask"
                    reason = f"{self._unit_label(unit)} may match rule {rule.id!r} ({rule.decision}); a human must look"
                    why += " (may match: part of it is known only at run time)"
                elif rule.requires_prior:
                    lacking = [r for r in rule.requires_prior if r not in self.prior]
                    if lacking:
                        decision = "deny"
                        reason = f"rule {rule.id!r} requires a prior succeeded step in this session: {', '.join(lacking)}"
                        missing.extend(x for x in lacking if x not in missing)
                if rule.id not in matches:
                    matches[rule.id] = RuleMatch(rule.id, decision, why)
                    counted.append(rule)
                elif _RANK[decision] > _RANK[matches[rule.id].decision]:
                    matches[rule.id] = RuleMatch(rule.id, decision, why)
                if best is None or _RANK[decision] > best[0]:
                    best = (_RANK[decision], rule.id, reason)
            if best is None:
                unit_results.append(
                    (
                        unit,
                        self.p.default,
                        None,
                        f"no rule matches {self._unit_label(unit)} (default: {self.p.default})",
                    )
                )
            else:
                unit_results.append((unit, DECISIONS[best[0]], best[1], best[2]))

        # The strongest part decides; among equals, one a rule decided explains more than the default.
        top = max(unit_results, key=lambda u: (_RANK[u[1]], u[2] is not None))
        decision, rule_id, reason = top[1], top[2], top[3]
        floor = self._floor(too_big)
        if floor and (rule_id is None or _RANK[decision] < _RANK["ask"]):
            decision = decision if _RANK[decision] > _RANK["ask"] else "ask"
            rule_id, reason = "builtin:unparseable", floor
        builtin = self._builtin() if self.actor_kind == "agent" else None
        if builtin:
            decision, rule_id, reason = "deny", builtin[0], builtin[1]

        distinct = frozenset({"requester"}).union(*(r.distinct_from for r in counted))
        approvals = 0
        if decision == "ask":
            approvals = max([r.approvals for r in counted if matches[r.id].decision == "ask"] + [1])
        return Evaluation(
            decision=decision,
            rule=rule_id,
            rules=tuple(r.id for r in self.p.rules if r.id in matches),
            reason=_one_line(reason),
            approvals=approvals,
            distinct_from=distinct,
            missing_prior=tuple(missing),
            matches=tuple(matches[r.id] for r in self.p.rules if r.id in matches),
            parts=self._part_decisions(unit_results),
            unparseable=self.unparseable,
        )

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

    def _match(self, comp: _Compiled, unit: _Unit) -> tuple[int, str]:
        """How well a rule matches one unit of the action, and why (for explain)."""
        match = comp.rule.match
        whys: list[str] = []
        strength = _YES
        for key in comp.keys:
            values = match[key]
            if key == "tool":
                hit = self.tool is not None and next(
                    (v for v in values if fnmatch.fnmatchcase(self.tool, v)), None
                )
                if not hit:
                    return _NO, ""
                whys.append(f"tool {self.tool!r} matches {hit!r}")
            elif key == "kind":
                hit = self.kind is not None and next(
                    (v for v in values if fnmatch.fnmatchcase(self.kind, v)), None
                )
                if not hit:
                    return _NO, ""
                whys.append(f"kind {self.kind} matches {hit!r}")
            elif key == "url":
                url = _normal_url(self.url) if self.url is not None else None
                hit = url is not None and next((v for v in values if fnmatch.fnmatchcase(url, v)), None)
                if not hit:
                    return _NO, ""
                whys.append(f"url {self.url} matches {hit!r}")
            elif key == "paths":
                if unit.path is None:
                    return _NO, ""
                view = self.views[unit.path]
                hit = next((pat for pat, m in comp.paths if _match_path(pat, m, view)), None)
                if not hit:
                    return _NO, ""
                where = view.rel if view.rel is not None else f"{view.abs}, outside the project"
                whys.append(f"path {view.shown} ({where}) matches {hit!r}")
            elif key == "command":
                if unit.cmd is None:
                    return _NO, ""
                part = self.parts[unit.cmd]
                if comp.first_words is not None and 0 not in part.dynamic:
                    name = part.words[0]
                    if name not in comp.first_words and os.path.basename(name) not in comp.first_words:
                        return _NO, ""  # fast path: no pattern names this command
                best, hit = _NO, None
                for pat in comp.commands:
                    s = match_words(pat.words, part.words, part.dynamic)
                    if s > best:
                        best, hit = s, pat.source
                    if best == _YES:
                        break
                if best == _NO:
                    return _NO, ""
                strength = min(strength, best)
                whys.append(f"command part `{part.text()}` matches {hit!r}")
        return strength, "; ".join(whys)

    def _part_decisions(self, results: list[tuple[_Unit, str, str | None, str]]) -> tuple[PartDecision, ...]:
        out: list[PartDecision] = []
        for k, part in enumerate(self.parts):
            mine = [r for r in results if r[0].cmd == k]
            if mine:
                top = max(mine, key=lambda r: _RANK[r[1]])
                out.append(PartDecision(part.kind, part.text(), top[1], top[2], part.via))
        for k, view in enumerate(self.views):
            mine = [r for r in results if r[0].path == k]
            if mine:
                top = max(mine, key=lambda r: _RANK[r[1]])
                text = (
                    view.shown
                    if k == 0 or self.views[k - 1].shown != view.shown
                    else f"{view.shown} -> {view.abs}"
                )
                out.append(PartDecision("path", text, top[1], top[2]))
        return tuple(out)

    # -- built-in rules (DESIGN §6) --------------------------------------------------------------

    def _builtin(self) -> tuple[str, str] | None:
        guard = _Guard.get(self.root, self.protected)
        if self.kind in ("file.write", "file.delete"):
            for p in self.paths:
                if guard.covers(p):
                    return (
                        "builtin:protect-forge",
                        f"agents may not write under .forge/ or the key folder ({p})",
                    )
        if self.unparseable is not None and self.command is not None:
            low = self.command.casefold()
            if (
                ".forge" in low
                or "forge-tui" in low
                or "forge_tui" in low
                or guard.mentions_text(self.command)
            ):
                return (
                    "builtin:protect-forge",
                    "a command that cannot be analysed mentions .forge or forge-tui",
                )
        in_protected_cwd = False
        for part in self.parts:
            words = part.words
            if part.kind == "assign":
                continue
            if part.kind == "redirect":
                if in_protected_cwd or guard.covers_word(words[2], 2 in part.dynamic):
                    return (
                        "builtin:protect-forge",
                        f"agents may not write under .forge/ or the key folder ({words[2]})",
                    )
                continue
            sub = _forge_subcommand(part)
            if sub is not None and (sub == "?" or sub in _SELF_REVIEW):
                return (
                    "builtin:no-self-review",
                    "agents may not run forge-tui's reviewer, key, approve or reject commands",
                )
            name = os.path.basename(words[0]) if 0 not in part.dynamic else ""
            if (
                name in ("cd", "pushd")
                and len(words) > 1
                and guard.covers_word(words[-1], len(words) - 1 in part.dynamic)
            ):
                in_protected_cwd = True
                continue
            mentions = in_protected_cwd or any(
                guard.covers_word(w, k in part.dynamic) for k, w in enumerate(words) if k > 0
            )
            if mentions and not _reads_only(part):
                return (
                    "builtin:protect-forge",
                    f"agents may not change files under .forge/ or the key folder (`{part.text()}`)",
                )
        return None


_SELF_REVIEW = frozenset({"approve", "reject", "reviewer", "reviewers", "key", "keys", "init"})
_FORGE_READ_ONLY = frozenset({"verify", "log", "query", "policy", "trace", "status", "doctor", "browse"})
_READ_ONLY = frozenset(
    {
        "cat", "less", "more", "head", "tail", "grep", "egrep", "fgrep", "rg", "ag", "ls", "tree", "wc",
        "diff", "cmp", "stat", "file", "du", "jq", "md5sum", "sha1sum", "sha256sum", "sha512sum", "b2sum",
        "cksum", "realpath", "readlink", "basename", "dirname", "test", "[", "[[", "echo", "printf",
        "cd", "pushd", "popd", "pwd", "true", "false", "type", "which", "hexdump", "xxd", "od", "strings",
    }
)  # fmt: skip
_GIT_READ_ONLY = frozenset(
    {"status", "diff", "log", "show", "blame", "ls-files", "grep", "add", "commit", "rev-parse",
     "check-ignore", "check-attr", "cat-file", "shortlog", "describe"}
)  # fmt: skip
_FIND_WRITES = frozenset(
    {"-delete", "-exec", "-execdir", "-ok", "-okdir", "-fprint", "-fprint0", "-fprintf", "-fls"}
)


def _forge_subcommand(part: SimpleCommand) -> str | None:
    """The forge-tui subcommand a command part runs ("?" when it cannot tell), or None."""
    words = part.words
    start = None
    if 0 in part.dynamic and any(w in _SELF_REVIEW - {"init", "key", "keys"} for w in words):
        return "?"  # `$(which forge-tui) approve ...`: assume the worst
    for k, w in enumerate(words):
        if k in part.dynamic:
            continue
        base = os.path.basename(w)
        if base in ("forge-tui", "forge_tui") or (base.endswith(".py") and "forge_tui" in w):
            start = k + 1
            break
        if w == "-m" and k + 1 < len(words) and words[k + 1].split(".")[0] == "forge_tui":
            start = k + 2
            break
    if start is None:
        return None
    k = start
    while k < len(words):
        if k in part.dynamic:
            return "?"
        w = words[k]
        if w in ("-C", "--project"):
            k += 2
        elif w.startswith("-"):
            k += 1
        else:
            return w
    return None


def _reads_only(part: SimpleCommand) -> bool:
    """Whether a command part only reads the files it names (an allowlist: unknown means it may write)."""
    words = part.words
    if 0 in part.dynamic:
        return False
    name = os.path.basename(words[0])
    if name in _READ_ONLY:
        return True
    if name == "find":
        return not any(w in _FIND_WRITES for w in words)
    if name == "git":
        k = 1
        while k < len(words) and words[k].startswith("-"):
            k += 2 if words[k] in ("-C", "-c") else 1
        return k < len(words) and words[k] in _GIT_READ_ONLY
    sub = _forge_subcommand(part)
    return sub is not None and sub in _FORGE_READ_ONLY


def _word_candidates(word: str) -> list[str]:
    """The paths a shell word may name: itself (with `$HOME` as `~`), the value of `--out=PATH` or
    `of=PATH`, and the rest of a short option such as `-oPATH`."""
    text = re.sub(r"^(\$HOME|\$\{HOME\})(?=/|$)", "~", word)
    cands = [text]
    if "=" in text:
        cands.append(text.split("=", 1)[1])
    if re.match(r"-[A-Za-z]./?", text):
        cands.append(text[2:])
    return cands


class _Guard:
    """Tells whether a path (or a shell word) points under `.forge/` or a protected folder."""

    def __init__(self, root: str, protected: Sequence[Path]) -> None:
        self.root = root
        self.real_root = _trusted_realpath(root)
        dirs = [
            os.path.join(root, ".forge"),
            *(os.path.abspath(os.path.expanduser(str(d))) for d in protected),
        ]
        found: set[str] = set()
        resolved = [(root, self.real_root)]
        for d in dirs:
            n = os.path.normpath(d)
            real = _trusted_realpath(n)
            resolved.append((n, real))
            found.add(n.casefold())  # case-insensitive file systems: .FORGE is .forge
            found.add(real.casefold())
        self.dirs = sorted(found)
        # A path is covered when it is one of the folders or lies below one: `in` the set, or
        # startswith one of the prefixes (str.startswith takes the tuple, in C).
        self._dir_set = frozenset(self.dirs)
        self._prefixes = tuple(d.rstrip("/") + "/" for d in self.dirs)
        self._plans: dict[tuple[str, bool], bool | tuple[str, ...]] = {}  # see covers_word
        self.resolved = tuple(resolved)  # the trusted folders it resolved, and what they resolved to

    @classmethod
    def get(cls, root: str, protected: Sequence[Path]) -> _Guard:
        """A guard is a pure function of its arguments, $HOME, the working folder (for a relative
        protected folder) and the trusted realpaths it resolved: the last one built for the same inputs
        is reused while every one of those folders still resolves (`_trusted_realpath`) as it did."""
        protected = tuple(protected)
        cwd = os.getcwd() if any(not os.path.isabs(str(d)) for d in protected) else None
        key = (root, protected, os.environ.get("HOME"), cwd)
        guard = _guards.get(key)
        if guard is not None and all(_trusted_realpath(n) == real for n, real in guard.resolved):
            return guard
        guard = cls(root, protected)
        if len(_guards) >= 16:
            _guards.clear()
        _guards[key] = guard
        return guard

    def covers(self, raw: str) -> bool:
        if not raw:
            return False
        if ".forge" in raw.casefold().replace("\\", "/").split("/"):
            return True  # any .forge folder, also another project's or one reached through $VARS
        path = os.path.expanduser(raw) if raw.startswith("~") else raw
        lexical = os.path.normpath(os.path.join(self.root, path))
        for cand in (lexical.casefold(), self.realpath(lexical).casefold()):
            if cand in self._dir_set or cand.startswith(self._prefixes):
                return True
        return False

    def realpath(self, lexical: str) -> str:
        """os.path.realpath(lexical). For a name directly in the project root (most shell words) only the
        name itself can still be a link, the root being resolved already: one lstat instead of one per
        component of the root's path."""
        parent, name = os.path.split(lexical)
        if parent == self.root and name not in ("", ".", ".."):
            p = os.path.join(self.real_root, name)
            try:
                if not stat.S_ISLNK(os.lstat(p).st_mode):
                    return p
            except OSError:
                return p  # what realpath gives for a name that does not exist (or cannot be read)
        return os.path.realpath(lexical)

    def covers_word(self, word: str, dynamic: bool) -> bool:
        """A shell word: also `--out=PATH`, `of=PATH`, `-oPATH`, `$HOME/...` and globs like `.f*/p*`.

        What needs no file system (the candidates a word stands for, the folder test of their lexical
        paths, globs) is worked out once per word and guard (`_plan`); the realpath of each lexical
        path, which can change at any time, is resolved on every call."""
        key = (word, dynamic)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plan(word, dynamic)
            if plan is None:
                return self._covers_word_afresh(word, dynamic)
            if len(self._plans) >= 4096:
                self._plans.clear()
            self._plans[key] = plan
        if plan is True:
            return True
        for lexical in plan:
            cand = self.realpath(lexical).casefold()
            if cand in self._dir_set or cand.startswith(self._prefixes):
                return True
        return False

    def _plan(self, word: str, dynamic: bool) -> bool | tuple[str, ...] | None:
        """True (covered whatever the file system holds), the lexical paths whose realpath decides, or
        None for a word that names a home folder (`~...`: left to `_covers_word_afresh`)."""
        cands = _word_candidates(word)
        lexicals: list[str] = []
        for c in cands:
            if c.startswith("~"):
                return None
            if dynamic and re.search(r"[*?\[]", c):
                if self._glob_covers(c):
                    return True
                continue
            if not c:
                continue
            if ".forge" in c.casefold().replace("\\", "/").split("/"):
                return True
            lexical = os.path.normpath(os.path.join(self.root, c))
            folded = lexical.casefold()
            if folded in self._dir_set or folded.startswith(self._prefixes):
                return True
            lexicals.append(lexical)
        return tuple(lexicals)

    def _covers_word_afresh(self, word: str, dynamic: bool) -> bool:
        cands = _word_candidates(word)
        for c in cands:
            if dynamic and re.search(r"[*?\[]", c):
                if self._glob_covers(c):
                    return True
            elif self.covers(c):
                return True
        return False

    def _glob_covers(self, pattern: str) -> bool:
        path = os.path.expanduser(pattern) if pattern.startswith("~") else pattern
        comps = os.path.normpath(os.path.join(self.root, path)).casefold().split("/")
        for d in self.dirs:
            dcomps = d.split("/")
            if len(comps) >= len(dcomps) and all(
                fnmatch.fnmatchcase(dc, pc)
                and (pc.startswith(".") or not dc.startswith("."))  # bash: * skips dotfiles
                for pc, dc in zip(comps, dcomps, strict=False)
            ):
                return True
        return False

    def mentions_text(self, text: str) -> bool:
        low = text.casefold()
        return any(d in low for d in self.dirs if d != "/")


_guards: dict[tuple, _Guard] = {}


def _default_reason(rule: Rule) -> str:
    return {
        "allow": f"allowed by rule {rule.id!r}",
        "ask": f"rule {rule.id!r} requires approval",
        "deny": f"denied by rule {rule.id!r}",
    }[rule.decision]


def _one_line(text: str) -> str:
    return " ".join(text.split())


__all__ = [
    "ASSIGN",
    "DECISIONS",
    "KINDS",
    "OUTSIDE",
    "REDIRECT",
    "Evaluation",
    "PartDecision",
    "Policy",
    "RateLimiter",
    "Rule",
    "RuleMatch",
    "default_policy",
    "governing_rules",
    "load_policy",
    "match_words",
    "parse_duration",
    "parse_policy",
]
