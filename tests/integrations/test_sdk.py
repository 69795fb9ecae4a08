"""forge_tui.sdk against a real daemon: the decorator and the context manager, sync and async; allow,
deny, pending, daemon down; outcomes recorded after the call; standard library only.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading

import pytest
from integ_kit import REPO, by_request, review_socket

from forge_tui.sdk import Denied, Gate, GateUnavailable, approval, guard


def outcomes(world, request_id: str) -> list[dict]:
    return [r["body"] for r in by_request(world, request_id).get("outcome", [])]


@pytest.fixture
def sync_daemon(gate_world, thread_daemon):
    """A daemon on its own thread: sync SDK calls block the caller's thread, not the daemon's loop."""
    return thread_daemon(gate_world)


@pytest.fixture
def sync_world(gate_world, sync_daemon):
    return gate_world


def test_guard_allows_runs_and_records_success(sync_world):
    gate = Gate(socket=sync_world.sock, actor="sdk:test")
    ran = []

    @guard(kind="shell.exec", command="pytest {target}", summary="run the tests of {target}", gate=gate)
    def run_tests(target: str) -> str:
        ran.append(target)
        return "green"

    assert run_tests("tests/unit") == "green" and ran == ["tests/unit"]
    [req] = [r for r in sync_world.records() if r["type"] == "request"]
    assert req["body"]["action"]["command"] == "pytest tests/unit", "the command template was not filled"
    assert req["body"]["action"]["summary"] == "run the tests of tests/unit"
    assert req["body"]["action"]["input_digest"].startswith("sha256:")
    assert req["body"]["client"] == "sdk" and req["body"]["actor"]["kind"] == "agent"
    [out] = outcomes(sync_world, req["body"]["request_id"])
    assert (out["status"], out["detail"]) == ("succeeded", None), (
        "the success was not recorded after the call"
    )


def test_guard_denied_raises_before_the_call(sync_world):
    gate = Gate(socket=sync_world.sock)
    ran = []

    @guard(kind="shell.exec", command="git push --force", gate=gate)
    def push() -> None:
        ran.append(1)

    with pytest.raises(Denied) as info:
        push()
    assert not ran, "a denied function ran"
    assert info.value.reason == "force pushes rewrite shared history" and info.value.status == "denied"
    assert info.value.rule == "no-force-push" and info.value.request_id.startswith("r-")
    assert outcomes(sync_world, info.value.request_id) == [], "a denied call has an outcome"


def test_failure_recorded_with_the_exception_type(sync_world):
    gate = Gate(socket=sync_world.sock)
    with (
        pytest.raises(ValueError, match="secret detail"),
        approval("file.read", "read", paths=["a.txt"], gate=gate) as d,
    ):
        raise ValueError("secret detail")
    [out] = outcomes(sync_world, d.request_id)
    assert (out["status"], out["detail"]) == ("failed", "ValueError"), out
    assert "secret detail" not in str(sync_world.records()), "the exception's message reached the ledger"


def test_pending_is_denied_then_checked_after_approval(sync_world, sync_daemon):
    gate = Gate(socket=sync_world.sock, wait=0.2)
    with pytest.raises(Denied) as info, approval("deploy", "ship it", gate=gate):
        pytest.fail("the block ran while the request was pending")
    assert info.value.status == "pending" and info.value.request_id
    rid = info.value.request_id

    async def review() -> None:
        from gatehelp import sign
        from rpc_kit import RPC

        rev = await RPC.open(review_socket(sync_daemon, sync_world))
        try:
            item = next(p for p in (await rev.call("queue.list"))["pending"] if p["request_id"] == rid)
            await rev.call("queue.decide", sign(sync_world, "alice", item))
        finally:
            await rev.close()

    t = threading.Thread(target=asyncio.run, args=(review(),))
    t.start()
    t.join(30)
    d = gate.check(rid, wait=10)
    assert (d.status, d.decided_by) == ("allowed", "reviewers")


def test_daemon_down_fails_closed(tmp_path):
    gate = Gate(socket=tmp_path / "nobody.sock")
    ran = []

    @guard(kind="file.read", gate=gate)
    def read() -> None:
        ran.append(1)

    with pytest.raises(GateUnavailable, match="daemon unreachable"):
        read()
    assert not ran, "with no daemon the function ran"


def test_outside_a_project_fails_closed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(GateUnavailable, match="not inside a forge-tui project"), approval("file.read", "x"):
        pytest.fail("ran with no project")


async def test_async_guard_and_async_with(gate_world, start_daemon):
    await start_daemon(gate_world)
    gate = Gate(socket=gate_world.sock)
    ran = []

    @guard(kind="shell.exec", command="pytest -q", gate=gate)
    async def tests() -> int:
        await asyncio.sleep(0)
        ran.append("tests")
        return 0

    @guard(kind="shell.exec", command="git push --force", gate=gate)
    async def push() -> None:
        ran.append("push")

    assert await tests() == 0
    with pytest.raises(Denied, match="force pushes"):
        await push()
    assert ran == ["tests"], "the denied coroutine ran"

    with pytest.raises(KeyError):
        async with approval("file.read", "read", paths=["b"], gate=gate) as d:
            raise KeyError("x")
    assert [o["status"] for o in outcomes(gate_world, d.request_id)] == ["failed"]
    assert outcomes(gate_world, d.request_id)[0]["detail"] == "KeyError"

    down = Gate(socket=gate_world.home / "none.sock")
    with pytest.raises(GateUnavailable):
        async with approval("file.read", "x", gate=down):
            pytest.fail("ran with no daemon")


def test_sdk_imports_only_the_standard_library():
    code = (
        "import sys; before = set(sys.modules); import forge_tui.sdk; "
        "extra = sorted(m for m in set(sys.modules) - before "
        "if m.split('.')[0] not in sys.stdlib_module_names and m.split('.')[0] != 'forge_tui'); "
        "print(','.join(extra))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "", f"import forge_tui.sdk loaded third-party modules: {out.stdout}"
    assert "mcp" not in out.stdout
