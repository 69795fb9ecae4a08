"""SIGKILL mid-load (docs/design.md §4.6: a request is answered only after its decision record is durable).

A real daemon process serves 32 concurrent agents whose requests the policy allows or denies; after N
decisions have been heard it is killed with SIGKILL while requests are still in flight, then restarted.
Every decision any agent heard must be in the ledger exactly as told (request id, seq, status, rule, and
the request record its hash names, with the agent's own command); no request record may lack its
decision; the restarted daemon serves again; and `forge-tui verify` passes on the recovered ledger.
"""

from __future__ import annotations

import json
import signal
import threading

from gatehelp import SMALL_POLICY as POLICY
from gatehelp import run_cli, spawn_daemon, wait_for_socket

from forge_tui.client import Client, DaemonUnavailable, RPCError
from forge_tui.core.merkle import leaf_hash

CLIENTS = 32
KILL_AFTER = 400  # decisions heard before the SIGKILL


def test_sigkill_mid_load_loses_no_decision_anyone_heard(make_world):
    w = make_world(POLICY)
    proc = spawn_daemon(w)
    procs = [proc]
    try:
        wait_for_socket(w.sock, proc)
        heard: list[dict] = []  # (the decision as told, plus what was asked)
        failures: list[BaseException] = []
        lock = threading.Lock()
        enough = threading.Event()

        def agent(n: int) -> None:
            try:
                with Client(w.sock, timeout=20) as c:
                    i = 0
                    while True:
                        i += 1
                        deny = (i + n) % 4 == 0
                        command = f"rm -rf build-{n}-{i}" if deny else f"pytest -k a{n}_{i}"
                        params = {
                            "action": {"kind": "shell.exec", "command": command},
                            "actor": {"id": f"agent-{n}", "session": f"s{n}"},
                        }
                        res = c.call("gate.request", params)
                        with lock:
                            heard.append({**res, "command": command, "deny": deny})
                            if len(heard) >= KILL_AFTER:
                                enough.set()
            except DaemonUnavailable:
                return  # the daemon was killed under us: expected, and proof the load was still running
            except (RPCError, AssertionError) as exc:
                failures.append(exc)
                enough.set()

        threads = [threading.Thread(target=agent, args=(n,), daemon=True) for n in range(CLIENTS)]
        for t in threads:
            t.start()
        assert enough.wait(timeout=60), "the daemon never reached the kill point"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        for t in threads:
            t.join(timeout=30)
        assert not [t for t in threads if t.is_alive()], "an agent hung after the daemon died"
        assert not failures, failures
        assert proc.returncode == -signal.SIGKILL
        told = list(heard)
        assert len(told) >= KILL_AFTER

        # Restart: the ledger is recovered and the daemon serves again.
        proc2 = spawn_daemon(w)
        procs.append(proc2)
        wait_for_socket(w.sock, proc2)
        with Client(w.sock, timeout=20) as c:
            after = c.call(
                "gate.request",
                {"action": {"kind": "shell.exec", "command": "pytest after"}, "actor": {"id": "late"}},
            )
        assert (after["status"], after["rule"]) == ("allowed", "tests"), after

        lines = w.ledger_lines()
        records = [json.loads(line) for line in lines]
        assert [r["seq"] for r in records] == list(range(len(records))), "seq gap after recovery"
        leaf = {leaf_hash(line).hex(): rec for line, rec in zip(lines, records, strict=True)}
        decisions = {r["body"]["request_id"]: r for r in records if r["type"] == "decision"}
        for t in told:
            dec = decisions.get(t["request_id"])
            assert dec is not None, f"a decision an agent heard is not in the ledger: {t}"
            b = dec["body"]
            assert dec["seq"] == t["seq"], (dec, t)
            assert (b["status"], b["rule"], b["decided_by"]) == (t["status"], t["rule"], "policy"), (b, t)
            assert t["status"] == ("denied" if t["deny"] else "allowed"), t
            req = leaf.get(b["request_hash"])
            assert req is not None and req["type"] == "request", f"decision names no request record: {b}"
            assert req["body"]["request_id"] == t["request_id"], (req, t)
            assert req["body"]["action"]["command"] == t["command"], "the decision is bound to another action"
        requested = {r["body"]["request_id"] for r in records if r["type"] == "request"}
        assert requested == set(decisions), "a request record without its decision (or the reverse)"
        assert after["request_id"] in decisions

        proc2.send_signal(signal.SIGTERM)
        assert proc2.wait(timeout=20) == 0, proc2.stderr.read()
        r = run_cli(w, "verify")
        assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=10)
            for f in (p.stdout, p.stderr):
                if f:
                    f.close()
