"""Helpers for the host hook tests: a project with a daemon in its own process, the hook run the way the
hosts' settings run it (`python -I -S …/forge_tui/hooks/run.py HOST --deadline S`, a subprocess with
the payload on standard input, in the project folder), and the hosts' documented payloads.

The root conftest isolates HOME, XDG_* and FORGE_*; the daemon and the hooks inherit that environment.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ledger_read import complete_records

from forge_tui.client import Client
from forge_tui.core.project import Project, init_project
from forge_tui.daemon.spawn import start_daemon, stop_daemon
from forge_tui.hooks.settings import HOOK_SCRIPT
from forge_tui.paths import atomic_write, socket_path
from forge_tui.protocol import LEDGER_QUERY

HOSTS_DIR = Path(__file__).resolve().parent


@dataclass
class Hooked:
    """A project, its daemon (None when not started) and helpers to drive and inspect it."""

    project: Project
    sock: Path
    proc: subprocess.Popen | None = None

    @property
    def root(self) -> Path:
        return self.project.root

    def start(self) -> None:
        self.proc = start_daemon(self.root, self.sock, log_path=self.root.parent / "daemon.log", timeout=60)

    def stop(self) -> None:
        if self.proc is not None:
            stop_daemon(self.proc)
            self.proc = None

    def hook(
        self, host: str, payload: Any, *, deadline: float = 60.0, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return subprocess.run(
            [sys.executable, "-I", "-S", str(HOOK_SCRIPT), host, "--deadline", str(deadline)],
            input=data,
            capture_output=True,
            cwd=self.root,
            env=env,
            timeout=deadline + 30,
        )

    def hook_async(self, host: str, payload: Any, *, deadline: float = 60.0) -> subprocess.Popen:
        p = subprocess.Popen(
            [sys.executable, "-I", "-S", str(HOOK_SCRIPT), host, "--deadline", str(deadline)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=self.root,
        )
        assert p.stdin is not None
        p.stdin.write(json.dumps(payload).encode())
        p.stdin.close()
        return p

    def records(self, type_: str | None = None) -> list[dict[str, Any]]:
        """The authoritative ledger's records, oldest first (optionally of one type)."""
        lid = self.project.local_ledger_id()
        path = self.project.state_dir / "ledger" / f"{lid}.jsonl"
        recs = complete_records(path)
        return [r for r in recs if type_ is None or r["type"] == type_]

    def query(self, **filters: Any) -> list[dict[str, Any]]:
        with Client(self.sock, client="test", timeout=10) as c:
            return c.call(LEDGER_QUERY, filters)["records"]

    def wait_for(self, cond: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
        """Poll `cond` until it returns something truthy (bounded; never a sleep as synchronisation)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = cond()
            if got:
                return got
            time.sleep(0.05)  # polling interval of a bounded condition loop
        raise AssertionError(f"timed out waiting for {what}")


def make_project(tmp_path: Path, policy: str | None = None) -> Hooked:
    root = tmp_path / "proj"
    root.mkdir()
    project = init_project(root, pack="solo", name="proj")
    if policy is not None:
        atomic_write(project.policy_path, policy.encode())
    return Hooked(project, socket_path(project.project_id))


def payload(host: str, event: str, tool: str, tool_input: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A documented payload of `host` for `event` ("pre" or "post")."""
    base: dict[str, Any] = {
        "session_id": "sess-1",
        "transcript_path": "/dev/null",
        "cwd": os.getcwd(),
        "tool_name": tool,
        "tool_input": tool_input,
    }
    if host == "gemini":
        base["hook_event_name"] = "BeforeTool" if event == "pre" else "AfterTool"
        base["timestamp"] = "2026-12-01T10:00:00.000Z"
    else:
        base["hook_event_name"] = "PreToolUse" if event == "pre" else "PostToolUse"
        base["permission_mode"] = "default"
        base["tool_use_id"] = extra.pop("tool_use_id", "toolu_1")
        if host == "codex":
            base.update(turn_id="turn-1", model="gpt-fake")
    if event == "post":
        base["tool_response"] = extra.pop("tool_response", {"stdout": "", "stderr": ""})
    base.update(extra)
    return base


SHELL_TOOL = {"claude-code": "Bash", "codex": "Bash", "gemini": "run_shell_command"}


REQUIRE_HOSTS = os.environ.get("FORGE_REQUIRE_HOSTS") == "1"  # set by .ci/run: CI must not skip these


def host_binary(name: str) -> Path:
    """The real CLI `name` (claude, codex, gemini) from tests/hosts/node_modules, or skip (fail in CI)."""
    path = HOSTS_DIR / "node_modules" / ".bin" / name
    if path.exists():
        return path
    if REQUIRE_HOSTS:
        pytest.fail(f"FORGE_REQUIRE_HOSTS=1 but {name} is not installed (.ci/install-hosts)")
    if shutil.which("npm") is None:
        pytest.skip(f"node/npm is missing: the real {name} CLI cannot be installed here")
    pytest.skip(f"{name} is not installed: run .ci/install-hosts (CI does)")


# ---- the real-CLI end-to-end tests (test_*_e2e.py) share these -----------------------------------------


def init_host(h: Hooked, name: str, flag: str, tmp_path: Path) -> tuple[Path, Path]:
    """The real CLI `name` and a fresh HOME for it, after `forge-tui init --<flag>` on the project."""
    from forge_tui.cli import main as cli_main

    binary = host_binary(name)
    assert cli_main(["init", f"--{flag}", str(h.root)]) == 0  # on the existing project
    home = tmp_path / f"{name}-home"
    home.mkdir()
    return binary, home


def scripted_commands(markers: tuple[Path, Path]) -> tuple[str, str]:
    """The two commands the stand-in model asks for: one the solo pack denies (it would write the first
    marker before a force push) and one it allows (it writes the second)."""
    denied, allowed = markers
    return f"echo bad > {denied}; git push --force origin main", f"echo good > {allowed}"


def claude_env(api_url: str, home: Path) -> dict[str, str]:
    """What Claude Code (the CLI, or the one the Claude Agent SDK bundles) needs to talk to the stand-in
    Messages API at `api_url` and nothing else: no telemetry, updates or error reports."""
    return {
        "ANTHROPIC_BASE_URL": api_url,
        "ANTHROPIC_API_KEY": "sk-ant-test-not-a-key",
        "HOME": str(home),
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }


def run_host(argv: list[str], root: Path, drop: tuple[str, ...], **env: str) -> str:
    """Run a host CLI headless in `root` with the test's environment minus the variables starting with
    `drop` (and PYTEST), plus `env`; fails unless it exits 0. Returns its standard output."""
    full = {k: v for k, v in os.environ.items() if not k.startswith((*drop, "PYTEST"))}
    full.update(env)
    p = subprocess.run(
        argv, cwd=root, env=full, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=240
    )
    assert p.returncode == 0, (
        f"{Path(argv[0]).name} exited {p.returncode}: {p.stdout[-1500:]} {p.stderr[-1500:]}"
    )
    return p.stdout


def assert_gate_held(
    h: Hooked, denied_cmd: str, allowed_cmd: str, *, actor: str | None = None, only: bool = True
) -> dict[str, Any]:
    """The ledger shows what a host run through the gate must leave: a request for each command (`only`
    these), denied and allowed, one outcome, of the allowed one with the digest of what ran, and no
    violation. Returns the outcome's body."""
    reqs = {r["body"]["action"]["command"]: r["body"] for r in h.records("request")}
    wanted = {denied_cmd, allowed_cmd}
    assert (set(reqs) == wanted) if only else (set(reqs) >= wanted), sorted(reqs)
    if actor is not None:
        assert {r["actor"]["id"] for r in reqs.values()} == {actor}
    decisions = {d["body"]["request_id"]: d["body"]["status"] for d in h.records("decision")}
    assert decisions[reqs[denied_cmd]["request_id"]] == "denied"
    assert decisions[reqs[allowed_cmd]["request_id"]] == "allowed"
    outcomes = [o["body"] for o in h.records("outcome")]
    assert [o["request_id"] for o in outcomes] == [reqs[allowed_cmd]["request_id"]]
    assert outcomes[0]["input_digest"] == reqs[allowed_cmd]["action"]["input_digest"]
    assert not h.records("violation")
    return outcomes[0]
