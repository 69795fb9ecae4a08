"""The policy worker: a child process of the daemon that runs `decide()` off the event loop.

`decide(policy, action, context)` is a pure function of its arguments (core/policy/evaluate.py), so it
can run in another process and give the same Evaluation: the daemon's event loop, which the GIL ties
to one core, then spends a pickle each way instead of the whole evaluation (daemon/policy_offload.py is
the daemon's side). Started as `python -m forge_tui.daemon.policy_worker FD` with FD one end of a Unix
socket pair; it exits when the daemon closes its end (or dies: the socket then reads as closed).

Frames both ways: a 4-byte big-endian length, then a pickle. The daemon sends, in order,
  (SET_POLICY, policy)              the policy later requests are decided under,
  (SET_CONTEXT, context)            the Context later requests are decided in (without prior steps),
  (EVALUATE, id, action, prior)     decide `action` with `prior` as the prior succeeded rule ids;
the worker answers each EVALUATE with (id, wire, None), `wire` the Evaluation as plain tuples
(`evaluation_wire`, read back by `evaluation_from_wire`: a pickle of strings and tuples costs both
sides a third of one of the dataclasses), or (id, None, "why") when it raised, in the order received,
and first sends (READY, None, None) once it is loaded. Only the daemon's own child reads the daemon's
pickles and the other way round (same user, a private socket pair).
"""

from __future__ import annotations

import os
import pickle
import signal
import socket
import struct
import sys
from dataclasses import replace

from forge_tui.core.policy import decide, default_policy
from forge_tui.core.policy.model import Context, Evaluation, PartDecision, RuleMatch

HEADER = struct.Struct(">I")
EVALUATE, SET_POLICY, SET_CONTEXT = 0, 1, 2
READY = 0  # the id of the worker's first frame (request ids start at 1)
RECV_CHUNK = 1 << 16


def frame(obj: object, _dumps=pickle.dumps, _pack=HEADER.pack, _protocol=pickle.HIGHEST_PROTOCOL) -> bytes:
    data = _dumps(obj, _protocol)
    return _pack(len(data)) + data


# The fields `evaluation_wire` sends, in order (tests/unit/test_policy_wire.py holds them to the
# dataclasses': a field added there and not here fails that test, never silently drops a value).
EVALUATION_FIELDS = (
    "decision", "rule", "rules", "reason", "approvals", "distinct_from", "missing_prior", "matches",
    "parts", "unparseable", "instead",
)  # fmt: skip
RULE_MATCH_FIELDS = ("rule_id", "decision", "why")
PART_DECISION_FIELDS = ("kind", "text", "decision", "rule", "via")


def evaluation_wire(ev: Evaluation) -> tuple:
    """The Evaluation as a tuple of its fields (EVALUATION_FIELDS), its matches and parts as tuples of
    theirs: what the worker pickles instead of the dataclasses."""
    return (
        ev.decision,
        ev.rule,
        ev.rules,
        ev.reason,
        ev.approvals,
        ev.distinct_from,
        ev.missing_prior,
        tuple([(m.rule_id, m.decision, m.why) for m in ev.matches]),
        tuple([(p.kind, p.text, p.decision, p.rule, p.via) for p in ev.parts]),
        ev.unparseable,
        ev.instead,
    )


def evaluation_from_wire(wire: tuple) -> Evaluation:
    """The Evaluation `evaluation_wire` gave `wire` for (equal in every field)."""
    decision, rule, rules, reason, approvals, distinct_from, missing, matches, parts, unparseable, instead = (
        wire
    )
    return Evaluation(
        decision,
        rule,
        rules,
        reason,
        approvals,
        distinct_from,
        missing,
        # one match and one part are what most decisions have: built without a list in between
        (RuleMatch(*matches[0]),) if len(matches) == 1 else tuple([RuleMatch(*m) for m in matches]),
        (PartDecision(*parts[0]),) if len(parts) == 1 else tuple([PartDecision(*p) for p in parts]),
        unparseable,
        instead,
    )


class FrameReader:
    """The frames of a byte stream, read in place: `feed(data)` gives the body of every frame `data`
    completes (views into the bytes received, no copies: `pickle.loads` reads them as they are) and
    keeps a partial frame for the next call (tests/unit/test_policy_wire.py holds it to a plain
    split of the stream, however the stream is cut)."""

    __slots__ = ("_rest",)

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, data: bytes) -> list[memoryview]:
        if self._rest:
            data = self._rest + data
        n = len(data)
        view = memoryview(data)
        out: list[memoryview] = []
        pos = 0
        unpack, size = _unpack_header, _HEADER_SIZE
        while n - pos >= size:
            end = pos + size + unpack(data, pos)[0]
            if end > n:
                break
            out.append(view[pos + size : end])
            pos = end
        self._rest = data[pos:] if pos < n else b""
        return out


_unpack_header, _HEADER_SIZE = HEADER.unpack_from, HEADER.size


class _State:
    def __init__(self) -> None:
        self.policy = default_policy()
        self.context = Context(project_root=os.getcwd())  # replaced before the first request

    def handle(self, msg: tuple) -> bytes | None:
        tag = msg[0]
        if tag == SET_POLICY:
            self.policy = msg[1]
            return None
        if tag == SET_CONTEXT:
            self.context = msg[1]
            return None
        _, rid, action, prior = msg
        return self.evaluate(rid, action, prior)

    def evaluate(self, rid: int, action, prior: frozenset[str]) -> bytes:
        try:
            ctx = self.context if not prior else replace(self.context, prior_succeeded=prior)
            return frame((rid, evaluation_wire(decide(self.policy, action, ctx)), None))
        except Exception as exc:  # the daemon denies (builtin:policy-error), as for a raise in-process
            return frame((rid, None, f"{type(exc).__name__}: {exc}"))


def serve(sock: socket.socket) -> None:
    state = _State()
    sock.sendall(frame((READY, None, None)))
    reader = FrameReader()
    recv, send, loads, handle = sock.recv, sock.sendall, pickle.loads, state.handle
    while True:
        chunk = recv(RECV_CHUNK)
        if not chunk:
            return  # the daemon closed its end or is gone
        for m in reader.feed(chunk):
            reply = handle(loads(m))
            if reply is not None:
                # Each answer leaves as soon as it is decided: the daemon builds and signs the records of
                # the first requests of a burst while this worker still decides the rest (one write for
                # a whole burst made the two processes take turns).
                send(reply)


def main(argv: list[str]) -> int:
    # A Ctrl-C in the daemon's terminal reaches the whole process group: the daemon stops, and this
    # worker with it once the daemon closes the socket (never while the daemon still asks).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    fd = int(argv[0])
    sock = socket.socket(fileno=fd)
    try:
        serve(sock)
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
