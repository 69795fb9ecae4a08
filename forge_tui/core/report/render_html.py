"""The report as one self-contained HTML page: inline CSS and SVG, no script, no network. A Content
Security Policy forbids scripts and remote loads outright, and every ledger string is HTML-escaped
(`e`): agent text is hostile."""

from __future__ import annotations

import re
from html import escape
from typing import Any

from forge_tui.core.report.charts import histogram, stacked_bars, status_strip

STATUS_COLOURS = {
    "gap": "#d9534f",
    "partial": "#e0a526",
    "needs organisation input": "#7a6fd1",
    "evidence present": "#2f9e6e",
    "not applicable": "#9aa3ad",
}
SEVERITY_COLOURS = {"error": "#d9534f", "exception": "#d9534f", "warning": "#e0a526", "notice": "#9aa3ad"}

CSS = """
:root{--ink:#1d2430;--muted:#667085;--line:#e3e6ea;--bg:#f6f7f9}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.5 system-ui,-apple-system,"Segoe UI",
Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1100px;margin:0 auto;padding:28px 24px 60px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:34px 0 10px}h3{font-size:16px;margin:0}
.muted{color:var(--muted)}.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
.banner{background:#fff8e6;border:1px solid #f1d999;border-radius:8px;padding:10px 14px;margin:16px 0}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:12px;margin:18px 0}
.card{background:#fff;border:1px solid var(--line);border-radius:10px;padding:12px 14px}
.card b{display:block;font-size:24px}.card span{color:var(--muted);font-size:13px}
.card b.ok{color:#2f9e6e}.card b.bad{color:#d9534f}.nw{white-space:nowrap}
.panel{background:#fff;border:1px solid var(--line);border-radius:10px;padding:16px;margin:12px 0}
.grid2{display:grid;grid-template-columns:2fr 1fr;gap:12px}
@media (max-width:800px){.grid2{grid-template-columns:1fr}}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13.5px}
th,td{text-align:left;padding:7px 9px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:#fafbfc;font-weight:600;color:#344054}
td.wrap{max-width:420px}td.wrap .mono{overflow-wrap:anywhere}
.pill{display:inline-block;padding:1px 9px;border-radius:999px;color:#fff;font-size:12px;white-space:nowrap}
details.control{background:#fff;border:1px solid var(--line);border-radius:10px;margin:10px 0;padding:0}
details.control>summary{cursor:pointer;padding:12px 16px;display:flex;gap:12px;align-items:center}
details.control>div{padding:0 16px 14px}
.fig{display:grid;grid-template-columns:repeat(auto-fit,minmax(270px,1fr));gap:2px 22px;margin:6px 0 10px}
.fig div{display:flex;justify-content:space-between;gap:12px;border-bottom:1px dotted var(--line)}
.fig b{white-space:nowrap}
.ok{color:#2f9e6e;font-weight:600}.bad{color:#d9534f;font-weight:600}
ul.limits li{margin:4px 0}
footer{margin-top:40px;color:var(--muted);font-size:12.5px}
"""

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'none'"


def e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def prose(text: str) -> str:
    """The package's own text (notes, limits), escaped, with `code` spans set in monospace."""
    return re.sub(r"`([^`]+)`", r'<span class="mono">\1</span>', e(text))


def pill(status: str, colours: dict[str, str] = STATUS_COLOURS) -> str:
    return f'<span class="pill" style="background:{colours.get(status, "#9aa3ad")}">{e(status)}</span>'


def _table(head: list[str], rows: list[list[str]], cls: str = "") -> str:
    h = "".join(f"<th>{e(x)}</th>" for x in head)
    body = "".join("<tr>" + "".join(f"<td{cls}>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>"


def _summary(data: dict[str, Any]) -> str:
    s, v = data["summary"], data["verification"]
    cards = [
        (s["requests"], "requests in the period"),
        (s["changes"], "changes"),
        (s["approvals"], "approvals"),
        (s["exceptions"], "exceptions"),
    ]
    verdict = '<b class="ok">verified</b>' if v["verified"] else '<b class="bad">not verified</b>'
    html = (
        '<div class="cards">'
        + "".join(f'<div class="card"><b>{e(c)}</b><span>{e(label)}</span></div>' for c, label in cards)
        + f'<div class="card">{verdict}<span>ledger check, verify exit {e(v["exit_code"])}</span></div>'
        + "</div>"
    )
    counts = s["controls"]
    legend = " ".join(f"{pill(k)} {n}" for k, n in counts.items() if n)
    html += f'<div class="panel">{status_strip(counts, STATUS_COLOURS)}<p>{legend}</p>'
    rows = [
        [
            f"<b>{e(c['id'])}</b>"
            + (f' <span class="muted">({e(", ".join(c["aliases"]))})</span>' if c["aliases"] else ""),
            e(c["title"]),
            pill(c["status"]),
            e("; ".join(f"{x['title']}: {x['status']}" for x in c["evidence"])),
        ]
        for c in data["controls"]
    ]
    html += (
        '<div id="controls-table">'
        + _table(["Control", "Title", "Status", "Evidence"], rows)
        + "</div></div>"
    )
    return html


def _exceptions(data: dict[str, Any]) -> str:
    ex = data["exceptions"]
    if not ex:
        return '<div class="panel">None: verify found nothing and no report rule flagged a record.</div>'
    rows = [
        [
            pill(x["severity"], SEVERITY_COLOURS),
            f'<span class="mono nw">{e(x["code"])}</span>',
            f'<span class="mono">{e(x["ledger"])} #{e(x["seq"])}</span>',
            f'<span class="mono nw">{e(x["ts"])}</span>',
            e(", ".join(x["controls"])),
            e(x["message"]),
        ]
        for x in ex
    ]
    more = data["exceptions_total"] - len(ex)
    tail = f'<p class="muted">… and {more} more in exceptions.csv.</p>' if more > 0 else ""
    return _table(["Severity", "Code", "Record", "Time", "Controls", "What"], rows, ' class="wrap"') + tail


def _controls(data: dict[str, Any]) -> str:
    out = []
    for c in data["controls"]:
        alias = f' <span class="muted">2013: {e(", ".join(c["aliases"]))}</span>' if c["aliases"] else ""
        ev = []
        for x in c["evidence"]:
            figs = "".join(f"<div><span>{e(k)}</span><b>{e(v)}</b></div>" for k, v in x["figures"].items())
            ev.append(
                f'<h4>{e(x["title"])} {pill(x["status"])}</h4><p>{prose(x["note"])}</p><div class="fig">{figs}</div>'
            )
        is_open = " open" if c["status"] in ("gap", "partial") else ""
        out.append(
            f'<details class="control"{is_open}><summary>{pill(c["status"])}<h3>{e(c["id"])} · {e(c["title"])}'
            f'{alias}</h3></summary><div><p class="muted">{e(c["text"])}</p>{"".join(ev)}'
            f"<p><b>Organisation to supply:</b> {e(c['organisation'])}</p></div></details>"
        )
    return "".join(out)


def _sample(data: dict[str, Any]) -> str:
    sm = data["sample"]
    rows = [
        [
            f'<span class="mono">{e(r["ledger"])} #{e(r["seq"])}</span>',
            f'<span class="mono nw">{e(r["ts"])}</span>',
            e(r["actor"]),
            f'<span class="mono">{e(r["summary"])}</span>',
            f'{e(r["decision"])} <span class="muted">({e(r["decided_by"])}, {e(r["rule"])})</span>',
            "<br>".join(
                f"{e(a['reviewer'])} {e(a['verdict'])} "
                f'<span class="{"ok" if a["signature"] == "verified" else "bad"}">{e(a["signature"])}</span>'
                for a in r["approvals"]
            )
            or '<span class="muted">none</span>',
            e(r["outcome"]),
        ]
        for r in sm["rows"]
    ]
    head = f'<p>{len(sm["rows"])} of {sm["population"]} changes; seed <span class="mono">{e(sm["seed"])}</span>.</p>'
    return head + _table(
        ["Record", "Time", "Actor", "Action", "Decision", "Approvals", "Outcome"], rows, ' class="wrap"'
    )


def render_html(data: dict[str, Any]) -> str:
    fw, period, charts = data["framework"], data["period"], data["charts"]
    ledgers = _table(
        ["Ledger", "Records", "Merkle root (hex)", "First record", "Last record"],
        [
            [
                e(g["ledger"]),
                e(g["records"]),
                f'<span class="mono">{e(g["root"])}</span>',
                e(g["first_ts"]),
                e(g["last_ts"]),
            ]
            for g in data["ledgers"]
        ],
    )
    limits = "".join(f"<li>{prose(t)}</li>" for t in data["cannot_show"])
    files = ", ".join(f'<span class="mono">{e(f)}</span>' for f in data["files"])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Compliance evidence · {e(fw["name"])} · {e(data["project"]["name"])}</title>
<style>{CSS}</style></head>
<body><main>
<h1>Compliance evidence: {e(fw["name"])}</h1>
<p class="muted">Project <b>{e(data["project"]["name"])}</b> <span class="mono">{e(data["project"]["id"])}</span> ·
period {e(period["since"] or "start")} to {e(period["until"] or "end")} · generated {e(data["generated_at"])}</p>
<div class="banner">Evidence from the forge-tui ledger for an assessor to examine. It never states that a
control is met: auditors and certification bodies decide that. <a href="#limits">What it cannot show.</a></div>
<section id="summary"><h2>Summary</h2>{_summary(data)}</section>
<section id="exceptions"><h2>Exceptions</h2>{_exceptions(data)}</section>
<section id="activity"><h2>Activity</h2><div class="grid2">
<div class="panel"><h3>Decisions per day</h3>{stacked_bars(charts["decisions_per_day"])}</div>
<div class="panel"><h3>Time to first approval</h3>{histogram(charts["approval_latency"])}</div>
</div></section>
<section id="controls"><h2>Controls</h2><p class="muted">{e(fw["scope"])}</p>{_controls(data)}</section>
<section id="sample"><h2>Sample of changes</h2>{_sample(data)}</section>
<section id="ledgers"><h2>Ledgers</h2>{ledgers}</section>
<section id="limits"><h2>What this report cannot show</h2><ul class="limits">{limits}</ul></section>
<footer>Populations beside this page: {files}. <span class="mono">manifest.json</span> holds their SHA-256
and is signed with the ledger key: check with <span class="mono">forge-tui verify-report DIR</span>.</footer>
</main></body></html>
"""
