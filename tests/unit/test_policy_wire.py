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
    EVALUATION_FIELDS,
    PART_DECISION_FIELDS,
    RULE_MATCH_FIELDS,
    evaluation_from_wire,
    evaluation_wire,
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
