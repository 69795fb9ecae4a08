"""Framework control mappings (forge_tui/compliance/<framework>.toml) and the status of each control.

A mapping file has a `[framework]` table (`id`, `name`, `scope`) and `[[control]]` entries: `id`,
`title`, `text` (a paraphrase: the standards' own wording is copyrighted), `queries` (the evidence
queries that apply, forge_tui.core.report.queries.QUERIES), `organisation` (what the organisation
must supply that no ledger can), optionally `aliases` (e.g. ISO 27001:2013 numbers) and
`organisation_defined = true` where the criterion itself is the organisation's to set (a retention
period, a time source): such a control whose evidence is all present needs organisation input.

A control's status is the worst of its queries' (gap, then partial, then evidence present); not
applicable when every query is.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources

from forge_tui.core.report.queries import QUERIES, QueryResult, Status
from forge_tui.errors import ConfigError

FRAMEWORKS = ("eu-ai-act", "soc2", "iso27001", "nist-800-53")


@dataclass(frozen=True)
class Control:
    id: str
    title: str
    text: str
    queries: tuple[str, ...]
    organisation: str
    aliases: tuple[str, ...] = ()
    organisation_defined: bool = False


@dataclass(frozen=True)
class Framework:
    id: str
    name: str
    scope: str
    controls: tuple[Control, ...]


@dataclass(frozen=True)
class ControlResult:
    control: Control
    status: Status
    results: tuple[QueryResult, ...]


def load_framework(framework_id: str) -> Framework:
    """The mapping shipped in the package; ConfigError for an unknown framework."""
    if framework_id not in FRAMEWORKS:
        raise ConfigError(f"no framework {framework_id!r} (choose one of {', '.join(FRAMEWORKS)})")
    text = (resources.files("forge_tui") / "compliance" / f"{framework_id}.toml").read_text(encoding="utf-8")
    return parse_framework(text)


def parse_framework(text: str) -> Framework:
    doc = tomllib.loads(text)
    fw = doc["framework"]
    controls = []
    for c in doc["control"]:
        unknown = [q for q in c["queries"] if q not in QUERIES]
        if unknown:
            raise ConfigError(f"control {c['id']}: unknown evidence queries {unknown}")
        controls.append(
            Control(
                id=c["id"],
                title=c["title"],
                text=" ".join(c["text"].split()),
                queries=tuple(c["queries"]),
                organisation=" ".join(c["organisation"].split()),
                aliases=tuple(c.get("aliases", ())),
                organisation_defined=bool(c.get("organisation_defined", False)),
            )
        )
    return Framework(fw["id"], fw["name"], " ".join(fw["scope"].split()), tuple(controls))


def control_status(control: Control, results: list[QueryResult]) -> Status:
    statuses = {r.status for r in results}
    if statuses <= {Status.NOT_APPLICABLE}:
        return Status.NOT_APPLICABLE
    for s in (Status.GAP, Status.PARTIAL):
        if s in statuses:
            return s
    return Status.ORGANISATION if control.organisation_defined else Status.PRESENT


def evaluate(framework: Framework, results: dict[str, QueryResult]) -> list[ControlResult]:
    out = []
    for c in framework.controls:
        rs = [results[q] for q in c.queries]
        out.append(ControlResult(c, control_status(c, rs), tuple(rs)))
    return out
