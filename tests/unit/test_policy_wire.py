"""The policy worker's wire form of an Evaluation (daemon/policy_worker.py `evaluation_wire`): what the
daemon reads back is the very Evaluation the worker decided, every field and its type, for the corpus
actions under every pack and for Evaluations with every optional field set."""

from __future__ import annotations

import pickle
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from forge_tui.core.policy import Context, Evaluation, decide, load_policy
from forge_tui.core.policy.model import PartDecision, RuleMatch
from forge_tui.daemon.policy_worker import (
    EVALUATE,
    EVALUATION_FIELDS,
    PART_DECISION_FIELDS,
    RULE_MATCH_FIELDS,
    FrameReader,
    evaluation_from_wire,
    evaluation_wire,
    frame,
)

REPO = Path(__file__).resolve().parents[2]
CASES = tomllib.loads((REPO / "tests" / "corpus" / "evasions.toml").read_text(encoding="utf-8"))["case"]


def _round_trip(ev: Evaluation) -> Evaluation:
    return evaluation_from_wire(pickle.loads(pickle.dumps(evaluation_wire(ev), pickle.HIGHEST_PROTOCOL)))


def _same(got: Evaluation, want: Evaluation) -> None:
    assert got == want
    for name in EVALUATION_FIELDS:  # equal is not enough: a list for a tuple would compare unequal
        # later (or hash differently), so each field keeps its type
        assert type(getattr(got, name)) is type(getattr(want, name)), name
    assert all(type(m) is RuleMatch for m in got.matches)
    assert all(type(p) is PartDecision for p in got.parts)


def test_the_wire_names_every_field_of_the_dataclasses() -> None:
    """If this fails, a field was added to Evaluation, RuleMatch or PartDecision and the wire form does
    not carry it: the daemon would read the worker's decisions with that field at its default."""
    assert tuple(f.name for f in fields(Evaluation)) == EVALUATION_FIELDS
    assert tuple(f.name for f in fields(RuleMatch)) == RULE_MATCH_FIELDS
    assert tuple(f.name for f in fields(PartDecision)) == PART_DECISION_FIELDS


@pytest.mark.parametrize("pack", sorted(p.stem for p in (REPO / "policies").glob("*.toml")))
def test_the_corpus_evaluations_cross_the_wire_unchanged(pack: str, tmp_path: Path) -> None:
    """If this fails, the daemon reads an Evaluation of the worker otherwise than the worker decided it."""
    policy = load_policy(REPO / "policies" / f"{pack}.toml")
    ctx = Context.for_project(tmp_path, prior_succeeded=frozenset({"tests"}))
    actions: list[Any] = [
        c.get("action") or {"kind": "shell.exec", "tool": "Bash", "command": c["command"]} for c in CASES
    ]
    seen: set[str] = set()
    for action in actions:
        ev = decide(policy, action, ctx)
        _same(_round_trip(ev), ev)
        seen.add(ev.decision)
    assert seen == {"allow", "ask", "deny"}, "the corpus no longer exercises every decision"


def test_every_optional_field_crosses_the_wire() -> None:
    """If this fails, a field the corpus leaves at its default (unparseable, instead, via, missing prior
    steps, several matches) is lost or changed on the wire."""
    ev = Evaluation(
        decision="deny",
        rule="r2",
        rules=("r1", "r2"),
        reason="why",
        approvals=0,
        distinct_from=frozenset({"requester", "principal"}),
        missing_prior=("tests", "lint"),
        matches=(RuleMatch("r1", "ask", "a"), RuleMatch("r2", "deny", "b")),
        parts=(
            PartDecision("command", "rm -rf x", "deny", "r2", "sh -c"),
            PartDecision("path", "p", "ask", None),
        ),
        unparseable="unclosed '('",
        instead="use trash",
    )
    _same(_round_trip(ev), ev)
    pending = Evaluation("ask", None, (), "no rule", 2, frozenset({"requester"}), (), ())
    _same(_round_trip(pending), pending)


def _reference_split(stream: bytes) -> list[bytes]:
    """The bodies of the complete frames of `stream` (4-byte big-endian length, then the body)."""
    out, pos = [], 0
    while len(stream) - pos >= 4:
        end = pos + 4 + int.from_bytes(stream[pos : pos + 4], "big")
        if end > len(stream):
            break
        out.append(stream[pos + 4 : end])
        pos = end
    return out


@pytest.mark.parametrize("seed", range(20))
def test_the_frame_reader_gives_every_frame_however_the_stream_is_cut(seed: int) -> None:
    """If this fails, a frame cut across two reads (or several frames in one) is lost, merged or
    garbled: the worker or the daemon would answer the wrong request or none."""
    import random

    rng = random.Random(seed)
    bodies = [
        bytes(rng.randrange(256) for _ in range(rng.choice((0, 1, 3, 4, 5, 200, 5000)))) for _ in range(40)
    ]
    stream = b"".join(len(b).to_bytes(4, "big") + b for b in bodies)
    reader = FrameReader()
    got: list[bytes] = []
    pos = 0
    while pos < len(stream):
        step = rng.choice((1, 2, 3, 4, 5, 7, 64, 300, 70000))
        got += [bytes(m) for m in reader.feed(stream[pos : pos + step])]
        pos += step
    assert got == bodies == _reference_split(stream)
    assert reader.feed(b"") == []


def test_a_framed_object_reads_back_through_the_frame_reader() -> None:
    """If this fails, `frame` and `FrameReader` disagree on the framing (the two ends of the wire)."""
    objs = [(EVALUATE, 7, {"kind": "shell.exec", "command": "ls"}, frozenset({"tests"})), (3, None, "why")]
    data = b"".join(frame(o) for o in objs)
    assert [pickle.loads(m) for m in FrameReader().feed(data)] == objs


@pytest.mark.parametrize("n_matches, n_parts", [(0, 0), (1, 0), (0, 1), (1, 1), (2, 1), (1, 3)])
def test_any_number_of_matches_and_parts_crosses_the_wire(n_matches: int, n_parts: int) -> None:
    """If this fails, the daemon reads an Evaluation with no, one or several matches or parts otherwise
    than the worker decided it (one of each is built without a list, the others with one)."""
    ev = Evaluation(
        "ask",
        "r0" if n_matches else None,
        tuple(f"r{i}" for i in range(n_matches)),
        "why",
        1,
        frozenset({"requester"}),
        (),
        tuple(RuleMatch(f"r{i}", "ask", f"w{i}") for i in range(n_matches)),
        tuple(PartDecision("command", f"c{i}", "ask", None, "") for i in range(n_parts)),
    )
    _same(_round_trip(ev), ev)
