"""Split a shell command into the simple commands it would run (docs/design.md §8).

The policy never matches a raw command string: it matches the words of every simple command that a
command line contains, so `pytest; rm -rf /` is two commands and each must be allowed. This module is
a small, deliberately conservative parser for the POSIX/bash subset agents actually write. Whatever it
does not understand with confidence raises `Unparseable`, and the policy then answers at least "ask".

What `parse_command` returns, in source order (inner commands appear where they are found):

* every simple command, as its words after quote removal (`g\\it "push"` gives `git push`), with the
  indices of *dynamic* words: words whose value is only known at run time (`$VAR`, `${VAR}`, `$(...)`,
  backticks, `<(...)`, unquoted globs `* ? [..]`, brace expansion `{a,b}`). The policy treats a
  dynamic word as "could be anything": it may complete a deny/ask pattern but never an allow pattern;
* the commands inside `$(...)`, backticks, `<(...)`/`>(...)`, unquoted here-documents,
  `sh|bash|zsh|dash|ksh -c STRING`, `eval ARGS`, `trap STRING SIG`, `find ... -exec CMD ;` — split
  recursively, as commands of their own (`via` says where they came from);
* transparent wrappers are unwrapped to the command they run: `env`, `nohup`, `nice`, `timeout`,
  `stdbuf`, `setsid`, `exec`, `command`, `builtin`, `ionice`, `time`, `xargs` (which gets one extra
  dynamic word for the arguments read from stdin), named bare or from a standard folder
  (`STANDARD_BIN_DIRS`: `/usr/bin/env` is env, `./env` is a program of its own). `sudo`/`doas`,
  `sh -c STRING` and `eval STRING` are returned both whole and with what they run;
* **redirections that write a file** as pseudo commands `["<redirect>", OP, TARGET]`, where OP is the
  operator as written including a file descriptor (`>`, `>>`, `2>`, `&>`, `>|`, `<>`, `>&` with a file
  name). Reads (`<`, `<<<`), duplications (`2>&1`, `>&-`) and writes to `/dev/null`, `/dev/stdout`,
  `/dev/stderr`, `/dev/tty`, `/dev/fd/N` are stripped: they change no file;
* **variable assignments** that prefix a command (`FOO=1 cmd`, `env FOO=1 cmd`) or stand alone as
  pseudo commands `["<assign>", "NAME=value"]`: an assignment such as `GIT_SSH_COMMAND=...` or
  `PATH=.` changes what the command does, so the policy must see it.

Shell keywords that only sequence commands (`if then else elif fi while until do done ! { } time`) are
dropped; a `for NAME in WORDS` header is dropped (its substitutions are still returned). `case`,
function definitions, `((...))`, arrays, `${!x}`/`${x@P}` and other constructs with hidden execution
raise `Unparseable`.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass

from forge_tui.core.fastinit import fast_init
from forge_tui.core.lazyre import LazyPattern

REDIRECT = "<redirect>"
ASSIGN = "<assign>"
XARGS_WORD = "<stdin-args>"

_MAX_DEPTH = 12
_MAX_LEN = 256 * 1024
_MAX_PARTS = 2000
_META = frozenset(" \t\n;&|()<>")
_CONTROL = LazyPattern(globals(), r"[\x00-\x08\x0b-\x1f\x7f]")
_NAME = LazyPattern(globals(), r"[A-Za-z_][A-Za-z0-9_]*")
_ASSIGN_LEAD = LazyPattern(globals(), r"[A-Za-z_][A-Za-z0-9_]*\+?=")
_ARRAY_LEAD = LazyPattern(globals(), r"[A-Za-z_][A-Za-z0-9_]*\[")
_SPECIAL_PARAMS = frozenset("@*#?-$!0123456789")
_ARITH_SAFE = LazyPattern(globals(), r"[0-9\s+\-*/%<>=!&|^~?:(),]*")
_HEX_ESCAPE = LazyPattern(globals(), r"x([0-9A-Fa-f]{1,2})|u([0-9A-Fa-f]{1,4})|U([0-9A-Fa-f]{1,8})")
_OCTAL_ESCAPE = LazyPattern(globals(), r"[0-7]{1,3}")
_BRACE_EXPANSION = LazyPattern(globals(), r"\{[^{}]*(,|\.\.)[^{}]*\}")
# A plain line: one simple command of plain words between blanks. None of its characters is one the
# parser treats specially anywhere (operators, quotes, escapes, expansions, comments, globs, braces,
# test brackets, newlines), so every word is read literally, whole and not dynamic (`_Parser.plain`).
_PLAIN_LINE = LazyPattern(globals(), r"[^\n;&|()<>#\\'\"$`*?\[\]{}]*")
# A plain line without control characters (`_CONTROL`): one scan tells both.
_PLAIN_CLEAN_LINE = LazyPattern(globals(), r"[^\n;&|()<>#\\'\"$`*?\[\]{}\x00-\x08\x0b-\x1f\x7f]*")
# Redirection operators, longest first so `>>` is not read as `>`.
_REDIR_OPS = ("&>>", "&>", "<<<", "<<-", "<<", "<>", "<&", ">>", ">|", ">&", ">", "<")
_HARMLESS_TARGETS = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty"})
# Keywords that only sequence simple commands: dropped at command start.
_PREFIX_KEYWORDS = frozenset(
    {"if", "then", "else", "elif", "fi", "while", "until", "do", "done", "!", "{", "}"}
)
_SEQUENCING_WORDS = _PREFIX_KEYWORDS | {"time"}
_REFUSED_KEYWORDS = frozenset({"case", "esac", "function", "select", "coproc", "((", "in"})
_SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "ash", "mksh", "yash"})
# Folders whose programs are the ones their names say: `/usr/bin/env` is `env`, `./env` is not.
STANDARD_BIN_DIRS = frozenset(
    {"/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin", "/opt/homebrew/bin"}
)


class Unparseable(Exception):
    """The command uses shell syntax this splitter cannot analyse with confidence (never fail open)."""


@fast_init
@dataclass(frozen=True)
class SimpleCommand:
    """One simple command (or a `<redirect>` / `<assign>` pseudo command) of a command line."""

    words: tuple[str, ...]
    dynamic: frozenset[int] = frozenset()  # indices of words only known at run time
    via: str = ""  # how it was reached: "", "$(...)", "`...`", "sh -c", "eval", "xargs", "sudo", ...

    @property
    def kind(self) -> str:
        """ "redirect", "assign" or "command"."""
        if self.words and self.words[0] == REDIRECT:
            return "redirect"
        if self.words and self.words[0] == ASSIGN:
            return "assign"
        return "command"

    def text(self) -> str:
        """A readable one-line rendering (not guaranteed to re-parse to the same words)."""
        text = self.__dict__.get("_text")  # the command is immutable: rendered once
        if text is None:
            text = self._render()
            object.__setattr__(self, "_text", text)
        return text

    def _render(self) -> str:
        if self.kind != "command":  # "<redirect> > out.txt", "<assign> FOO=1": keep the markers bare
            if self.kind == "redirect":
                return f"{REDIRECT} {self.words[1]} {_display(self.words[2])}"
            return " ".join([self.words[0], *(_display(w) for w in self.words[1:])])
        return " ".join(w if k in self.dynamic else _display(w) for k, w in enumerate(self.words))


_NEEDS_QUOTES = LazyPattern(globals(), r"[\s'\"\\;&|()<>$`]")


def _display(word: str) -> str:
    if word and not _NEEDS_QUOTES.search(word):
        return word
    return "'" + word.replace("'", "'\\''") + "'"


def split_command(command: str) -> list[list[str]]:
    """The simple commands of `command`, each a list of words (see the module docstring).

    Raises `Unparseable` (and nothing else) for input it cannot analyse with confidence.
    """
    return [list(c.words) for c in parse_command(command)]


def parse_command(command: str) -> tuple[SimpleCommand, ...]:
    """Like `split_command`, with each command's dynamic words and origin.

    A pure function of the string, so the results for short commands are kept (bounded LRU): agents
    send the same command lines over and over. The result is immutable (a tuple of frozen commands);
    a refusal is remembered as its message and raised afresh each time."""
    if type(command) is str and len(command) <= _CACHE_MAX_LEN:
        result = _parse_cached(command)
        if type(result) is str:
            raise Unparseable(result)
        return result
    return _parse(command)


def clear_cache() -> None:
    """Forget the parsed command lines (forge_tui.core.policy.cache.CACHES.clear calls this)."""
    _parse_cached.cache_clear()


_CACHE_MAX_LEN = 1024  # longer command lines are parsed every time (the cache holds at most ~1 MiB of keys)


@functools.lru_cache(maxsize=1024)
def _parse_cached(command: str) -> tuple[SimpleCommand, ...] | str:
    try:
        return _parse(command)
    except Unparseable as exc:
        return str(exc)


def _parse(command: str) -> tuple[SimpleCommand, ...]:
    if not isinstance(command, str):
        raise Unparseable("the command is not a string")
    if len(command) > _MAX_LEN:
        raise Unparseable("the command is too long to analyse")
    plain = _PLAIN_CLEAN_LINE.fullmatch(command) is not None  # plain, and so without control characters
    if not plain and _CONTROL.search(command):
        raise Unparseable("the command contains control characters")
    if plain and command.isascii():
        simple = _plain_simple(command)
        if simple is not None:
            return simple
    out: list[SimpleCommand] = []
    try:
        if plain:
            _Parser(command, 0, out, "").plain()
        else:  # without control characters, not plain_clean is not _PLAIN_LINE
            _Parser(command, 0, out, "").parse(None)
    except RecursionError:  # deeply nested input: refuse rather than crash
        raise Unparseable("the command is nested too deeply") from None
    return tuple(out)


_NO_DYNAMIC: frozenset[int] = frozenset()


def _plain_simple(command: str) -> tuple[SimpleCommand, ...] | None:
    """What `_Parser.plain` gives for an ASCII plain line without control characters whose first word
    is an ordinary program (its first branch), without building a parser; None for any other line."""
    texts = command.split()  # ASCII, plain and without control characters: the blanks are space and tab
    if not texts or "/" in texts[0] or texts[0] in _LOOKED_INTO or _ASSIGN_LEAD.match(texts[0]):
        return None
    cmd = SimpleCommand(tuple(texts), _NO_DYNAMIC, "")
    object.__setattr__(cmd, "_text", " ".join(texts))  # as `_Parser.plain` sets it (see there)
    return (cmd,)


def parse_full(command: str) -> tuple[SimpleCommand, ...]:
    """`_parse` without the fast path for plain lines (`_Parser.plain`): what the differential test
    (tests/unit/test_shell_fast.py) compares the fast path with. Raises `Unparseable` as `_parse` does."""
    if _CONTROL.search(command):
        raise Unparseable("the command contains control characters")
    out: list[SimpleCommand] = []
    _Parser(command, 0, out, "").parse(None)
    return tuple(out)


@dataclass
class _Word:
    text: str
    dynamic: bool
    lead: str  # the unquoted literal prefix (assignment and keyword detection)
    quoted: bool  # any quoting or escaping in the word


class _Parser:
    def __init__(self, src: str, depth: int, out: list[SimpleCommand], via: str) -> None:
        if depth > _MAX_DEPTH:
            raise Unparseable("the command is nested too deeply")
        self.s = src
        self.i = 0
        self.depth = depth
        self.out = out
        self.via = via
        self.heredocs: list[tuple[str, bool, bool]] = []  # (delimiter, strip tabs, expands)

    # -- lists and operators -------------------------------------------------------------------

    def plain(self) -> None:
        """The fast path of `parse(None)` for a line `_PLAIN_LINE` matches. On such a line `parse` only
        ever skips blanks (space, tab) and reads words, and `_read_word` takes every other character
        literally: each word is its own text, its own unquoted lead, neither quoted nor dynamic (no
        glob or brace character). Then the same `_finish` as `parse` (keywords, assignments, wrappers).

        Most such lines are one ordinary command: a first word with no slash that is no keyword, no
        assignment and no program `_emit` looks into (shells, wrappers, eval, trap, find). For those,
        `_finish` and `_emit` only add the words as they are (`_add`): done here directly."""
        is_ascii = self.s.isascii()
        # On an ASCII plain line the only blanks are space and tab (newlines and the other ASCII
        # blanks are refused or not plain): `split()` splits it as the blanks do.
        texts = self.s.split() if is_ascii else [t for t in self.s.replace("\t", " ").split(" ") if t]
        if (
            texts
            and "/" not in texts[0]
            and texts[0] not in _LOOKED_INTO
            and not _ASSIGN_LEAD.match(texts[0])
        ):
            if len(self.out) >= _MAX_PARTS:
                raise Unparseable("the command has too many parts")
            cmd = SimpleCommand(tuple(texts), frozenset(), self.via)
            if is_ascii:
                # No word needs quotes to be shown (`_display`): the line holds none of the characters
                # `_NEEDS_QUOTES` names but blanks (space and tab, which split it; other ASCII blanks
                # are control characters or newlines, refused before): `text()` is the words joined.
                object.__setattr__(cmd, "_text", " ".join(texts))
            self.out.append(cmd)
            return
        self._finish([_Word(t, False, t, False) for t in texts], [])

    def parse(self, closer: str | None) -> None:
        """Parse a list of commands up to the end of input or, with closer=")", its matching ")"."""
        s = self.s
        cmd: list[_Word] = []
        redirs: list[tuple[str, _Word]] = []
        parens = 0
        dbracket = False
        while True:
            self._skip_blanks()
            if self.i >= len(s):
                if closer or parens:
                    raise Unparseable("unclosed '('")
                if dbracket:
                    raise Unparseable("unclosed '[['")
                self._finish(cmd, redirs)
                if self.heredocs:
                    raise Unparseable("here-document without its body")
                return
            c = s[self.i]
            if c == "\n":
                if dbracket:
                    raise Unparseable("newline inside '[[ ]]'")
                self._finish(cmd, redirs)
                self.i += 1
                self._read_heredocs()
                continue
            if c == "#":  # we are at the start of a word: a comment runs to the end of the line
                while self.i < len(s) and s[self.i] != "\n":
                    self.i += 1
                continue
            if dbracket:
                # Inside [[ ]] the operators < > && || ( ) are test syntax, not shell structure.
                if s.startswith("]]", self.i) and (self.i + 2 >= len(s) or s[self.i + 2] in _META):
                    self.i += 2
                    cmd.append(_Word("]]", False, "]]", False))
                    dbracket = False
                else:
                    cmd.append(self._read_word(dbracket=True))
                continue
            if s.startswith(";;", self.i) or s.startswith(";&", self.i):
                raise Unparseable("'case' syntax is not supported")
            if c == ";":
                self._finish(cmd, redirs)
                self.i += 1
                continue
            if s.startswith("&&", self.i) or s.startswith("||", self.i) or s.startswith("|&", self.i):
                self._finish(cmd, redirs)
                self.i += 2
                continue
            if c == "|" or (c == "&" and not s.startswith("&>", self.i)):
                self._finish(cmd, redirs)
                self.i += 1
                continue
            if c == "(":
                if cmd or redirs:
                    raise Unparseable("'(' inside a command (function definition or array)")
                if s.startswith("((", self.i):
                    raise Unparseable("arithmetic commands '((' are not supported")
                parens += 1
                self.i += 1
                continue
            if c == ")":
                self._finish(cmd, redirs)
                self.i += 1
                if parens:
                    parens -= 1
                    continue
                if closer == ")":
                    if self.heredocs:
                        raise Unparseable("here-document inside a substitution without its body")
                    return
                raise Unparseable("unbalanced ')'")
            if c in "<>" and s.startswith("(", self.i + 1):
                cmd.append(self._process_substitution())
                continue
            if c in "<>" or s.startswith("&>", self.i):
                self._redirect("", redirs)
                continue
            word = self._read_word()
            nxt = s[self.i] if self.i < len(s) else ""
            if nxt in ("<", ">") and not word.quoted and not s.startswith("(", self.i + 1):
                if word.text.isdigit():
                    self._redirect(word.text, redirs)
                    continue
                if re.fullmatch(r"\{[A-Za-z_][A-Za-z0-9_]*\}", word.text):
                    raise Unparseable("named file descriptors are not supported")
            if not cmd and not word.quoted and word.text == "[[":
                dbracket = True
            cmd.append(word)

    def _skip_blanks(self) -> None:
        s = self.s
        while self.i < len(s):
            if s[self.i] in " \t":
                self.i += 1
            elif s.startswith("\\\n", self.i):  # line continuation
                self.i += 2
            else:
                break

    def _finish(self, cmd: list[_Word], redirs: list[tuple[str, _Word]]) -> None:
        """Turn the words collected so far into simple commands; empties both lists."""
        words = list(cmd)
        cmd.clear()
        pending = list(redirs)
        redirs.clear()
        # Keywords that merely sequence commands; `time -p` is the keyword form of `time`.
        while words and _plain(words[0]) and words[0].text in _SEQUENCING_WORDS:
            kw = words.pop(0).text
            if kw == "time" and words and _plain(words[0]) and words[0].text == "-p":
                words.pop(0)
        if words and _plain(words[0]) and words[0].text in _REFUSED_KEYWORDS:
            raise Unparseable(f"'{words[0].text}' is not supported")
        if words and _plain(words[0]) and words[0].text == "for":
            # `for NAME in WORDS`: the header runs nothing itself (substitutions were already returned).
            if (
                len(words) < 2
                or not _NAME.fullmatch(words[1].text)
                or (len(words) > 2 and words[2].text != "in")
            ):
                raise Unparseable("unsupported 'for' loop")
            words = []
        assigns: list[_Word] = []
        while words and _ASSIGN_LEAD.match(words[0].lead):
            assigns.append(words.pop(0))
        if words and _ARRAY_LEAD.match(words[0].lead) and "]=" in words[0].text:
            raise Unparseable("array element assignments are not supported")
        for a in assigns:
            self._add([_Word(ASSIGN, False, "", False), a], self.via)
        if words:
            self._emit(words, self.via, 0)
        for op, target in pending:
            self._add([_Word(REDIRECT, False, "", False), _Word(op, False, "", False), target], self.via)

    def _add(self, words: list[_Word], via: str) -> None:
        if len(self.out) >= _MAX_PARTS:
            raise Unparseable("the command has too many parts")
        self.out.append(
            SimpleCommand(
                tuple(w.text for w in words), frozenset(k for k, w in enumerate(words) if w.dynamic), via
            )
        )

    def _sub(self, text: str, via: str) -> None:
        """Split `text` (a string the shell will itself parse and run) recursively."""
        _Parser(text, self.depth + 1, self.out, via).parse(None)

    # -- wrappers and commands that run other commands --------------------------------------------

    def _emit(self, words: list[_Word], via: str, level: int) -> None:
        if level > 8:
            raise Unparseable("too many nested command wrappers")
        first = words[0]
        if first.dynamic:
            self._add(words, via)
            return
        name = os.path.basename(first.text) if "/" in first.text else first.text
        if "/" in first.text and _folder(first.text) not in STANDARD_BIN_DIRS:
            self._add(words, via)  # ./env, /tmp/x/sudo: not the wrapper its name says
            return
        rest = words[1:]
        if name in _SHELLS:
            self._shell(words, via)
        elif name == "eval":
            if any(w.dynamic for w in rest):
                raise Unparseable("eval of a value known only at run time")
            self._add(words, via)  # the policy sees the eval itself (code as a string)
            if rest:
                self._sub(" ".join(w.text for w in rest), "eval")
        elif name == "trap" and len(rest) >= 2 and not rest[0].text.startswith("-"):
            if rest[0].dynamic:
                raise Unparseable("trap of a value known only at run time")
            self._sub(rest[0].text, "trap")
        elif name == "find":
            self._add(words, via)
            self._find_exec(words, via, level)
        elif name in _WRAPPERS:
            spec = _WRAPPERS[name]
            k = _skip_options(rest, spec)
            if name == "command" and any(w.text in ("-v", "-V") for w in rest[:k]):
                self._add(words, via)  # `command -v x` only looks x up
                return
            if name == "env":
                while k < len(rest) and _ASSIGN_LEAD.match(rest[k].lead):
                    self._add([_Word(ASSIGN, False, "", False), rest[k]], "env")
                    k += 1
            if name == "timeout":
                k += 1  # the duration
            inner = rest[k:]
            if not inner:
                self._add(words, via)
                return
            if name in ("sudo", "doas"):
                self._add(words, via)  # privilege change: visible to the policy as a command of its own
            if name == "xargs":
                inner = [*inner, _Word(XARGS_WORD, True, "", True)]
            self._emit(inner, name, level + 1)
        else:
            self._add(words, via)

    def _shell(self, words: list[_Word], via: str) -> None:
        """`sh -c STRING` runs STRING: split it. Other shell invocations are ordinary commands."""
        k = 1
        has_c = False
        while k < len(words):
            w = words[k]
            t = w.text
            if w.dynamic:
                raise Unparseable("shell option known only at run time")
            if t in ("-o", "+o", "-O", "+O", "--rcfile", "--init-file"):
                k += 2
                continue
            if t.startswith("--"):
                if t == "--":
                    k += 1
                    break
                if t in ("--login", "--norc", "--noprofile", "--posix", "--noediting", "--restricted"):
                    k += 1
                    continue
                if has_c:
                    raise Unparseable(f"unknown shell option {t}")
                break
            if len(t) > 1 and t[0] in "-+":
                has_c = has_c or "c" in t[1:]
                k += 1
                continue
            break
        if not has_c:
            self._add(words, via)
            return
        if k >= len(words):
            raise Unparseable("'-c' without a command string")
        if words[k].dynamic:
            raise Unparseable("shell -c of a value known only at run time")
        self._add(words, via)  # the shell itself, then what it runs
        self._sub(words[k].text, f"{os.path.basename(words[0].text)} -c")

    def _find_exec(self, words: list[_Word], via: str, level: int) -> None:
        k = 0
        while k < len(words):
            if words[k].text in ("-exec", "-execdir", "-ok", "-okdir") and not words[k].quoted:
                end = k + 1
                while end < len(words) and words[end].text not in (";", "+"):
                    end += 1
                if end >= len(words) or end == k + 1:
                    raise Unparseable("find -exec without its ';' or '+'")
                self._emit(words[k + 1 : end], "find -exec", level + 1)
                k = end
            k += 1

    # -- redirections and here-documents --------------------------------------------------------

    def _redirect(self, fd: str, redirs: list[tuple[str, _Word]]) -> None:
        s = self.s
        op = next(o for o in _REDIR_OPS if s.startswith(o, self.i))
        self.i += len(op)
        self._skip_blanks()
        if self.i >= len(s) or s[self.i] in _META:
            raise Unparseable(f"redirection '{op}' without a target")
        if op in ("<<", "<<-"):
            delim = self._read_word()
            if delim.dynamic:
                raise Unparseable("here-document delimiter known only at run time")
            self.heredocs.append((delim.text, op == "<<-", not delim.quoted))
            return
        if s.startswith("(", self.i + 1) and s[self.i] in "<>":
            raise Unparseable("redirection from a process substitution")
        target = self._read_word()
        if op in (">&", "<&") and not target.dynamic and (target.text == "-" or target.text.isdigit()):
            return  # duplicating or closing a descriptor writes no file
        if op == "<&":
            raise Unparseable("'<&' with a file name")
        if op in ("<", "<<<"):
            return
        if not target.dynamic and (
            target.text in _HARMLESS_TARGETS or re.fullmatch(r"/dev/fd/\d+", target.text)
        ):
            return
        redirs.append((fd + op, target))

    def _read_heredocs(self) -> None:
        s = self.s
        for delim, strip_tabs, expands in self.heredocs:
            body: list[str] = []
            while True:
                if self.i >= len(s):
                    raise Unparseable(f"here-document not terminated by {delim!r}")
                end = s.find("\n", self.i)
                end = len(s) if end < 0 else end
                line = s[self.i : end]
                self.i = end + 1
                if (line.lstrip("\t") if strip_tabs else line) == delim:
                    break
                body.append(line)
            if expands:  # an unquoted delimiter: $(...) and backticks in the body run
                sub = _Parser("\n".join(body), self.depth + 1, self.out, "here-doc")
                sub._double_quoted(None)
        self.heredocs = []
        self.i = min(self.i, len(s))

    # -- words ---------------------------------------------------------------------------------

    def _read_word(self, dbracket: bool = False) -> _Word:
        s = self.s
        n = len(s)
        start = self.i
        buf: list[str] = []
        unquoted: list[str] = []  # the word with quoted parts masked, for glob/brace detection
        lead: list[str] = []
        lead_open = True
        dynamic = False
        quoted = False
        while self.i < n:
            c = s[self.i]
            if c in " \t\n" or (not dbracket and c in _META):
                break
            if c == "\\":
                if self.i + 1 >= n:
                    raise Unparseable("trailing backslash")
                if s[self.i + 1] == "\n":
                    self.i += 2
                    continue
                buf.append(s[self.i + 1])
                self.i += 2
            elif c == "'":
                end = s.find("'", self.i + 1)
                if end < 0:
                    raise Unparseable("unclosed single quote")
                buf.append(s[self.i + 1 : end])
                self.i = end + 1
            elif c == '"':
                self.i += 1
                text, dyn = self._double_quoted('"')
                buf.append(text)
                dynamic |= dyn
            elif c == "$":
                if s[self.i + 1 : self.i + 2] in ("'", '"'):
                    quoted = True  # $'...' and $"..." are quoting
                text, dyn = self._dollar(in_dq=False)
                if not dyn and text == "$":  # a lone literal dollar
                    buf.append(text)
                    unquoted.append(text)
                    if lead_open:
                        lead.append(text)
                    continue
                buf.append(text)
                dynamic |= dyn
            elif c == "`":
                buf.append(self._backtick(in_dq=False))
                dynamic = True
            else:
                buf.append(c)
                unquoted.append(c)
                if lead_open:
                    lead.append(c)
                self.i += 1
                continue
            # Only the branches above that quote, escape or expand get here.
            quoted = quoted or c in "\\'\""
            lead_open = False
            unquoted.append("\0")
        if self.i == start:
            raise Unparseable(f"unexpected {s[self.i]!r}")
        raw = "".join(unquoted)
        if not dbracket and (
            "*" in raw or "?" in raw or re.search(r"\[[^\]]*\]", raw) or _BRACE_EXPANSION.search(raw)
        ):
            dynamic = True  # pathname or brace expansion: the real words are known only at run time
        return _Word("".join(buf), dynamic, "".join(lead), quoted)

    def _double_quoted(self, end: str | None) -> tuple[str, bool]:
        """Read a double-quoted string's content (or a whole here-document body when end is None)."""
        s = self.s
        buf: list[str] = []
        dynamic = False
        while True:
            if self.i >= len(s):
                if end:
                    raise Unparseable("unclosed double quote")
                return "".join(buf), dynamic
            c = s[self.i]
            if end and c == end:
                self.i += 1
                return "".join(buf), dynamic
            if c == "\\" and self.i + 1 < len(s) and s[self.i + 1] in '$`"\\\n':
                if s[self.i + 1] != "\n":
                    buf.append(s[self.i + 1])
                self.i += 2
            elif c == "$":
                text, dyn = self._dollar(in_dq=True)
                buf.append(text)
                dynamic |= dyn
            elif c == "`":
                buf.append(self._backtick(in_dq=True))
                dynamic = True
            else:
                buf.append(c)
                self.i += 1

    def _dollar(self, in_dq: bool) -> tuple[str, bool]:
        """Read an expansion starting at '$': returns (text for the word, is it dynamic)."""
        s = self.s
        start = self.i
        nxt = s[start + 1] if start + 1 < len(s) else ""
        if nxt == "'" and not in_dq:
            return self._ansi_c(), False
        if nxt == '"' and not in_dq:  # $"..." (locale translation) reads like "..."
            self.i += 2
            return self._double_quoted('"')
        if s.startswith("$((", start):
            depth = 0
            k = start + 1
            while k < len(s):
                if s[k] == "(":
                    depth += 1
                elif s[k] == ")":
                    depth -= 1
                    if depth == 0:
                        break
                k += 1
            else:
                raise Unparseable("unclosed '$(('")
            inner = s[start + 3 : k - 1]
            if not s.startswith("))", k - 1) or not _ARITH_SAFE.fullmatch(inner):
                # Variables in arithmetic are evaluated recursively, e.g. a[$(cmd)]: hidden execution.
                raise Unparseable("arithmetic expansion with names or substitutions")
            self.i = k + 1
            return s[start : self.i], True
        if nxt == "(":
            self.i = start + 2
            sub = _Parser(s, self.depth + 1, self.out, "$(...)")
            sub.i = self.i
            sub.parse(")")
            self.i = sub.i
            return s[start : self.i], True
        if nxt == "{":
            end = s.find("}", start + 2)
            if end < 0:
                raise Unparseable("unclosed '${'")
            _check_parameter(s[start + 2 : end])
            self.i = end + 1
            return s[start : self.i], True
        m = _NAME.match(s, start + 1)
        if m:
            self.i = m.end()
            return s[start : self.i], True
        if nxt and nxt in _SPECIAL_PARAMS:
            self.i = start + 2
            return s[start : self.i], True
        self.i = start + 1
        return "$", False

    def _ansi_c(self) -> str:
        """$'...' with backslash escapes decoded."""
        s = self.s
        k = self.i + 2
        buf: list[str] = []
        simple = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v", "e": "\x1b"}
        simple |= {"E": "\x1b", "\\": "\\", "'": "'", '"': '"', "?": "?"}
        while k < len(s):
            c = s[k]
            if c == "'":
                self.i = k + 1
                return "".join(buf)
            if c != "\\":
                buf.append(c)
                k += 1
                continue
            e = s[k + 1] if k + 1 < len(s) else ""
            if e in simple:
                buf.append(simple[e])
                k += 2
                continue
            m = _HEX_ESCAPE.match(s, k + 1)
            if m:
                code = int(next(g for g in m.groups() if g), 16)
                if code == 0 or code > 0x10FFFF:
                    raise Unparseable("NUL or invalid code point in $'...'")
                buf.append(chr(code))
                k = m.end()
                continue
            m = _OCTAL_ESCAPE.match(s, k + 1)
            if m:
                code = int(m.group(0), 8)
                if code == 0:
                    raise Unparseable("NUL in $'...'")
                buf.append(chr(code))
                k = m.end()
                continue
            raise Unparseable(f"unsupported escape in $'...': \\{e}")
        raise Unparseable("unclosed $'...'")

    def _backtick(self, in_dq: bool) -> str:
        s = self.s
        start = self.i
        k = start + 1
        inner: list[str] = []
        while k < len(s):
            c = s[k]
            if c == "\\" and k + 1 < len(s):
                e = s[k + 1]
                inner.append(e if e in ("`$\\" + ('"' if in_dq else "")) else c + e)
                k += 2
                continue
            if c == "`":
                self.i = k + 1
                self._sub("".join(inner), "`...`")
                return s[start : self.i]
            inner.append(c)
            k += 1
        raise Unparseable("unclosed backtick")

    def _process_substitution(self) -> _Word:
        start = self.i
        sub = _Parser(self.s, self.depth + 1, self.out, self.s[start] + "(...)")
        sub.i = start + 2
        sub.parse(")")
        self.i = sub.i
        if self.i < len(self.s) and self.s[self.i] not in _META:
            raise Unparseable("process substitution glued to a word")
        return _Word(self.s[start : self.i], True, "", True)


def _folder(path: str) -> str:
    """The folder of a command word, normalised (`//usr//bin/../bin/git` is in /usr/bin)."""
    return re.sub("^/+", "/", os.path.dirname(os.path.normpath(path)))


def _plain(word: _Word) -> bool:
    return not word.quoted and not word.dynamic


def _check_parameter(content: str) -> None:
    """Accept `${NAME}`, `${#NAME}` and simple operators; refuse forms that can run code."""
    m = re.match(r"#?(?:[A-Za-z_][A-Za-z0-9_]*|[0-9]+|[@*#?$!-])", content)
    if not m:
        raise Unparseable(f"unsupported parameter expansion ${{{content}}}")
    rest = content[m.end() :]
    if not rest:
        return
    # ${x:-w} ${x-w} ${x:=w} ${x#p} ${x%p} ${x/a/b} ${x^} ${x,}: fine unless the operand expands or
    # is arithmetic (${x:1:2}, a[...]) — arithmetic evaluates names recursively and can run code.
    if rest[0] == ":" and (len(rest) < 2 or rest[1] not in "-=+?"):
        raise Unparseable(f"substring expansion ${{{content}}} is not supported")
    if rest[0] not in ":-=+?#%/^," or any(ch in rest for ch in "$`(){}[]@\\'\"!"):
        raise Unparseable(f"unsupported parameter expansion ${{{content}}}")


@dataclass(frozen=True)
class _Options:
    with_arg: str = ""  # short options that take an argument
    no_arg: str = ""  # short options without one
    long_arg: frozenset[str] = frozenset()
    long_no_arg: frozenset[str] = frozenset()


_WRAPPERS: dict[str, _Options] = {
    # env -S/--split-string re-splits a string: refused as an unknown option.
    "env": _Options("uC", "i0v", frozenset({"unset", "chdir"}), frozenset({"ignore-environment", "null"})),
    "nohup": _Options(),
    "setsid": _Options("", "fwc", frozenset(), frozenset({"fork", "wait", "ctty"})),
    "nice": _Options("n", "0123456789", frozenset({"adjustment"})),
    "timeout": _Options(
        "sk",
        "v",
        frozenset({"signal", "kill-after"}),
        frozenset({"preserve-status", "foreground", "verbose"}),
    ),
    "stdbuf": _Options("ioe", "", frozenset({"input", "output", "error"})),
    "exec": _Options("a", "cl"),
    "command": _Options("", "pvV"),
    "builtin": _Options(),
    "xargs": _Options(
        "IdEeLlnPsa",
        "0iprtx",
        frozenset(
            {
                "arg-file",
                "delimiter",
                "eof",
                "replace",
                "max-lines",
                "max-args",
                "max-procs",
                "max-chars",
                "process-slot-var",
            }
        ),
        frozenset({"null", "interactive", "no-run-if-empty", "verbose", "exit", "open-tty"}),
    ),
    "sudo": _Options(
        "ugCDhprtUTR",
        "AbEHnPSkKsi",
        frozenset(
            {
                "user",
                "group",
                "close-from",
                "chdir",
                "host",
                "prompt",
                "role",
                "type",
                "other-user",
                "command-timeout",
                "chroot",
            }
        ),
        frozenset(
            {
                "askpass",
                "background",
                "preserve-env",
                "set-home",
                "non-interactive",
                "stdin",
                "shell",
                "login",
                "reset-timestamp",
            }
        ),
    ),
    "doas": _Options("uC", "ns"),
    "ionice": _Options("cnpP", "tu", frozenset({"class", "classdata", "pid", "pgid", "uid"})),
    "time": _Options(
        "fo",
        "pvaq",
        frozenset({"format", "output"}),
        frozenset({"portability", "verbose", "append", "quiet"}),
    ),
}


# First words that `_finish` or `_emit` treat specially (see `_Parser.plain`).
_LOOKED_INTO = frozenset(
    _SEQUENCING_WORDS | _REFUSED_KEYWORDS | _SHELLS | set(_WRAPPERS) | {"for", "eval", "trap", "find"}
)


def _skip_options(words: list[_Word], spec: _Options) -> int:
    """Index of the first word after a wrapper's options; unknown options are refused."""
    k = 0
    while k < len(words):
        w = words[k]
        t = w.text
        if w.dynamic and t.startswith("-"):
            raise Unparseable("wrapper option known only at run time")
        if t == "--":
            return k + 1
        if t.startswith("--"):
            name, eq, _ = t[2:].partition("=")
            if name in spec.long_no_arg and not eq:
                k += 1
            elif name in spec.long_arg:
                k += 1 if eq else 2
            else:
                raise Unparseable(f"unknown wrapper option {t}")
            continue
        if len(t) > 1 and t.startswith("-") and not w.dynamic:
            j = 1
            while j < len(t):
                ch = t[j]
                if ch in spec.with_arg:
                    if j + 1 == len(t):
                        k += 1  # the argument is the next word
                    break
                if ch not in spec.no_arg:
                    raise Unparseable(f"unknown wrapper option {t}")
                j += 1
            k += 1
            continue
        return k
    return k
