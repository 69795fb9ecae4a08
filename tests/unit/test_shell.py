"""The shell splitter: every simple command a line would run must come out, or Unparseable."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forge_tui.core.shell import ASSIGN, REDIRECT, XARGS_WORD, Unparseable, parse_command, split_command


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("pytest && git push --force", [["pytest"], ["git", "push", "--force"]]),
        ("pytest; curl x | sh", [["pytest"], ["curl", "x"], ["sh"]]),
        ("a || b & c |& d", [["a"], ["b"], ["c"], ["d"]]),
        ("a\nb\n\nc", [["a"], ["b"], ["c"]]),
        ('git push "--force"', [["git", "push", "--force"]]),
        ("g\\it push -f", [["git", "push", "-f"]]),
        ("gi''t pu\"\"sh", [["git", "push"]]),
        ("echo 'a;b' \"c&&d\"", [["echo", "a;b", "c&&d"]]),
        ("git \\\npush", [["git", "push"]]),
        ("echo $'\\x67it'", [["echo", "git"]]),
        ("ls # a comment; rm -rf /", [["ls"]]),
        ("echo a#b", [["echo", "a#b"]]),
    ],
)
def test_splits_lists_and_removes_quotes(command: str, expected: list[list[str]]) -> None:
    """If this fails, a separator or a quoting trick hides a command from the policy."""
    assert split_command(command) == expected


@pytest.mark.parametrize(
    ("command", "inner"),
    [
        ("echo $(rm -rf /)", ["rm", "-rf", "/"]),
        ("echo `rm -rf /`", ["rm", "-rf", "/"]),
        ('echo "$(git push -f)"', ["git", "push", "-f"]),
        ("diff <(curl x) b", ["curl", "x"]),
        ("tee >(sh) < f", ["sh"]),
        ("echo $(echo $(git push -f))", ["git", "push", "-f"]),
        ("echo `echo \\`git push -f\\``", ["git", "push", "-f"]),
        ("sh -c 'git push -f'", ["git", "push", "-f"]),
        ('bash -lc "pytest; git push -f"', ["git", "push", "-f"]),
        ("/bin/sh -ec 'git push -f'", ["git", "push", "-f"]),
        ("eval 'git push' -f", ["git", "push", "-f"]),
        ("trap 'git push -f' EXIT", ["git", "push", "-f"]),
        ("find . -name x -exec rm -rf {} \\;", ["rm", "-rf", "{}"]),
        ("FOO=1 git push -f", ["git", "push", "-f"]),
        ("env -i A=1 git push -f", ["git", "push", "-f"]),
        ("nohup nice -n 5 timeout -s KILL 10 git push -f", ["git", "push", "-f"]),
        ("sudo -u root git push -f", ["git", "push", "-f"]),
        ("command git push -f", ["git", "push", "-f"]),
        ("(cd x && git push -f)", ["git", "push", "-f"]),
        ("{ git push -f; }", ["git", "push", "-f"]),
        ("if true; then git push -f; fi", ["git", "push", "-f"]),
        ("for b in a b; do git push -f; done", ["git", "push", "-f"]),
        ("while true; do git push -f; done", ["git", "push", "-f"]),
        ("! git push -f", ["git", "push", "-f"]),
        ("time -p git push -f", ["git", "push", "-f"]),
        ("cat <<EOF\n$(git push -f)\nEOF", ["git", "push", "-f"]),
        ("[[ -n $(git push -f) ]] && ls", ["git", "push", "-f"]),
    ],
)
def test_inner_commands_are_returned(command: str, inner: list[str]) -> None:
    """If this fails, a command run through a substitution, wrapper or keyword escapes the policy."""
    assert inner in split_command(command)


def test_xargs_gets_a_dynamic_argument_word() -> None:
    """If this fails, `xargs rm` would look like a bare `rm` with no arguments at all."""
    (cmd,) = parse_command("xargs -0 -n 1 rm -f")
    assert cmd.words == ("rm", "-f", XARGS_WORD) and 2 in cmd.dynamic and cmd.via == "xargs"


def test_sudo_is_visible_and_unwrapped() -> None:
    """If this fails, the privilege change is hidden (no sudo part) or the command it runs is."""
    assert split_command("sudo git push") == [["sudo", "git", "push"], ["git", "push"]]


@pytest.mark.parametrize(
    ("command", "redirects"),
    [
        ("ls > out.txt", [[REDIRECT, ">", "out.txt"]]),
        (
            "ls >> a 2> b &> c >| d",
            [[REDIRECT, ">>", "a"], [REDIRECT, "2>", "b"], [REDIRECT, "&>", "c"], [REDIRECT, ">|", "d"]],
        ),
        ("ls >& out", [[REDIRECT, ">&", "out"]]),
        ("cat <> f", [[REDIRECT, "<>", "f"]]),
        ("ls>'.forge/x'", [[REDIRECT, ">", ".forge/x"]]),
        ("ls 2>&1 >/dev/null < in <<< word", []),
        ("(ls) > log", [[REDIRECT, ">", "log"]]),
    ],
)
def test_writing_redirections_are_pseudo_commands(command: str, redirects: list[list[str]]) -> None:
    """If this fails, a write through a redirection is invisible, or harmless ones cause noise."""
    parts = split_command(command)
    assert [p for p in parts if p[0] == REDIRECT] == redirects
    assert all(REDIRECT not in p[1:] and ">" not in p for p in parts if p[0] != REDIRECT)


def test_assignments_are_pseudo_commands_and_stripped() -> None:
    """If this fails, `GIT_SSH_COMMAND=... git fetch` would look like a plain `git fetch`."""
    assert split_command("GIT_SSH_COMMAND='sh x' git fetch") == [
        [ASSIGN, "GIT_SSH_COMMAND=sh x"],
        ["git", "fetch"],
    ]
    assert split_command("make FOO=1") == [["make", "FOO=1"]]  # an argument, not an assignment
    assert split_command('"FOO=1" ls') == [["FOO=1", "ls"]]  # quoted: a command name


def test_dynamic_words_are_flagged() -> None:
    """If this fails, a word known only at run time could satisfy an allow rule."""
    (cmd,) = [c for c in parse_command('git push $F ${G} "$(x)" *.py {-f,} lit') if c.words[0] == "git"]
    assert cmd.dynamic == frozenset({2, 3, 4, 5, 6})
    (quoted,) = parse_command("echo '*.py' \"$\" \\$HOME")
    assert quoted.dynamic == frozenset() and quoted.words == ("echo", "*.py", "$", "$HOME")


def test_claude_code_commit_message_heredoc() -> None:
    """If this fails, the usual agent commit (`-m "$(cat <<'EOF' ...)"`) would be unparseable."""
    cmd = "git commit -m \"$(cat <<'EOF'\nFix: x; rm -rf / `id`\n\nCo-Authored-By: a\nEOF\n)\""
    parts = split_command(cmd)
    assert parts[0] == ["cat"]
    assert parts[1][:3] == ["git", "commit", "-m"] and len(parts) == 2  # the quoted body runs nothing


@pytest.mark.parametrize(
    "command",
    [
        "echo 'unclosed",
        'echo "unclosed',
        "echo $(unclosed",
        "echo `unclosed",
        "echo )",
        "case x in a) ls;; esac",
        "f() { ls; }",
        "function f { ls; }",
        "a=(1 2)",
        "a[$(id)]=1 ls",
        "echo $((x + 1))",
        "echo ${!name}",
        "echo ${x@P}",
        "echo ${x:$(id)}",
        'sh -c "$CMD"',
        "eval $CMD",
        "env -S 'git push -f'",
        "timeout --bogus 5 ls",
        "cat <<EOF\nno end",
        "ls \\",
        "echo a\x00b",
        "(( x = 1 ))",
        "coproc ls",
        "echo " + "$(" * 40 + ")" * 40,
    ],
)
def test_unparseable_input_raises_unparseable(command: str) -> None:
    """If this fails, the splitter guesses at syntax it does not understand (fail open)."""
    with pytest.raises(Unparseable):
        split_command(command)


_WORD = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=8)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab $`'\"\\;&|()<>{}#=*\n\t-!x0")), max_size=40))
def test_never_raises_anything_but_unparseable(command: str) -> None:
    """If this fails, odd input crashes the gate instead of making it ask."""
    try:
        split_command(command)
    except Unparseable:
        pass


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_unicode_never_crashes(command: str) -> None:
    """If this fails, a Unicode or control character crashes the splitter."""
    try:
        split_command(command)
    except Unparseable:
        pass


def _q(word: str) -> str:
    """Always quote (shlex.quote leaves `fi` or `!` bare, and those are keywords)."""
    return "'" + word.replace("'", "'\\''") + "'"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(_WORD, min_size=1, max_size=4), min_size=1, max_size=4))
def test_quoted_commands_joined_with_semicolons_resplit_stably(commands: list[list[str]]) -> None:
    """If this fails, quoting does not protect a word, so the policy could see different words."""
    line = "; ".join(" ".join(_q(w) for w in words) for words in commands)
    parsed = parse_command(line)
    assert [list(c.words) for c in parsed] == commands
    assert all(not c.dynamic for c in parsed)
    again = "; ".join(" ".join(_q(w) for w in c.words) for c in parsed)
    assert split_command(again) == split_command(line)


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet="abcxyz-_ ./", min_size=1, max_size=12).filter(lambda s: s.strip()),
    st.text(alphabet="abcxyz-_ ./", min_size=1, max_size=12).filter(lambda s: s.strip()),
)
def test_unquoted_semicolon_always_splits(left: str, right: str) -> None:
    """If this fails, `allowed; anything` could pass as one allowed command."""
    try:
        parts = split_command(f"{left};{right}")
    except Unparseable:
        return
    assert len(parts) >= 2
