"""Approving a pending policy change from the console (docs/trust-model.md): what the dialog shows (the
digests and the diff against the policy in force, escaped) and what the reviewer's key signs, the very
statement `forge-tui policy approve --as NAME` signs. The daemon checks it as for the command line
(an enrolled, active reviewer; the digest of the change still pending)."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from forge_tui.tui.text import literal

DIFF_LINES = 14  # the dialog shows this many lines of the diff, and says how many more there are


def pending_change(status: dict[str, Any] | None) -> dict[str, Any] | None:
    """The pending policy change in a `status` answer ({digest, diff, …}), or None."""
    pending = ((status or {}).get("policy") or {}).get("pending")
    return pending if isinstance(pending, dict) and isinstance(pending.get("digest"), str) else None


def describe_change(status: dict[str, Any], pending: dict[str, Any], signer: str | None) -> Text:
    """The dialog body: in force → proposed digests, the diff (removed red, added green), who signs."""
    in_force = str((status.get("policy") or {}).get("digest") or "?")
    t = Text()
    t.append("in force   ", style="bold")
    t.append_text(literal(in_force[:12], one_line=True))
    t.append("\nproposed   ", style="bold")
    t.append_text(literal(pending["digest"][:12], one_line=True))
    t.append(f"  ({pending.get('rules', '?')} rules)\n\n", style="dim")
    lines = str(pending.get("diff") or "(no diff: the file was replaced whole)").splitlines()
    for line in lines[:DIFF_LINES]:
        style = "red" if line.startswith("-") else "green" if line.startswith("+") else ""
        t.append_text(literal(line, style, one_line=True))
        t.append("\n")
    if len(lines) > DIFF_LINES:
        t.append(
            f"… {len(lines) - DIFF_LINES} more lines (forge-tui policy approve shows all)\n", style="dim"
        )
    t.append("\nsigning    ", style="bold")
    t.append_text(literal(signer or "(a key is unlocked next)", "" if signer else "dim"))
    return t


async def approval_params(link: Any, project: Any, key: Any, digest: str) -> dict[str, Any]:
    """`policy.approve` params: `key` signs the statement that `digest` may go in force, cosigning the
    ledger checkpoint this console checked (a witness, as approvals do; raises ForgeError when the
    checkpoint does not check out, so nothing is signed)."""
    from forge_tui.core.trust import policy_statement, sign_policy_statement
    from forge_tui.tui.signing import witnessed_checkpoint

    seen = await witnessed_checkpoint(link, project)
    return sign_policy_statement(key, policy_statement(digest, key.name, project.project_id, seen))
