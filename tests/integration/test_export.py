"""`forge-tui export` / `verify-export`: a request's evidence checked offline with only public keys."""

from __future__ import annotations

import base64
import json
import shutil

import pytest
from ledgerkit import REVIEWER_SEED, build_template, copy_world, data_dir_env

from forge_tui.cli import main


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    base = tmp_path_factory.mktemp("export-tpl")
    build_template(base)
    return base


@pytest.fixture
def world(template, tmp_path):
    return copy_world(template, tmp_path / "w")


def cli(world, *args, capsys) -> tuple[int, str, str]:
    with data_dir_env(world.data):
        code = main(["-C", str(world.root), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_an_exported_request_verifies_with_only_the_public_keys(world, tmp_path, capsys):
    code, out, err = cli(world, "export", "r-2", "--out", str(tmp_path / "r2.json"), capsys=capsys)
    assert code == 0, err
    bundle = json.loads((tmp_path / "r2.json").read_text())
    env = bundle["dsse"]
    assert env["payloadType"] == "application/vnd.in-toto+json"
    statement = json.loads(base64.b64decode(env["payload"]))
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicate"]["decision"]["status"] == "allowed"
    (appr,) = statement["predicate"]["approvals"]
    assert appr["approval"]["reviewer"] == "alice" and appr["reviewer_sig"]
    assert [r["seq"] for r in bundle["records"]] == [5, 6, 7, 8, 9]
    # Offline: a folder holding only the bundle and the two public files, no project, no data folder.
    offline = tmp_path / "offline"
    offline.mkdir()
    shutil.copy(world.pub, offline / "ledger.pub")
    shutil.copy(world.root / ".forge" / "reviewers.toml", offline / "reviewers.toml")
    shutil.copy(tmp_path / "r2.json", offline / "r2.json")
    args = ["verify-export", str(offline / "r2.json"), "--key", str(offline / "ledger.pub")]
    code = main([*args, "--reviewers", str(offline / "reviewers.toml")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "verified: request r-2 allowed" in out and "signed by alice" in out
    assert REVIEWER_SEED  # the reviewer key is alice's own, not the ledger's


def test_a_changed_byte_is_rejected(world, tmp_path, capsys):
    cli(world, "export", "r-2", "--out", str(tmp_path / "r2.json"), capsys=capsys)
    text = (tmp_path / "r2.json").read_text()
    keys = ["--key", str(world.pub), "--reviewers", str(world.root / ".forge" / "reviewers.toml")]
    bundle = json.loads(text)
    cases = {}
    # One byte of a record line (the approval's reason), of the payload, of a proof, of the checkpoint.
    b = json.loads(text)
    b["records"][2]["line"] = b["records"][2]["line"].replace('"reason":"fine"', '"reason":"fina"')
    cases["record"] = b
    b = json.loads(text)
    payload = bytearray(base64.b64decode(b["dsse"]["payload"]))
    payload[-3] ^= 1
    b["dsse"]["payload"] = base64.b64encode(bytes(payload)).decode()
    cases["payload"] = b
    b = json.loads(text)
    p = b["records"][0]["proof"][0]
    b["records"][0]["proof"][0] = ("0" if p[0] != "0" else "1") + p[1:]
    cases["proof"] = b
    b = json.loads(text)
    b["checkpoint"] = b["checkpoint"].replace("\n14\n", "\n13\n")
    cases["checkpoint"] = b
    assert bundle["checkpoint"].split("\n")[1] == "14"
    for name, changed in cases.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(changed))
        code = main(["verify-export", str(path), *keys])
        out = capsys.readouterr().out
        assert code == 1 and out.startswith("FAILED: "), (name, out)


def test_export_of_a_range_and_of_an_unknown_request(world, tmp_path, capsys):
    code, out, _ = cli(world, "export", "--since", "2000-01-01", capsys=capsys)
    assert code == 0
    assert [json.loads(line)["records"][0]["seq"] for line in out.strip().split("\n")] == [2, 5, 11]
    code, _, err = cli(world, "export", "r-nope", capsys=capsys)
    assert code == 2 and "r-nope" in err
