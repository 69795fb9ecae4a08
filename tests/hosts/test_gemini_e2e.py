"""End to end with the real Gemini CLI (npm @google/gemini-cli, pinned in package.json, installed by
.ci/install-hosts): `gemini -p` against a local stand-in for the Gemini API.

The stand-in asks for two `run_shell_command` calls: one the solo pack denies (it would write a marker
before a force push) and one it allows. What would be wrong if this failed: the `.gemini/settings.json`
that `init --gemini` writes (BeforeTool / AfterTool, timeout in milliseconds, shell-string command)
does not make Gemini ask the gate, Gemini runs a command the gate denied, or the ledger misses a
decision or the outcome. `--yolo` turns Gemini's own confirmations off so that only the gate decides.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from fake_gemini import FakeGemini
from hostkit import Hooked, host_binary

from forge_tui.cli import main as cli_main


def run_gemini(gemini: Path, api: FakeGemini, root: Path, home: Path) -> dict:
    (home / ".gemini").mkdir(exist_ok=True)
    (home / ".gemini" / "settings.json").write_text(
        json.dumps({"security": {"auth": {"selectedType": "gemini-api-key"}}})
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI_", "GOOGLE_", "PYTEST"))}
    env.update(
        HOME=str(home),
        GOOGLE_GEMINI_BASE_URL=api.url,
        GEMINI_API_KEY="not-a-key",
        GEMINI_CLI_TRUST_WORKSPACE="true",
    )
    p = subprocess.run(
        [str(gemini), "-p", "Run the scripted steps.", "--output-format", "json", "--yolo"],
        cwd=root,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert p.returncode == 0, f"gemini exited {p.returncode}: {p.stdout[-1500:]} {p.stderr[-1500:]}"
    return json.loads(p.stdout[p.stdout.index("{") :])


def test_gemini_runs_the_allowed_command_and_not_the_denied_one(
    unstarted: Hooked, markers: tuple[Path, Path], tmp_path: Path
) -> None:
    gemini = host_binary("gemini")
    assert cli_main(["init", "--gemini", str(unstarted.root)]) == 0
    unstarted.start()
    denied, allowed = markers
    denied_cmd = f"echo bad > {denied}; git push --force origin main"
    allowed_cmd = f"echo good > {allowed}"
    home = tmp_path / "gemini-home"
    home.mkdir()
    with FakeGemini([denied_cmd, allowed_cmd]) as api:
        run_gemini(gemini, api, unstarted.root, home)
        responses = api.responses
    assert not denied.exists(), "Gemini ran a command the gate denied"
    assert allowed.read_text() == "good\n", "the command the gate allowed did not run"
    assert "rule no-force-push" in json.dumps(responses[0])

    reqs = {r["body"]["action"]["command"]: r["body"] for r in unstarted.records("request")}
    assert set(reqs) == {denied_cmd, allowed_cmd}
    assert {r["actor"]["id"] for r in reqs.values()} == {"gemini"}
    decisions = {d["body"]["request_id"]: d["body"]["status"] for d in unstarted.records("decision")}
    assert decisions[reqs[denied_cmd]["request_id"]] == "denied"
    assert decisions[reqs[allowed_cmd]["request_id"]] == "allowed"
    (outcome,) = [o["body"] for o in unstarted.records("outcome")]
    assert outcome["request_id"] == reqs[allowed_cmd]["request_id"]
    assert outcome["input_digest"] == reqs[allowed_cmd]["action"]["input_digest"]
    assert not unstarted.records("violation")


def test_gemini_runs_nothing_when_the_daemon_is_down(
    unstarted: Hooked, markers: tuple[Path, Path], tmp_path: Path
) -> None:
    gemini = host_binary("gemini")
    assert cli_main(["init", "--gemini", str(unstarted.root)]) == 0
    _, allowed = markers
    home = tmp_path / "gemini-home"
    home.mkdir()
    with FakeGemini([f"echo good > {allowed}"]) as api:
        run_gemini(gemini, api, unstarted.root, home)
        responses = api.responses
    assert not allowed.exists(), "Gemini ran a tool call although the gate was unreachable"
    assert responses and "daemon is unreachable" in json.dumps(responses[0])
