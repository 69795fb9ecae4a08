"""The project's reviewer registry, `.forge/reviewers.toml` (DESIGN §3, §6).

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
    """Reviewers registered in a project and whose private key is on this machine."""

    def __init__(self, project) -> None:
        self.project = project

    def registered(self) -> dict[str, Reviewer]:
        return load_reviewers(self.project.reviewers_path)

    def names(self) -> list[str]:
        reg = self.registered()
        return [n for n in local_reviewer_names() if n in reg and reg[n].retired_at_seq is None]

    def unlock(self, name: str, passphrase: str) -> ReviewerKey:
        key = unlock_reviewer(name, passphrase)
        reg = self.registered().get(name)
        if reg is None or reg.verifier != key.verifier:
            raise ConfigError(
                f"reviewer {name!r} is not registered with this key in {self.project.reviewers_path}"
            )
        return key
