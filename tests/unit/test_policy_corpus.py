"""The evasion corpus (tests/corpus/evasions.toml): every case gets its decision under both corpus
policies, and bash itself confirms, for the cases marked `oracle`, that the parser saw every program
bash really executes (or said it could not know)."""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from forge_tui.core.policy import CACHES, Context, Policy, decide, load_policy
from forge_tui.core.policy.normalize import normalize
from forge_tui.core.shell import XARGS_WORD, Unparseable, parse_command

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
CASES: list[dict[str, Any]] = tomllib.loads((CORPUS / "evasions.toml").read_text(encoding="utf-8"))["case"]
ORACLE = [c for c in CASES if c.get("oracle")]


@dataclass(frozen=True)
class World:
    home: Path
    data: Path
    root: Path
    allow: Policy
    ask: Policy


@pytest.fixture(scope="module")
def world() -> World:
    """HOME, a data folder inside it, and a project holding links to .forge and to the data folder."""
    home = Path(tempfile.mkdtemp(prefix="fc-", dir="/tmp"))
    data = home / ".local" / "share" / "forge-tui"
    (data / "keys").mkdir(parents=True)
    (data / "projects" / "other").mkdir(parents=True)
    root = home / "proj"
    for sub in (".forge", "src", "build"):
        (root / sub).mkdir(parents=True)
    os.symlink(root / ".forge", root / "forgelink")
    os.symlink(data, root / "datalink")
    mp = pytest.MonkeyPatch()
    mp.setenv("HOME", str(home))  # the policies' `~/...` patterns are expanded as they load
    try:
        allow, ask = load_policy(CORPUS / "default-allow.toml"), load_policy(CORPUS / "default-ask.toml")
    finally:
        mp.undo()
    yield World(home, data, root, allow, ask)
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(autouse=True)
def _in_world(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test runs with the world's HOME and data folder (the suite isolates every test's env)."""
    if "world" in request.fixturenames:
        w = request.getfixturevalue("world")
        monkeypatch.setenv("HOME", str(w.home))
        monkeypatch.setenv("FORGE_DATA_DIR", str(w.data))
    CACHES.clear()


def _fill(value: Any, w: World) -> Any:
    if isinstance(value, str):
        return value.replace("{data}", str(w.data)).replace("{home}", str(w.home))
    if isinstance(value, list):
        return [_fill(v, w) for v in value]
    return {k: _fill(v, w) for k, v in value.items()}


def _action(case: dict[str, Any], w: World) -> dict[str, Any]:
    if "action" in case:
        return _fill(case["action"], w)
    return {"kind": "shell.exec", "tool": "Bash", "command": _fill(case["command"], w)}


def test_the_corpus_is_large_and_well_formed() -> None:
    """If this fails, the corpus lost cases or a case names a decision that does not exist."""
    assert len(CASES) >= 200
    assert len({c["id"] for c in CASES}) == len(CASES)
    for c in CASES:
        assert ("command" in c) != ("action" in c), c["id"]
        assert {c["default_allow"], c["default_ask"]} <= {"allow", "ask", "deny"}, c["id"]
        # Stricter policy, never a looser answer (except the rule that names an interpreter).
        if c["default_allow"] != "allow" and c["default_ask"] == "allow":
            assert "node -e" in c.get("command", ""), c["id"]
    assert len({c["class"] for c in CASES}) >= 20 and len(ORACLE) >= 50


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_each_case_gets_its_decision_under_both_policies(case: dict[str, Any], world: World) -> None:
    """If this fails, an evasion from a published bypass class gets through (or the corpus is stale)."""
    action = _action(case, world)
    ctx = Context.for_project(world.root)
    got = (decide(world.allow, action, ctx).decision, decide(world.ask, action, ctx).decision)
    assert got == (case["default_allow"], case["default_ask"]), (case["id"], action)


# -- bash as the oracle ----------------------------------------------------------------------------

_REAL_WRAPPERS = ("env", "nice", "timeout", "nohup", "stdbuf", "xargs", "find")
# Each run logs to its own file ($FORGE_ORACLE_LOG): a process substitution that finishes late writes
# into its own case's log, not the next one's.
# One record, one write(2) on an O_APPEND file: programs bash runs side by side (a process substitution and
# its reader) must not interleave their records, which separate printf calls did.
_STUB = """#!/bin/sh
sep=$(printf '\\037')
r=${0##*/}
for a in "$@"; do r="$r$sep$a"; done
printf '%s\\036' "$r" >> "$FORGE_ORACLE_LOG"
"""


def _stub_names() -> set[str]:
    names = {"git", "rm", "ls", "cat", "curl", "wget", "python", "python3", "node", "nodejs", "perl", "ruby"}
    names |= {
        "sh",
        "bash",
        "zsh",
        "dash",
        "sudo",
        "make",
        "pytest",
        "npm",
        "id",
        "forge-tui",
        "base64",
        "awk",
    }
    names |= {"gawk", "lsof", "lsblk", "idle", "trueish", "pytest-evil", "catalog-tool", "echo-server"}
    names |= {
        "git-upload-pack",
        "php",
        "lua",
        "deno",
        "osascript",
        "npx",
        "tee",
        "cp",
        "mv",
        "touch",
        "mkdir",
    }
    return names


@pytest.fixture(scope="module")
def bash_oracle() -> Path:
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed: the oracle cannot run")
    box = Path(tempfile.mkdtemp(prefix="fo-", dir="/tmp"))
    stubs = box / "bin"
    stubs.mkdir()
    for name in _stub_names():
        p = stubs / name
        p.write_text(_STUB)
        p.chmod(0o755)
    for name in _REAL_WRAPPERS:
        real = shutil.which(name)
        if real is not None:
            os.symlink(real, stubs / name)
    (box / "work" / ".forge").mkdir(parents=True)
    (box / "work" / "build").mkdir()
    (box / "work" / "src").mkdir()
    yield stubs
    shutil.rmtree(box, ignore_errors=True)


def _wait_for_eof(fd: int, timeout: float) -> None:
    """Block until every holder of the pipe's write end has closed it (at most `timeout` s)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, "a program bash started was still running after its deadline"
        ready, _, _ = select.select([fd], [], [], left)
        if ready and not os.read(fd, 4096):
            return


def _run_bash(command: str, stubs: Path, case_id: str) -> list[tuple[str, ...]]:
    """The argument vectors of the stubbed programs bash executes for `command`."""
    log = stubs.parent / f"log-{case_id}"
    log.write_bytes(b"")
    env = {
        "PATH": str(stubs),
        "HOME": str(stubs.parent / "work"),
        "LC_ALL": "C.UTF-8",
        "FORGE_ORACLE_LOG": str(log),
    }
    # bash returns without waiting for a process substitution or a background job: every program it
    # starts inherits the write end of this pipe, and its end of file says the last of them has exited
    # (so the log is read whole, not while a late stub is still writing its record).
    done_r, done_w = os.pipe()
    try:
        subprocess.run(
            [
                "/bin/bash" if os.path.exists("/bin/bash") else shutil.which("bash") or "bash",
                "--norc",
                "--noprofile",
                "-c",
                command,
            ],
            cwd=stubs.parent / "work",
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(done_w,),
            timeout=20,
            check=False,
        )
        os.close(done_w)
        done_w = -1
        _wait_for_eof(done_r, 20)
    finally:
        os.close(done_r)
        if done_w >= 0:
            os.close(done_w)
    records = log.read_bytes().decode("utf-8", "replace").split("\x1e")
    return [tuple(r.split("\x1f")) for r in records if r]


def test_the_corpus_commands_are_bash(bash_oracle: Path) -> None:
    """If this fails, a case is not even valid bash, so it tests nothing an agent could run."""
    bash = shutil.which("bash")
    assert bash is not None
    bad = []
    for c in CASES:
        if "command" in c:
            r = subprocess.run([bash, "-n", "-c", c["command"]], capture_output=True, timeout=20, check=False)
            if r.returncode != 0:
                bad.append((c["id"], r.stderr.decode(errors="replace").strip()))
    assert not bad


def _matches(argv: tuple[str, ...], words: tuple[str, ...]) -> bool:
    if not words or os.path.basename(words[0]) != argv[0]:
        return False
    rest = list(words[1:])
    if rest and rest[-1] == XARGS_WORD:  # xargs appends what it reads: any further arguments
        return list(argv[1 : len(rest)]) == rest[:-1]
    return list(argv[1:]) == rest


@pytest.mark.parametrize("case", ORACLE, ids=[c["id"] for c in ORACLE])
def test_bash_runs_only_what_the_parser_saw(case: dict[str, Any], bash_oracle: Path) -> None:
    """If this fails, bash executes a program with arguments the policy never saw, although the parser
    claimed to know every word: a command hidden by quoting, expansion or a wrapper."""
    executed = _run_bash(case["command"], bash_oracle, case["id"])
    try:
        parts = parse_command(case["command"])
    except Unparseable:
        return  # the policy asks for a human whatever bash would run
    views = [normalize(p, None, None) for p in parts if p.kind == "command"]
    uncertain = any(p.dynamic or p.via in ("xargs", "find -exec") for p in parts) or any(
        v.opaque for v in views
    )
    for argv in executed:
        if uncertain:
            # Words known only at run time: the program itself must still be one the parser named, or
            # the parser must have said it could not know the program.
            known = any(os.path.basename(p.words[0]) == argv[0] for p in parts if p.words)
            dynamic_program = any(0 in p.dynamic for p in parts) or any(v.opaque for v in views)
            assert known or dynamic_program, (case["id"], argv, [p.words for p in parts])
        else:
            assert any(_matches(argv, p.words) for p in parts), (case["id"], argv, [p.words for p in parts])


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("g\\it push -f", [("git", "push", "-f")]),
        ("env nice git status", [("git", "status")]),
        ("$'\\x67it' log", [("git", "log")]),
        ("echo $(rm -rf src)", [("rm", "-rf", "src")]),
    ],
)
def test_the_oracle_sees_what_bash_runs(command: str, expected: list, bash_oracle: Path) -> None:
    """If this fails, the stub PATH records nothing and the oracle test above proves nothing."""
    assert _run_bash(command, bash_oracle, "self-check") == expected
