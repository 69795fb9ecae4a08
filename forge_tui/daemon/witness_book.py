"""The daemon's check of a witnessed checkpoint in an approval (docs/formats.md "Witnessed checkpoints").

A reviewer's side cosigns the `{size, root}` it fetched with `ledger.checkpoint` and checked. `verify`
later requires the ledger to match every cosigned checkpoint (`witness_mismatch`); the daemon refuses
an approval whose checkpoint its own ledger never had, so the reviewer learns at once that the tree it
checked is not the one being written (a forked view, a checkpoint of another ledger, a forged size).

The roots of the checkpoints the daemon handed out lately are remembered (a bounded map: memory does
not grow with the ledger); any other size is rehashed from the file, off the event loop (rare: a
console that fetched its checkpoint before a restart).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Any

from forge_tui.core.merkle import ProofError, root_from_leaves
from forge_tui.core.witness import leaves_of

REMEMBERED = 256  # checkpoints handed out whose roots are kept


class WitnessBook:
    def __init__(self, writer) -> None:
        self.writer = writer
        self._roots: OrderedDict[int, str] = OrderedDict()

    def handed_out(self, size: int, root_hex: str) -> None:
        """A `ledger.checkpoint` reply named this {size, root}."""
        self._roots[size] = root_hex
        self._roots.move_to_end(size)
        while len(self._roots) > REMEMBERED:
            self._roots.popitem(last=False)

    async def problem(self, checkpoint: dict[str, Any]) -> str | None:
        """None when the ledger's first `size` records hash to `root`, else what is wrong. The shape
        ({size: int, root: 64 lowercase hex}) was checked with the approval's."""
        size, root = checkpoint["size"], checkpoint["root"]
        w = self.writer
        if size > w.size:
            return f"the approval cosigns a checkpoint of size {size}, but the ledger holds {w.size} records"
        known = self._roots.get(size)
        if known is None:
            # The tree itself is not read here: the writer's thread may be extending it meanwhile.
            try:
                known = (await asyncio.to_thread(_root_at, w.path, size)).hex()
            except (OSError, ProofError) as exc:
                return f"cannot check the cosigned checkpoint of size {size}: {exc}"
            self.handed_out(size, known)
        if known != root:
            return (
                f"the approval cosigns root {root[:16]}… at size {size}, but this ledger's root there is "
                f"{known[:16]}…: the reviewer checked another tree"
            )
        return None


def _root_at(path, size: int) -> bytes:
    return root_from_leaves(leaves_of(path, size))
