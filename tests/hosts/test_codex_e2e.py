"""End to end with the real Codex CLI (npm @openai/codex, pinned in package.json, installed by
.ci/install-hosts): `codex exec` against a local stand-in for the Responses API.

The stand-in asks for two `exec_command` calls: one the solo pack denies (it would write a marker
before a force push) and one it allows. What would be wrong if this failed: the `.codex/hooks.json`
that `init --codex` writes (shell-string command, `.*` matcher) does not make Codex ask the gate, Codex
runs a command the gate denied, or the ledger misses a decision or the outcome. Codex runs project
hooks only when trusted: `--dangerously-bypass-hook-trust` stands for the trust a user gives once.
Codex's own sandbox is off (`-s danger-full-access`) so that only the gate decides.
"""

from __future__ import annotations

import json
from pathlib import Path

from fake_openai import FakeOpenAI
from hostkit import Hooked, assert_gate_held, init_host, run_host, scripted_commands


def run_codex(codex: Path, api: FakeOpenAI, root: Path, home: Path) -> list[dict]:
    (home / "config.toml").write_text(
        'model = "gpt-fake"\nmodel_provider = "fake"\n\n[model_providers.fake]\nname = "fake"\n'
        f'base_url = "{api.base_url}"\nenv_key = "FAKE_OPENAI_KEY"\nwire_api = "responses"\n'
    )
    out = run_host(
        [
            str(codex),
            "exec",
            "--skip-git-repo-check",
            "--json",
            "--trust",
            "--dangerously-bypass-hook-trust",
            "-s",
            "danger-full-access",
            "Run the scripted steps.",
        ],
        root,
        ("OPENAI_", "CODEX_"),
        CODEX_HOME=str(home),
        FAKE_OPENAI_KEY="not-a-key",
    )
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_codex_runs_the_allowed_command_and_not_the_denied_one(
    unstarted: Hooked, markers: tuple[Path, Path], tmp_path: Path
) -> None:
    codex, home = init_host(unstarted, "codex", "codex", tmp_path)
    unstarted.start()
    denied, allowed = markers
    denied_cmd, allowed_cmd = scripted_commands(markers)
    with FakeOpenAI([denied_cmd, allowed_cmd]) as api:
        run_codex(codex, api, unstarted.root, home)
        outputs = api.outputs
    assert not denied.exists(), "Codex ran a command the gate denied"
    assert allowed.read_text() == "good\n", "the command the gate allowed did not run"
    assert "rule no-force-push" in outputs[0]["output"]
    assert_gate_held(unstarted, denied_cmd, allowed_cmd, actor="codex")


def test_codex_runs_nothing_when_the_daemon_is_down(
    unstarted: Hooked, markers: tuple[Path, Path], tmp_path: Path
) -> None:
    codex, home = init_host(unstarted, "codex", "codex", tmp_path)
    _, allowed = markers
    with FakeOpenAI([scripted_commands(markers)[1]]) as api:
        run_codex(codex, api, unstarted.root, home)
        outputs = api.outputs
    assert not allowed.exists(), "Codex ran a tool call although the gate was unreachable"
    assert outputs and "daemon is unreachable" in outputs[0]["output"]
