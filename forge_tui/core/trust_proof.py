"""The reviewer set of a ledger this account cannot read, as the daemon shows it and as it is checked here
(docs/trust-model.md "A second OS account").

A reviewer under their own OS account (pair review through the pair socket, forge_tui/daemon/admission.py)
has no copy of the owner's ledger: its private data folder is the owner's. The daemon answers
`reviewer.proof` with the ledger's `reviewer` records verbatim, and nothing of it is taken on the
daemon's word. The answer is accepted only when:

1. it names this project, and every line is a canonical record of this project's ledger `ledger_id`,
   in increasing seq, signed by a ledger key in the committed `.forge/keys/<ledger_id>.pub`;
2. replaying the records gives the reviewer set: each enrolment or retirement is signed by a reviewer
   active just before it (the first one by itself), exactly as the daemon and `verify` replay it;
3. the first reviewer, who signed for themself, is the one the committed `.forge/reviewers.toml` names
   with the same key, and, once this account has accepted a proof, the one it pinned then
   (`<data dir>/projects/<id>/pinned-reviewer.toml`, in this account's own folder);
4. it is no older than the committed view: every reviewer `.forge/reviewers.toml` lists is in the
   replayed set with the same key, and retired at the same seq when the view says retired.

A daemon (or a program posing as one on the pair socket) can therefore not invent a reviewer, swap a
key, or drop an enrolment the repository already holds. It could still withhold the newest records
(those after the committed view): that shows a reviewer set that is old, never one that is false.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from forge_tui.core.jcs import canonical, loads_strict
from forge_tui.core.note import NoteError
from forge_tui.core.records import check_shape, verify_record_sig
from forge_tui.core.trust import TrustState, replay
from forge_tui.errors import CanonicalError, ConfigError, SignatureError, UnverifiedTrust
from forge_tui.paths import atomic_write

PIN_FILE = "pinned-reviewer.toml"


@dataclass(frozen=True)
class ReviewerProof:
    """A `reviewer.proof` answer: the `reviewer` records of ledger `ledger_id`, oldest first."""

    project_id: str
    ledger_id: str
    records: tuple[str, ...]

    @classmethod
    def from_wire(cls, result: Any) -> ReviewerProof:
        if type(result) is not dict:
            raise UnverifiedTrust("the daemon's reviewer proof is not an object")
        pid, lid, records = result.get("project_id"), result.get("ledger_id"), result.get("records")
        if type(pid) is not str or type(lid) is not str or type(records) is not list:
            raise UnverifiedTrust("the daemon's reviewer proof lacks project_id, ledger_id or records")
        if not all(type(r) is str for r in records):
            raise UnverifiedTrust("the daemon's reviewer proof records must be record lines")
        return cls(pid, lid, tuple(records))


def verify_reviewer_proof(project, proof: ReviewerProof, *, pin: bool = True) -> TrustState:
    """The TrustState `proof` shows, after the four checks of this module's docstring; raises
    UnverifiedTrust naming the first that fails. With `pin`, the first reviewer is pinned in this
    account's data folder on first success and required from then on."""
    if proof.project_id != project.project_id:
        raise UnverifiedTrust(f"the daemon serves project {proof.project_id}, not {project.project_id}")
    bodies = _checked_records(project, proof)
    state = replay(project.project_id, bodies)
    root = _root(state, bodies)
    _check_against_view(project, state, root)
    if pin:
        _check_pin(project, root)
    return state


def _checked_records(project, proof: ReviewerProof) -> list[tuple[int, str, Any]]:
    try:
        keys = {v.kid: v for v in project.ledger_verifiers(proof.ledger_id)}
    except ConfigError as exc:
        raise UnverifiedTrust(f"no committed key for the daemon's ledger {proof.ledger_id}: {exc}") from None
    origin = project.origin(proof.ledger_id)
    out: list[tuple[int, str, Any]] = []
    last = -1
    for line in proof.records:
        try:
            rec = loads_strict(line)
            if type(rec) is not dict or canonical(rec) != line.encode("utf-8"):
                raise CanonicalError("not a canonical record line")
            check_shape(rec)
        except CanonicalError as exc:
            raise UnverifiedTrust(f"a reviewer record from the daemon is malformed: {exc}") from None
        seq = rec["seq"]
        if rec["log"] != origin or rec["type"] != "reviewer" or seq <= last:
            raise UnverifiedTrust(
                f"record seq {seq} from the daemon is not the next reviewer record of {origin}"
            )
        key = keys.get(rec["kid"])
        try:
            if key is None:
                raise SignatureError("unknown ledger key")
            verify_record_sig(rec, key)
        except (SignatureError, NoteError, CanonicalError):
            raise UnverifiedTrust(
                f"reviewer record seq {seq} is not signed by the ledger key committed in "
                f".forge/keys/{proof.ledger_id}.pub"
            ) from None
        last = seq
        out.append((seq, "reviewer", rec["body"]))
    return out


def _root(state: TrustState, bodies: list[tuple[int, str, Any]]) -> tuple[str, str]:
    """(name, vkey) of the first reviewer, the one who enrolled themself."""
    if state.protected_since is None:
        raise UnverifiedTrust("the daemon's ledger enrols no reviewer")
    body = next(b for seq, _t, b in bodies if seq == state.protected_since)
    return body["name"], body["vkey"]


def _check_against_view(project, state: TrustState, root: tuple[str, str]) -> None:
    from forge_tui.core.reviewers import load_reviewers

    try:
        view = load_reviewers(project.reviewers_path)
    except ConfigError as exc:
        raise UnverifiedTrust(f"the committed reviewer view cannot anchor the daemon's: {exc}") from None
    name, vkey = root
    anchor = view.get(name)
    if anchor is None or anchor.verifier.vkey != vkey:
        raise UnverifiedTrust(
            f"the daemon's first reviewer {name!r} is not the one committed in .forge/reviewers.toml"
        )
    for r in view.values():
        got = state.reviewers.get(r.name)
        if got is None or got.verifier.vkey != r.verifier.vkey:
            raise UnverifiedTrust(
                f"the daemon's reviewer set lacks {r.name!r} as .forge/reviewers.toml has them (withheld or forged)"
            )
        if r.retired_at_seq is not None and got.retired_at != r.retired_at_seq:
            raise UnverifiedTrust(f"the daemon's reviewer set does not show {r.name!r} retired as committed")


def _check_pin(project, root: tuple[str, str]) -> None:
    path = Path(project.state_dir) / PIN_FILE
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        atomic_write(path, tomli_w.dumps({"name": root[0], "vkey": root[1]}).encode(), mode=0o600)
        return
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UnverifiedTrust(f"{path} is unreadable: {exc}") from None
    if (doc.get("name"), doc.get("vkey")) != root:
        raise UnverifiedTrust(
            f"the daemon's first reviewer {root[0]!r} is not the one this account accepted before ({path})",
            hint="if the project was really set up anew, remove that file",
        )
