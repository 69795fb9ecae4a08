"""A flood of session ids (issue 10: past 10,000 sessions 1,295 -> 228 req/s and ~46 MB per 24k
sessions). Per-session state is an LRU of at most SESSION_MEMORY sessions and the rate limit counts by
peer, so new session ids cost neither memory nor time: this test shrinks the bound and floods past it.
(The throughput and RSS over a 40,000-session flood are measured by bench/soak.py, BENCHMARKS.md.)"""

from __future__ import annotations

from gatehelp import SMALL_POLICY, req, verify_clean

from forge_tui.daemon import gate as gate_module

POLICY = SMALL_POLICY.replace('approval_timeout = "10m"', 'approval_timeout = "10m"\nmax_per_minute = 100000')
BOUND = 40


async def test_a_flood_of_session_ids_keeps_per_session_state_bounded(
    make_world, start_daemon, connect, monkeypatch
):
    """Broken if a session id never seen before adds state that is never forgotten: the per-session
    history and prior-step memory would grow with the flood, and the rate limiter would keep a key per
    session (a fresh budget for each, and memory for each)."""
    monkeypatch.setattr(gate_module, "SESSION_MEMORY", BOUND)
    world = make_world(POLICY)
    d = await start_daemon(world)
    c = await connect(world.sock)
    for i in range(BOUND * 5):
        res = await c.call("gate.request", req("pytest -q", session=f"flood-{i}"))
        assert res["status"] == "allowed"
        await c.call("gate.outcome", {"request_id": res["request_id"], "status": "succeeded"})
    g = d.gate
    assert len(g.session_history) <= BOUND, "session history grows with every new session id"
    assert len(g.session_successes) <= BOUND, "prior-step memory grows with every new session id"
    assert list(g.session_history)[-1] == f"flood-{BOUND * 5 - 1}"  # the newest kept, the oldest gone
    assert "flood-0" not in g.session_history
    assert len(d.policies.limiter._hits) == 1, "the rate limit keeps a key per session, not per peer"
    # The session still in memory is the one that asks again: its history is there.
    res = await c.call("gate.request", req("pytest -q", session=f"flood-{BOUND * 5 - 1}"))
    assert res["status"] == "allowed"
    assert len(g.session_history[f"flood-{BOUND * 5 - 1}"]) == 2
    await d.stop()
    verify_clean(world)
