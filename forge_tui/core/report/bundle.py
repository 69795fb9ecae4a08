"""The report folder: the rendered report(s), the population CSVs and `manifest.json`, signed with the
ledger key, which `verify-report` checks (docs/report.md, "Manifest").

manifest.json is `{"manifest": {...}, "payloadType": PAYLOAD_TYPE, "signatures": [{"keyid", "sig"}]}`;
each signature is Ed25519 over the DSSE pre-authentication encoding of the JCS bytes of `manifest`
(the same PAE `forge-tui export` signs), so the manifest stays readable while its bytes are fixed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forge_tui.core.export import pae
from forge_tui.core.jcs import canonical
from forge_tui.core.note import NoteError, Signer, Verifier, b64, b64decode_strict
from forge_tui.core.report.model import approvals_text
from forge_tui.core.report.queries import Context
from forge_tui.errors import CanonicalError, ForgeError, SignatureError

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "forge-tui.report-manifest/v1"
PAYLOAD_TYPE = "application/vnd.forge-tui.report-manifest+json"


def csv_cell(value: Any) -> str:
    """A cell a spreadsheet will not run as a formula (ledger text is untrusted)."""
    s = "" if value is None else str(value)
    return "'" + s if s[:1] in ("=", "+", "-", "@", "\t", "\r") else s


def _csv(head: list[str], rows: list[list[Any]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(head)
    w.writerows([csv_cell(c) for c in row] for row in rows)
    return buf.getvalue().encode("utf-8")


def population_csvs(ctx: Context, data: dict[str, Any], exceptions: list[dict[str, Any]]) -> dict[str, bytes]:
    """The CSV files of the report, by name (columns: docs/report.md)."""
    ev = ctx.ev
    bad = {
        (f.ledger, f.seq) for f in ctx.verification.findings if f.seq is not None and f.severity == "error"
    }
    reqs = []
    for r in ev.requests:
        fin = r.final
        out = r.outcomes[0] if r.outcomes else None
        reqs.append(
            [
                r.ledger, r.seq, r.ts, r.request_id, r.actor, r.actor_kind, r.session, r.principal, r.kind,
                r.tool, r.summary, " ".join(r.paths), r.requirement, r.client,
                "yes" if r.is_change else "no",
                fin.status if fin else "", fin.decided_by if fin else "", fin.rule if fin else "",
                fin.seq if fin else "", fin.ts if fin else "",
                " ".join(f"{a.reviewer}:{a.verdict}" for a in r.approvals),
                out.status if out else "", out.ts if out else "", out.commit if out else "",
            ]
        )  # fmt: skip
    files = {
        "requests.csv": _csv(
            [
                "ledger",
                "seq",
                "ts",
                "request_id",
                "actor",
                "actor_kind",
                "session",
                "principal",
                "kind",
                "tool",
                "summary",
                "paths",
                "requirement",
                "client",
                "change",
                "decision",
                "decided_by",
                "rule",
                "decision_seq",
                "decision_ts",
                "approvals",
                "outcome",
                "outcome_ts",
                "commit",
            ],
            reqs,
        ),  # fmt: skip
        "approvals.csv": _csv(
            [
                "ledger",
                "seq",
                "ts",
                "request_id",
                "reviewer",
                "verdict",
                "reason",
                "reviewer_kid",
                "signature",
            ],
            [
                [
                    a.ledger,
                    a.seq,
                    a.ts,
                    a.request_id,
                    a.reviewer,
                    a.verdict,
                    a.reason,
                    a.reviewer_kid,
                    "finding" if (a.ledger, a.seq) in bad else "verified",
                ]
                for a in ev.approvals
            ],
        ),  # fmt: skip
        "sample.csv": _csv(
            [
                "rank",
                "sample_key",
                "ledger",
                "seq",
                "ts",
                "request_id",
                "actor",
                "kind",
                "summary",
                "decision",
                "decided_by",
                "rule",
                "approvals",
                "outcome",
            ],
            [
                [
                    i + 1,
                    row.key,
                    row.request.ledger,
                    row.request.seq,
                    row.request.ts,
                    row.request.request_id,
                    row.request.actor,
                    row.request.kind,
                    row.request.summary,
                    row.request.final.status if row.request.final else "",
                    row.request.final.decided_by if row.request.final else "",
                    row.request.final.rule if row.request.final else "",
                    "; ".join(
                        f"{a['reviewer']} {a['verdict']} {a['ts']} {a['signature']}"
                        for a in approvals_text(row.request, row.bad_approvals)
                    ),
                    row.request.outcomes[0].status if row.request.outcomes else "",
                ]
                for i, row in enumerate(ctx.sample.rows)
            ],
        ),  # fmt: skip
        "exceptions.csv": _csv(
            ["severity", "code", "ledger", "seq", "ts", "query", "controls", "message"],
            [
                [
                    x["severity"],
                    x["code"],
                    x["ledger"],
                    x["seq"],
                    x["ts"],
                    x["query"],
                    " ".join(x["controls"]),
                    x["message"],
                ]
                for x in exceptions
            ],
        ),
        "policy.csv": _csv(
            ["ledger", "seq", "ts", "path", "digest", "error"],
            [[p.ledger, p.seq, p.ts, p.path, p.digest, p.error] for p in ev.policies],
        ),
        "access.csv": _csv(
            ["ledger", "seq", "ts", "type", "action", "name", "from_seq"],
            [[a.ledger, a.seq, a.ts, a.type, a.action, a.name, a.from_seq] for a in ev.access],
        ),
    }
    return files


def file_entry(name: str, content: bytes) -> dict[str, Any]:
    return {"name": name, "bytes": len(content), "sha256": hashlib.sha256(content).hexdigest()}


def write_bundle(out: Path, files: dict[str, bytes], data: dict[str, Any], signer: Signer) -> Path:
    """Write `files` into `out` and the signed manifest over them; returns the manifest's path."""
    out.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (out / name).write_bytes(content)
    manifest = {
        "format": MANIFEST_FORMAT,
        "framework": data["framework"]["id"],
        "generated_at": data["generated_at"],
        "project_id": data["project"]["id"],
        "period": data["period"],
        "ledgers": [
            {"ledger": g["ledger"], "records": g["records"], "root": g["root"]} for g in data["ledgers"]
        ],
        "sample_seed": data["sample"]["seed"],
        "files": [file_entry(n, files[n]) for n in sorted(files)],
    }
    sig = signer.sign(pae(PAYLOAD_TYPE, canonical(manifest)))
    doc = {
        "manifest": manifest,
        "payloadType": PAYLOAD_TYPE,
        "signatures": [{"keyid": signer.kid, "sig": b64(sig)}],
    }
    path = out / MANIFEST
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


# ---- verification -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BundleFinding:
    file: str
    message: str

    def line(self) -> str:
        return f"{self.file}: {self.message}"


@dataclass
class BundleCheck:
    manifest: dict[str, Any] | None
    signed_by: list[str]
    findings: list[BundleFinding]

    @property
    def ok(self) -> bool:
        return not self.findings


def verify_bundle_dir(folder: Path, keys: list[Verifier]) -> BundleCheck:
    """Check the manifest's signature with `keys` and every file's size and SHA-256; files the manifest
    does not list are findings too (nothing unvouched-for may sit beside the evidence)."""
    try:
        text = (folder / MANIFEST).read_bytes().decode("utf-8")
        doc = json.loads(text)
        manifest = doc["manifest"]
        signed = _check_signature(doc, manifest, keys)
    except FileNotFoundError:
        return BundleCheck(None, [], [BundleFinding(MANIFEST, "missing: nothing vouches for the files")])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, _Bad) as exc:
        return BundleCheck(None, [], [BundleFinding(MANIFEST, str(exc) or type(exc).__name__)])
    findings = []
    listed = set()
    try:
        entries = [(str(f["name"]), int(f["bytes"]), str(f["sha256"])) for f in manifest["files"]]
    except (KeyError, TypeError, ValueError):
        return BundleCheck(manifest, signed, [BundleFinding(MANIFEST, "the file list is malformed")])
    for name, size, digest in entries:
        listed.add(name)
        path = folder / name
        if "/" in name or name in ("", ".", "..") or not path.is_file():
            findings.append(BundleFinding(name, "listed in the manifest but missing"))
            continue
        content = path.read_bytes()
        if len(content) != size or hashlib.sha256(content).hexdigest() != digest:
            findings.append(BundleFinding(name, "changed: its SHA-256 differs from the manifest"))
    for extra in sorted(p.name for p in folder.iterdir() if p.name != MANIFEST and p.name not in listed):
        findings.append(BundleFinding(extra, "not listed in the manifest"))
    return BundleCheck(manifest, signed, findings)


class _Bad(ForgeError):
    exit_code = 1


def _check_signature(doc: dict[str, Any], manifest: Any, keys: list[Verifier]) -> list[str]:
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise _Bad(f"not a {MANIFEST_FORMAT} manifest")
    if doc.get("payloadType") != PAYLOAD_TYPE:
        raise _Bad(f"payloadType is not {PAYLOAD_TYPE}")
    try:
        message = pae(PAYLOAD_TYPE, canonical(manifest))
    except CanonicalError as exc:
        raise _Bad(f"the manifest is not canonical JSON: {exc}") from None
    by_kid = {k.kid: k for k in keys}
    good = []
    for s in doc.get("signatures") or []:
        key = by_kid.get(s.get("keyid"))
        if key is None:
            continue
        try:
            key.verify(message, b64decode_strict(s.get("sig", ""), "signature"))
        except (SignatureError, NoteError) as exc:
            raise _Bad(f"changed or forged: the signature by {key.name} does not verify ({exc})") from None
        good.append(key.name)
    if not good:
        raise _Bad("signed by no trusted key (give --key with the ledger's public key)")
    return good


def check_against_ledgers(manifest: dict[str, Any], project) -> tuple[list[str], list[BundleFinding]]:
    """Whether each ledger the manifest names is, in `project`, a ledger whose first `records` lines
    hash to the manifest's `root` (a report made from it, the ledger grown since or not). Returns the
    ledger ids checked and the findings; ledgers the project lacks are left unchecked."""
    from forge_tui.core.merkle import leaf_hash, root_from_leaves

    checked, findings = [], []
    for g in manifest.get("ledgers") or []:
        lid, size, root = str(g.get("ledger")), g.get("records"), g.get("root")
        path = project.tracked_ledger(lid)
        if "/" in lid or not path.is_file() or not isinstance(size, int):
            continue
        leaves = []
        with open(path, "rb") as fh:
            for line in fh:
                if len(leaves) == size or not line.endswith(b"\n"):
                    break
                leaves.append(leaf_hash(line[:-1]))
        checked.append(lid)
        if len(leaves) < size:
            findings.append(
                BundleFinding(
                    MANIFEST, f"ledger {lid} holds {len(leaves)} records, fewer than the {size} reported"
                )
            )
        elif root_from_leaves(leaves).hex() != root:
            findings.append(
                BundleFinding(
                    MANIFEST, f"ledger {lid}'s first {size} records do not hash to the reported root"
                )
            )
    return checked, findings
