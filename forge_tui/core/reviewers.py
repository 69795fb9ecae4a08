"""The project's reviewers (docs/design.md §3, §6; docs/trust-model.md).

The reviewers in force are the ledger's enrolment records (forge_tui.core.trust); `.forge/reviewers.toml`
is the exported view of them, in this format (read by verify and people, never for trust by the daemon):

[reviewers.<name>]
vkey = "forge-tui.reviewer/<name>+<hex>+<base64>"
retired_at_seq = 1234   # optional: approvals recorded at or after this seq are refused
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import tomli_w

from forge_tui.core.keys import (
    ReviewerKey,
    check_reviewer_name,
    local_reviewer_names,
    parse_reviewer_vkey,
    unlock_reviewer,
)
from forge_tui.core.note import Verifier
from forge_tui.errors import ConfigError
from forge_tui.paths import atomic_write

__all__ = ["Reviewer", "ReviewerStore", "ReviewerKey", "load_reviewers", "unlock_reviewer"]


@dataclass(frozen=True)
class Reviewer:
    name: str
    verifier: Verifier
    retired_at_seq: int | None = None

    def active_at(self, seq: int) -> bool:
        return self.retired_at_seq is None or seq < self.retired_at_seq


def parse_reviewers(data: str, path: str = "reviewers.toml") -> dict[str, Reviewer]:
    try:
        doc = tomllib.loads(data)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    extra = set(doc) - {"reviewers"}
    if extra:
        raise ConfigError(f"{path}: unknown top-level keys {sorted(extra)}")
    out: dict[str, Reviewer] = {}
    for name, entry in doc.get("reviewers", {}).items():
        check_reviewer_name(name)
        if not isinstance(entry, dict) or not isinstance(entry.get("vkey"), str):
            raise ConfigError(f"{path}: reviewers.{name} needs a vkey string")
        unknown = set(entry) - {"vkey", "retired_at_seq"}
        if unknown:
            raise ConfigError(f"{path}: reviewers.{name} has unknown keys {sorted(unknown)}")
        retired = entry.get("retired_at_seq")
        if retired is not None and (type(retired) is not int or retired < 0):
            raise ConfigError(f"{path}: reviewers.{name}.retired_at_seq must be a non-negative integer")
        out[name] = Reviewer(name, parse_reviewer_vkey(name, entry["vkey"]), retired)
    return out


def load_reviewers(path: Path) -> dict[str, Reviewer]:
    try:
        return parse_reviewers(path.read_text(encoding="utf-8"), str(path))
    except FileNotFoundError:
        return {}
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8") from None


def save_reviewers(path: Path, reviewers: dict[str, Reviewer]) -> None:
    doc = {"reviewers": {}}
    for r in sorted(reviewers.values(), key=lambda r: r.name):
        entry: dict = {"vkey": r.verifier.vkey}
        if r.retired_at_seq is not None:
            entry["retired_at_seq"] = r.retired_at_seq
        doc["reviewers"][r.name] = entry
    header = b"# Reviewers who may approve requests (forge-tui reviewer add|list|retire).\n"
    atomic_write(path, header + tomli_w.dumps(doc).encode())


class ReviewerStore:
    """Reviewers enrolled in a project (from its ledger) and whose private key is on this machine.
    `trust` is the reviewer set to use when this account has no copy of the ledger (core/trust_proof.py)."""

    def __init__(self, project, trust=None) -> None:
        self.project = project
        self.trust = trust

    def registered(self) -> dict[str, Reviewer]:
        """The ledger's reviewer set (enrolment records), never the working tree's reviewers.toml."""
        from forge_tui.core.trust import project_trust

        state = self.trust if self.trust is not None else project_trust(self.project)
        return {n: Reviewer(n, r.verifier, r.retired_at) for n, r in state.reviewers.items()}

    def names(self) -> list[str]:
        reg = self.registered()
        return [n for n in local_reviewer_names() if n in reg and reg[n].retired_at_seq is None]

    def unlock(self, name: str, passphrase: str) -> ReviewerKey:
        key = unlock_reviewer(name, passphrase)
        reg = self.registered().get(name)
        if reg is None or reg.verifier != key.verifier:
            raise ConfigError(
                f"reviewer {name!r} is not enrolled with this key in the project's ledger",
                hint="forge-tui reviewer add NAME --as AN_ACTIVE_REVIEWER",
            )
        return key


# ---- enrolment through the ledger (docs/trust-model.md) ------------------------------------------------


def export_reviewers(project, state=None) -> None:
    """Rewrite `.forge/reviewers.toml` as a view of the ledger's reviewer set (never read for trust)."""
    from forge_tui.core.trust import project_trust

    state = state if state is not None else project_trust(project)
    view = {n: Reviewer(n, r.verifier, r.retired_at) for n, r in state.reviewers.items()}
    save_reviewers(project.reviewers_path, view)


def submit_reviewer_record(project, body: dict) -> int:
    """Append a signed `reviewer` record: through the daemon's reviewer socket when one answers, else
    straight into the ledger (after the same checks). Returns its seq."""
    from forge_tui.client import Client, DaemonUnavailable, RPCError
    from forge_tui.paths import review_socket_path
    from forge_tui.protocol import REVIEWER_ENROL

    try:
        with Client(review_socket_path(project.project_id), client="cli") as c:
            return int(c.call(REVIEWER_ENROL, body)["seq"])
    except RPCError as exc:
        raise ConfigError(f"refused: {exc.message} (error {exc.code})") from None
    except DaemonUnavailable:
        pass
    return append_reviewer_record(project, body)


def append_reviewer_record(project, body: dict) -> int:
    """Append a `reviewer` record with the ledger writer (no daemon runs), checking it against the
    ledger's reviewer set first; then export the view."""
    from forge_tui.core.ledger import LedgerWriter
    from forge_tui.core.trust import project_trust
    from forge_tui.errors import LedgerBusy

    try:
        with LedgerWriter.open(project) as w:
            state = project_trust(project)  # read under the writer's lock
            state.check_reviewer_body(body)
            (rec,) = w.append([("reviewer", body)])
    except LedgerBusy:
        raise ConfigError("the ledger is held by a daemon that does not answer; try again") from None
    state.apply(rec.seq, "reviewer", body)
    export_reviewers(project, state)
    return rec.seq


def enrol_reviewers(project, keys: dict[str, ReviewerKey]) -> None:
    """Enrol `keys` in order, each signed by the first active reviewer (the first self-signed when the
    project is in setup mode). For init scripts, the demo and tests."""
    from forge_tui.core.trust import project_trust, reviewer_statement, sign_reviewer_statement

    state = project_trust(project)
    active = state.active()
    first: ReviewerKey | None = next((k for n, k in keys.items() if n in active), None)
    for name, key in keys.items():
        if name in active:
            continue
        if first is None and active:
            raise ConfigError("enrol_reviewers needs the key of an active reviewer to sign")
        signer = first or key  # the very first reviewer signs its own enrolment
        body = sign_reviewer_statement(
            signer, reviewer_statement("enrol", name, key.verifier.vkey, project.project_id, signer.name)
        )
        append_reviewer_record(project, body)
        first = first or key
