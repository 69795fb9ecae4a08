"""The audit sample: a reproducible draw of changes with their approvals (docs/report.md, "Sample").

The seed is SHA-256 of the JCS encoding of the ledgers' `[{"ledger", "records", "root"}]` (sorted by
ledger id), so the same ledgers always give the same sample and anyone can redraw it: every change of
the period gets the key SHA-256(seed ‖ ":" ‖ ledger ‖ ":" ‖ seq) (the seed in hex, seq in decimal, UTF-8),
and the `size` changes with the smallest keys are the sample, listed in time order.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from forge_tui.core.jcs import canonical
from forge_tui.core.report.evidence import Evidence, Request

SAMPLE_SIZE = 25


@dataclass(frozen=True)
class SampleRow:
    key: str  # the sampling key (hex)
    request: Request
    bad_approvals: frozenset[int]  # seqs of this request's approvals that verify flags

    @property
    def approvals_ok(self) -> bool:
        """Whether at least one approval verifies and approves."""
        return any(a.verdict == "approve" and a.seq not in self.bad_approvals for a in self.request.approvals)


@dataclass
class Sample:
    seed: str
    population: int
    size: int
    rows: list[SampleRow] = field(default_factory=list)


def ledger_seed(ev: Evidence) -> str:
    ledgers = sorted(
        ({"ledger": f.ledger_id, "records": f.records, "root": f.root} for f in ev.ledgers),
        key=lambda d: d["ledger"],
    )
    return hashlib.sha256(canonical(ledgers)).hexdigest()


def sample_key(seed: str, ledger: str, seq: int) -> str:
    return hashlib.sha256(f"{seed}:{ledger}:{seq}".encode()).hexdigest()


def draw_sample(ev: Evidence, bad_approvals: set[tuple[str, int]], size: int = SAMPLE_SIZE) -> Sample:
    """`bad_approvals`: (ledger, seq) of approvals verify found a problem with."""
    seed = ledger_seed(ev)
    changes = ev.changes
    keyed = sorted(((sample_key(seed, r.ledger, r.seq), r) for r in changes), key=lambda kr: kr[0])
    chosen = sorted(keyed[:size], key=lambda kr: (kr[1].ts, kr[1].ledger, kr[1].seq))
    rows = [
        SampleRow(k, r, frozenset(a.seq for a in r.approvals if (a.ledger, a.seq) in bad_approvals))
        for k, r in chosen
    ]
    return Sample(seed, len(changes), size, rows)
