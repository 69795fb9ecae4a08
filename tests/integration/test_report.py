"""`forge-tui report` and `verify-report` on a deterministic ledger (tests/integration/reportkit.py).

The golden files hold the whole Markdown and JSON report of each framework: a change in wording, in a
count, in the sample or in a status shows up as a diff. Regenerate them, after checking the change is
meant, with FORGE_UPDATE_GOLDEN=1.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from reportkit import LEDGER_ID, build_report_project

from forge_tui.core.report.build import make_report
from forge_tui.core.report.controls import FRAMEWORKS, load_framework
from forge_tui.core.report.queries import Status

GOLDEN = Path(__file__).parent / "golden" / "report"
GENERATED_AT = "2026-06-15T12:00:00.000Z"


@pytest.fixture
def proj(tmp_path, monkeypatch):
    from forge_tui.core.project import find_project

    root = tmp_path / "acme"
    build_report_project(root)
    monkeypatch.chdir(root)
    return find_project(root)


def _make(proj, out: Path, framework: str, formats=("md", "json"), **kw):
    from forge_tui.core.keys import load_ledger_key

    return make_report(
        proj,
        framework_id=framework,
        since=kw.get("since"),
        until=kw.get("until"),
        formats=formats,
        out=out,
        signer=load_ledger_key(LEDGER_ID),
        generated_at=GENERATED_AT,
        use_local_state=False,
    )


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_report_matches_its_golden_file(proj, tmp_path, framework):
    out = tmp_path / "out"
    _make(proj, out, framework)
    for fmt in ("md", "json"):
        got = (out / f"report.{fmt}").read_text(encoding="utf-8")
        golden = GOLDEN / f"{framework}.{fmt}"
        if os.environ.get("FORGE_UPDATE_GOLDEN"):
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_text(got, encoding="utf-8")
        assert got == golden.read_text(encoding="utf-8"), f"{framework}.{fmt} differs from {golden}"


def test_every_control_the_issue_names_is_mapped_with_paraphrased_text():
    wanted = {
        "eu-ai-act": {"Art. 12", "Art. 14", "Art. 19", "Art. 26(6)"},
        "soc2": {"CC6.1", "CC6.3", "CC7.2", "CC8.1"},
        "iso27001": {"A.5.3", "A.8.15", "A.8.16", "A.8.17", "A.8.32"},
        "nist-800-53": {"AU-2", "AU-3", "AU-8", "AU-9", "AU-10", "AU-11", "AU-12", "AC-5"},
    }
    for fid, ids in wanted.items():
        fw = load_framework(fid)
        assert {c.id for c in fw.controls} == ids, fid
        assert all(c.queries and c.text and c.organisation for c in fw.controls), fid
    iso = {c.id: c.aliases for c in load_framework("iso27001").controls}
    assert iso["A.8.15"] == ("A.12.4.1", "A.12.4.2", "A.12.4.3") and iso["A.8.17"] == ("A.12.4.4",)


def test_statuses_are_evidence_never_compliance(proj, tmp_path):
    for fid in FRAMEWORKS:
        _make(proj, tmp_path / fid, fid, formats=("json", "md"))
        data = json.loads((tmp_path / fid / "report.json").read_text())
        assert {c["status"] for c in data["controls"]} <= {s.value for s in Status}
        md = (tmp_path / fid / "report.md").read_text().lower()
        # "compliant" only ever appears negated, in the sentence saying the report does not claim it.
        assert "compliant" not in md and "compliance:" in md and "never states that a control is met" in md
    data = json.loads((tmp_path / "iso27001" / "report.json").read_text())
    status = {c["id"]: c["status"] for c in data["controls"]}
    assert status["A.8.17"] == "needs organisation input"  # clock sync: the ledger cannot show it
    assert status["A.5.3"] == "partial"  # bob approved his own push


def test_the_exceptions_come_first_and_name_their_records(proj, tmp_path):
    _make(proj, tmp_path / "o", "soc2", formats=("json",))
    data = json.loads((tmp_path / "o" / "report.json").read_text())
    codes = [(x["code"], x["severity"]) for x in data["exceptions"]]
    assert ("self_approval", "error") in codes and ("bypassed_gate", "error") in codes
    assert ("sample_unapproved", "exception") in codes or len(data["sample"]["rows"]) < data["sample"][
        "population"
    ]
    sev = [x["severity"] for x in data["exceptions"]]
    assert sev == sorted(sev, key=["error", "exception", "warning", "notice"].index)
    assert data["verification"]["verified"] is False and data["verification"]["errors"] >= 3


def test_the_sample_is_reproducible_from_the_root_and_documented_rule(proj, tmp_path):
    import hashlib

    from forge_tui.core.jcs import canonical

    _make(proj, tmp_path / "a", "soc2", formats=("json",))
    data = json.loads((tmp_path / "a" / "report.json").read_text())
    sm = data["sample"]
    ledgers = [{"ledger": g["ledger"], "records": g["records"], "root": g["root"]} for g in data["ledgers"]]
    assert sm["seed"] == hashlib.sha256(canonical(ledgers)).hexdigest()
    assert sm["population"] > sm["size"] == len(sm["rows"]) == 25
    # Redraw by the rule in docs/report.md from requests.csv alone.
    import csv

    rows = list(csv.DictReader((tmp_path / "a" / "requests.csv").open()))
    changes = [r for r in rows if r["change"] == "yes"]
    assert len(changes) == sm["population"]
    key = lambda r: hashlib.sha256(f"{sm['seed']}:{r['ledger']}:{r['seq']}".encode()).hexdigest()  # noqa: E731
    redrawn = {(r["ledger"], int(r["seq"])) for r in sorted(changes, key=key)[:25]}
    assert redrawn == {(r["ledger"], r["seq"]) for r in sm["rows"]}


def test_the_period_limits_the_populations(proj, tmp_path):
    _make(
        proj,
        tmp_path / "p",
        "soc2",
        formats=("json",),
        since="2026-06-03T00:00:00.000Z",
        until="2026-06-04T23:59:59.999Z",
    )
    data = json.loads((tmp_path / "p" / "report.json").read_text())
    days = [d["day"] for d in data["charts"]["decisions_per_day"]]
    assert days == ["2026-06-03", "2026-06-04"]
    assert data["summary"]["requests"] == 7  # 3 a day, and the rejected CI edit on day 3 (June 4)
    assert all(x["code"] != "self_approval" for x in data["exceptions"])  # that was on June 7


def test_agent_text_is_escaped_in_html_and_markdown(proj, tmp_path):
    _make(proj, tmp_path / "h", "eu-ai-act", formats=("html", "md"))
    html = (tmp_path / "h" / "report.html").read_text()
    assert "<script" not in html.lower()
    assert "&lt;script&gt;document.body.setAttribute(&#x27;data-pwned&#x27;" in html
    assert "script-src 'none'" in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    md = (tmp_path / "h" / "report.md").read_text()
    assert "<script" not in md and "&lt;script&gt;" in md


def test_csv_cells_cannot_become_formulas(proj, tmp_path):
    from forge_tui.core.report.bundle import csv_cell

    assert (
        csv_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)" and csv_cell("-1") == "'-1" and csv_cell("ok") == "ok"
    )


def test_cli_writes_a_folder_that_verifies(proj, tmp_path, run_cli):
    out = tmp_path / "cli"
    code, stdout, err = run_cli("report", "--framework", "nist-800-53", "--format", "html", "--out", out)
    assert code == 0, err
    assert re.search(r"manifest\.json signed by forge-tui\.local/", stdout)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["report.html", "manifest.json", "requests.csv", "approvals.csv", "sample.csv", "exceptions.csv",
         "policy.csv", "access.csv"]
    )  # fmt: skip
    code, stdout, err = run_cli("verify-report", out)
    assert code == 0, stdout + err
    assert "verified: 7 files of the nist-800-53 report" in stdout


def test_cli_usage_errors_exit_2(proj, tmp_path, run_cli):
    assert run_cli("report", "--framework", "pci")[0] == 2
    assert run_cli("report", "--framework", "soc2", "--since", "notadate")[0] == 2
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    code, _out, err = run_cli("report", "--framework", "soc2", "--out", busy)
    assert code == 2 and "holds other files" in err
    assert run_cli("verify-report", tmp_path / "nothing-here")[0] == 2


# ---- verify-report --------------------------------------------------------------------------------


@pytest.fixture
def folder(proj, tmp_path):
    out = tmp_path / "rep"
    _make(proj, out, "soc2", formats=("md", "json", "html"))
    return out


def _verify(run_cli, folder, *keys):
    args = ["verify-report", folder]
    for k in keys:
        args += ["--key", k]
    return run_cli(*args)


def test_verify_report_ok(folder, proj, run_cli):
    code, out, _ = _verify(run_cli, folder, proj.pub_dir / f"{LEDGER_ID}.pub")
    assert code == 0 and "verified: 9 files of the soc2 report" in out


def test_a_changed_byte_in_a_csv_is_named(folder, run_cli):
    path = folder / "sample.csv"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    code, out, _ = _verify(run_cli, folder)
    assert code == 1 and "FAILED: sample.csv: changed" in out
    assert out.count("FAILED") == 1  # only that file


def test_a_changed_manifest_fails(folder, run_cli):
    path = folder / "manifest.json"
    doc = json.loads(path.read_text())
    doc["manifest"]["ledgers"][0]["records"] -= 1  # claim a shorter ledger
    path.write_text(json.dumps(doc, indent=1))
    code, out, _ = _verify(run_cli, folder)
    assert code == 1 and "FAILED: manifest.json: changed or forged" in out


def test_a_manifest_rewritten_to_match_a_changed_file_fails(folder, run_cli):
    import hashlib

    (folder / "exceptions.csv").write_text("severity,code\n")  # hide every exception
    path = folder / "manifest.json"
    doc = json.loads(path.read_text())
    for f in doc["manifest"]["files"]:
        if f["name"] == "exceptions.csv":
            f["bytes"], f["sha256"] = 14, hashlib.sha256(b"severity,code\n").hexdigest()
    path.write_text(json.dumps(doc, indent=1))
    code, out, _ = _verify(run_cli, folder)
    assert code == 1 and "manifest.json: changed or forged" in out


def test_a_wrong_key_fails(folder, run_cli):
    from forge_tui.core.note import Signer

    other = Signer("forge-tui.local/someone-else", bytes([99]) * 32).verifier.vkey
    code, out, _ = _verify(run_cli, folder, other)
    assert code == 1 and "signed by no trusted key" in out


def test_a_removed_or_added_file_fails(folder, run_cli):
    (folder / "policy.csv").unlink()
    (folder / "extra.csv").write_text("a,b\n")
    code, out, _ = _verify(run_cli, folder)
    assert code == 1
    assert "FAILED: policy.csv: listed in the manifest but missing" in out
    assert "FAILED: extra.csv: not listed in the manifest" in out


def test_a_missing_manifest_fails(folder, run_cli):
    (folder / "manifest.json").unlink()
    code, out, _ = _verify(run_cli, folder)
    assert code == 1 and "manifest.json: missing" in out


def test_the_pages_list_the_worst_exceptions_and_point_to_the_csv_for_the_rest(proj, tmp_path):
    from forge_tui.core.report.render_html import render_html
    from forge_tui.core.report.render_md import render_markdown

    _make(proj, tmp_path / "m", "soc2", formats=("json",))
    data = json.loads((tmp_path / "m" / "report.json").read_text())
    one = data["exceptions"][0]
    data["exceptions"], data["exceptions_total"] = [dict(one, seq=i) for i in range(100)], 150
    md, html = render_markdown(data), render_html(data)
    assert "… and 50 more in exceptions.csv." in md and "… and 50 more in exceptions.csv." in html
    assert md.count(f"| {one['code'].replace('_', chr(92) + '_')} |") == 100  # a page stays readable


def test_the_report_lists_the_worst_100_and_the_csv_every_exception(proj):
    from forge_tui.core.report.bundle import population_csvs
    from forge_tui.core.report.evidence import Period, load_evidence
    from forge_tui.core.report.model import build_report
    from forge_tui.core.report.queries import Verification
    from forge_tui.core.verify import Finding

    findings = [
        Finding(LEDGER_ID, seq, "policy_mismatch", f"decision {seq} not reproduced") for seq in range(150)
    ]
    ev = load_evidence(proj, Period(), {(LEDGER_ID, s) for s in range(150)})
    data, ctx, every = build_report(
        ev, Verification(1, 0, {}, findings), load_framework("soc2"), GENERATED_AT
    )
    assert len(data["exceptions"]) == 100 and data["exceptions_total"] == len(every) > 150
    assert data["exceptions_by_code"]["policy_mismatch"] == 150
    csv_text = population_csvs(ctx, data, every)["exceptions.csv"].decode()
    assert csv_text.count("policy_mismatch") == 150


def test_verify_report_checks_the_reported_root_against_the_projects_ledger(folder, proj, run_cli):
    code, out, _ = _verify(run_cli, folder)
    assert code == 0 and f"made from ledger {LEDGER_ID} of this project" in out
    # The ledger grows: the report still matches its first N records.
    ledger = proj.tracked_ledger(LEDGER_ID)
    data = ledger.read_bytes()
    ledger.write_bytes(data + data.split(b"\n")[-2] + b"\n")
    assert _verify(run_cli, folder)[0] == 0
    # History rewritten under the report (one byte of an early record): the signed root no longer fits.
    ledger.write_bytes(data.replace(b'"pytest -q"', b'"pytest -x"', 1))
    code, out, _ = _verify(run_cli, folder)
    assert code == 1 and f"ledger {LEDGER_ID}'s first" in out and "do not hash to the reported root" in out
    code, _out, _ = run_cli("verify-report", folder, "--no-ledger")
    assert code == 0
