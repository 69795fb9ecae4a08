"""What a command part means, before any pattern sees it (docs/policy.md, "What the matcher normalises").

`normalize(part)` turns one simple command from `forge_tui.core.shell` into a `CommandView`:

* the program word: `/usr/bin/git` is `git` (standard folders only; `./git` stays "a git, maybe");
* git's global options (`-c k=v`, `-C dir`, `--git-dir`, `--work-tree`, `--no-pager`, ...) are taken
  out so `git -C x push` reads `git push`; a `-c` that can run code (aliases, pagers, hooks, ssh
  commands...) makes the part opaque;
* for the tools in `_TOOLS` (rm, cp, mv, chmod, git push/clean/branch/commit/...): options move before
  the operands, and short flags, also combined (`-uf`), become one flag-cluster word of sorted letters
  where the first of them stood, so `rm x -f -r`, `rm -fr x` and `rm --recursive --force x` all
  read `rm -fr x` (rm, cp, mv, ln, chmod, chown also fold their long spellings into the cluster);
  every spelling of a forced push (`-f`, `-uf`, `--force`, `--force-with-lease`, `--mirror`,
  `+refspec`) reads with both `-f` in its cluster and `--force`;
* the paths it writes (redirect targets, `--output=`, `--basetemp=`, `-o FILE`, `tee FILE`, `dd of=`,
  copy and move targets) and destroys (`rm`, `rmdir`, `mv` sources, `--basetemp`, `find -delete`);
* why its code cannot be seen, if so (`opaque`): inline code of an interpreter (`python -c`,
  `node -e`, `perl -e`, `bash -c`, awk programs), a shell reading standard input, `eval`, a program
  known only at run time, arithmetic or `-v` contexts (`[[ x -eq 1 ]]`, `test -v`, `printf -v`, `let`),
  aliases, and look-alike Unicode in the program word. Such a part is never allowed by the default or
  by a rule that does not name its program.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass, field

from forge_tui.core.fastinit import fast_init
from forge_tui.core.lazyre import LazyPattern
from forge_tui.core.policy.match import MARKERS, PathView, path_views
from forge_tui.core.shell import STANDARD_BIN_DIRS, XARGS_WORD, SimpleCommand


@fast_init
@dataclass(frozen=True)
class CommandView:
    """One command part as the matcher and the guard see it."""

    kind: str  # "command" | "redirect" | "assign"
    words: tuple[str, ...]  # normalised
    dynamic: frozenset[int] = frozenset()
    clusters: frozenset[int] = frozenset()
    program_certain: bool = True  # False: named by a path outside the standard folders
    opaque: str | None = None  # why the code it runs cannot be seen
    explicit: tuple[str, ...] = ()  # what an allow pattern must name besides the program (prefixes)
    writes: tuple[str, ...] = ()  # path words it writes
    destroys: tuple[str, ...] = ()  # path words it deletes or empties
    path_word: int | None = None  # index of the word matched as a path (a redirect target)
    path_views: tuple[PathView, ...] = ()
    source: SimpleCommand | None = field(default=None, compare=False)

    @property
    def program(self) -> str:
        return self.words[0] if self.words else ""

    def text(self) -> str:
        return self.source.text() if self.source is not None else " ".join(self.words)


@dataclass(frozen=True)
class _Tool:
    flags: str = ""  # short options without an argument
    with_arg: str = ""  # short options taking one
    long_to_flag: tuple[tuple[str, str], ...] = ()  # long option -> the short letter it means
    long_arg: frozenset[str] = frozenset()  # long options whose argument may be the next word


_TOOLS: dict[str, _Tool] = {
    "rm": _Tool(
        "fiIrRdv",
        "",
        (("force", "f"), ("recursive", "r"), ("dir", "d"), ("verbose", "v"), ("interactive", "i")),
    ),
    "rmdir": _Tool("pv", "", (("parents", "p"), ("verbose", "v"))),
    "cp": _Tool("abdfHiLlnPprRsTuvx", "tS", (("force", "f"), ("recursive", "r"), ("archive", "a"))),
    "mv": _Tool("bfinTuv", "tS", (("force", "f"), ("no-clobber", "n"))),
    "ln": _Tool("bdfiLnPrsTv", "tS", (("force", "f"), ("symbolic", "s"))),
    "chmod": _Tool("cfvR", "", (("recursive", "R"),)),
    "chown": _Tool("cfvRhHLP", "", (("recursive", "R"),)),
    "git push": _Tool(
        "fnquvd46",
        "o",
        (),
        frozenset({"repo", "push-option", "receive-pack", "exec"}),
    ),
    "git clean": _Tool("dfinqxX", "e", (), frozenset({"exclude"})),
    "git branch": _Tool("aCcDdfiMmqrlv", "tu"),
    "git commit": _Tool(
        "aenqsvpiozS",
        "mFCct",
        (),
        frozenset({"message", "file", "reuse-message", "reedit-message", "template", "author", "date"}),
    ),
    "git reset": _Tool("qpN"),
    "git checkout": _Tool("fqmp", "bBt"),
    "git switch": _Tool("fqmdt", "cC"),
}
_PUSH_FORCE_SPELLINGS = {"force", "force-with-lease", "force-if-includes", "mirror"}

# git's global options (before the subcommand): those that take the next word as their value.
_GIT_GLOBAL_ARG = frozenset(
    {"-C", "-c", "--git-dir", "--work-tree", "--namespace", "--super-prefix", "--config-env"}
)
_GIT_GLOBAL_FLAG = frozenset(
    {
        "-p", "-P", "--paginate", "--no-pager", "--bare", "--no-replace-objects", "--literal-pathspecs",
        "--glob-pathspecs", "--noglob-pathspecs", "--icase-pathspecs", "--no-optional-locks",
        "--no-advice", "--no-lazy-fetch",
    }
)  # fmt: skip
# `git -c NAME=VALUE` names that cannot make git run a program.
_GIT_SAFE_CONFIG = LazyPattern(
    globals(),
    r"(color|advice|column|i18n|log|format\.pretty|user\.(name|email)|init\.defaultbranch|"
    r"core\.quotepath|core\.autocrlf|pull\.rebase|push\.default|diff\.(renames|algorithm|context)|"
    r"status\.\w+|safe\.directory)(\..*)?",
    re.IGNORECASE,
)
# Options of git subcommands that name a program to run.
_GIT_EXEC_OPTIONS = (
    "--receive-pack", "--exec", "--upload-pack", "-u", "--upload-archive", "--extcmd", "--tool",
    "--exec-path", "-x",
)  # fmt: skip
_GIT_EXEC_SUBCOMMANDS = {
    "push": ("--receive-pack", "--exec"),
    "fetch": ("--upload-pack",),
    "pull": ("--upload-pack",),
    "clone": ("--upload-pack", "-u", "--config", "-c", "--template"),
    "ls-remote": ("--upload-pack",),
    "archive": ("--exec",),
    "rebase": ("--exec", "-x"),
    "difftool": ("--extcmd", "-x", "--tool", "-t"),
    "mergetool": ("--tool", "-t"),
    "submodule": ("foreach",),
    "bisect": ("run",),
    "config": ("alias.", "core.", "credential.", "diff.", "filter.", "merge."),
}

# Interpreters and the options that give them inline code.
_INLINE_CODE = {
    "python": ("-c",), "pypy": ("-c",), "node": ("-e", "--eval", "-p", "--print"),
    "nodejs": ("-e", "--eval", "-p", "--print"), "bun": ("-e", "--eval", "-p", "--print"),
    "deno": ("eval",), "perl": ("-e", "-E"), "ruby": ("-e",), "php": ("-r",), "lua": ("-e",),
    "luajit": ("-e",), "Rscript": ("-e",), "osascript": ("-e",), "tclsh": (), "jshell": (),
    "irb": (), "gdb": ("-ex", "--eval-command"), "vim": ("-c", "--cmd"), "nvim": ("-c", "--cmd"),
    "emacs": ("--eval",), "npx": ("-c", "--call"), "su": ("-c", "--command"),
    "runuser": ("-c", "--command"), "script": ("-c", "--command"), "flock": ("-c", "--command"),
}  # fmt: skip
_ALWAYS_CODE = frozenset(
    {"awk", "gawk", "mawk", "nawk", "busybox", "watch", "let", "alias", "unalias", "enable", "coproc"}
)
_SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "ash", "mksh", "yash", "fish", "csh", "tcsh"})
# Wrapper and tool names that a program outside the standard folders must not pass itself off as.
_LOOKALIKE_NAMES = frozenset(
    {"env", "command", "builtin", "exec", "sudo", "doas", "nice", "nohup", "timeout", "stdbuf", "setsid",
     "xargs", "time", "ionice", "eval", "git", "forge-tui"}
)  # fmt: skip
_SHELL_ARG_OPTIONS = frozenset({"-o", "+o", "-O", "+O", "--rcfile", "--init-file"})
_ASSIGNING = frozenset(
    {"declare", "typeset", "local", "export", "readonly", "unset", "read", "mapfile", "readarray"}
)
# Variables that choose which program or code runs: an assignment to one is code the gate cannot see.
_CODE_VARS = frozenset(
    {
        "PATH", "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "DYLD_INSERT_LIBRARIES", "DYLD_LIBRARY_PATH",
        "BASH_ENV", "ENV", "IFS", "SHELLOPTS", "BASHOPTS", "PROMPT_COMMAND", "PS4", "CDPATH",
        "GIT_SSH", "GIT_SSH_COMMAND", "GIT_EXTERNAL_DIFF", "GIT_PAGER", "PAGER", "GIT_EDITOR", "EDITOR",
        "VISUAL", "GIT_ASKPASS", "SSH_ASKPASS", "GIT_EXEC_PATH", "GIT_DIR", "GIT_WORK_TREE",
        "GIT_TEMPLATE_DIR", "GIT_PROXY_COMMAND", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME",
        "NODE_OPTIONS", "NODE_PATH", "PERL5OPT", "PERL5LIB", "PERLLIB", "RUBYOPT", "RUBYLIB",
        "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "MAKEFLAGS", "BROWSER", "LESSOPEN", "LESSCLOSE",
    }
)  # fmt: skip
_CODE_VAR_PREFIXES = ("GIT_CONFIG", "BASH_FUNC_", "LD_", "DYLD_")
_ARITH_OPS = frozenset({"-eq", "-ne", "-lt", "-le", "-gt", "-ge"})
_INTEGER = LazyPattern(globals(), r"[+-]?\d+")

# Options whose value is a path the command writes (also `--opt=PATH`), and those it empties first.
_WRITE_OPTIONS = frozenset(
    {
        "--output", "--out", "--outfile", "--output-file", "--output-document", "--out-file", "--log-file",
        "--logfile", "--junitxml", "--junit-xml", "--result-log", "--report-log", "--cache-dir",
        "--target-dir", "--out-dir", "--outdir", "--output-dir", "--output-directory", "--dest",
        "--destination", "--basetemp", "--save", "--dump", "--write", "--log", "--html-report",
    }
)  # fmt: skip
_DESTROY_OPTIONS = frozenset({"--basetemp"})
_DASH_O_WRITES = frozenset(
    {"curl", "gcc", "cc", "clang", "g++", "clang++", "go", "sort", "pandoc", "ld", "as", "wget", "objcopy",
     "rustc", "zig", "tcc", "openssl", "shasum", "uniq"}
)  # fmt: skip
_DESTROYERS = frozenset({"rm", "rmdir", "shred", "unlink", "srm", "trash", "truncate"})
_COPIERS = frozenset({"cp", "mv", "install", "ln", "rsync", "scp"})
_CREATORS = frozenset({"tee", "touch", "mkdir", "mkfifo", "mknod"})


def _program(word: str) -> tuple[str, bool]:
    """(the program name a command word runs, whether that is certain)."""
    if "/" not in word:
        return word, True
    folder, name = os.path.split(word)
    return name, re.sub("^/+", "/", os.path.normpath(folder)) in STANDARD_BIN_DIRS


def _has_format_chars(words: tuple[str, ...]) -> bool:
    return any(
        unicodedata.category(c) in ("Cf", "Co", "Cn", "Zl", "Zp")
        for w in words
        if not w.isascii()
        for c in w
        if ord(c) > 127
    )


def view_of_words(words: tuple[str, ...], dynamic: frozenset[int] = frozenset()) -> CommandView:
    """A view of bare words (no project: paths are not resolved)."""
    return normalize(SimpleCommand(tuple(words), frozenset(dynamic)), None, None)


def normalize(
    part: SimpleCommand,
    root: str | None,
    real_root: str | None,
    resolve_links: bool = True,
    resolved: dict[str, str] | None = None,
) -> CommandView:
    """`resolved` (lexical path -> realpath): the paths the decision resolved already (`path_views`)."""
    words = list(part.words)
    dynamic = set(part.dynamic)
    if not words:
        return CommandView("command", (), source=part)
    if words[0] == "<redirect>":
        views: tuple[PathView, ...] = ()
        if root is not None and len(words) > 2 and 2 not in dynamic:
            views = tuple(path_views(words[2], root, real_root or root, resolve_links, resolved))
        return CommandView(
            "redirect", tuple(words), frozenset(dynamic), writes=(words[2],), path_word=2,
            path_views=views, source=part,
        )  # fmt: skip
    if words[0] in MARKERS:
        name = words[1].split("=", 1)[0].rstrip("+") if len(words) > 1 else ""
        why = None
        if name in _CODE_VARS or name.startswith(_CODE_VAR_PREFIXES):
            why = f"`{name}=` changes which program or code runs"
        explicit = (f"{name}=",) if why else ()
        return CommandView(
            "assign", tuple(words), frozenset(dynamic), opaque=why, explicit=explicit, source=part
        )
    opaque: str | None = None
    certain = True
    never = ("\0",)  # no pattern word names this: no rule allows the part
    explicit: tuple[str, ...] = ()
    if 0 in dynamic:
        opaque = "the program is known only at run time"
    else:
        name, certain = (words[0], True) if "/" not in words[0] else _program(words[0])
        words[0] = name
        if not certain and (name in _LOOKALIKE_NAMES or name in _INLINE_CODE or name in _SHELLS):
            opaque = f"`{part.words[0]}` is not the standard `{name}`: what it runs cannot be seen"
            explicit = never
        elif not name.isascii():  # a character above 127: a look-alike?
            opaque = f"the program word {name!r} has characters outside ASCII (a look-alike?)"
            explicit = never
    if opaque is None and not "".join(part.words).isascii() and _has_format_chars(part.words):
        opaque = "invisible or format Unicode characters in the command"
        explicit = never
    clusters: set[int] = set()
    same = words[0] == part.words[0]  # the words (and dynamic ones) are still the part's
    if words[0] == "git" and 0 not in dynamic:
        words, dynamic, why = _strip_git_globals(words, dynamic)
        same = False
        if why and not opaque:
            opaque, explicit = why, never  # the option is gone from the words a pattern sees
    key = words[0] if words[0] != "git" or len(words) < 2 else f"git {words[1]}"
    tool = _TOOLS.get(key)
    if tool is not None:
        prefix = 2 if key.startswith("git ") else 1
        words, dynamic, clusters = _canonical(words, dynamic, prefix, tool, key)
        same = False
    if opaque is None:
        opaque = _opaque(words, dynamic)
        explicit = _explicit(words) if opaque else ()
    writes, destroys = _paths_written(words, dynamic, clusters)
    if same and type(part.words) is tuple and type(part.dynamic) is frozenset:
        out_words, out_dynamic = part.words, part.dynamic  # equal to tuple(words), frozenset(dynamic)
    else:
        out_words, out_dynamic = tuple(words), frozenset(dynamic)
    return CommandView(
        "command", out_words, out_dynamic, frozenset(clusters), certain, opaque, explicit,
        writes, destroys, source=part,
    )  # fmt: skip


def normalize_pattern(words: tuple[str, ...]) -> tuple[tuple[str, ...], frozenset[int]]:
    """A pattern's words as a command's are normalised (flag clusters of the known tools), without
    reordering: `rm -rf *` and `rm -r -f *` both read `rm -fr *`."""
    if not words or words[0] == "*":
        return words, frozenset()
    if "/" in words[0]:
        name, certain = _program(words[0])
        if certain:
            words = (name, *words[1:])
    key = words[0] if words[0] != "git" or len(words) < 2 else f"git {words[1]}"
    tool = _TOOLS.get(key)
    if tool is None:
        return words, frozenset()
    prefix = 2 if key.startswith("git ") else 1
    out = list(words[:prefix])
    letters: set[str] = set()
    at: int | None = None
    for w in words[prefix:]:
        flag = _flag_letters(w, tool)
        if flag is not None and not re.search(r"[*?\[]", w):
            if at is None:
                at = len(out)
                out.append("")
            letters |= flag
            continue
        out.append(w)
    clusters: frozenset[int] = frozenset()
    if at is not None:
        out[at] = "-" + "".join(sorted(letters))
        clusters = frozenset({at})
    return tuple(out), clusters


def _flag_letters(word: str, tool: _Tool) -> set[str] | None:
    """The short letters a flag word means (a cluster, or a long synonym), None if it is no such flag."""
    if word.startswith("--"):
        name = word[2:].split("=", 1)[0]
        for long, letter in tool.long_to_flag:
            if name == long:
                return {letter}
        return None
    if len(word) > 1 and word[0] == "-" and all(c in tool.flags for c in word[1:]):
        return {"r" if c == "R" and "R" in tool.flags and "r" in tool.flags else c for c in word[1:]}
    return None


def _strip_git_globals(words: list[str], dynamic: set[int]) -> tuple[list[str], set[int], str | None]:
    out = [words[0]]
    k = 1
    why: str | None = None
    while k < len(words):
        w = words[k]
        if k in dynamic:
            why = why or "a git option known only at run time"
            break
        name, eq, value = w.partition("=")
        if name in _GIT_GLOBAL_ARG:
            if not eq:
                value = words[k + 1] if k + 1 < len(words) else ""
                if k + 1 in dynamic:
                    why = why or "a git option value known only at run time"
                k += 1
            if name in ("-c", "--config-env") and not (
                name == "-c" and _GIT_SAFE_CONFIG.fullmatch(value.split("=", 1)[0])
            ):
                why = why or f"git {name} {value!r} can make git run a program"
            k += 1
            continue
        if w in _GIT_GLOBAL_FLAG:
            k += 1
            continue
        if name == "--exec-path" and eq:
            why = why or "git --exec-path chooses which programs git runs"
            k += 1
            continue
        break
    rest = words[k:]
    new_dyn = {0} & dynamic
    offset = k - 1
    for j in range(k, len(words)):
        if j in dynamic:
            new_dyn.add(j - offset)
    return out + rest, new_dyn, why


def _canonical(
    words: list[str], dynamic: set[int], prefix: int, tool: _Tool, key: str
) -> tuple[list[str], set[int], set[int]]:
    """Options before operands, short flags as one sorted cluster word (see the module docstring)."""
    letters: set[str] = set()
    options: list[tuple[str, bool]] = []
    operands: list[tuple[str, bool]] = []
    k = prefix
    ended = False
    force = False
    cluster_at: int | None = None  # where among the options the flag cluster goes (the first short flag)
    while k < len(words):
        w, dyn = words[k], k in dynamic
        k += 1
        if ended or dyn or w == "-" or not w.startswith("-"):
            if w == "--" and not ended and not dyn:
                ended = True
                continue
            if key == "git push" and not dyn and w.startswith("+"):
                force = True
            operands.append((w, dyn))
            continue
        if w.startswith("--"):
            name, eq, _ = w[2:].partition("=")
            flag = _flag_letters(w, tool)
            if flag is not None:
                letters |= flag
                continue
            if key == "git push" and name in _PUSH_FORCE_SPELLINGS:
                force = True
            options.append((w, False))
            if name in tool.long_arg and not eq and k < len(words):
                options.append((words[k], k in dynamic))
                k += 1
            continue
        j = 1
        if cluster_at is None and w[1] not in tool.with_arg:
            cluster_at = len(options)
        while j < len(w):
            c = w[j]
            if c in tool.with_arg:
                options.append((f"-{c}", False))
                if j + 1 < len(w):
                    options.append((w[j + 1 :], False))
                elif k < len(words):
                    options.append((words[k], k in dynamic))
                    k += 1
                break
            letters.add("r" if c == "R" and "r" in tool.flags else c)
            if key == "git push" and c == "f":
                force = True
            j += 1
    if force:
        letters.add("f")
        if ("--force", False) not in options:
            options.append(("--force", False))  # every spelling of a forced push also reads --force
    out = words[:prefix]
    new_dyn = {i for i in dynamic if i < prefix}
    clusters: set[int] = set()
    if letters and cluster_at is None:
        cluster_at = len(options)
    tail = options + ([("--", False)] if any(o.startswith("-") for o, _ in operands) else []) + operands
    for n, (w, dyn) in enumerate(tail):
        if n == cluster_at:
            clusters.add(len(out))
            out.append("-" + "".join(sorted(letters)))
        if dyn:
            new_dyn.add(len(out))
        out.append(w)
    if letters and cluster_at == len(tail):
        clusters.add(len(out))
        out.append("-" + "".join(sorted(letters)))
    return out, new_dyn, clusters


def _opaque(words: list[str], dynamic: set[int]) -> str | None:
    """Why this command runs code the gate cannot read, or None: `_opaque_full` for the programs it
    looks into (`_OPAQUE_PROGRAMS`, or a python/pypy name), None at once for every other program."""
    if (
        words
        and 0 not in dynamic
        and words[0] not in _OPAQUE_PROGRAMS
        and not words[0].startswith(("python", "pypy"))
    ):
        return None
    return _opaque_full(words, dynamic)


def _opaque_full(words: list[str], dynamic: set[int]) -> str | None:
    """Why this command runs code the gate cannot read, or None (every program word in `_OPAQUE_PROGRAMS`:
    tests/unit/test_policy_normalize_fast.py holds the two to it)."""
    if 0 in dynamic or not words:
        return None
    name = words[0]
    base = re.sub(r"[0-9.]+$", "", name) if name.startswith(("python", "pypy")) else name
    if name in _ALWAYS_CODE:
        return f"`{name}` runs code given as text (a program, an alias or a command string)"
    if name in ("eval", "source", "."):
        if name == "eval":
            return "`eval` runs a string as shell code"
        return None
    if name in _SHELLS:
        return _shell_opaque(words, dynamic)
    if base in _INLINE_CODE:
        opts = _INLINE_CODE[base]
        if not opts:
            return f"`{name}` reads code interactively or from standard input"
        for k, w in enumerate(words[1:], 1):
            if k in dynamic:
                continue
            if w in opts or any(w.startswith(o + "=") for o in opts if o.startswith("--")):
                return f"`{name} {w}` runs inline code the gate cannot read"
            if (
                len(w) > 2
                and w[0] == "-"
                and w[1] != "-"
                and any(o[1:] in w[1:] for o in opts if len(o) == 2)
            ):
                return f"`{name} {w}` runs inline code the gate cannot read"
        if base in ("python", "pypy") and (len(words) == 1 or words[1] == "-"):
            return f"`{name}` reads its program from standard input"
        if base in ("perl", "ruby", "node", "php") and len(words) == 1:
            return f"`{name}` reads its program from standard input"
        return None
    if name in ("[[", "test", "["):
        for k, w in enumerate(words):
            if w == "-v" and k in range(1, len(words)):
                return f"`{name} -v` evaluates an array subscript (code may run)"
            if name == "[[" and w in _ARITH_OPS:
                for op in (k - 1, k + 1):
                    if 0 < op < len(words) and (op in dynamic or not _INTEGER.fullmatch(words[op])):
                        return "`[[ ... " + w + " ... ]]` evaluates its operands as arithmetic (code may run)"
        return None
    if name == "printf" and "-v" in words[1:3]:
        return "`printf -v` assigns to a name that may hold an array subscript (code may run)"
    if name in _ASSIGNING:
        for k, w in enumerate(words[1:], 1):
            if k in dynamic or "[" in w.split("=", 1)[0]:
                return f"`{name}` with a name known only at run time or an array subscript (code may run)"
            var = w.split("=", 1)[0].rstrip("+")
            if var in _CODE_VARS or var.startswith(_CODE_VAR_PREFIXES):
                return f"`{name} {var}` changes which program or code runs"
        if name in ("declare", "typeset", "export") and any(
            w.startswith("-") and "f" in w for w in words[1:]
        ):
            return f"`{name} -f` defines or exports functions"
        return None
    if name == "shopt" and "expand_aliases" in words:
        return "`shopt expand_aliases` turns on aliases"
    if name == "hash" and "-p" in words:
        return "`hash -p` binds a command name to another program"
    if name == "git" and len(words) > 1:
        sub = words[1]
        for opt in _GIT_EXEC_SUBCOMMANDS.get(sub, ()):
            for w in words[2:]:
                if w == opt or w.startswith(opt + "=") or (opt.endswith(".") and w.lower().startswith(opt)):
                    return f"`git {sub} {w}` names a program or hook for git to run"
    if name in ("tar",) and any(
        w.startswith(("--to-command", "--checkpoint-action", "--use-compress-program", "-I"))
        for w in words[1:]
    ):
        return "`tar` told to run a program"
    if name in ("rsync",) and any(
        w in ("-e", "--rsh") or w.startswith(("--rsh=", "--rsync-path")) for w in words[1:]
    ):
        return "`rsync -e` names a program to run"
    if name in ("ssh", "scp", "sftp") and any("ProxyCommand" in w or "LocalCommand" in w for w in words[1:]):
        return f"`{name}` told to run a local command"
    if name == "find" and any(w in ("-exec", "-execdir", "-ok", "-okdir") for w in words[1:]):
        for k, w in enumerate(words):
            if w in ("-exec", "-execdir", "-ok", "-okdir") and k + 1 < len(words):
                inner = _program(words[k + 1])[0]
                if k + 1 in dynamic or inner in _SHELLS or inner in _ALWAYS_CODE or inner == "eval":
                    return "`find -exec` runs a shell or a program known only at run time"
        return None
    if name == "xargs":
        return "`xargs` without a command runs `echo`"  # only reached when shell.py kept it whole
    return None


# The program words `_opaque_full` can say something of (besides python*/pypy* names, whose version
# suffix it strips): any other program word gives None there.
_OPAQUE_PROGRAMS = frozenset(
    {*_ALWAYS_CODE, "eval", "source", ".", *_SHELLS, *_INLINE_CODE, "[[", "test", "[", "printf", *_ASSIGNING,
     "shopt", "hash", "git", "tar", "rsync", "ssh", "scp", "sftp", "find", "xargs"}
)  # fmt: skip


def _explicit(words: list[str]) -> tuple[str, ...]:
    """Besides the program, the option an allow pattern must name for an opaque part."""
    name = words[0]
    if name == "printf" or name in ("test", "[", "[["):
        return ("-v",) if "-v" in words else ()
    if name == "git" and len(words) > 1:
        for opt in _GIT_EXEC_SUBCOMMANDS.get(words[1], ()):
            for w in words[2:]:
                if w == opt or w.startswith(opt + "="):
                    return (opt,)
            if opt.endswith("."):
                return ("\0",)
    return ()


def _shell_opaque(words: list[str], dynamic: set[int]) -> str | None:
    name = words[0]
    k = 1
    while k < len(words):
        w = words[k]
        if k in dynamic:
            return f"`{name}` with an argument known only at run time"
        if w in _SHELL_ARG_OPTIONS:
            k += 2
            continue
        if w == "--":
            k += 1
            break
        if w.startswith("--"):
            k += 1
            continue
        if len(w) > 1 and w[0] in "-+":
            if "c" in w[1:]:
                return f"`{name} {w}` runs a command string"
            if "s" in w[1:] or "i" in w[1:]:
                return f"`{name} {w}` reads commands from standard input"
            k += 1
            continue
        break
    if k >= len(words):
        return f"`{name}` reads commands from standard input"
    if k in dynamic or words[k] == XARGS_WORD:
        return f"`{name}` runs a script known only at run time"
    return None


def _option_value(words: list[str], k: int) -> str | None:
    w = words[k]
    name, eq, value = w.partition("=")
    if eq:
        return value
    return words[k + 1] if k + 1 < len(words) else None


def _paths_written(
    words: list[str], dynamic: set[int], clusters: set[int]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(paths the command writes, paths it deletes or empties): the words as written."""
    writes: list[str] = []
    destroys: list[str] = []
    name = words[0] if words else ""
    dash_o = name in _DASH_O_WRITES
    dd = name == "dd"
    for k in range(1, len(words)):
        w = words[k]
        # Every option of _WRITE_OPTIONS starts with "--" (tests/unit/test_policy_normalize_fast.py).
        if w[:2] == "--" and (opt := w.split("=", 1)[0]) in _WRITE_OPTIONS:
            value = _option_value(words, k)
            if value:
                writes.append(value)
                if opt in _DESTROY_OPTIONS:
                    destroys.append(value)
        elif dash_o and w in ("-o", "-O", "--output") and k + 1 < len(words):
            writes.append(words[k + 1])
        elif dash_o and len(w) > 2 and w[:2] == "-o" and w[2] != "-":
            writes.append(w[2:])
        elif dd and w.startswith("of="):
            writes.append(w[3:])
    if name not in _DESTROYERS and name not in _COPIERS and name not in _CREATORS:
        operands = []  # not needed below
    else:
        operands = [
            w
            for k, w in enumerate(words[1:], 1)
            if k not in clusters and (k in dynamic or not w.startswith("-"))
        ]
    if name in _DESTROYERS:
        destroys.extend(operands)
        writes.extend(operands)
    elif name in _COPIERS and operands:
        writes.append(operands[-1])
        if name == "mv":
            destroys.extend(operands[:-1])
            writes.extend(operands[:-1])
        if name == "rsync" and any(w.startswith("--delete") for w in words):
            destroys.append(operands[-1])
    elif name in _CREATORS:
        writes.extend(operands)
    elif name == "find" and "-delete" in words:
        starts = [w for w in words[1:] if not w.startswith(("-", "(", "!"))]
        tests = [
            w for w in words[1:] if w.startswith("-") and w not in ("-delete", "-depth", "-xdev", "-mount")
        ]
        if not tests:  # `find DIR -delete` deletes DIR and all it holds
            destroys.extend(starts[:1] or ["."])
    elif (
        name == "git"
        and len(words) > 1
        and words[1] in ("checkout", "restore", "reset", "stash", "switch", "clean")
    ):
        pass  # paths under .forge are caught by the guard's word check
    return (
        tuple(dict.fromkeys(writes)) if writes else (),
        tuple(dict.fromkeys(destroys)) if destroys else (),
    )
