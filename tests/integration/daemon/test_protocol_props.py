"""Property tests of the daemon's JSON-RPC framing and parser (docs/design.md §9): every line gets exactly one
well-formed JSON-RPC response (none for a blank line or a notification), the daemon never crashes, and
the connection stays usable. (The shell splitter's properties live in tests/unit/test_shell.py.)"""

from __future__ import annotations

import json
import socket

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

POLICY = 'version = 1\ndefault = "ask"\n'
# Methods whose answer is immediate; gate.request / gate.wait may wait and queue.subscribe streams events.
METHODS = [
    "hello",
    "status",
    "queue.list",
    "queue.decide",
    "ledger.query",
    "gate.outcome",
    "ledger.note",
    "nope",
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
ids = (
    st.none()
    | st.integers(-(2**60), 2**60)
    | st.text(max_size=10)
    | st.booleans()
    | st.floats(allow_nan=False)
)
messages = st.fixed_dictionaries(
    {
        "jsonrpc": st.sampled_from(["2.0", "2.0", "2.0", "1.0"]),
        "method": st.sampled_from(METHODS) | st.text(max_size=8),
    },
    optional={"id": ids, "params": json_values},
)


class Line:
    """A blocking connection that sends one line and collects what answers it."""

    def __init__(self, path) -> None:
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(10)
        self.s.connect(str(path))
        self.buf = b""
        self.n = 0

    def _read_until(self, sentinel: str, want: int = 0) -> list[dict]:
        """Collect replies until the sentinel's answer has come and at least `want` other replies."""
        got: list[dict] = []
        seen_sentinel = False
        while not (seen_sentinel and len(got) >= want):
            while b"\n" not in self.buf:
                chunk = self.s.recv(1 << 16)
                assert chunk, "the daemon closed the connection"
                self.buf += chunk
            line, _, self.buf = self.buf.partition(b"\n")
            msg = json.loads(line)  # every line the daemon sends is JSON
            if msg.get("id") == sentinel and "result" in msg:
                seen_sentinel = True
                continue
            if msg.get("method") == "event":
                continue
            got.append(msg)
        return got

    def exchange(self, payload: bytes, want: int) -> list[dict]:
        """Send `payload` + LF and a hello sentinel; wait for the sentinel and `want` replies (replies to
        different requests may come in any order), then a second sentinel: any duplicate reply the daemon
        sent for `payload` before answering it is caught."""
        self.n += 1
        s1, s2 = f"sentinel-{self.n}-a", f"sentinel-{self.n}-b"
        hello = lambda sid: json.dumps({"jsonrpc": "2.0", "id": sid, "method": "hello"}).encode() + b"\n"  # noqa: E731
        self.s.sendall(payload + b"\n" + hello(s1))
        got = self._read_until(s1, want)
        self.s.sendall(hello(s2))
        return got + self._read_until(s2)

    def close(self) -> None:
        self.s.close()


def expected_replies(payload: bytes) -> tuple[int, object]:
    """(number of replies, expected id) per JSON-RPC 2.0 as the daemon implements it."""
    if not payload.strip():
        return 0, None
    try:
        msg = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return 1, None
    if type(msg) is not dict:
        return 1, None
    rid = msg.get("id")
    rid = rid if type(rid) in (int, str) else None
    if msg.get("jsonrpc") != "2.0" or type(msg.get("method")) is not str:
        return 1, rid
    if msg.get("params") is not None and type(msg.get("params")) is not dict:
        return 1, rid
    if "id" not in msg:
        return 0, None  # a notification is never answered
    return 1, rid


def check_reply(payload: bytes, got: list[dict]) -> None:
    n, rid = expected_replies(payload)
    assert len(got) == n, f"{payload[:200]!r} got {len(got)} replies: {got}"
    for r in got:
        assert r.get("jsonrpc") == "2.0" and "id" in r, r
        assert ("result" in r) != ("error" in r), r
        if "error" in r:
            assert type(r["error"]["code"]) is int and type(r["error"]["message"]) is str, r
        assert r["id"] == rid, f"reply id {r['id']!r} for request id {rid!r}"


def test_random_json_messages_get_exactly_one_well_formed_reply(make_world, thread_daemon):
    w = make_world(POLICY)
    thread_daemon(w)

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.one_of(messages, json_values))
    def prop(value):
        payload = json.dumps(value).encode()
        # A fresh connection per example: a late reply to an earlier example (hypothesis replays the same
        # payload while shrinking) cannot be mistaken for a duplicate.
        conn = Line(w.rsock)
        try:
            check_reply(payload, conn.exchange(payload, expected_replies(payload)[0]))
        finally:
            conn.close()

    prop()


def test_random_byte_lines_get_exactly_one_well_formed_reply(make_world, thread_daemon):
    w = make_world(POLICY)
    thread_daemon(w)
    conn = Line(w.rsock)  # one connection throughout: garbage must never spoil it

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.binary(max_size=300).map(lambda b: b.replace(b"\n", b" ")))
    def prop(payload):
        check_reply(payload, conn.exchange(payload, expected_replies(payload)[0]))

    prop()


def test_protocol_errors_each_get_their_code_and_the_connection_stays_usable(make_world, thread_daemon):
    """Broken if a malformed message is executed, answered with the wrong JSON-RPC error, or spoils the
    connection for the next request."""
    w = make_world(POLICY)
    thread_daemon(w)
    conn = Line(w.rsock)
    cases = [
        (b"{not json", -32700, None),
        (b"\xff\xfe\xfd", -32700, None),
        (b"[1, 2]", -32600, None),
        (b'{"jsonrpc": "1.0", "id": 1, "method": "hello"}', -32600, 1),
        (b'{"jsonrpc": "2.0", "id": {"a": 1}, "method": "hello"}', -32600, None),
        (b'{"jsonrpc": "2.0", "id": [7], "method": "status"}', -32600, None),
        (b'{"jsonrpc": "2.0", "id": true, "method": "hello"}', -32600, None),
        (b'{"jsonrpc": "2.0", "id": 2, "method": "no.such"}', -32601, 2),
        (b'{"jsonrpc": "2.0", "id": 3, "method": "hello", "params": [1]}', -32602, 3),
        (b'{"jsonrpc": "2.0", "id": 4, "method": "ledger.query", "params": {"limit": 0}}', -32602, 4),
    ]
    for payload, code, rid in cases:
        got = conn.exchange(payload, 1)
        assert len(got) == 1, (payload, got)
        assert "error" in got[0] and got[0]["error"]["code"] == code, (payload, got)
        assert got[0]["id"] == rid, (payload, got)
    ok = conn.exchange(b'{"jsonrpc": "2.0", "id": 9, "method": "hello"}', 1)
    assert ok[0]["id"] == 9 and ok[0]["result"]["protocol"] == 1, ok
    conn.close()
