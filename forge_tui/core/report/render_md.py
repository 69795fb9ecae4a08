"""The report as Markdown. Ledger text is untrusted (agents write it): every cell goes through `cell`,
which turns markup characters into entities or backslash escapes and keeps it on one line."""

from __future__ import annotations

from typing import Any

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "|": "\\|", "`": "\\`", "*": "\\*", "_": "\\_"}
_ESCAPES.update({"[": "\\[", "]": "\\]", "#": "\\#", "\\": "\\\\"})


def cell(value: Any) -> str:
    text = "" if value is None else str(value)
    text = "".join(_ESCAPES.get(ch, ch if ch.isprintable() else " ") for ch in text)
    return text


def _table(head: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return out


def _approvals(appr: list[dict[str, Any]]) -> str:
    return "; ".join(f"{a['reviewer']} {a['verdict']} {a['ts']} ({a['signature']})" for a in appr) or "none"


def render_markdown(data: dict[str, Any]) -> str:
    fw, v, s = data["framework"], data["verification"], data["summary"]
    period = data["period"]
    out = [
        f"# Compliance evidence: {cell(fw['name'])}",
        "",
        f"Project **{cell(data['project']['name'])}** (`{cell(data['project']['id'])}`), period "
        f"{cell(period['since'] or 'start')} to {cell(period['until'] or 'end')}, generated "
        f"{cell(data['generated_at'])}.",
        "",
        "> Evidence from the forge-tui ledger for an assessor to examine. It never states that a control "
        "is met: auditors and certification bodies decide that.",
        "",
        "## Summary",
        "",
        "- Controls: " + ", ".join(f"{n} {k}" for k, n in s["controls"].items() if n),
        f"- Verification: {'verified' if v['verified'] else 'NOT verified'} (exit {v['exit_code']}; "
        f"{v['errors']} errors, {v['warnings']} warnings, {v['notices']} notices; "
        f"{v['signatures_checked']} record signatures checked)",
        f"- Period: {s['requests']} requests, {s['changes']} changes, {s['approvals']} approvals, "
        f"{s['exceptions']} exceptions",
        "",
    ]
    out += _table(
        ["Control", "Title", "Status"],
        [
            [c["id"] + (f" ({', '.join(c['aliases'])})" if c["aliases"] else ""), c["title"], c["status"]]
            for c in data["controls"]
        ],
    )
    out += ["", "## Exceptions", ""]
    if data["exceptions"]:
        out += _table(
            ["Severity", "Code", "Ledger", "Seq", "Time", "Controls", "Message"],
            [
                [
                    e["severity"],
                    e["code"],
                    e["ledger"],
                    e["seq"],
                    e["ts"],
                    ", ".join(e["controls"]),
                    e["message"],
                ]
                for e in data["exceptions"]
            ],
        )
        more = data["exceptions_total"] - len(data["exceptions"])
        if more > 0:
            out += ["", f"… and {more} more in exceptions.csv."]
    else:
        out.append("None: verify found nothing and no report rule flagged a record in the period.")
    out += ["", "## Controls", ""]
    for c in data["controls"]:
        alias = f" (2013: {', '.join(c['aliases'])})" if c["aliases"] else ""
        # Control text, titles and notes are the package's own; only ledger-derived values are escaped.
        out += [f"### {c['id']}{alias}: {c['title']} — {c['status']}", "", c["text"], ""]
        for e in c["evidence"]:
            out.append(f"- **{e['title']}** ({e['status']}): {e['note']}")
            out += [f"  - {cell(k)}: {cell(val)}" for k, val in e["figures"].items()]
        out += ["", f"Organisation to supply: {c['organisation']}", ""]
    sm = data["sample"]
    out += [
        "## Sample of changes",
        "",
        f"{len(sm['rows'])} of {sm['population']} changes, seed `{sm['seed']}` (see docs/report.md to redraw).",
        "",
    ]
    out += _table(
        ["Ledger", "Seq", "Time", "Request", "Actor", "Action", "Decision", "Rule", "Approvals", "Outcome"],
        [
            [
                r["ledger"],
                r["seq"],
                r["ts"],
                r["request_id"],
                r["actor"],
                r["summary"],
                f"{r['decision']} ({r['decided_by']})",
                r["rule"],
                _approvals(r["approvals"]),
                r["outcome"],
            ]
            for r in sm["rows"]
        ],
    )
    out += ["", "## Ledgers", ""]
    out += _table(
        ["Ledger", "Records", "Root (SHA-256, hex)", "First", "Last"],
        [[g["ledger"], g["records"], g["root"], g["first_ts"], g["last_ts"]] for g in data["ledgers"]],
    )
    out += ["", "## What this report cannot show", ""]
    out += [f"- {t}" for t in data["cannot_show"]]
    out += [
        "",
        "## Files",
        "",
        "Populations beside this report (CSV): " + ", ".join(data["files"]) + "; "
        "`manifest.json` holds their SHA-256 and is signed with the ledger key "
        "(`forge-tui verify-report DIR`).",
        "",
    ]
    return "\n".join(out)
