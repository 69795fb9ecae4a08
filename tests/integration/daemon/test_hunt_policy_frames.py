"""The policy worker's wire (daemon/policy_worker.py FrameReader on both ends) with frames cut at every
byte in both directions, and a worker that dies in the middle of a frame.

Fails if a frame cut across reads is lost, merged or misread on either side (the worker would decide
the wrong request, or the daemon read the wrong answer), or if a partial frame left behind by a dead
worker leaves the callers waiting or is taken for a decision (fail open)."""

from __future__ import annotations

import asyncio
import sys

import pytest
from gatehelp import worker_ready

from forge_tui.core.policy import decide, parse_policy
from forge_tui.core.policy.model import Context
from forge_tui.daemon import policy_offload
from forge_tui.daemon.policy_offload import WorkerStopped

POLICY = b"""version = 1
default = "ask"

[[rule]]
id = "tests"
match = { kind = "shell.exec", command = ["pytest*"] }
decision = "allow"

[[rule]]
id = "no-rm"
match = { kind = "shell.exec", command = ["rm *"] }
decision = "deny"
"""

ACTIONS = [
    {"kind": "shell.exec", "command": "pytest -q tests/test_a.py"},
    {"kind": "shell.exec", "command": "rm -rf build"},
    {"kind": "shell.exec", "command": "make all"},
    {"kind": "shell.exec", "command": "pytest && rm -rf /"},
    {"kind": "file.write", "paths": ["src/a.py"]},
]

# The real worker, its socket wrapped: every recv gives at most one byte and every answer leaves one
# byte per send, so each FrameReader sees every frame cut at every byte.
_DRIBBLING_WORKER = """
import sys, socket
from forge_tui.daemon import policy_worker as pw

class Dribble:
    def __init__(self, s):
        self.s = s
    def recv(self, n):
        return self.s.recv(1)
    def sendall(self, data):
        for i in range(len(data)):
            self.s.sendall(data[i : i + 1])

s = socket.socket(fileno=int(sys.argv[1]))
try:
    pw.serve(Dribble(s))
except (BrokenPipeError, ConnectionResetError):
    pass
"""

# Ready, then the first answer cut short: its header and half its body, and the worker exits.
_DYING_WORKER = """
import pickle, socket, struct, sys
s = socket.socket(fileno=int(sys.argv[1]))
ready = pickle.dumps((0, None, None))
s.sendall(struct.pack(">I", len(ready)) + ready)
s.recv(1 << 16)
body = pickle.dumps((1, None, None))
s.sendall(struct.pack(">I", len(body)) + body[: len(body) // 2])
s.close()
"""

# Ready, then only two bytes of a header, and the worker exits.
_HALF_HEADER_WORKER = """
import pickle, socket, struct, sys
s = socket.socket(fileno=int(sys.argv[1]))
ready = pickle.dumps((0, None, None))
s.sendall(struct.pack(">I", len(ready)) + ready)
s.recv(1 << 16)
s.sendall(b"\\x00\\x00")
s.close()
"""


def _use_worker(monkeypatch, script: str) -> None:
    monkeypatch.setattr(policy_offload, "worker_argv", lambda fd: [sys.executable, "-c", script, str(fd)])


async def test_frames_cut_at_every_byte_both_ways_decide_as_in_process(offload, tmp_path, monkeypatch):
    _use_worker(monkeypatch, _DRIBBLING_WORKER)
    policy = parse_policy(POLICY)
    other = parse_policy(b'version = 1\ndefault = "deny"\n')
    context = Context.for_project(tmp_path)
    await worker_ready(offload)
    order = [(policy, a) for a in ACTIONS] + [(other, a) for a in ACTIONS] + [(policy, a) for a in ACTIONS]
    got = await asyncio.wait_for(
        asyncio.gather(*(offload.evaluate(p, context, a, frozenset()) for p, a in order)), 60
    )
    for (p, a), ev in zip(order, got, strict=True):
        assert ev == decide(p, a, context), f"{a} was decided otherwise through the cut frames"
    assert offload.lost == 0 and offload.evaluated == len(order), "not every answer came from the worker"


@pytest.mark.parametrize("script", [_DYING_WORKER, _HALF_HEADER_WORKER], ids=["half_body", "half_header"])
async def test_a_worker_dying_mid_frame_fails_what_it_owed(offload, tmp_path, monkeypatch, script):
    _use_worker(monkeypatch, script)
    policy = parse_policy(POLICY)
    context = Context.for_project(tmp_path)
    await worker_ready(offload)
    owed = [asyncio.ensure_future(offload.evaluate(policy, context, a, frozenset())) for a in ACTIONS[:3]]
    for fut in owed:
        with pytest.raises(WorkerStopped):
            await asyncio.wait_for(fut, 30)
    assert offload.pending == 0
    assert offload.lost >= 1
