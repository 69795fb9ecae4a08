"""The record summaries verify's workers send back (verify_chunk: plain rows by class index, rebuilt by
`summaries.unpack`) must be exactly the typed NamedTuples the forensic rules read — the right class
(the rules dispatch on `type(s) is ...`), every field in its place — for every record type and for
bodies whose fields have the wrong shape. A row out of place would make a rule read the wrong field
and miss a violation."""

from __future__ import annotations

import hashlib

import pytest

from forge_tui.core import summaries as S
from forge_tui.core import verify_chunk as C
from forge_tui.core.jcs import canonical, parse_canonical
from forge_tui.core.records import ZERO_HASH

LOG = "forge-tui.local/p/l"
TS = "2026-11-25T14:00:00.000Z"
ACTION = {"kind": "shell.exec", "command": "ls", "paths": [], "tool": "Bash"}
APPROVAL = {"request_id": "r1", "reviewer": "alice", "verdict": "approve"}

# (type, body, the summary the forensic rules must get, with "LEAF" for the record's leaf hash)
CASES = [
    (
        "request",
        {
            "request_id": "r1",
            "actor": {"id": "claude", "kind": "agent", "session": "s1"},
            "action": ACTION,
            "client": "hook",
            "principal": "dev",
            "requirement": "JIRA-1",
            "process": {"sandboxed": True, "pid": 4},
        },
        S.RequestSummary(TS, "r1", "claude", "agent", "dev", "s1", "LEAF", ACTION, "JIRA-1", True),
    ),
    (
        "request",
        {"request_id": 7, "actor": ["x"], "action": "rm", "client": "hook", "process": 3},
        S.RequestSummary(TS, 7, None, None, None, None, "LEAF", {}, None, None),
    ),
    (
        "decision",
        {
            "request_id": "r1",
            "request_hash": "ab" * 32,
            "status": "allowed",
            "decided_by": "policy",
            "rule": "allow-ls",
            "reason": "matched",
            "policy_digest": "cd" * 32,
            "approvals_needed": 2,
            "distinct_from": ["requester", 5, "principal"],
            "rules": ["allow-ls", None],
        },
        S.DecisionSummary(
            TS,
            "r1",
            "ab" * 32,
            "allowed",
            "policy",
            "allow-ls",
            "cd" * 32,
            2,
            ("requester", "principal"),
            ("allow-ls",),
        ),
    ),
    (
        "decision",
        {
            "request_id": "r1",
            "request_hash": None,
            "status": "pending",
            "decided_by": "reviewers",
            "rule": None,
            "reason": "",
            "policy_digest": None,
            "distinct_from": "requester",
        },
        S.DecisionSummary(TS, "r1", None, "pending", "reviewers", None, None, None, (), ()),
    ),
    (
        "approval",
        {"approval": APPROVAL, "reviewer_kid": "k1", "reviewer_sig": "c2ln"},
        S.ApprovalSummary(TS, APPROVAL, "k1", "c2ln", True, ""),  # no such reviewer: not judged here
    ),
    (
        "approval",
        {"approval": [1], "reviewer_kid": "k1", "reviewer_sig": None},
        S.ApprovalSummary(TS, None, "k1", None, True, ""),
    ),
    (
        "outcome",
        {
            "request_id": "r1",
            "status": "succeeded",
            "commit": "abc",
            "tool_use_id": "t1",
            "input_digest": "d",
        },
        S.OutcomeSummary(TS, "r1", "succeeded", "abc", "t1", "d"),
    ),
    ("outcome", {"request_id": "r1", "status": "failed"}, S.OutcomeSummary(TS, "r1", "failed")),
    (
        "policy",
        {"digest": "ef" * 32, "path": ".forge/policy.toml"},
        S.PolicySummary(TS, "ef" * 32, None, ".forge/policy.toml"),
    ),
    (
        "key",
        {"action": "rotate", "vkey": "v", "from_seq": 9},
        S.KeySummary(TS, "key", "rotate", "v", 9, None),
    ),
    (
        "reviewer",
        {"action": "enrol", "name": "bob", "vkey": "w", "from_seq": 3},
        S.KeySummary(TS, "reviewer", "enrol", "w", 3, "bob"),
    ),
    ("genesis", {"project_id": "p", "ledger_id": "l", "vkey": "v0"}, S.GenesisSummary(TS, "v0")),
    (
        "violation",
        {"kind": "bypass", "detail": "ran Bash", "request_id": "r2"},
        S.ViolationSummary(TS, "bypass", "r2", "ran Bash"),
    ),
    ("note", {"text": "clock", "kind": "clock", "previous_ts": TS}, S.ClockSummary(TS, TS)),
    ("note", {"text": "hello"}, None),
    ("recovery", {"torn_bytes": 3, "torn_sha256": "00" * 32}, None),
]


def _line(seq: int, type_: str, body: dict) -> bytes:
    rec = {
        "v": 1,
        "log": LOG,
        "seq": seq,
        "ts": TS,
        "type": type_,
        "prev": "ab" * 32,
        "kid": LOG + "+01020304",
        "body": body,
        "sig": "A" * 86 + "==",
    }
    return canonical(rec)


def _expected(want, line: bytes):
    if type(want) is S.RequestSummary:
        return want._replace(leaf=hashlib.sha256(b"\x00" + line).hexdigest())
    return want


@pytest.mark.parametrize(("type_", "body", "want"), CASES)
def test_summarise_gives_each_field_its_place(type_, body, want):
    line = _line(3, type_, body)
    got = S.summarise(parse_canonical(line), line)
    if want is None:
        assert got is None
        return
    want = _expected(want, line)
    if type(want) is S.ApprovalSummary:  # summarise leaves the reviewer signature to the worker
        want = want._replace(sig_checked=False, sig_error=None)
    assert type(got) is type(want) and got == want and len(got) == len(type(want)._fields)


def test_the_workers_summaries_are_the_typed_summaries(tmp_path):
    """check_chunk's summaries, sent as rows and rebuilt, equal the NamedTuples record by record."""
    lines = [_line(seq, t, body) for seq, (t, body, _want) in enumerate(CASES)]
    path = tmp_path / "l.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    res = C.check_chunk(str(path), 0, path.stat().st_size, 0, ZERO_HASH.encode(), LOG, [], False, None)
    assert res.count == len(CASES)
    assert not any(code == "malformed" for _seq, code, _msg in res.findings)
    got = res.summaries()
    want = {seq: _expected(w, lines[seq]) for seq, (_t, _b, w) in enumerate(CASES) if w is not None}
    assert list(got) == sorted(want)  # in seq order, no other record summarised
    for seq, s in got.items():
        assert type(s) is type(want[seq]) and s == want[seq], seq
