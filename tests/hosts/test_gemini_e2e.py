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
from pathlib import Path

from fake_gemini import FakeGemini
from hostkit import Hooked, assert_gate_held, init_host, run_host, scripted_commands


def run_gemini(gemini: Path, api: FakeGemini, root: Path, home: Path) -> dict:
    (home / ".gemini").mkdir(exist_ok=True)
    (home / ".gemini" / "settings.json").write_text(
        json.dumps({"security": {"auth": {"selectedType": "gemini-api-key"}}})
    )
    out = run_host(
        [str(gemini), "-p", "Run the scripted steps.", "--output-format", "json", "--yolo"],
        root,
        ("GEMINI_", "GOOGLE_"),
        HOME=str(home),
        GOOGLE_GEMINI_BASE_URL=api.url,
        GEMINI_API_KEY="not-a-key",
        GEMINI_CLI_TRUST_WORKSPACE="true",
    )
    return json.loads(out[out.index("{") :])


def test_gemini_runs_the_allowed_command_and_not_the_denied_one(
    unstarted: Hooked, markers: tuple[Path, Path], tmp_path: Path
) -> None:
    gemini, home = init_host(unstarted, "gemini", "gemini", tmp_path)
    unstarted.start()
    denied, allowed = markers
    denied_cmd, allowed_cmd = scripted_commands(markers)
    with FakeGemini([denied_cmd, allowed_cmd]) as api:
        run_gemini(gemini, api, unstarted.root, home)
        responses = api.responses
    assert not denied.exists(), "Gemini ran a command the gate denied"
    assert allowed.read_text() == "good\n", "the command the gate allowed did not run"
    assert "rule no-force-push" in json.dumps(responses[0])
    assert_gate_held(unstarted, denied_cmd, allowed_cmd, actor="gemini")


def test_gemini_runs_nothing_when_the_daemon_is_down(
    unstarted: Hooked, markers: tuple[Path, Path], tmp_path: Path
) -> None:
    gemini, home = init_host(unstarted, "gemini", "gemini", tmp_path)
    _, allowed = markers
    with FakeGemini([scripted_commands(markers)[1]]) as api:
        run_gemini(gemini, api, unstarted.root, home)
        responses = api.responses
    assert not allowed.exists(), "Gemini ran a tool call although the gate was unreachable"
    assert responses and "daemon is unreachable" in json.dumps(responses[0])
