"""The built-in rules no policy lifts (docs/design.md §6), applied to every request whatever its actor claims.

* protect-forge: nothing may change `.forge/` (of any project) or a protected folder (the data folder
  with the keys and authoritative ledgers, `Context.protected_dirs`): no file.write/file.delete path
  under one, no redirect or written path (`--output=`, `-o`, `tee`, ...) under one, no command that
  names one unless it only reads, and nothing may delete or empty a folder that holds one (`rm -rf ~`,
  `pytest --basetemp=<a parent of the data folder>`), after `..` and symbolic links are resolved;
* nothing may read a private folder either (a file.read path, or any command word naming one);
* no-self-review: no `forge-tui approve|reject|reviewer|key|init`;
* a command that cannot be analysed and mentions `.forge`, forge-tui or a protected folder is denied.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from forge_tui.core.fastinit import fast_init
from forge_tui.core.lazyre import LazyPattern
from forge_tui.core.policy.cache import CACHES, TRUSTED_TTL_S
from forge_tui.core.policy.match import lexical_path, realpath_below
from forge_tui.core.policy.normalize import CommandView


def data_folder() -> Path:
    """The user data folder (keys, authoritative ledgers, anchors), located without creating it: the
    same place `forge_tui.paths.data_root` uses."""
    env = os.environ.get("FORGE_DATA_DIR")
    if env:
        return Path(env)
    from platformdirs import user_data_path

    return user_data_path("forge-tui")


@fast_init
@dataclass(frozen=True)
class BuiltinHit:
    """A built-in rule that denies the action, and the part of it that made it."""

    rule: str  # "builtin:protect-forge" | "builtin:no-self-review"
    reason: str
    part: int | None = None  # index of the command part, if a command part did it
    path: str | None = None  # the action path, if one did it


def check_builtins(
    guard: Guard,
    private: Guard,
    kind: str | None,
    paths: Sequence[str],
    views: Sequence[CommandView],
    command: str | None,
    unparseable: str | None,
    resolved: dict[str, str] | None = None,
) -> BuiltinHit | None:
    """The first built-in rule the action breaks, or None. `resolved` (lexical path -> realpath): the
    paths this decision resolved already (the evaluator's path views); filled in as words are resolved."""
    protect = "builtin:protect-forge"
    secret = "agents may not read or change the data folder (keys, ledgers)"
    seen: dict[str, str] = {} if resolved is None else resolved  # both guards ask about each word
    for p in paths:
        if private.covers(p, seen):
            return BuiltinHit(protect, f"{secret}: {p}", path=p)
    if kind in ("file.write", "file.delete"):
        for p in paths:
            if guard.covers(p, seen) or (kind == "file.delete" and guard.holds_protected(p, seen)):
                return BuiltinHit(
                    protect, f"agents may not write under .forge/ or the data folder ({p})", path=p
                )
    if unparseable is not None and command is not None:
        low = command.casefold()
        if ".forge" in low or "forge-tui" in low or "forge_tui" in low or guard.mentions_text(command):
            return BuiltinHit(protect, "a command that cannot be analysed mentions .forge or forge-tui")
    in_protected_cwd = False
    for n, part in enumerate(views):
        words = part.words
        if part.kind == "assign":
            continue
        if part.kind == "redirect":
            if in_protected_cwd or guard.covers_word(words[2], 2 in part.dynamic, seen):
                return BuiltinHit(
                    protect, f"agents may not write under .forge/ or the data folder ({words[2]})", part=n
                )
            continue
        sub = _forge_subcommand(part)
        if sub is not None and (sub == "?" or sub in _SELF_REVIEW):
            return BuiltinHit(
                "builtin:no-self-review",
                "agents may not run forge-tui's reviewer, key, approve or reject commands",
                part=n,
            )
        for w in part.destroys:
            if guard.covers_word(w, False, seen) or guard.holds_protected(w, seen):
                return BuiltinHit(
                    protect,
                    f"agents may not delete or empty a folder holding .forge/ or the data folder ({w})",
                    part=n,
                )
        for w in part.writes:
            if guard.covers_word(w, False, seen):
                return BuiltinHit(
                    protect, f"agents may not write under .forge/ or the data folder ({w})", part=n
                )
        name = words[0] if 0 not in part.dynamic else ""
        source = part.source.words if part.source is not None else words
        if (
            name in ("cd", "pushd")
            and len(words) > 1
            and guard.covers_word(words[-1], len(words) - 1 in part.dynamic, seen)
        ):
            in_protected_cwd = True
            continue
        src_dyn = part.source.dynamic if part.source is not None else part.dynamic
        # The words `guard` covers. `private` covers no word `guard` does not (its folders are among
        # guard's, which adds .forge): only those words can name a private folder, checked in order.
        named = [k for k, w in enumerate(source) if k > 0 and guard.covers_word(w, k in src_dyn, seen)]
        for k in named:
            if private.covers_word(source[k], k in src_dyn, seen):
                return BuiltinHit(protect, f"{secret} (`{part.text()}`)", part=n)
        mentions = in_protected_cwd or bool(named)
        if mentions and not _reads_only(part):
            return BuiltinHit(
                protect,
                f"agents may not change files under .forge/ or the data folder (`{part.text()}`)",
                part=n,
            )
    return None


_HOME_VAR = LazyPattern(globals(), r"^(\$HOME|\$\{HOME\})(?=/|$)")  # `$HOME/x` names what `~/x` names
_SHORT_OPTION_PATH = LazyPattern(globals(), r"-[A-Za-z]./?")  # `-oPATH`
_GLOB = LazyPattern(globals(), r"[*?\[]")
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


def _forge_subcommand(part: CommandView) -> str | None:
    """The forge-tui subcommand a command part runs ("?" when it cannot tell), or None."""
    words = part.words
    start = None
    if 0 in part.dynamic and any(w in _SELF_REVIEW - {"init", "key", "keys"} for w in words):
        return "?"  # `$(which forge-tui) approve ...`: assume the worst
    if "forge" not in " ".join(words):
        return None  # each way below of naming forge-tui has "forge" in a word
    for k, w in enumerate(words):
        if k in part.dynamic:
            continue
        base = os.path.basename(w) if "/" in w else w
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


def _reads_only(part: CommandView) -> bool:
    """Whether a command part only reads the files it names (an allowlist: unknown means it may write).
    `part` is normalised: git's global options are gone, so words[1] is git's subcommand."""
    words = part.words
    if 0 in part.dynamic or part.opaque or part.writes or not part.program_certain:
        return False
    name = words[0]
    if name in _READ_ONLY:
        return True
    if name == "find":
        return not any(w in _FIND_WRITES for w in words)
    if name == "git":
        return len(words) > 1 and 1 not in part.dynamic and words[1] in _GIT_READ_ONLY
    sub = _forge_subcommand(part)
    return sub is not None and sub in _FORGE_READ_ONLY


def _word_candidates(word: str) -> list[str]:
    """The paths a shell word may name: itself (with `$HOME` as `~`), the value of `--out=PATH` or
    `of=PATH`, and the rest of a short option such as `-oPATH`."""
    text = _HOME_VAR.sub("~", word) if "$" in word else word
    cands = [text]
    if "=" in text:
        cands.append(text.split("=", 1)[1])
    if _SHORT_OPTION_PATH.match(text):
        cands.append(text[2:])
    return cands


# The protected folders `Guard.pair` was last asked about, their names as strings (cheaper to hash as
# a key than paths) and whether one is relative (then the working folder is an input of the guard).
_PROTECTED_SEEN: tuple[tuple, tuple[str, ...], bool] = ((), (), False)

_Shape = tuple[tuple[str, str | None, str, bool] | None, ...]


@functools.lru_cache(maxsize=4096)
def _word_shape(root: str, word: str, dynamic: bool) -> _Shape:
    """What `Guard._plan` needs to know of a word that does not depend on the guard, candidate by
    candidate in order (a pure function of its arguments): None for one naming a home folder (`~...`);
    (glob, None, "", False) for a run-time glob; else (candidate, its lexical path under `root`, that
    casefolded, whether a component is named `.forge`). Empty candidates are left out."""
    out: list[tuple[str, str | None, str, bool] | None] = []
    for c in _word_candidates(word):
        if c.startswith("~"):
            out.append(None)
            break
        if dynamic and _GLOB.search(c):
            out.append((c, None, "", False))
            continue
        if not c:
            continue
        lexical = lexical_path(root, c)
        out.append((c, lexical, lexical.casefold(), ".forge" in c.casefold().replace("\\", "/").split("/")))
    return tuple(out)


class Guard:
    """Tells whether a path (or a shell word) points under `.forge/` or a protected folder."""

    def __init__(self, root: str, protected: Sequence[Path], include_forge: bool = True) -> None:
        self.root = root
        self.forge = include_forge  # False: only the private folders (nothing may even read them)
        self.real_root = CACHES.trusted_realpath(root)
        self._root_prefix = root.rstrip("/") + "/"
        dirs = [
            *([os.path.join(root, ".forge")] if include_forge else []),
            *(os.path.abspath(os.path.expanduser(str(d))) for d in protected),
        ]
        found: set[str] = set()
        resolved = [(root, self.real_root)]
        for d in dirs:
            n = os.path.normpath(d)
            real = CACHES.trusted_realpath(n)
            resolved.append((n, real))
            found.add(n.casefold())  # case-insensitive file systems: .FORGE is .forge
            found.add(real.casefold())
        self.dirs = sorted(found)
        # A path is covered when it is one of the folders or lies below one: `in` the set, or
        # startswith one of the prefixes (str.startswith takes the tuple, in C).
        self._dir_set = frozenset(self.dirs)
        self._prefixes = tuple(d.rstrip("/") + "/" for d in self.dirs)
        self._plans: dict[tuple[str, bool], bool | tuple[str, ...]] = {}  # see covers_word
        self._entries: tuple[tuple[str, tuple[float, str] | None], ...] = ()  # see _remember_entries
        self.resolved = tuple(resolved)  # the trusted folders it resolved, and what they resolved to

    @classmethod
    def get(cls, root: str, protected: Sequence[Path], include_forge: bool = True) -> Guard:
        """A guard is a pure function of its arguments, $HOME, the working folder (for a relative
        protected folder) and the trusted realpaths it resolved: the last one built for the same inputs
        is reused while every one of those folders still resolves (`_trusted_realpath`) as it did."""
        protected = tuple(protected)
        cwd = os.getcwd() if any(not os.path.isabs(str(d)) for d in protected) else None
        return cls._get((root, protected, os.environ.get("HOME"), cwd, include_forge))

    @classmethod
    def pair(cls, root: str, protected: Sequence[Path]) -> tuple[Guard, Guard]:
        """`(Guard.get(root, protected), Guard.get(root, protected, include_forge=False))`, the two
        guards of one decision, with their common inputs read once."""
        global _PROTECTED_SEEN
        protected = tuple(protected)
        seen = _PROTECTED_SEEN
        if seen[0] is protected:  # the same tuple as the last decision's (one context's)
            names, relative = seen[1], seen[2]
        else:
            names = tuple([str(d) for d in protected])  # what the guard reads of them
            relative = any(not os.path.isabs(n) for n in names)
            _PROTECTED_SEEN = (protected, names, relative)  # holds `protected`: its id stays its own
        cwd = os.getcwd() if relative else None
        home = os.environ.get("HOME")
        return cls._get((root, names, home, cwd, True)), cls._get((root, names, home, cwd, False))

    @classmethod
    def _get(cls, key: tuple) -> Guard:
        root, protected, _, _, include_forge = key
        guard = CACHES.guards.get(key)
        if guard is not None:
            if guard._unexpired(time.monotonic()):
                return guard
            if all(CACHES.trusted_realpath(n) == real for n, real in guard.resolved):
                guard._remember_entries()
                return guard
        guard = cls(root, protected, include_forge)
        guard._remember_entries()
        if len(CACHES.guards) >= CACHES.max_guards:
            CACHES.guards.clear()
        CACHES.guards[key] = guard
        return guard

    def _remember_entries(self) -> None:
        """Note the trusted-realpath cache entries this guard was (re)validated against: while each is
        still the very entry in the cache and unexpired, `CACHES.trusted_realpath` gives what it gave,
        so the guard is valid without asking again (`_unexpired`)."""
        table = CACHES.trusted_real
        self._entries = tuple((n, table.get(n)) for n, _ in self.resolved)

    def _unexpired(self, now: float) -> bool:
        table = CACHES.trusted_real
        for n, entry in self._entries:
            if entry is None or table.get(n) is not entry or not now - entry[0] < TRUSTED_TTL_S:
                return False
        return bool(self._entries)

    def covers(self, raw: str, resolved: dict[str, str] | None = None) -> bool:
        if not raw:
            return False
        if self.forge and ".forge" in raw.casefold().replace("\\", "/").split("/"):
            return True  # any .forge folder, also another project's or one reached through $VARS
        path = os.path.expanduser(raw) if raw.startswith("~") else raw
        lexical = lexical_path(self.root, path)
        for cand in (lexical.casefold(), self.realpath(lexical, resolved).casefold()):
            if cand in self._dir_set or cand.startswith(self._prefixes):
                return True
        return False

    def realpath(self, lexical: str, resolved: dict[str, str] | None = None) -> str:
        """os.path.realpath(lexical). For a path below the project root (most shell words) only the
        components below the root can still be links, the root being resolved already
        (`match.realpath_below`). `resolved` (lexical path -> realpath): resolve a path once per decision."""
        if resolved is not None:
            real = resolved.get(lexical)
            if real is None:
                real = resolved[lexical] = realpath_below(lexical, self._root_prefix, self.real_root)
            return real
        return realpath_below(lexical, self._root_prefix, self.real_root)

    def covers_word(self, word: str, dynamic: bool, resolved: dict[str, str] | None = None) -> bool:
        """A shell word: also `--out=PATH`, `of=PATH`, `-oPATH`, `$HOME/...` and globs like `.f*/p*`.

        What needs no file system (the candidates a word stands for, the folder test of their lexical
        paths, globs) is worked out once per word and guard (`_plan`); the realpath of each lexical
        path, which can change at any time, is resolved on every call, or once per decision when the
        caller passes `resolved` (lexical path -> realpath, shared by the guards of one decision)."""
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
            cand = self.realpath(lexical, resolved).casefold()
            if cand in self._dir_set or cand.startswith(self._prefixes):
                return True
        return False

    def _plan(self, word: str, dynamic: bool) -> bool | tuple[str, ...] | None:
        """True (covered whatever the file system holds), the lexical paths whose realpath decides, or
        None for a word that names a home folder (`~...`: left to `_covers_word_afresh`). The part that
        does not depend on the guard is `_word_shape` (shared by the guards of a decision)."""
        lexicals: list[str] = []
        for entry in _word_shape(self.root, word, dynamic):
            if entry is None:
                return None
            c, lexical, folded, forge_named = entry
            if lexical is None:
                if self._glob_covers(c):
                    return True
                continue
            if self.forge and forge_named:
                return True
            if folded in self._dir_set or folded.startswith(self._prefixes):
                return True
            lexicals.append(lexical)
        return tuple(lexicals)

    def _covers_word_afresh(self, word: str, dynamic: bool) -> bool:
        cands = _word_candidates(word)
        for c in cands:
            if dynamic and _GLOB.search(c):
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

    def holds_protected(self, word: str, resolved: dict[str, str] | None = None) -> bool:
        """Whether the path a word names is a folder holding a protected one (deleting or emptying it
        deletes the keys, the ledgers or `.forge`): the project root itself, `~`, `/`..."""
        text = _HOME_VAR.sub("~", word) if "$" in word else word
        if not text or "$" in text:
            return False
        path = os.path.expanduser(text) if text.startswith("~") else text
        lexical = lexical_path(self.root, path)
        for cand in {lexical.casefold(), self.realpath(lexical, resolved).casefold()}:
            prefix = cand.rstrip("/") + "/"
            if any(d == cand or d.startswith(prefix) for d in self.dirs):
                return True
        return False

    def mentions_text(self, text: str) -> bool:
        low = text.casefold()
        return any(d in low for d in self.dirs if d != "/")
