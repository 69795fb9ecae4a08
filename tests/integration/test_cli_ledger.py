"""The ledger commands from the command line: init, note, verify, log, merge-ledger (docs/design.md §5, §10).
Exit codes 0/1/2/3, --json, log filters, init's refusals, key files outside the repository, one-line
errors without tracebacks, and --help everywhere."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from forge_tui.cli import _available_commands
from forge_tui.core.project import find_project

COMMANDS = [m.NAME for m in _available_commands()]


def one_error_line(err: str) -> str:
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("forge-tui")
    return lines[0]


def cli(*args: str, cwd: Path, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "forge_tui", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        **kw,
    )


# ---- help -----------------------------------------------------------------------------------------


def test_top_level_help_lists_the_commands(run_cli):
    code, out, err = run_cli("--help")
    assert code == 0, err
    for name in ("init", "verify", "log", "note", "merge-ledger"):
        assert name in out
    assert "Exit codes" in out


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help(run_cli, name):
    code, out, err = run_cli(name, "--help")
    assert code == 0, err
    assert out.startswith(f"usage: forge-tui {name}")


def test_help_through_the_entry_point(tmp_path):
    res = cli("--help", cwd=tmp_path)
    assert res.returncode == 0 and "usage: forge-tui" in res.stdout
    res = cli("verify", "--help", cwd=tmp_path)
    assert res.returncode == 0 and "Exit codes" in res.stdout


def test_usage_errors_exit_2_in_one_line(run_cli):
    for args in (("no-such-command",), ("verify", "--no-such-flag"), ("log", "--tail", "x")):
        code, out, err = run_cli(*args)
        assert code == 2, args
        one_error_line(err)


# ---- init -----------------------------------------------------------------------------------------


def test_init_creates_the_project_and_keeps_the_key_outside(run_cli, tmp_path, isolated_env):
    root = tmp_path / "repo"
    root.mkdir()
    code, out, err = run_cli("init", root)
    assert code == 0, err
    assert "initialised" in out
    forge = root / ".forge"
    for rel in ("project.toml", "policy.toml", "reviewers.toml"):
        assert (forge / rel).is_file()
    project = find_project(root)
    lid = project.local_ledger_id()
    assert (forge / "keys" / f"{lid}.pub").is_file()
    assert project.tracked_ledger(lid).is_file() and project.tracked_checkpoint(lid).is_file()
    assert ".forge/ledger/** -text merge=forge-ledger" in (root / ".gitattributes").read_text().split("\n")
    # The private key: 0600, in a 0700 folder, under the user data folder, never in the repository.
    keys = list(Path(os.environ["XDG_DATA_HOME"]).rglob(f"{lid}.key"))
    assert len(keys) == 1
    key = keys[0]
    assert not key.is_relative_to(root)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert not [p for p in root.rglob("*") if p.suffix == ".key"]
    seed = json.loads(key.read_text())["seed"]
    assert not any(seed in p.read_text(errors="replace") for p in root.rglob("*") if p.is_file())


def test_init_refuses_to_clobber_and_force_keeps_a_backup(run_cli, tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    assert run_cli("init", root)[0] == 0
    before = (root / ".forge" / "project.toml").read_text()
    code, out, err = run_cli("init", root)
    assert code == 2
    assert "already exists" in one_error_line(err)
    assert (root / ".forge" / "project.toml").read_text() == before
    code, out, err = run_cli("init", "--force", root)
    assert code == 0, err
    backups = list(root.glob(".forge.bak-*"))
    assert len(backups) == 1 and (backups[0] / "project.toml").read_text() == before
    assert (root / ".forge" / "project.toml").read_text() != before


def test_init_packs_and_bad_folder(run_cli, tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    code, _, err = run_cli("init", "--pack", "strict", root)
    assert code == 0, err
    assert (root / ".forge" / "policy.toml").read_bytes() == (
        Path(__file__).parents[2] / "policies" / "strict.toml"
    ).read_bytes()
    code, _, err = run_cli("init", tmp_path / "missing")
    assert code == 2 and "not a folder" in one_error_line(err)
    code, _, err = run_cli("init", "--pack", "nope", root)
    assert code == 2


def test_init_without_a_terminal_never_prompts(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    res = cli("init", cwd=root)  # stdin is /dev/null
    assert res.returncode == 0, res.stderr
    assert (root / ".forge" / "project.toml").is_file()
    res = cli("verify", cwd=root)
    assert res.returncode == 0, res.stdout + res.stderr


# ---- note -----------------------------------------------------------------------------------------


def test_note(run_cli, project):
    code, out, err = run_cli("note", "rotated the deploy key", "--author", "ann")
    assert code == 0, err
    assert out.strip() == "note recorded at seq 1"
    code, out, _ = run_cli("log", "--json", "--type", "note")
    (rec,) = [json.loads(x) for x in out.splitlines()]
    assert rec["body"] == {"text": "rotated the deploy key", "author": "ann"}
    code, _, err = run_cli("note", "   ")
    assert code == 2 and "empty" in one_error_line(err)


def test_commands_outside_a_project(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for args in (("note", "x"), ("verify",), ("log",)):
        code, _, err = run_cli(*args)
        assert code == 2, args
        assert "forge-tui init" in one_error_line(err)


# ---- verify ---------------------------------------------------------------------------------------


def test_verify_clean(run_cli, project):
    run_cli("note", "a")
    code, out, err = run_cli("verify")
    assert code == 0, out + err
    assert out.strip().split("\n")[-1].startswith("verified: 1 ledger(s), 0 error(s)")
    code, out, _ = run_cli("verify", "--json")
    report = json.loads(out)
    assert code == 0 and report["verified"] is True and report["ledgers"][0]["records"] == 2
    code, out, _ = run_cli("verify", "--fast", "--quiet")
    assert code == 0 and out == ""


def test_verify_tampering_exits_1_naming_ledger_and_seq(run_cli, project):
    run_cli("note", "a")
    run_cli("note", "b")
    lid = project.local_ledger_id()
    tracked = project.tracked_ledger(lid)
    tracked.write_bytes(tracked.read_bytes().replace(b'"text":"a"', b'"text":"z"'))
    code, out, err = run_cli("verify", "--no-local")
    assert code == 1, out + err
    error_lines = [x for x in out.splitlines() if x.startswith("error:")]
    assert error_lines and all(lid in x for x in error_lines)
    assert any(f"{lid} seq 2" in x and "[chain]" in x for x in error_lines)  # the record after the edit
    assert any("[signature]" in x and "seq 1" in x for x in error_lines)
    code, out, _ = run_cli("verify", "--json", "--no-local")
    report = json.loads(out)
    assert code == 1 and report["exit_code"] == 1
    assert {"ledger", "seq", "code", "message", "severity"} == set(report["findings"][0])


def test_verify_torn_tail_warns_with_3_and_strict_fails(run_cli, project):
    tracked = project.tracked_ledger(project.local_ledger_id())
    tracked.write_bytes(tracked.read_bytes() + b'{"v":1')
    code, out, _ = run_cli("verify", "--no-local")
    assert code == 3, out
    assert "warning:" in out and "[torn_tail]" in out
    assert run_cli("verify", "--no-local", "--strict")[0] == 1
    code, out, _ = run_cli("verify", "--no-local", "--json")
    assert code == 3 and json.loads(out)["exit_code"] == 3


def test_verify_anchor(run_cli, project, tmp_path):
    lid = project.local_ledger_id()
    old = project.tracked_ledger(lid).read_bytes(), project.tracked_checkpoint(lid).read_bytes()
    run_cli("note", "a")
    anchor = tmp_path / "anchor.checkpoint"
    anchor.write_bytes(project.tracked_checkpoint(lid).read_bytes())
    assert run_cli("verify", "--no-local", "--anchor", anchor)[0] == 0
    project.tracked_ledger(lid).write_bytes(old[0])
    project.tracked_checkpoint(lid).write_bytes(old[1])
    code, out, _ = run_cli("verify", "--no-local", "--anchor", anchor)
    assert code == 1 and "[rollback]" in out
    code, _, err = run_cli("verify", "--anchor", tmp_path / "missing")
    assert code == 2 and "anchor" in one_error_line(err)


def test_verify_bad_configuration_is_2(run_cli, project):
    (project.forge_dir / "project.toml").write_text("project_id = 'not-a-uuid'\n")
    code, _, err = run_cli("verify")
    assert code == 2 and "UUID" in one_error_line(err)
    (project.forge_dir / "project.toml").write_text("project_id = [\n")
    code, _, err = run_cli("verify")
    assert code == 2
    one_error_line(err)


def test_errors_never_print_a_traceback(project):
    (project.forge_dir / "project.toml").write_text("not toml at all [[[\n")
    for args in (("verify",), ("log",), ("note", "x"), ("init",)):
        res = cli(*args, cwd=project.root)
        assert res.returncode == 2, (args, res.stderr)
        one_error_line(res.stderr)


# ---- log ------------------------------------------------------------------------------------------


@pytest.fixture
def busy(project, run_cli):
    for text in ("one", "two", "three"):
        assert run_cli("note", text, "--author", "ann")[0] == 0
    return project


def test_log_table(run_cli, busy):
    code, out, err = run_cli("log")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["SEQ", "TIME", "(UTC)"]
    assert len(lines) == 1 + 4
    assert lines[1].split()[0] == "0" and "genesis" in lines[1]
    assert lines[-1].split()[0] == "3" and lines[-1].rstrip().endswith("three")


def test_log_json_is_the_records_verbatim(run_cli, busy):
    code, out, _ = run_cli("log", "--json")
    assert code == 0
    tracked = busy.tracked_ledger(busy.local_ledger_id()).read_text()
    assert out == tracked


def test_log_filters(run_cli, busy):
    def seqs(*args):
        code, out, err = run_cli("log", "--json", *args)
        assert code == 0, err
        return [json.loads(x)["seq"] for x in out.splitlines()]

    assert seqs("--type", "note") == [1, 2, 3]
    assert seqs("--type", "genesis", "--type", "note") == [0, 1, 2, 3]
    assert seqs("--tail", "2") == [2, 3]
    assert seqs("--type", "note", "--tail", "1") == [3]
    assert seqs("--tail", "0") == []
    assert seqs("--actor", "ann") == [1, 2, 3]
    assert seqs("--since", "2000-01-01") == [0, 1, 2, 3]
    assert seqs("--since", "2999") == []
    assert seqs("--until", "2000-01-01T00:00") == []
    stamps = [json.loads(x)["ts"] for x in run_cli("log", "--json")[1].splitlines()]
    assert seqs("--since", stamps[3]) == [s for s in range(4) if stamps[s] >= stamps[3]]
    assert seqs("--until", stamps[0]) == [s for s in range(4) if stamps[s] <= stamps[0]]
    code, _, err = run_cli("log", "--tail", "-1")
    assert code == 2 and "--tail" in one_error_line(err)
    code, _, err = run_cli("log", "--ledger", "0000000000000000")
    assert code == 2
    one_error_line(err)


def test_log_warns_on_an_unreadable_record_and_goes_on(run_cli, busy):
    tracked = busy.tracked_ledger(busy.local_ledger_id())
    lines = tracked.read_bytes().split(b"\n")
    lines[2] = b'{"broken":'
    tracked.write_bytes(b"\n".join(lines))
    code, out, err = run_cli("log", "--json")
    assert code == 0
    assert "warning" in err and "verify" in err
    assert [json.loads(x)["seq"] for x in out.splitlines()] == [0, 1, 3]


# ---- merge-ledger ---------------------------------------------------------------------------------


def _files(tmp_path, base: bytes, ours: bytes, theirs: bytes):
    paths = []
    for name, data in (("O", base), ("A", ours), ("B", theirs)):
        p = tmp_path / name
        p.write_bytes(data)
        paths.append(p)
    return paths


def test_merge_ledger_takes_the_longer_of_a_prefix_pair(run_cli, tmp_path):
    short, long_ = b"r0\nr1\n", b"r0\nr1\nr2\n"
    o, a, b = _files(tmp_path, short, short, long_)
    assert run_cli("merge-ledger", o, a, b, ".forge/ledger/x.jsonl")[0] == 0
    assert a.read_bytes() == long_
    o, a, b = _files(tmp_path, short, long_, short)
    assert run_cli("merge-ledger", o, a, b, ".forge/ledger/x.jsonl")[0] == 0
    assert a.read_bytes() == long_


def test_merge_ledger_fails_loudly_on_a_fork(run_cli, tmp_path):
    o, a, b = _files(tmp_path, b"r0\n", b"r0\nmine\n", b"r0\ntheirs\n")
    code, out, err = run_cli("merge-ledger", o, a, b, ".forge/ledger/x.jsonl")
    assert code == 1
    assert "diverge" in one_error_line(err)
    assert a.read_bytes() == b"r0\nmine\n"


def test_merge_ledger_checkpoints(run_cli, tmp_path):
    small = "origin\n2\nroot2=\n\n\u2014 k sig\n".encode()
    big = "origin\n5\nroot5=\n\n\u2014 k sig\n".encode()
    o, a, b = _files(tmp_path, small, small, big)
    assert run_cli("merge-ledger", o, a, b, ".forge/ledger/x.checkpoint")[0] == 0
    assert a.read_bytes() == big
    o, a, b = _files(tmp_path, small, big, small)
    assert run_cli("merge-ledger", o, a, b, ".forge/ledger/x.checkpoint")[0] == 0
    assert a.read_bytes() == big
    conflicting = big.replace(b"root5", b"other")
    o, a, b = _files(tmp_path, small, big, conflicting)
    code, _, err = run_cli("merge-ledger", o, a, b, ".forge/ledger/x.checkpoint")
    assert code == 1 and a.read_bytes() == big
    one_error_line(err)


def test_merge_driver_in_git(run_cli, project, tmp_path):
    """Two branches that each appended to the ledger: git merges with the driver, and it verifies."""

    def git(*args):
        return subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
            cwd=project.root,
            capture_output=True,
            text=True,
            timeout=60,
        )

    git("init", "-q", "-b", "main")
    git("config", "merge.forge-ledger.driver", f"{sys.executable} -m forge_tui merge-ledger %O %A %B %P")
    git("add", "-A")
    assert git("commit", "-q", "-m", "init").returncode == 0
    git("checkout", "-q", "-b", "side")
    git("checkout", "-q", "main")
    run_cli("note", "on main")
    git("commit", "-qam", "main note")
    git("checkout", "-q", "side")  # the tracked copy goes back; the authoritative one stays
    run_cli("note", "on side")  # the writer appends after "on main", so side's copy extends main's
    git("commit", "-qam", "side note")
    git("checkout", "-q", "main")
    res = git("merge", "-q", "--no-edit", "side")
    assert res.returncode == 0, res.stdout + res.stderr
    code, out, err = run_cli("log", "--json", "--type", "note")
    assert [json.loads(x)["body"]["text"] for x in out.splitlines()] == ["on main", "on side"]
    assert run_cli("verify")[0] == 0


def test_version(run_cli):
    code, out, _ = run_cli("--version")
    assert code == 0 and out.startswith("forge-tui ")


def test_a_second_machine_joins_with_its_own_ledger(run_cli, project, tmp_path, monkeypatch):
    """Two machines (two private data folders) write two ledgers of one project; both verify."""
    first = project.local_ledger_id()
    run_cli("note", "from machine one")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "machine-two"))
    code, out, err = run_cli("init", "--join")
    assert code == 0, err
    second = find_project().local_ledger_id()
    assert second != first and second in out
    assert sorted(find_project().ledger_ids()) == sorted([first, second])
    run_cli("note", "from machine two")
    code, out, err = run_cli("verify")
    assert code == 0, out + err
    assert "2 ledger(s)" in out
    code, out, _ = run_cli("log", "--all", "--json", "--type", "note")
    assert sorted(json.loads(x)["body"]["text"] for x in out.splitlines()) == [
        "from machine one",
        "from machine two",
    ]
    code, _, err = run_cli("init", "--join")  # this machine already writes a ledger here
    assert code == 2 and "already writes" in one_error_line(err)


def test_project_option_from_another_folder(run_cli, project, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli("-C", project.root, "verify")
    assert code == 0, out + err
    code, _, err = run_cli("-C", tmp_path / "missing", "verify")
    assert code == 2
    one_error_line(err)


def test_log_never_prints_terminal_escapes_from_records(run_cli, project):
    """Agent-supplied text reaches the log: escape sequences must not reach the terminal raw."""
    hostile = "\x1b[2J\x1b]0;pwned\x07 rm -rf \r\x08\x08"
    assert run_cli("note", hostile)[0] == 0
    code, out, _ = run_cli("log")
    assert code == 0
    assert not any(ch in out for ch in "\x1b\x07\r\x08")
    code, out, _ = run_cli("log", "--json")
    assert not any(ch in out for ch in "\x1b\x07\r\x08")
    assert json.loads(out.splitlines()[-1])["body"]["text"] == hostile


def test_verify_prints_no_terminal_escapes_from_records(run_cli, project):
    """Finding messages quote record text (a violation's detail, ids): a tampered or hostile ledger
    must not be able to rewrite the verdict on the reader's terminal (e.g. erase an error line)."""
    from forge_tui.core.ledger import LedgerWriter

    hostile = "ok\x1b[1A\x1b[2K\r\x07"
    with LedgerWriter.open(project) as w:
        w.append([("violation", {"kind": "self_approval", "request_id": hostile, "detail": hostile})])
        w.append([("outcome", {"request_id": hostile, "status": "succeeded"})])
    code, out, err = run_cli("verify")
    assert code == 1
    assert "[unauthorized_execution]" in out and "[recorded_self_approval]" in out
    assert not any(ch in out + err for ch in "\x1b\x07\r"), repr(out)


def test_init_keeps_existing_gitattributes(run_cli, tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    (root / ".gitattributes").write_text("*.png binary")  # no final newline
    assert run_cli("init", root)[0] == 0
    assert run_cli("init", "--force", root)[0] == 0
    lines = (root / ".gitattributes").read_text().split("\n")
    assert lines[0] == "*.png binary"
    assert lines.count(".forge/ledger/** -text merge=forge-ledger") == 1
    assert lines[-1] == ""


@pytest.mark.parametrize("target", ["anchor", "pub", "reviewers", "seen-cache", "base-ref-pub"])
def test_verify_non_utf8_inputs_are_reported_not_crashes(run_cli, project, tmp_path, target):
    """A binary anchor, key file, reviewers file or cache is a clear error (exit 1 or 2), never exit 70."""
    lid = project.local_ledger_id()
    args = ["verify"]
    if target == "anchor":
        (tmp_path / "a.bin").write_bytes(b"\xff\xfe")
        args += ["--anchor", str(tmp_path / "a.bin")]
    elif target == "pub":
        pub = project.pub_dir / f"{lid}.pub"
        pub.write_bytes(pub.read_bytes() + b"# \xff\n")
    elif target == "reviewers":
        project.reviewers_path.write_bytes(b"# \xff\xfe\n")
    elif target == "seen-cache":
        assert run_cli("verify")[0] == 0  # writes the cache
        from forge_tui.core.verify import seen_cache_path

        seen_cache_path(project, lid).write_bytes(b"\xff\xfe")
    else:
        pub = project.pub_dir / f"{lid}.pub"
        pub.write_bytes(pub.read_bytes() + b"# \xff\n")
        for git_args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "base"]):
            subprocess.run(
                ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *git_args],
                cwd=project.root,
                check=True,
                capture_output=True,
                timeout=60,
            )
        args += ["--base-ref", "main"]
    code, out, err = run_cli(*args)
    assert code in (1, 2), (code, out, err)
    assert "internal error" not in err and "Traceback" not in err
    assert "UTF-8" in out + err


def test_log_filters_on_request_fields(run_cli, project):
    from forge_tui.core.ledger import LedgerWriter

    def req(rid, actor, paths):
        return {
            "request_id": rid,
            "actor": {"id": actor, "kind": "agent", "session": "s"},
            "action": {"kind": "file.write", "tool": "Edit", "paths": paths},
            "client": "hook",
        }

    def dec(rid, status, rule):
        return lambda done: {
            "request_id": rid,
            "request_hash": done[0].leaf,
            "status": status,
            "decided_by": "policy",
            "rule": rule,
            "reason": "r",
            "policy_digest": "0" * 64,
        }

    with LedgerWriter.open(project) as w:
        w.append(
            [
                ("request", req("r1", "claude", ["src/auth/login.py"])),
                ("decision", dec("r1", "denied", "auth")),
            ]
        )
        w.append([("request", req("r2", "codex", ["docs/x.md"])), ("decision", dec("r2", "allowed", "docs"))])

    def seqs(*args):
        code, out, err = run_cli("log", "--json", *args)
        assert code == 0, err
        return [json.loads(x)["seq"] for x in out.splitlines()]

    assert seqs("--path", "src/auth/**") == [1]
    assert seqs("--path", "**/*.md") == [3]
    assert seqs("--actor", "codex") == [3]
    assert seqs("--status", "denied") == [2]
    assert seqs("--rule", "docs") == [4]
    assert seqs("--request", "r1") == [1, 2]
    assert seqs("--request", "r1", "--type", "decision") == [2]
