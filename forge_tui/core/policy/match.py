"""Matching one rule's patterns against one part of an action (docs/policy.md, "Matching").

* command patterns: word by word against a normalised command (`normalize.CommandView`). The first
  word of a pattern is the program and matches the program word exactly (`ls*` is `ls` followed by
  any words; it never matches `lsof`). `*` alone stands for any number of words; a last word `x*`
  is a glob for one word followed by any words; other words are globs for one word. A flag cluster
  word of a normalised tool (`rm -rf`, `git push -uf`) matches a pattern cluster holding a subset of
  its letters. A dynamic word (`$X`, `$(...)`, globs) or a program named by a path outside the
  standard folders only ever "may match", which can make a deny or ask rule ask but never allows.
* the path word of a `<redirect>` pattern, and `paths` patterns: wcmatch globs (`**`, dot files,
  braces), relative patterns only for paths inside the project after `..` and links are resolved.
* `tool`, `kind`, `url`: fnmatch globs on the whole value (the URL normalised first).
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from forge_tui.core.fastinit import fast_init
from forge_tui.core.lazyre import LazyPattern
from forge_tui.core.policy.model import OUTSIDE, Rule

if TYPE_CHECKING:
    from forge_tui.core.policy.normalize import CommandView

NO, MAYBE, YES = 0, 1, 2  # how well a rule matches a part
_GLOB_CHARS = LazyPattern(globals(), r"[*?\[]")
MARKERS = ("<redirect>", "<assign>")


@fast_init
@dataclass(frozen=True)
class PathView:
    shown: str  # the path as the action gave it
    abs: str  # absolute, normalised (lexically, or resolved through links)
    rel: str | None  # relative to the project root, None when outside


@dataclass(frozen=True)
class Pattern:
    """A compiled command pattern."""

    source: str
    words: tuple[str, ...]
    clusters: frozenset[int] = frozenset()  # indices of flag-cluster words (`-rf` as the set {r, f})
    path_word: int | None = None  # the target of a `<redirect>` pattern, matched as a path
    path_matcher: Any = None
    # Derived (see __post_init__): each word's glob compiled (None: a literal, matched by equality);
    # the literal words after the program that a command part must hold; `prog *` alone.
    regexes: tuple[re.Pattern[str] | None, ...] = field(default=(), init=False, repr=False, compare=False)
    literals: tuple[str, ...] = field(default=(), init=False, repr=False, compare=False)
    any_tail: bool = field(default=False, init=False, repr=False, compare=False)
    # A pattern of a program and one-word patterns (no `*` word, no path word), with or without a last
    # `*`: the number of those words (the program's included), else None. Against a part without
    # dynamic words each of them matches exactly the word at its place (`match_command`).
    fixed: int | None = field(default=None, init=False, repr=False, compare=False)
    tail: bool = field(default=False, init=False, repr=False, compare=False)  # ... and a last `*`

    def __post_init__(self) -> None:
        w = self.words
        regexes = tuple(re.compile(fnmatch.translate(x)) if _GLOB_CHARS.search(x) else None for x in w)
        literals = tuple(
            x
            for i, x in enumerate(w)
            if i > 0 and regexes[i] is None and i not in self.clusters and i != self.path_word
        )
        object.__setattr__(self, "regexes", regexes)
        object.__setattr__(self, "literals", literals)
        object.__setattr__(self, "any_tail", len(w) == 2 and w[0] != "*" and w[1] == "*")
        tail = len(w) > 1 and w[-1] == "*"
        head = w[:-1] if tail else w
        if w[0] != "*" and "*" not in head and self.path_word is None:
            object.__setattr__(self, "fixed", len(head))
            object.__setattr__(self, "tail", tail)

    @property
    def program(self) -> str:
        return self.words[0]


@dataclass(frozen=True)
class Globs:
    """fnmatch globs compiled once: `first(value)` is `first_glob(patterns, value)`. A pattern without
    `*`, `?` or `[` is matched by equality (what fnmatch's translation of it matches), the others by
    the regular expression `fnmatch.fnmatchcase` compiles for them."""

    patterns: tuple[str, ...]
    regexes: tuple[re.Pattern[str] | None, ...]  # None: a literal

    @classmethod
    def of(cls, patterns: Iterable[str]) -> Globs:
        pats = tuple(patterns)
        return cls(
            pats, tuple(re.compile(fnmatch.translate(p)) if _GLOB_CHARS.search(p) else None for p in pats)
        )

    def first(self, value: str | None) -> str | None:
        if value is None:
            return None
        for pat, rx in zip(self.patterns, self.regexes, strict=True):
            if (value == pat) if rx is None else (rx.match(value) is not None):
                return pat
        return None


_NO_GLOBS = Globs((), ())


@dataclass(frozen=True)
class CompiledRule:
    rule: Rule
    commands: tuple[Pattern, ...]
    paths: tuple[tuple[str, Any], ...]  # (pattern, compiled path matcher or None for "<outside>")
    keys: tuple[str, ...]  # the match keys, cheapest first
    programs: frozenset[str] | None  # the programs its command patterns name; None if one is `*`
    kinds: Globs = _NO_GLOBS  # the `kind`, `tool` and `url` patterns, compiled
    tools: Globs = _NO_GLOBS
    urls: Globs = _NO_GLOBS
    # The command patterns that can match a part whose program word is known (`commands_for`).
    by_program: dict[str, tuple[Pattern, ...]] = field(default_factory=dict, compare=False)
    any_program: tuple[Pattern, ...] = ()  # those whose program word is `*`

    def commands_for(self, view: CommandView) -> tuple[Pattern, ...]:
        """The command patterns, in order, that can match `view` at all: for a part whose program word
        is known, a pattern naming another program matches NO (`match_command`), so it is left out."""
        if not view.words or 0 in view.dynamic:
            return self.commands
        return self.by_program.get(view.words[0], self.any_program)


def pattern_words(pattern: str) -> tuple[str, ...]:
    """Words of a command pattern. A program word `ls*` is `ls` followed by `*`; a last word `x*` (not
    `*` itself) gains an implicit `*` tail. Raises ValueError for a pattern the matcher cannot mean."""
    words = shlex.split(pattern)
    if not words:
        raise ValueError("the pattern has no words")
    first = words[0]
    if first != "*" and first.endswith("*") and not _GLOB_CHARS.search(first[:-1]):
        words = [first[:-1], "*", *words[1:]]
    elif first != "*" and _GLOB_CHARS.search(first):
        raise ValueError(
            f"the program word {first!r} is matched exactly: name the program (a trailing * means"
            " 'and any arguments')"
        )
    if words[-1] != "*" and words[-1].endswith("*"):
        words.append("*")
    return tuple(words)


def compile_pattern(source: str) -> Pattern:
    from forge_tui.core.policy.normalize import normalize_pattern

    words, clusters = normalize_pattern(pattern_words(source))
    path_word = None
    matcher = None
    if words[0] == "<redirect>" and len(words) >= 3 and words[2] != "*":
        path_word = 2
        matcher = compile_path(words[2])
    return Pattern(source, words, clusters, path_word, matcher)


def compile_rule(rule: Rule) -> CompiledRule:
    order = ("kind", "tool", "url", "paths", "command")
    commands = tuple(compile_pattern(p) for p in rule.match.get("command", ()))
    programs = None if any(p.program == "*" for p in commands) else frozenset(p.program for p in commands)
    return CompiledRule(
        rule,
        commands,
        tuple((p, compile_path(p)) for p in rule.match.get("paths", ())),
        tuple(k for k in order if k in rule.match),
        programs,
        Globs.of(rule.match.get("kind", ())),
        Globs.of(rule.match.get("tool", ())),
        Globs.of(rule.match.get("url", ())),
        {
            prog: tuple(p for p in commands if p.program in (prog, "*"))
            for prog in {p.program for p in commands}
        },
        tuple(p for p in commands if p.program == "*"),
    )


# -- commands --------------------------------------------------------------------------------------


def _cluster_letters(word: str) -> frozenset[str]:
    return frozenset(word[1:])


def _word_matches(pat: str, pat_is_cluster: bool, word: str, word_is_cluster: bool) -> bool:
    if word_is_cluster:
        if pat_is_cluster:
            return _cluster_letters(pat) <= _cluster_letters(word)
        if _GLOB_CHARS.search(pat):
            return fnmatch.fnmatchcase(word, pat) or any(
                fnmatch.fnmatchcase(f"-{c}", pat) for c in _cluster_letters(word)
            )
        return pat == word
    if pat_is_cluster:
        return False
    return fnmatch.fnmatchcase(word, pat)


def _compiled_word_matcher(pattern: Pattern) -> Callable[[int, str, bool], bool]:
    """`_word_matches` for the words of `pattern`, with the globs it compiled (fnmatch's own regexes)."""
    regexes, clusters, pw = pattern.regexes, pattern.clusters, pattern.words

    def word_matches(pi: int, word: str, word_is_cluster: bool) -> bool:
        pat, rx = pw[pi], regexes[pi]
        if word_is_cluster:
            if pi in clusters:
                return _cluster_letters(pat) <= _cluster_letters(word)
            if rx is not None:
                return rx.match(word) is not None or any(
                    rx.match(f"-{c}") is not None for c in _cluster_letters(word)
                )
            return pat == word
        if pi in clusters:
            return False
        return (pat == word) if rx is None else (rx.match(word) is not None)

    return word_matches


def match_command(pattern: Pattern, view: CommandView) -> int:
    """NO, MAYBE or YES: how `pattern` matches the normalised command part `view`.

    Two answers need no search: a pattern `prog *` matches whatever follows the program (what the
    program word allows); and a part without dynamic words cannot match a pattern one of whose literal
    words after the program (no glob, not a flag cluster, not a path) it does not hold, since only an
    equal word matches a literal one. Otherwise the search of `match_command_full`."""
    words, dynamic = view.words, view.dynamic
    if len(words) > 1000:
        return MAYBE
    first_cap = _first_cap(pattern, view)
    if first_cap == NO or pattern.any_tail:
        return first_cap
    if not dynamic and pattern.literals and not all(w in words for w in pattern.literals):
        return NO
    fixed = pattern.fixed
    if fixed is not None and not dynamic:
        # No dynamic word and no `*` but perhaps a last one: the search can only pair each pattern word
        # with the word at its place, and a last `*` takes whatever follows (the program word is
        # first_cap's).
        if len(words) < fixed or (len(words) > fixed and not pattern.tail):
            return NO
        word_matches = _compiled_word_matcher(pattern)
        clusters = view.clusters
        for i in range(1, fixed):
            if not word_matches(i, words[i], i in clusters):
                return NO
        return first_cap
    return _search(pattern, view, first_cap, _compiled_word_matcher(pattern))


def match_command_full(pattern: Pattern, view: CommandView) -> int:
    """`match_command` by the search alone, with fnmatch on every word: the reference the differential
    test (tests/unit/test_policy_fast.py) compares it with."""
    if len(view.words) > 1000:  # absurdly long: only "may match", which can never allow
        return MAYBE
    first_cap = _first_cap(pattern, view)
    if first_cap == NO:
        return NO
    pw = pattern.words

    def word_matches(pi: int, word: str, word_is_cluster: bool) -> bool:
        return _word_matches(pw[pi], pi in pattern.clusters, word, word_is_cluster)

    return _search(pattern, view, first_cap, word_matches)


def _first_cap(pattern: Pattern, view: CommandView) -> int:
    """The best the program word allows: NO when it names another program (or there is none)."""
    pw, words, dynamic = pattern.words, view.words, view.dynamic
    if pw[0] != "*":
        if not words:
            return NO
        if 0 in dynamic:
            return MAYBE
        if words[0] != pw[0]:
            return NO
        if not view.program_certain:
            return MAYBE  # ./git, /tmp/x/git: a program of that name, maybe not the one meant
    return YES


def _search(
    pattern: Pattern, view: CommandView, first_cap: int, word_matches: Callable[[int, str, bool], bool]
) -> int:
    pw, words, dynamic = pattern.words, view.words, view.dynamic
    memo: dict[tuple[int, int], int] = {}

    def m(pi: int, wi: int) -> int:
        key = (pi, wi)
        if key in memo:
            return memo[key]
        memo[key] = NO  # guards the dynamic-word recursion below against cycles
        if pi == len(pw):
            if wi == len(words):
                r = YES
            else:  # left-over dynamic words may expand to nothing
                r = MAYBE if all(k in dynamic for k in range(wi, len(words))) else NO
        elif pw[pi] == "*":
            r = m(pi + 1, wi)
            for k in range(wi, len(words)):
                if r == YES:
                    break
                r = max(r, m(pi + 1, k + 1))
        elif wi == len(words):
            r = NO
        elif wi in dynamic:
            # Could be this word, nothing, or several words: never more than "may match".
            r = min(MAYBE, max(m(pi + 1, wi + 1), m(pi, wi + 1), m(pi + 1, wi)))
        elif pi == 0:
            r = m(1, 1)  # the program word was checked above
        elif pi == pattern.path_word and wi == view.path_word:
            r = m(pi + 1, wi + 1) if _views_match(pw[pi], pattern.path_matcher, view.path_views) else NO
        elif word_matches(pi, words[wi], wi in view.clusters):
            r = m(pi + 1, wi + 1)
        else:
            r = NO
        memo[key] = r
        return r

    return min(first_cap, m(0, 0))


def _views_match(pattern: str, matcher: Any, views: tuple[PathView, ...]) -> bool:
    return bool(views) and all(match_path(pattern, matcher, v) for v in views)


def match_words(
    pattern: tuple[str, ...], words: tuple[str, ...], dynamic: frozenset[int] = frozenset()
) -> int:
    """NO (0), MAYBE (1) or YES (2) for pattern words against command words, as the policy matches
    them (the words are normalised first, as a command part's are)."""
    from forge_tui.core.policy.normalize import normalize_pattern, view_of_words

    pw, clusters = normalize_pattern(tuple(pattern))
    return match_command(Pattern(" ".join(pattern), pw, clusters), view_of_words(words, dynamic))


# -- paths -----------------------------------------------------------------------------------------


_NORMAL_ROOTS: dict[str, bool] = {}  # root -> whether it is absolute and normalised (pure, bounded)


def lexical_path(root: str, path: str) -> str:
    """os.path.normpath(os.path.join(root, path)). A relative path of plain names (no empty, "." or
    ".." component) below a root that is absolute and normalised is the two joined: no walk."""
    if path and path[0] != "/":
        normal = _NORMAL_ROOTS.get(root)
        if normal is None:
            if len(_NORMAL_ROOTS) >= 64:
                _NORMAL_ROOTS.clear()
            normal = _NORMAL_ROOTS[root] = os.path.isabs(root) and os.path.normpath(root) == root
        if normal:
            names = path.split("/")
            if "" not in names and "." not in names and ".." not in names:
                return root + "/" + path if root != "/" else "/" + path
    return os.path.normpath(os.path.join(root, path))


def relative(path: str, root: str) -> str | None:
    if path == root:
        return "."
    prefix = root.rstrip("/") + "/"
    return path[len(prefix) :] if path.startswith(prefix) else None


def realpath_below(lexical: str, root_prefix: str, real_root: str) -> str:
    """os.path.realpath(lexical), where `real_root` is the realpath of the folder `root_prefix` names
    (with its trailing "/"). For a normalised path below that folder only the components below it can
    still be links: one lstat per component below it (none after the first that does not exist)
    instead of one per component of the whole path. Any link among them: os.path.realpath resolves it."""
    if not lexical.startswith(root_prefix) or real_root == "/":
        return os.path.realpath(lexical)
    names = lexical[len(root_prefix) :].split("/")
    if "" in names or "." in names or ".." in names:  # not normalised: the general walk
        return os.path.realpath(lexical)
    p = real_root
    lstat = os.lstat
    for i, name in enumerate(names):
        p = p + "/" + name
        try:
            mode = lstat(p).st_mode
        except OSError:
            # What realpath gives: a name that does not exist (or cannot be read) is kept as it is,
            # and nothing below it can be read, so nothing below it is a link either.
            return "/".join((p, *names[i + 1 :]))
        if stat.S_ISLNK(mode):
            return os.path.realpath(lexical)
    return p


def path_views(
    raw: str, root: str, real_root: str, resolve_links: bool = True, resolved: dict[str, str] | None = None
) -> list[PathView]:
    """The path as written (normalised lexically) and, when different, where its links lead.
    `resolved` (lexical path -> realpath) lets one decision resolve a path once (see Guard.covers_word)."""
    expanded = os.path.expanduser(raw) if raw.startswith("~") else raw
    lexical = lexical_path(root, expanded or ".")
    views = [PathView(raw, lexical, relative(lexical, root))]
    if resolve_links:
        real = resolved.get(lexical) if resolved is not None else None
        if real is None:
            real = realpath_below(lexical, root.rstrip("/") + "/", real_root)
            if resolved is not None:
                resolved[lexical] = real
        if real != lexical:
            views.append(PathView(raw, real, relative(real, real_root)))
    return views


@dataclass(frozen=True)
class PathGlob:
    """A compiled wcmatch glob. Without the file-system flags (REALPATH), wcmatch's match is: one of the
    include regexes full-matches the path and none of the exclude ones does; `match` does that with
    the regexes wcmatch compiled, without its per-call objects. Anything else: wcmatch's own match."""

    wc: Any  # the wcmatch.glob.WcRegexp
    include: tuple[re.Pattern[str], ...] | None  # None: ask `wc`
    exclude: tuple[re.Pattern[str], ...]

    @classmethod
    def of(cls, wc: Any) -> PathGlob:
        inner = getattr(wc, "_matcher", None)  # wcmatch.glob.WcMatcher wraps a _wcmatch.WcRegexp
        include = getattr(inner, "_include", None)
        exclude = getattr(inner, "_exclude", None) or ()
        plain = (
            getattr(inner, "_real", True) is False
            and isinstance(include, tuple)
            and isinstance(exclude, tuple)
            and all(isinstance(p, re.Pattern) and isinstance(p.pattern, str) for p in (*include, *exclude))
        )
        return cls(wc, include if plain else None, exclude if plain else ())

    def match(self, path: str) -> bool:
        if self.include is None:
            return bool(self.wc.match(path))
        for rx in self.include:
            if rx.fullmatch(path):
                break
        else:
            return False
        return not any(rx.fullmatch(path) for rx in self.exclude)


def compile_path(pattern: str) -> PathGlob | None:
    if pattern == OUTSIDE:
        return None
    from wcmatch import glob as wcglob  # imported by the first path pattern compiled, not by this module

    flags = wcglob.GLOBSTAR | wcglob.DOTMATCH | wcglob.BRACE
    return PathGlob.of(
        wcglob.compile(os.path.expanduser(pattern) if pattern.startswith("~") else pattern, flags=flags)
    )


def match_path(pattern: str, matcher: Any, view: PathView) -> bool:
    """Absolute patterns see the absolute path; relative ones only paths inside the project."""
    if matcher is None:
        return view.rel is None
    if pattern.startswith(("/", "~")):
        return bool(matcher.match(view.abs))
    return view.rel is not None and bool(matcher.match(view.rel))


# -- urls ------------------------------------------------------------------------------------------


def normal_url(url: str) -> str:
    """Scheme and host lower-cased, user info dropped: `https://pypi.org@evil.example/` is evil.example."""
    from urllib.parse import urlsplit  # only a policy or an action with a URL needs it

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


def first_glob(values: Iterable[str], value: str | None) -> str | None:
    """The first of `values` (fnmatch globs) that matches `value`, or None."""
    if value is None:
        return None
    return next((v for v in values if fnmatch.fnmatchcase(value, v)), None)
