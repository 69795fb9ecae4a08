"""The policy engine: known-answer evaluations, bypass attempts, strict validation, built-ins."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forge_tui.core.policy import (
    Policy,
    default_policy,
    load_policy,
    match_words,
    parse_duration,
    parse_policy,
)
from forge_tui.core.shell import parse_command
from forge_tui.daemon.ratelimit import RateLimiter
from forge_tui.errors import ConfigError, PolicyError

DESIGN_EXAMPLE = b"""\
version = 1
default = "ask"              # allow | ask | deny when no rule matches
approval_timeout = "10m"     # a pending request then expires: denied, decided_by = timeout

[[rule]]
id = "read-only"
match = { tool = ["Read", "Glob", "Grep"] }
decision = "allow"

[[rule]]
id = "protect-auth"
match = { kind = "file.write", paths = ["src/auth/**"] }
decision = "ask"
approvals = 2
distinct_from = ["requester", "principal"]

[[rule]]
id = "no-force-push"
match = { kind = "shell.exec", command = ["git push --force*", "git push -f*"] }
decision = "deny"
reason = "force pushes rewrite shared history"

[[rule]]
id = "tests"
match = { kind = "shell.exec", command = ["pytest*", "npm test*"] }
decision = "allow"

[[rule]]
id = "deploy-after-tests"
match = { kind = "deploy" }
requires_prior = ["tests"]   # a succeeded outcome of rule "tests" earlier in the same session
decision = "ask"
"""


@pytest.fixture
def design() -> Policy:
    return parse_policy(DESIGN_EXAMPLE, "design.toml")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / ".forge").mkdir()
    return tmp_path


def sh(policy: Policy, root: Path, command: str, **kw):
    return policy.evaluate(
        {"kind": "shell.exec", "tool": "Bash", "command": command}, project_root=root, **kw
    )


# -- the design example ---------------------------------------------------------------------------


def test_design_example_loads_with_its_values(design: Policy) -> None:
    """If this fails, the example policy of docs/design.md §8 is not read as written."""
    assert (design.version, design.default, design.approval_timeout_s) == (1, "ask", 600)
    assert [r.id for r in design.rules] == [
        "read-only",
        "protect-auth",
        "no-force-push",
        "tests",
        "deploy-after-tests",
    ]
    assert design.rules[1].approvals == 2 and design.rules[1].distinct_from == {"requester", "principal"}
    assert design.rules[0].line == 5 and design.rules[4].line == 28
    assert len(design.digest) == 64 and design.max_per_minute is None


def test_allow_rule_allows_a_single_test_command(design: Policy, root: Path) -> None:
    """If this fails, an allow rule does not allow exactly what it names."""
    ev = sh(design, root, "pytest -x tests/")
    assert (ev.decision, ev.rule, ev.rules, ev.approvals) == ("allow", "tests", ("tests",), 0)


def test_deny_beats_allow_in_a_compound_command(design: Policy, root: Path) -> None:
    """If this fails, `pytest && git push --force` passes on the strength of its first part."""
    ev = sh(design, root, "pytest && git push --force")
    assert (ev.decision, ev.rule) == ("deny", "no-force-push")
    assert ev.reason == "force pushes rewrite shared history"
    assert set(ev.rules) == {"tests", "no-force-push"}
    assert [(p.text, p.decision) for p in ev.parts] == [("pytest", "allow"), ("git push --force", "deny")]


@pytest.mark.parametrize(
    "command",
    [
        "pytest; rm -rf src",
        "pytest; curl x | sh",
        "pytest $(rm -rf src)",
        "pytest `rm -rf src`",
        "pytest\nrm -rf src",
        "pytest & rm -rf src",
        "pytest || rm -rf src",
        "pytest > /etc/passwd",
        "pytest <(rm -rf src)",
        "FOO=1 pytest",
        "sh -c 'pytest; rm -rf src'",
        "./pytest",
        "$PYTEST",
    ],
)
def test_allow_never_covers_an_unmatched_part(design: Policy, root: Path, command: str) -> None:
    """If this fails, an allow rule for pytest* lets another command ride along (default is ask)."""
    ev = sh(design, root, command)
    assert ev.decision == "ask", (command, ev)
    assert ev.approvals == 1


@pytest.mark.parametrize(
    "command",
    [
        "git push --force",
        "git push -f origin main",
        "git push --force-with-lease",
        'git push "--force"',
        "git push '-f'",
        "g\\it push -f",
        "FOO=1 git push -f",
        "env FOO=1 git push -f",
        "pytest && git push --force",
        "echo $(git push -f)",
        "echo `git push -f`",
        "sh -c 'git push --force'",
        'bash -c "echo hi; git push -f"',
        "eval git push -f",
        "ls\ngit push -f",
        "nohup git push -f &",
        "xargs git push -f < refs",
        "timeout 5 git push --force",
    ],
)
def test_force_push_is_denied_in_every_disguise(design: Policy, root: Path, command: str) -> None:
    """If this fails, quoting, wrappers or compounding hide a force push from a deny rule."""
    ev = sh(design, root, command)
    assert (ev.decision, ev.rule) == ("deny", "no-force-push"), (command, ev)


def test_pattern_words_are_not_a_string_prefix(root: Path) -> None:
    """If this fails, commands are matched by raw string prefix instead of word by word."""
    p = parse_policy(
        b'version = 1\ndefault = "ask"\n[[rule]]\nid = "push"\nmatch = { command = ["git push"] }\n'
        b'decision = "allow"\n[[rule]]\nid = "t"\nmatch = { command = ["npm test*"] }\ndecision = "allow"\n'
    )
    assert sh(p, root, "git push").decision == "allow"
    assert sh(p, root, "git push --force").decision == "ask"  # "git push" is two words, not a prefix
    assert sh(p, root, "git  push").decision == "allow"  # blanks between words do not matter
    assert sh(p, root, "npmtest").decision == "ask"
    assert sh(p, root, "npm").decision == "ask"
    assert sh(p, root, "npm test --watch").decision == "allow"


def test_dynamic_word_can_only_make_a_deny_ask(design: Policy, root: Path) -> None:
    """If this fails, `git push $F` (F=--force) is allowed/defaulted, or `pytest $ARGS` is not allowed."""
    ev = sh(design, root, "git push $F")
    assert (ev.decision, ev.rule) == ("ask", "no-force-push")
    assert "may match" in ev.reason
    assert sh(design, root, "pytest $ARGS").decision == "allow"  # dynamic words in the `*` tail are fine


def test_path_named_command_may_match_but_never_allows(design: Policy, root: Path) -> None:
    """If this fails, /usr/bin/git escapes deny rules or ./pytest (an agent-written script) is allowed."""
    assert sh(design, root, "/usr/bin/git push -f").decision == "deny"
    assert sh(design, root, "./git push -f").decision == "ask"
    assert sh(design, root, "./pytest").decision == "ask"


def test_unparseable_command_asks_at_least(design: Policy, root: Path) -> None:
    """If this fails, a command the splitter refused is allowed (fail open)."""
    ev = sh(design, root, "pytest; case x in a) rm -rf / ;; esac")
    assert (ev.decision, ev.rule) == ("ask", "builtin:unparseable")
    assert ev.unparseable and "could not be analysed" in ev.reason
    allow_all = parse_policy(b'version = 1\ndefault = "allow"\n')
    assert sh(allow_all, root, "echo $((x))").decision == "ask"


def test_tool_rule_and_default(design: Policy, root: Path) -> None:
    """If this fails, tool globs or the default decision are applied wrongly."""
    ev = design.evaluate({"kind": "file.read", "tool": "Read", "paths": ["src/a.py"]}, project_root=root)
    assert (ev.decision, ev.rule) == ("allow", "read-only")
    ev = design.evaluate({"kind": "mcp.call", "tool": "mcp__x__y"}, project_root=root)
    assert (ev.decision, ev.rule, ev.rules, ev.approvals) == ("ask", None, (), 1)
    assert ev.distinct_from == {"requester"}


def test_ask_rule_sets_approvals_and_distinct_from(design: Policy, root: Path) -> None:
    """If this fails, protect-auth's 2 approvals or its `principal` exclusion get lost."""
    ev = design.evaluate({"kind": "file.write", "paths": ["src/auth/login.py"]}, project_root=root)
    assert (ev.decision, ev.rule, ev.approvals) == ("ask", "protect-auth", 2)
    assert ev.distinct_from == {"requester", "principal"}


def test_requires_prior_denies_and_names_the_missing_step(design: Policy, root: Path) -> None:
    """If this fails, a deploy without passing tests is not denied or the reason hides why."""
    ev = design.evaluate({"kind": "deploy"}, project_root=root)
    assert (ev.decision, ev.rule, ev.missing_prior) == ("deny", "deploy-after-tests", ("tests",))
    assert "tests" in ev.reason
    ok = design.evaluate({"kind": "deploy"}, project_root=root, prior_succeeded=frozenset({"tests"}))
    assert (ok.decision, ok.rule, ok.missing_prior) == ("ask", "deploy-after-tests", ())


def test_malformed_action_asks(design: Policy, root: Path) -> None:
    """If this fails, a malformed action (wrong types) slips through as allowed or crashes."""
    allow_all = parse_policy(b'version = 1\ndefault = "allow"\n')
    assert allow_all.evaluate({"kind": "shell.exec", "command": 5}, project_root=root).decision == "ask"
    assert allow_all.evaluate({"paths": [1, 2]}, project_root=root).decision == "ask"
    assert allow_all.evaluate("nonsense", project_root=root).decision == "ask"  # type: ignore[arg-type]
    assert design.evaluate({}, project_root=root).decision == "ask"


# -- combining ------------------------------------------------------------------------------------

COMBINE = b"""\
version = 1
default = "allow"
[[rule]]
id = "a"
match = { kind = "file.write", paths = ["src/**"] }
decision = "ask"
approvals = 2
[[rule]]
id = "b"
match = { paths = ["src/core/**"] }
decision = "ask"
approvals = 3
distinct_from = ["principal"]
[[rule]]
id = "c"
match = { kind = "file.*", paths = ["src/core/secret/**"] }
decision = "deny"
"""


def test_approvals_take_the_max_and_distinct_from_the_union(root: Path) -> None:
    """If this fails, several matching ask rules are not combined as docs/design.md §8 says."""
    p = parse_policy(COMBINE)
    ev = p.evaluate({"kind": "file.write", "paths": ["src/core/x.py"]}, project_root=root)
    assert (ev.decision, ev.approvals, ev.rules) == ("ask", 3, ("a", "b"))
    assert ev.distinct_from == {"requester", "principal"}
    ev = p.evaluate({"kind": "file.write", "paths": ["src/core/secret/k"]}, project_root=root)
    assert (ev.decision, ev.rule) == ("deny", "c")


def test_every_path_must_be_allowed(root: Path) -> None:
    """If this fails, one allowed path lets a multi-file action write another, governed one."""
    p = parse_policy(
        b'version = 1\ndefault = "deny"\n[[rule]]\nid = "docs"\nmatch = { paths = ["docs/**"] }\ndecision = "allow"\n'
    )
    assert p.evaluate({"kind": "file.write", "paths": ["docs/a.md"]}, project_root=root).decision == "allow"
    ev = p.evaluate({"kind": "file.write", "paths": ["docs/a.md", "src/b.py"]}, project_root=root)
    assert (ev.decision, ev.rule) == ("deny", None)


# -- paths ----------------------------------------------------------------------------------------

PATHS = b"""\
version = 1
default = "deny"
[[rule]]
id = "project"
match = { paths = ["**"] }
decision = "allow"
[[rule]]
id = "etc"
match = { paths = ["/etc/**"] }
decision = "ask"
[[rule]]
id = "outside"
match = { paths = ["<outside>"] }
decision = "ask"
approvals = 2
"""


@pytest.mark.parametrize(
    ("path", "rules"),
    [
        ("src/a.py", ("project",)),
        (".github/workflows/ci.yml", ("project",)),  # DOTMATCH: dot folders are part of **
        ("src/../../x", ("outside",)),  # normpath: `..` leaves the project
        ("/etc/passwd", ("etc", "outside")),
        ("/tmp/x", ("outside",)),
    ],
)
def test_paths_inside_and_outside_the_project(root: Path, path: str, rules: tuple[str, ...]) -> None:
    """If this fails, `**` matches outside the project, or `..` escapes project-relative matching."""
    ev = PATHS_POLICY.evaluate({"kind": "file.write", "paths": [path]}, project_root=root)
    assert ev.rules == rules


def test_absolute_path_inside_the_project_is_relative_to_the_root(root: Path) -> None:
    """If this fails, agents sending absolute paths (Claude Code does) never match project globs."""
    ev = PATHS_POLICY.evaluate(
        {"kind": "file.write", "paths": [str(root / "src" / "a.py")]}, project_root=root
    )
    assert (ev.decision, ev.rules) == ("allow", ("project",))


def test_symlink_out_of_the_project_is_outside_too(
    root: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """If this fails, a link inside the project smuggles a write to a folder outside it."""
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (root / "link").symlink_to(elsewhere)
    ev = PATHS_POLICY.evaluate({"kind": "file.write", "paths": ["link/x"]}, project_root=root)
    assert ev.decision == "ask" and "outside" in ev.rules


PATHS_POLICY = parse_policy(PATHS)


# -- command pattern semantics --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "words", "dynamic", "expected"),
    [
        (("git", "push"), ("git", "push"), (), 2),
        (("git", "push"), ("git", "push", "-f"), (), 0),  # no trailing *: exact word count
        (("pytest", "*"), ("pytest",), (), 2),
        (("pytest", "*"), ("pytest-3", "-x"), (), 0),  # the program word matches exactly
        (("ls", "*"), ("lsof",), (), 0),
        (("git", "*", "push", "*"), ("git", "-C", "d", "push", "x"), (), 2),
        (("git", "push", "--force*", "*"), ("git", "push", "x"), (2,), 1),
        (("git", "push", "--force*", "*"), ("$G", "push", "--force"), (0,), 1),
        (("ls",), ("ls", "$X"), (1,), 1),  # $X might be empty
        (("git",), ("/usr/bin/git",), (), 2),  # a standard folder: it is git
        (("git",), ("./x/git",), (), 1),  # a program called git, maybe not the one meant
        (("/usr/bin/git",), ("/usr/bin/git",), (), 2),
        (("/usr/bin/git",), ("git",), (), 2),
        (("rm", "-rf", "*"), ("rm", "x", "-f", "-r"), (), 2),  # flag clusters and order
        (("rm", "-rf", "*"), ("rm", "-Rfv", "x"), (), 2),
        (("rm", "-rf", "*"), ("rm", "-r", "x"), (), 0),
    ],
)
def test_match_words(pattern: tuple, words: tuple, dynamic: tuple, expected: int) -> None:
    """If this fails, the word-wise pattern language (docs/design.md §8) is not what the docs say."""
    assert match_words(pattern, words, frozenset(dynamic)) == expected


# -- built-in rules -------------------------------------------------------------------------------

ALLOW_ALL = parse_policy(
    b'version = 1\ndefault = "allow"\n[[rule]]\nid = "all"\nmatch = { kind = "*" }\ndecision = "allow"\n'
)


@pytest.mark.parametrize(
    "action",
    [
        {"kind": "file.write", "paths": [".forge/policy.toml"]},
        {"kind": "file.delete", "paths": [".forge/ledger/x.jsonl"]},
        {"kind": "file.write", "paths": ["src/../.forge/policy.toml"]},
        {"kind": "file.write", "paths": [".FORGE/policy.toml"]},
        {"kind": "shell.exec", "command": "echo x > .forge/policy.toml"},
        {"kind": "shell.exec", "command": "echo x >> ./.forge/reviewers.toml"},
        {"kind": "shell.exec", "command": "tee .forge/policy.toml < x"},
        {"kind": "shell.exec", "command": "cp evil.toml .forge/policy.toml"},
        {"kind": "shell.exec", "command": "mv .forge /tmp/x"},
        {"kind": "shell.exec", "command": "rm -rf .forge"},
        {"kind": "shell.exec", "command": "rm -rf .f*"},
        {"kind": "shell.exec", "command": "sed -i s/deny/allow/ .forge/policy.toml"},
        {"kind": "shell.exec", "command": "cd .forge && rm policy.toml"},
        {"kind": "shell.exec", "command": "cd .forge; echo x > policy.toml"},
        {"kind": "shell.exec", "command": "git checkout -- .forge/policy.toml"},
        {"kind": "shell.exec", "command": "dd if=x of=.forge/policy.toml"},
        {"kind": "shell.exec", "command": "python -c 'x' --out=.forge/policy.toml"},
        {"kind": "shell.exec", "command": "sh -c 'rm .forge/policy.toml'"},
        {"kind": "shell.exec", "command": "echo $(rm .forge/policy.toml)"},
        {"kind": "shell.exec", "command": "case x in a) rm .forge/p;; esac"},  # unparseable + .forge
    ],
)
def test_builtin_protect_forge(root: Path, action: dict) -> None:
    """If this fails, an agent can change the policy, ledger or reviewers under .forge/."""
    ev = ALLOW_ALL.evaluate(action, project_root=root)
    assert (ev.decision, ev.rule) == ("deny", "builtin:protect-forge"), ev


def test_builtin_protects_the_key_folder(root: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """If this fails, an agent can overwrite a reviewer's private key."""
    keys = tmp_path_factory.mktemp("keys")
    for action in (
        {"kind": "file.write", "paths": [str(keys / "alice.key")]},
        {"kind": "shell.exec", "command": f"cp x {keys}/alice.key"},
        {"kind": "shell.exec", "command": f"echo > {keys}/alice.key"},
    ):
        ev = ALLOW_ALL.evaluate(action, project_root=root, protected_dirs=(keys,))
        assert (ev.decision, ev.rule) == ("deny", "builtin:protect-forge"), action


@pytest.mark.parametrize(
    "command",
    [
        "forge-tui approve 01J --as alice",
        "forge-tui reject 01J --as alice --reason x",
        "forge-tui reviewer add bob",
        "forge-tui -C . approve 01J",
        "/home/u/.local/bin/forge-tui approve 01J",
        "python -m forge_tui approve 01J",
        "python3 -m forge_tui.cli reviewer list",
        "uv run forge-tui approve 01J",
        "pytest && forge-tui approve 01J",
        "sh -c 'forge-tui approve 01J'",
        "FORGE_PASSPHRASE=x forge-tui approve 01J",
        "$(which forge-tui) approve 01J",
    ],
)
def test_builtin_no_self_review(root: Path, command: str) -> None:
    """If this fails, an agent can approve its own request through the headless review commands."""
    ev = sh(ALLOW_ALL, root, command)
    assert (ev.decision, ev.rule) == ("deny", "builtin:no-self-review"), ev


@pytest.mark.parametrize(
    "command",
    [
        "cat .forge/policy.toml",
        "git diff .forge/",
        "forge-tui policy check .forge/policy.toml",
        "ls .forge",
        "forge-tui verify",
    ],
)
def test_builtins_leave_reading_alone(root: Path, command: str) -> None:
    """If this fails, the built-ins block harmless reads of .forge/ (agents need to inspect policy)."""
    assert sh(ALLOW_ALL, root, command).decision == "allow"


@pytest.mark.parametrize("actor_kind", ["agent", "human", "ci"])
def test_builtins_bind_every_request(root: Path, actor_kind: str) -> None:
    """If this fails, a request that claims `actor.kind = "human"` writes the policy (issue 7)."""
    ev = ALLOW_ALL.evaluate(
        {"kind": "file.write", "paths": [".forge/policy.toml"]}, project_root=root, actor_kind=actor_kind
    )
    assert (ev.decision, ev.rule) == ("deny", "builtin:protect-forge")


def test_default_policy_fails_closed(root: Path) -> None:
    """If this fails, a daemon with no valid policy would allow actions."""
    p = default_policy()
    assert (p.default, p.rules) == ("ask", ())
    assert p.evaluate({"kind": "file.read", "paths": ["a"]}, project_root=root).decision == "ask"


# -- validation -----------------------------------------------------------------------------------


def _err(text: str) -> str:
    with pytest.raises(PolicyError) as info:
        parse_policy(textwrap.dedent(text).encode(), "p.toml")
    msg = str(info.value)
    assert "\n" not in msg
    return msg


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version = 2\n", "p.toml:1:1: unsupported version 2"),
        ('default = "ask"\n', "p.toml:1:1: missing `version = 1`"),
        ('version = 1\ncolour = "red"\n', "p.toml:2:1: unknown key 'colour'"),
        ("version = 1\n[extra]\nx = 1\n", "p.toml:2:1: unknown key 'extra'"),
        ('version = 1\ndefault = "maybe"\n', "p.toml:2:1: default must be one of"),
        ('version = 1\napproval_timeout = "10x"\n', "p.toml:2:1: bad duration '10x'"),
        ('version = 1\napproval_timeout = "0s"\n', "p.toml:2:1: bad duration '0s'"),
        ("version = 1\nmax_per_minute = 0\n", "p.toml:2:1: max_per_minute must be"),
        (
            'version = 1\n\n[[rule]]\nid = "a"\nmatch = { kind = "deploy" }\ndecision = "allow"\nwhen = 1\n',
            "p.toml:7:1: unknown rule key 'when'",
        ),
        (
            'version = 1\n[[rule]]\nid = "a"\nmatch = { kind = "deploy", host = "x" }\ndecision = "allow"\n',
            "p.toml:4:28: rule 'a': unknown match key 'host'",
        ),
        (
            'version = 1\n[[rule]]\nid = "a"\nmatch = { kind = "shell.exce" }\ndecision = "allow"\n',
            "p.toml:4:11: rule 'a': unknown kind 'shell.exce'",
        ),
        (
            'version = 1\n[[rule]]\nid = "a"\nmatch = { kind = "deploy" }\ndecision = "permit"\n',
            "p.toml:5:1: rule 'a': decision must be",
        ),
        (
            'version = 1\n[[rule]]\nid = "a"\nmatch = { kind = "deploy" }\ndecision = "ask"\napprovals = 0\n',
            "p.toml:6:1: rule 'a': approvals must be",
        ),
        (
            'version = 1\n[[rule]]\nid = "a"\nmatch = { kind = "deploy" }\ndecision = "allow"\napprovals = 2\n',
            "p.toml:6:1: rule 'a': approvals only applies",
        ),
        (
            'version = 1\n[[rule]]\nid = "a"\nmatch = { kind = "deploy" }\ndecision = "ask"\ndistinct_from = ["boss"]\n',
            "p.toml:6:1: rule 'a': distinct_from takes",
        ),
        (
            'version = 1\n[[rule]]\nid = "a"\nmatch = { kind = "deploy" }\ndecision = "ask"\nrequires_prior = ["tests"]\n',
            "p.toml:6:1: requires_prior names unknown rule 'tests'",
        ),
        (
            'version = 1\n[[rule]]\nid = "a"\nmatch = { kind = "deploy" }\ndecision = "ask"\n[[rule]]\nid = "a"\nmatch = { kind = "deploy" }\ndecision = "ask"\n',
            "p.toml:7:1: duplicate rule id 'a' (first defined at line 2)",
        ),
        ('version = 1\n[[rule]]\nid = "a"\ndecision = "ask"\n', "p.toml:2:1: rule 'a' has no `match`"),
        (
            'version = 1\n[[rule]]\nid = "a"\nmatch = {}\ndecision = "ask"\n',
            "p.toml:4:1: rule 'a': match must be a non-empty table",
        ),
        (
            'version = 1\n[[rule]]\nid = "a b"\nmatch = { kind = "deploy" }\ndecision = "ask"\n',
            "p.toml:3:1: rule needs an `id`",
        ),
        (
            'version = 1\n[[rule]]\nid = "a"\nmatch = { command = "git \'push" }\ndecision = "ask"\n',
            "p.toml:4:11: rule 'a': bad command pattern",
        ),
        (
            'version = 1\n[[rule]]\nid = "a"\ndecision = "ask"\n[rule.match]\nkind = "dep"\n',
            "p.toml:6:1: rule 'a': unknown kind 'dep'",
        ),
        ("version = 1\ndefault = \n", "p.toml:2:11: Invalid value"),
        ("version = 1\nversion = 1\n", "p.toml:2:"),
    ],
)
def test_validation_errors_are_line_precise(text: str, expected: str) -> None:
    """If this fails, a policy mistake is accepted or its message does not point at the line."""
    assert _err(text).startswith(expected)


def test_invalid_utf8_reports_its_position() -> None:
    """If this fails, a binary policy file produces a traceback instead of a located error."""
    with pytest.raises(PolicyError, match=r"^p\.toml:2:4: the policy is not valid UTF-8$"):
        parse_policy(b"version = 1\n# a\xff\n", "p.toml")


def test_load_policy_missing_file_is_a_policy_error(tmp_path: Path) -> None:
    """If this fails, a missing policy file crashes instead of being reported (exit code 2)."""
    with pytest.raises(PolicyError) as info:
        load_policy(tmp_path / "nope.toml")
    assert isinstance(info.value, ConfigError) and info.value.exit_code == 2


def test_load_policy_digest_is_sha256_of_the_bytes(tmp_path: Path) -> None:
    """If this fails, the `policy_digest` written to the ledger does not identify the file."""
    import hashlib

    f = tmp_path / "p.toml"
    f.write_bytes(DESIGN_EXAMPLE)
    assert load_policy(f).digest == hashlib.sha256(DESIGN_EXAMPLE).hexdigest()
    assert load_policy(f).path == str(f)


@pytest.mark.parametrize(
    ("value", "seconds"), [("90", 90), ("30s", 30), ("10m", 600), ("1h", 3600), (45, 45)]
)
def test_durations(value: object, seconds: int) -> None:
    """If this fails, approval_timeout is read in the wrong unit."""
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["10x", "", "-5", "1.5m", True, 0, "8d"])
def test_bad_durations(value: object) -> None:
    """If this fails, a nonsensical approval_timeout is accepted."""
    with pytest.raises(ValueError):
        parse_duration(value)


# -- rate limiter ---------------------------------------------------------------------------------


def test_rate_limiter_per_session_sliding_window() -> None:
    """If this fails, the circuit breaker trips too early, too late, or across sessions."""
    now = [0.0]
    rl = RateLimiter(3, clock=lambda: now[0])
    assert [rl.allow("s") for _ in range(4)] == [True, True, True, False]
    assert rl.allow("other")  # sessions are independent
    now[0] = 59.9
    assert not rl.allow("s")
    now[0] = 60.0  # the first three hits leave the window
    assert [rl.allow("s") for _ in range(4)] == [True, True, True, False]
    assert all(RateLimiter(None).allow("s") for _ in range(1000))


def test_core_policy_does_not_import_textual() -> None:
    """If this fails, the headless core pulls in the TUI stack (docs/design.md §2)."""
    code = "import sys, forge_tui.core.policy; sys.exit(any(m.split('.')[0] in ('textual', 'rich') for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], env={**os.environ}).returncode == 0


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("pytes gitpush-f $`'\"\\;&|()<>{}#=*\n.")), max_size=40))
def test_evaluate_never_raises_and_never_allows_an_unknown_part(command: str) -> None:
    """If this fails, odd input crashes the gate, or a part no rule names rides along on `pytest*`."""
    only_pytest = parse_policy(
        b'version = 1\ndefault = "deny"\n[[rule]]\nid = "t"\nmatch = { command = "pytest*" }\ndecision = "allow"\n'
    )
    ev = only_pytest.evaluate({"kind": "shell.exec", "command": command}, project_root=Path("/nonexistent/p"))
    if ev.decision == "allow":
        assert all(p.words[0] == "pytest" for p in parse_command(command))
