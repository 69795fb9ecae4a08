"""Daemon.stop() closes every client connection and ends every task it started for them (docs/design.md §2: the
daemon stops cleanly), so nothing is left for the event loop to destroy while pending: requests in flight
get their answer (pending ones are denied), idle and half-written connections see EOF, and a peer that
never reads its replies is cut off instead of holding the shutdown."""

from __future__ import annotations

import asyncio
import json

from gatehelp import req

POLICY = 'version = 1\ndefault = "ask"\napproval_timeout = "10m"\n'


async def _readline(reader: asyncio.StreamReader) -> dict:
    return json.loads(await asyncio.wait_for(reader.readline(), 10))


async def test_stop_answers_in_flight_requests_closes_every_connection_and_leaves_no_task(
    make_world, start_daemon
):
    w = make_world(POLICY)
    d = await start_daemon(w)
    path = str(w.rsock)  # the reviewer socket answers every method
    idle = await asyncio.open_unix_connection(path)
    half = await asyncio.open_unix_connection(path)
    half[1].write(b'{"jsonrpc": "2.0", "id": 1, "meth')  # half a line, then silence
    sub = await asyncio.open_unix_connection(path)
    sub[1].write(b'{"jsonrpc":"2.0","id":1,"method":"queue.subscribe"}\n')
    assert (await _readline(sub[0]))["result"] == {"subscribed": True}
    waiter = await asyncio.open_unix_connection(path)
    params = req("make build", wait_s=60)
    waiter[1].write(
        json.dumps({"jsonrpc": "2.0", "id": 7, "method": "gate.request", "params": params}).encode()
    )
    waiter[1].write(b"\n")
    while True:  # the request is queued once its request.new event reaches the subscriber
        ev = await _readline(sub[0])
        if ev.get("method") == "event" and ev["params"]["type"] == "request.new":
            break
    # A peer that floods requests and never reads: its socket buffers fill up and writes block.
    slow = await asyncio.open_unix_connection(path)
    slow[1].write(b'{"jsonrpc":"2.0","id":1,"method":"status"}\n' * 20000)
    await slow[1].drain()

    assert len(d.connections) == 5, "the daemon does not track its connections"
    conn_tasks = list(d.connections.values())
    await asyncio.wait_for(d.stop(), 15)

    assert all(t.done() for t in conn_tasks), (
        "a connection task outlived stop(): it would be destroyed pending"
    )
    assert not d.connections
    leftovers = [
        t
        for t in asyncio.all_tasks()
        if t is not asyncio.current_task() and "forge_tui" in repr(t.get_coro())
    ]
    assert not leftovers, f"daemon tasks still pending after stop(): {leftovers}"
    reply = await _readline(waiter[0])
    assert reply["id"] == 7 and reply["result"]["status"] == "denied", reply
    assert reply["result"]["decided_by"] == "fallback", reply
    for r, _ in (idle, half, waiter):
        assert await asyncio.wait_for(r.read(), 10) == b"", "a connection was left open after stop()"
    rest = await asyncio.wait_for(sub[0].read(), 10)  # maybe a request.decided event, then EOF
    assert all(json.loads(line)["method"] == "event" for line in rest.splitlines()), rest[:200]
    for _, wr in (idle, half, sub, waiter, slow):
        wr.close()
