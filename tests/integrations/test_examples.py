"""The framework examples in examples/, each run for real as its own process against a real daemon:
the allowed command runs and its outcome is recorded, the denied one never runs (its side effect,
a file, must not appear) and has no outcome, and with no daemon nothing runs.

LangGraph and AutoGen are in the test extra. CrewAI is not (about 1 GB with its dependencies, minutes
to install, and it pins mcp<2): its test runs where `crewai` imports, or in the interpreter named by
FORGE_TEST_CREWAI_PYTHON (the SDK is standard library only, so any environment can use this checkout);
.ci/run installs it in its own venv and sets that variable, so in CI it runs.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest
from integ_kit import REPO, by_request, child_env

EXAMPLES = REPO / "examples"
ALLOWED = "echo example-ran-ok"
DENIED = "git push --force origin main; touch pushed"  # one part denied: the whole line is


def interpreter_with(module: str, env_var: str) -> str | None:
    if os.environ.get(env_var):
        return os.environ[env_var]
    return sys.executable if importlib.util.find_spec(module) is not None else None


def run_example(world, python: str, name: str, *commands: str) -> subprocess.CompletedProcess:
    env = child_env(world, CREWAI_TRACING_ENABLED="false", OTEL_SDK_DISABLED="true")
    return subprocess.run(
        [python, "-W", "ignore", str(EXAMPLES / name), *commands],
        cwd=world.project.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def check_ledger(world, actor: str) -> None:
    reqs = [
        r["body"] for r in world.records() if r["type"] == "request" and r["body"]["actor"]["id"] == actor
    ]
    assert [r["action"]["command"] for r in reqs] == [ALLOWED, DENIED], reqs
    ok, no = (by_request(world, r["request_id"]) for r in reqs)
    assert ok["decision"][0]["body"]["status"] == "allowed"
    assert no["decision"][0]["body"]["status"] == "denied"
    assert "outcome" not in no, "the denied call has an outcome: it ran"
    assert not (world.project.root / "pushed").exists(), "the denied command ran"


@pytest.fixture
def daemon_world(gate_world, thread_daemon):
    thread_daemon(gate_world)
    return gate_world


def test_langgraph_tool_node(daemon_world):
    pytest.importorskip("langgraph", reason="langgraph is part of the test extra")
    done = run_example(daemon_world, sys.executable, "langgraph_tool_node.py", ALLOWED, DENIED)
    assert done.returncode == 0, done.stderr
    assert "[success] example-ran-ok" in done.stdout, done.stdout
    assert "[error] Denied by forge-tui: force pushes rewrite shared history" in done.stdout, done.stdout
    check_ledger(daemon_world, "langgraph:example")
    ok = by_request(
        daemon_world, next(r["body"]["request_id"] for r in daemon_world.records() if r["type"] == "request")
    )
    assert ok["outcome"][0]["body"]["status"] == "succeeded", "the allowed call's outcome is missing"


def test_langgraph_without_daemon_runs_nothing(gate_world):
    pytest.importorskip("langgraph", reason="langgraph is part of the test extra")
    done = run_example(gate_world, sys.executable, "langgraph_tool_node.py", "touch ran")
    assert done.returncode == 0, done.stderr
    assert "Denied by forge-tui: daemon unreachable" in done.stdout, done.stdout
    assert not (gate_world.project.root / "ran").exists(), "with no daemon the tool ran"


def test_autogen_code_executor(daemon_world):
    pytest.importorskip("autogen_agentchat", reason="autogen-agentchat is part of the test extra")
    done = run_example(daemon_world, sys.executable, "autogen_code_executor.py", ALLOWED, DENIED)
    assert done.returncode == 0, done.stderr
    assert "example-ran-ok" in done.stdout
    assert "not approved" in done.stdout and "force pushes rewrite shared history" in done.stdout, done.stdout
    check_ledger(daemon_world, "autogen:example")


CREWAI_SKIP = (
    "crewai is not importable here and FORGE_TEST_CREWAI_PYTHON is unset: it is not in the test extra "
    "(about 1 GB, minutes to install, pins mcp<2)"
)


def test_crewai_hook(daemon_world):
    python = interpreter_with("crewai", "FORGE_TEST_CREWAI_PYTHON")
    if python is None:
        pytest.skip(CREWAI_SKIP)
    done = run_example(daemon_world, python, "crewai_hook.py", ALLOWED, DENIED)
    assert done.returncode == 0, done.stderr[-3000:]
    check_ledger(daemon_world, "crewai:example")
    ok = by_request(
        daemon_world, next(r["body"]["request_id"] for r in daemon_world.records() if r["type"] == "request")
    )
    assert ok["outcome"][0]["body"]["status"] == "succeeded", "the allowed call's outcome is missing"


def test_crewai_hook_without_daemon_runs_nothing(gate_world):
    python = interpreter_with("crewai", "FORGE_TEST_CREWAI_PYTHON")
    if python is None:
        pytest.skip(CREWAI_SKIP)
    done = run_example(gate_world, python, "crewai_hook.py", "touch ran")
    assert done.returncode == 0, done.stderr[-3000:]
    assert not (gate_world.project.root / "ran").exists(), "CrewAI ran the tool although the gate failed"
