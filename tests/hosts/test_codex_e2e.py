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
import os
import subprocess
from pathlib import Path

from fake_openai import FakeOpenAI
from hostkit import Hooked, host_binary

from forge_tui.cli import main as cli_main


def run_codex(codex: Path, api: FakeOpenAI, root: Path, home: Path) -> list[dict]:
    (home / "config.toml").write_text(
        'model = "gpt-fake"\nmodel_provider = "fake"\n\n[model_providers.fake]\nname = "fake"\n'
        f'base_url = "{api.base_url}"\nenv_key = "FAKE_OPENAI_KEY"\nwire_api = "responses"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CODEX_", "PYTEST"))}
    env.update(CODEX_HOME=str(home), FAKE_OPENAI_KEY="not-a-key")
    p = subprocess.run(
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
        cwd=root,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert p.returncode == 0, f"codex exited {p.returncode}: {p.stderr[-2000:]}"
    return [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]


def test_codex_runs_the_allowed_command_and_not_the_denied_one(
    unstarted: Hooked, markers: tuple[Path, Path], tmp_path: Path
) -> None:
    codex = host_binary("codex")
    assert cli_main(["init", "--codex", str(unstarted.root)]) == 0
    unstarted.start()
    denied, allowed = markers
    denied_cmd = f"echo bad > {denied}; git push --force origin main"
    allowed_cmd = f"echo good > {allowed}"
    home = tmp_path / "codex-home"
    home.mkdir()
    with FakeOpenAI([denied_cmd, allowed_cmd]) as api:
        run_codex(codex, api, unstarted.root, home)
        outputs = api.outputs
    assert not denied.exists(), "Codex ran a command the gate denied"
    assert allowed.read_text() == "good\n", "the command the gate allowed did not run"
    assert "rule no-force-push" in outputs[0]["output"]

    reqs = {r["body"]["action"]["command"]: r["body"] for r in unstarted.records("request")}
    assert set(reqs) == {denied_cmd, allowed_cmd}
    assert {r["actor"]["id"] for r in reqs.values()} == {"codex"}
    decisions = {d["body"]["request_id"]: d["body"]["status"] for d in unstarted.records("decision")}
    assert decisions[reqs[denied_cmd]["request_id"]] == "denied"
    assert decisions[reqs[allowed_cmd]["request_id"]] == "allowed"
    (outcome,) = [o["body"] for o in unstarted.records("outcome")]
    assert outcome["request_id"] == reqs[allowed_cmd]["request_id"]
    assert outcome["input_digest"] == reqs[allowed_cmd]["action"]["input_digest"]
    assert not unstarted.records("violation")


def test_codex_runs_nothing_when_the_daemon_is_down(
    unstarted: Hooked, markers: tuple[Path, Path], tmp_path: Path
) -> None:
    codex = host_binary("codex")
    assert cli_main(["init", "--codex", str(unstarted.root)]) == 0
    _, allowed = markers
    home = tmp_path / "codex-home"
    home.mkdir()
    with FakeOpenAI([f"echo good > {allowed}"]) as api:
        run_codex(codex, api, unstarted.root, home)
        outputs = api.outputs
    assert not allowed.exists(), "Codex ran a tool call although the gate was unreachable"
    assert outputs and "daemon is unreachable" in outputs[0]["output"]
