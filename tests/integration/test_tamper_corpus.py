"""Tamper corpus: each case damages a copy of a real 14-record ledger (see ledgerkit for its layout) the
way an attacker or an accident would, runs `forge-tui verify --json` and checks the exit code (docs/design.md §5:
0 verified, 1 tampering or a forensic violation, 2 usage or configuration error, 3 torn or unsigned
tail) and which seq the report blames.

Most cases pass --no-local: they model CI, which sees only the repository. Cases about anchors say so.
"""

from __future__ import annotations

import base64
import json
import subprocess

import pytest
from ledgerkit import N_RECORDS, World, build_template, copy_world, first_error_seq, report_pairs

from forge_tui.core.note import Signer

OK, FAIL, USAGE, WARN = 0, 1, 2, 3


@pytest.fixture(scope="session")
def templates(tmp_path_factory):
    a = tmp_path_factory.mktemp("tpl-a")
    b = tmp_path_factory.mktemp("tpl-b")
    build_template(a)
    build_template(b)
    return a, b


@pytest.fixture
def world(templates, tmp_path, monkeypatch) -> World:
    w = copy_world(templates[0], tmp_path / "w")
    monkeypatch.setenv("FORGE_DATA_DIR", str(w.data))
    return w


@pytest.fixture
def other(templates, tmp_path) -> World:
    """A second project's ledger (another key, another origin)."""
    return copy_world(templates[1], tmp_path / "other")


@pytest.fixture
def verify(world, run_cli):
    def run(*args: str, local: bool = False) -> tuple[int, dict | None, str]:
        extra = [] if local else ["--no-local"]
        code, out, err = run_cli("-C", str(world.root), "verify", "--json", *extra, *args)
        return code, (json.loads(out) if out.strip() else None), err

    return run


def attacker(name: str) -> Signer:
    return Signer(name, b"\x07" * 32)


def git(root, *args):
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def commit_all(root):
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "t@example.com")
    git(root, "config", "user.name", "t")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")


# ---- the untouched ledger -----------------------------------------------------------------------


def test_untouched_ledger_verifies(verify):
    for local in (False, True):
        code, rep, _ = verify(local=local)
        assert code == OK, rep
        assert rep["findings"] == []
        assert rep["ledgers"][0]["records"] == N_RECORDS
    code, rep, _ = verify("--fast")
    assert code == OK and rep["ledgers"][0]["signatures_checked"] == 0


# ---- record edits ---------------------------------------------------------------------------------


def test_edit_decision_status(verify, world):
    world.edit_line(3, b'"status":"allowed"', b'"status":"denied"')
    code, rep, _ = verify()
    assert code == FAIL
    pairs = report_pairs(rep)
    assert {("signature", 3), ("chain", 4), ("root_mismatch", None)} <= pairs
    # the outcome at 4 now lacks an allowing decision: execution without authorization
    assert ("unauthorized_execution", 4) in pairs
    assert first_error_seq(rep) == 3


def test_edit_timestamp(verify, world):
    ts = world.records()[6]["ts"].encode()
    world.edit_line(6, b'"ts":"' + ts, b'"ts":"2001' + ts[4:])
    code, rep, _ = verify()
    assert code == FAIL
    assert {("signature", 6), ("chain", 7), ("time_backwards", 6)} <= report_pairs(rep)
    assert first_error_seq(rep) == 6


def test_edit_seq_field(verify, world):
    world.edit_line(5, b'"seq":5,', b'"seq":50,')
    code, rep, _ = verify()
    assert code == FAIL
    assert {("seq", 5), ("signature", 5), ("chain", 6)} <= report_pairs(rep)


def test_edit_fast_mode_still_caught(verify, world):
    world.edit_line(10, b"incident 42", b"incident 43")
    code, rep, _ = verify("--fast")
    assert code == FAIL
    assert {("chain", 11), ("root_mismatch", None)} <= report_pairs(rep)
    assert ("signature", 10) not in report_pairs(rep)  # --fast skips signatures


def test_edit_last_record(verify, world):
    """No later record links to the last one: only its signature and the checkpoint catch it."""
    world.edit_line(13, b'"text":"end"', b'"text":"END"')
    code, rep, _ = verify()
    assert code == FAIL
    assert {("signature", 13), ("root_mismatch", None)} <= report_pairs(rep)
    assert first_error_seq(rep) == 13


# ---- deleting, reordering, duplicating, inserting -------------------------------------------------


def test_delete_middle_record(verify, world):
    lines = world.lines()
    del lines[5]
    world.write_lines(lines)
    code, rep, _ = verify()
    assert code == FAIL
    assert {("seq", 5), ("chain", 5), ("truncated", N_RECORDS - 1)} <= report_pairs(rep)
    assert first_error_seq(rep) == 5


def test_delete_last_record(verify, world):
    world.write_lines(world.lines()[:-1])
    code, rep, _ = verify()
    assert code == FAIL
    assert report_pairs(rep) == {("truncated", N_RECORDS - 1)}


def test_reorder_adjacent_records(verify, world):
    lines = world.lines()
    lines[5], lines[6] = lines[6], lines[5]
    world.write_lines(lines)
    code, rep, _ = verify()
    assert code == FAIL
    assert {("seq", 5), ("seq", 6), ("chain", 5), ("chain", 6), ("chain", 7)} <= report_pairs(rep)
    assert first_error_seq(rep) == 5


def test_duplicate_record(verify, world):
    lines = world.lines()
    lines.insert(11, lines[10])
    world.write_lines(lines)
    code, rep, _ = verify()
    assert code == FAIL
    pairs = report_pairs(rep)
    # the copy at 11 links to 9; the record after it links to an identical line, so only its seq is off
    assert {("seq", 11), ("chain", 11), ("seq", 12)} <= pairs
    assert ("chain", 12) not in pairs
    assert first_error_seq(rep) == 11


def test_insert_forged_record_other_key(verify, world):
    """A record signed by a key the project does not trust, chained correctly into place."""
    recs = world.records()
    evil = attacker(world.origin)
    from forge_tui.core.merkle import leaf_hash
    from forge_tui.core.records import build_record

    lines = world.lines()
    _r, line = build_record(
        log=world.origin,
        seq=4,
        ts=recs[4]["ts"],
        type_="note",
        prev=leaf_hash(lines[3]).hex(),
        signer=evil,
        body={"text": "nothing happened"},
    )
    lines.insert(4, line)
    world.write_lines(lines)
    code, rep, _ = verify()
    assert code == FAIL
    pairs = report_pairs(rep)
    assert ("unknown_key", 4) in pairs
    assert {("seq", 5), ("chain", 5)} <= pairs  # the old seq 4 now sits at 5 and links to 3
    assert first_error_seq(rep) == 4


def test_splice_record_from_another_ledger(verify, world, other):
    lines = world.lines()
    lines[10] = other.lines()[10]  # same seq and type, other project: other log, other key
    world.write_lines(lines)
    code, rep, _ = verify()
    assert code == FAIL
    assert {("log", 10), ("unknown_key", 10), ("chain", 10), ("chain", 11)} <= report_pairs(rep)
    assert first_error_seq(rep) == 10


# ---- truncation, rollback, fork (an attacker holding the ledger key) -------------------------------


def test_truncate_without_resigning(verify, world):
    world.write_lines(world.lines()[:9])
    code, rep, _ = verify()
    assert code == FAIL
    assert ("truncated", 9) in report_pairs(rep)


def test_truncate_and_resign_is_caught_by_anchor(verify, world, tmp_path):
    anchor = tmp_path / "anchor.checkpoint"
    anchor.write_text(world.checkpoint.read_text())
    lines = world.lines()[:9]
    world.write_lines(lines)
    world.checkpoint.write_text(world.checkpoint_for(lines, world.signer()))
    code, rep, _ = verify()
    assert code == OK, "a consistent shorter ledger is valid on its own: only an anchor can tell"
    code, rep, _ = verify("--anchor", str(anchor))
    assert code == FAIL
    assert report_pairs(rep) == {("rollback", 9)}


def test_rollback_caught_by_local_state(verify, world, tmp_path):
    """Replace the ledger and checkpoint by an older, genuine copy; this machine has seen the newer one."""
    code, _rep, _ = verify(local=True)  # records the newest checkpoint in the latest-seen cache
    assert code == OK
    lines = world.lines()[:6]
    world.write_lines(lines)
    world.auth_ledger.write_bytes(world.ledger.read_bytes())  # both copies (tracked-only is stale_tracked)
    world.checkpoint.write_text(world.checkpoint_for(lines, world.signer()))
    world.auth_checkpoint.unlink()  # even without the daemon's own checkpoint, the cache remembers
    code, rep, _ = verify()
    assert code == OK
    code, rep, _ = verify(local=True)
    assert code == FAIL
    assert report_pairs(rep) == {("rollback", 6)}


def test_fork_rewritten_history_caught_by_anchor(verify, world, tmp_path):
    anchor = tmp_path / "anchor.checkpoint"
    anchor.write_text(world.checkpoint.read_text())
    original = world.records()
    # Rewriting the note at 10 and re-signing everything after it makes a ledger valid on its own...
    recs = world.records()
    recs[10]["body"]["text"] = "nothing to see"
    world.resign(recs, world.signer(), start=10)
    code, rep, _ = verify()
    assert code == OK, rep["findings"]
    # ...but not an extension of a checkpoint saved before, nor of this machine's own checkpoint.
    code, rep, _ = verify("--anchor", str(anchor))
    assert code == FAIL
    assert report_pairs(rep) == {("fork", None)}
    code, rep, _ = verify(local=True)
    assert code == FAIL and ("fork", None) in report_pairs(rep)
    # Rewriting a decision (allowed -> denied) leaves its outcome unauthorized: a forensic finding,
    # whatever else the rewrite breaks (the approval at 7 signed the old hash of request 5).
    recs = original
    recs[3]["body"]["status"] = "denied"
    world.resign(recs, world.signer(), start=3)
    code, rep, _ = verify()
    assert code == FAIL
    pairs = report_pairs(rep)
    assert ("unauthorized_execution", 4) in pairs
    # (and whether the decision at 8 then lacks its quorum is an open point); re-evaluating the
    # pytest request under the recorded policy gives "allowed", not the rewritten "denied"
    assert ("policy_mismatch", 3) in pairs
    assert pairs <= {
        ("unauthorized_execution", 4),
        ("policy_mismatch", 3),
        ("unbound_approval", 7),
        ("quorum", 8),
    }


def test_whole_log_resigned_with_another_key_caught_by_base_ref(verify, world):
    commit_all(world.root)
    evil = attacker(world.origin)
    recs = world.records()
    recs[12]["body"]["status"] = "allowed"
    world.resign(recs, evil, start=0)
    world.pub.write_text(evil.verifier.vkey + "\n")
    code, rep, _ = verify()
    # consistent with the key in the working tree; the approval still names the old request hash, and
    # re-evaluating `rm -rf /` under the recorded policy denies it: the forged "allowed" is caught; and
    # the genesis record still names the real key while the attacker's signs it (genesis_key)
    assert ("policy_mismatch", 12) in report_pairs(rep) and ("genesis_key", 0) in report_pairs(rep)
    assert report_pairs(rep) <= {
        ("unbound_approval", 7),
        ("quorum", 8),
        ("policy_mismatch", 12),
        ("genesis_key", 0),
    }
    code, rep, _ = verify("--base-ref", "main")
    assert code == FAIL
    pairs = report_pairs(rep)
    assert ("unknown_key", 0) in pairs and ("unknown_key", N_RECORDS - 1) in pairs
    # the working-tree checkpoint is signed by a key the base does not trust; the base checkpoint,
    # signed by the real key, is not a prefix of this history
    assert ("checkpoint", None) in pairs and ("fork", None) in pairs
    assert first_error_seq(rep) == 0


def test_rollback_against_base_ref(verify, world):
    commit_all(world.root)
    lines = world.lines()[:8]
    world.write_lines(lines)
    world.checkpoint.write_text(world.checkpoint_for(lines, world.signer()))
    code, rep, _ = verify("--base-ref", "main")
    assert code == FAIL
    assert report_pairs(rep) == {("rollback", 8)}


def test_ledger_deleted_caught_by_base_ref(verify, world):
    commit_all(world.root)
    world.ledger.unlink()
    code, rep, _ = verify("--base-ref", "main")
    assert code == FAIL
    assert report_pairs(rep) == {("deleted", None)}
    code, rep, _ = verify()
    assert code == FAIL and report_pairs(rep) == {("no_ledger", None)}


# ---- keys -----------------------------------------------------------------------------------------


def test_key_swapped_in_forge(verify, world):
    world.pub.write_text(attacker(world.origin).verifier.vkey + "\n")
    code, rep, _ = verify()
    assert code == FAIL
    pairs = report_pairs(rep)
    assert {("unknown_key", s) for s in range(N_RECORDS)} <= pairs
    assert ("checkpoint", None) in pairs
    assert first_error_seq(rep) == 0


def test_key_file_malformed(verify, world):
    world.pub.write_text("not a vkey\n")
    code, rep, _ = verify()
    assert code == FAIL
    assert report_pairs(rep) == {("bad_key", None)}


def test_key_file_missing(verify, world):
    world.pub.unlink()
    code, rep, _ = verify()
    assert code == FAIL
    assert report_pairs(rep) == {("no_key", None)}


# ---- checkpoint edits -----------------------------------------------------------------------------


def _cp_lines(world):
    return world.checkpoint.read_text().split("\n")


@pytest.mark.parametrize(
    "what",
    ["origin", "size", "root", "signature", "signer_name", "dash", "drop_blank_line", "crlf"],
)
def test_checkpoint_edits(verify, world, what):
    lines = _cp_lines(world)
    if what == "origin":
        lines[0] = lines[0][:-1] + ("0" if lines[0][-1] != "0" else "1")
    elif what == "size":
        lines[1] = str(int(lines[1]) - 1)
    elif what == "root":
        raw = bytearray(base64.b64decode(lines[2]))
        raw[0] ^= 1
        lines[2] = base64.b64encode(bytes(raw)).decode()
    elif what == "signature":
        name, sig = lines[4][2:].split(" ")
        raw = bytearray(base64.b64decode(sig))
        raw[-1] ^= 0x80
        lines[4] = f"\u2014 {name} {base64.b64encode(bytes(raw)).decode()}"
    elif what == "signer_name":
        lines[4] = lines[4].replace("forge-tui.local/", "forge-tui.locaI/")
    elif what == "dash":
        lines[4] = "-" + lines[4][1:]
    elif what == "drop_blank_line":
        del lines[3]
    elif what == "crlf":
        lines = [line + "\r" if line else line for line in lines]
    world.checkpoint.write_text("\n".join(lines))
    code, rep, _ = verify()
    assert code == FAIL
    assert report_pairs(rep) == {("checkpoint", None)}, rep["findings"]


def test_checkpoint_resigned_larger_than_ledger(verify, world):
    """Size claims more records than there are (signed with the real key): reported as removed records."""
    from forge_tui.core.note import Checkpoint

    cp = Checkpoint(world.origin, N_RECORDS + 3, b"\x11" * 32).sign([world.signer()])
    world.checkpoint.write_text(cp)
    code, rep, _ = verify()
    assert code == FAIL
    assert report_pairs(rep) == {("truncated", N_RECORDS)}


def test_checkpoint_missing_is_a_warning(verify, world):
    world.checkpoint.unlink()
    code, rep, _ = verify()
    assert code == WARN
    assert report_pairs(rep) == {("no_checkpoint", None)}
    code, rep, _ = verify("--strict")
    assert code == FAIL


def test_unsigned_tail_is_a_warning(verify, world):
    """A validly signed record after the checkpoint (a crash between the write and the checkpoint)."""
    from forge_tui.core.merkle import leaf_hash
    from forge_tui.core.records import build_record

    lines = world.lines()
    last = world.records()[-1]
    _r, line = build_record(
        log=world.origin,
        seq=N_RECORDS,
        ts=last["ts"],
        type_="note",
        prev=leaf_hash(lines[-1]).hex(),
        signer=world.signer(),
        body={"text": "late"},
    )
    world.write_lines([*lines, line])
    code, rep, _ = verify()
    assert code == WARN
    assert report_pairs(rep) == {("unsigned_tail", N_RECORDS)}
    assert verify("--strict")[0] == FAIL


def test_torn_tail_is_a_warning(verify, world):
    with open(world.ledger, "ab") as fh:
        fh.write(world.lines()[5][:40])
    code, rep, _ = verify()
    assert code == WARN
    assert report_pairs(rep) == {("torn_tail", None)}
    assert verify("--strict")[0] == FAIL


# ---- encoding: every line must be the exact JCS bytes -----------------------------------------------


def _malformed_case(world, seq: int, mutate) -> None:
    lines = world.lines()
    lines[seq] = mutate(lines[seq])
    world.write_lines(lines)


ENCODING_CASES = {
    # top-level key order: "kid" before "body" (same object, not canonical)
    "key_order": lambda line: (
        b'{"kid":'
        + line.split(b',"kid":', 1)[1].split(b',"log":', 1)[0]
        + b',"body":'
        + line[len(b'{"body":') :].split(b',"kid":', 1)[0]
        + b',"log":'
        + line.split(b',"log":', 1)[1]
    ),
    "space_after_colon": lambda line: line.replace(b'"seq":', b'"seq": ', 1),
    "trailing_space": lambda line: line + b" ",
    "duplicate_key": lambda line: line[:-1] + b',"v":1}',
    "crlf": lambda line: line + b"\r",
    "escaped_slash": lambda line: line.replace(b"forge-tui.local/", b"forge-tui.local\\/", 1),
    "unicode_escape_ascii": lambda line: line.replace(b'"type":"', b'"type":"\\u006', 1).replace(
        b'"type":"\\u006n', b'"type":"\\u006e', 1
    ),
    "raw_control_char": lambda line: line.replace(b"incident", b"inci\x01dent", 1),
    "float": lambda line: line.replace(b'"seq":10,', b'"seq":10.0,', 1),
    "exponent": lambda line: line.replace(b'"seq":10,', b'"seq":1e1,', 1),
    "big_int": lambda line: line.replace(b'"seq":10,', b'"seq":9007199254740993,', 1),
    "nan": lambda line: line.replace(b'"seq":10,', b'"seq":NaN,', 1),
    "invalid_utf8": lambda line: line.replace(b"incident", b"inci\xffdent", 1),
    "non_nfc": lambda line: line.replace(b"incident", "incide\u0301nt".encode(), 1),
    "sig_bad_base64_char": lambda line: line.replace(b'"sig":"', b'"sig":"-', 1).replace(
        b'==","ts"', b'=","ts"'
    ),
    "sig_unpadded": lambda line: line.replace(b'==","ts"', b'","ts"', 1),
    "sig_nonzero_pad_bits": lambda line: _pad_bits(line),
    "sig_short": lambda line: _short_sig(line),
    "extra_field": lambda line: line[:-1] + b',"x":1}',
    "missing_body_field": lambda line: line.replace(
        b'"text":"incident 42 closed"', b'"txt":"incident 42 closed"'
    ),
    "wrong_type_name": lambda line: line.replace(b'"type":"note"', b'"type":"notes"'),
    "prev_uppercase": lambda line: _upper_prev(line),
    "not_an_object": lambda line: b"[" + line + b"]",
    "empty_line": lambda line: b"",
}


def _pad_bits(line: bytes) -> bytes:
    i = line.index(b'"sig":"') + 7
    j = line.index(b'"', i)
    sig = line[i:j]
    assert sig.endswith(b"==")
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    k = alphabet.index(sig[-3:-2])
    sig2 = sig[:-3] + alphabet[k ^ 1 : (k ^ 1) + 1] + b"=="  # flips a padding bit: same bytes decoded
    assert base64.b64decode(sig2) == base64.b64decode(sig)
    return line[:i] + sig2 + line[j:]


def _short_sig(line: bytes) -> bytes:
    i = line.index(b'"sig":"') + 7
    j = line.index(b'"', i)
    return line[:i] + base64.b64encode(base64.b64decode(line[i:j])[:63]) + line[j:]


def _upper_prev(line: bytes) -> bytes:
    i = line.index(b'"prev":"') + 8
    return line[:i] + line[i : i + 64].upper() + line[i + 64 :]


@pytest.mark.parametrize("case", sorted(ENCODING_CASES))
def test_non_canonical_or_invalid_line(verify, world, case):
    seq = 10  # the note "incident 42 closed"
    _malformed_case(world, seq, ENCODING_CASES[case])
    code, rep, _ = verify()
    assert code == FAIL
    pairs = report_pairs(rep)
    codes_at_seq = {c for c, s in pairs if s == seq}
    expected = {"prev_uppercase": "chain", "not_an_object": "malformed"}.get(case, "malformed")
    assert expected in codes_at_seq, rep["findings"]
    assert first_error_seq(rep) == seq
    assert ("root_mismatch", None) in pairs


def test_byte_order_mark(verify, world):
    world.ledger.write_bytes(b"\xef\xbb\xbf" + world.ledger.read_bytes())
    code, rep, _ = verify()
    assert code == FAIL
    assert {("bom", 0), ("malformed", 0), ("root_mismatch", None)} <= report_pairs(rep)


def test_whole_file_crlf(verify, world):
    world.ledger.write_bytes(world.ledger.read_bytes().replace(b"\n", b"\r\n"))
    code, rep, _ = verify()
    assert code == FAIL
    assert {("malformed", s) for s in range(N_RECORDS)} <= report_pairs(rep)


def test_empty_ledger_file(verify, world):
    world.ledger.write_bytes(b"")
    code, rep, _ = verify()
    assert code == FAIL
    assert report_pairs(rep) == {("truncated", 0)}


# ---- approvals: the ledger key alone cannot forge a reviewer ----------------------------------------


def test_forged_approval_resigned_with_ledger_key(verify, world):
    """Whoever holds the ledger key (the daemon, or the agent that stole it) rewrites the approval's
    reason and re-signs the chain: the reviewer's own signature no longer verifies."""
    recs = world.records()
    recs[7]["body"]["approval"]["reason"] = "LGTM, ship it"
    world.resign(recs, world.signer(), start=7)
    code, rep, _ = verify()
    assert code == FAIL
    pairs = report_pairs(rep)
    assert ("forged_approval", 7) in pairs
    # whether the decision at 8, resting on that approval, also fails its quorum is an open point
    assert pairs <= {("forged_approval", 7), ("quorum", 8)}


def test_reviewer_swapped_in_working_tree_caught_by_base_ref(verify, world):
    """The agent registers its own 'alice' key in the working tree and forges her approval."""
    commit_all(world.root)
    fake = Signer("forge-tui.reviewer/alice", b"\x09" * 32)
    from forge_tui.core.approvals import approval_message
    from forge_tui.core.note import b64
    from forge_tui.core.reviewers import Reviewer, save_reviewers

    save_reviewers(world.project.reviewers_path, {"alice": Reviewer("alice", fake.verifier)})
    recs = world.records()
    appr = recs[7]["body"]["approval"]
    appr["reason"] = "forged"
    recs[7]["body"]["reviewer_sig"] = b64(fake.sign(approval_message(appr)))
    recs[7]["body"]["reviewer_kid"] = fake.kid
    world.resign(recs, world.signer(), start=7)
    code, rep, _ = verify()
    assert code == OK, "consistent with the reviewers file in the working tree"
    code, rep, _ = verify("--base-ref", "main")
    assert code == FAIL
    assert ("forged_approval", 7) in report_pairs(rep)
    assert ("fork", None) in report_pairs(rep)  # and the base checkpoint no longer matches


# ---- usage and input errors (exit 2) -------------------------------------------------------------


def test_unknown_base_ref_is_a_usage_error(verify, world):
    commit_all(world.root)
    code, rep, err = verify("--base-ref", "no-such-branch")
    assert code == USAGE and rep is None
    assert "no-such-branch" in err


def test_missing_anchor_file_is_a_usage_error(verify, world, tmp_path):
    code, rep, err = verify("--anchor", str(tmp_path / "nope"))
    assert code == USAGE and rep is None
    assert "anchor" in err


def test_not_a_project_is_a_usage_error(run_cli, tmp_path):
    (tmp_path / "empty").mkdir()
    code, out, err = run_cli("-C", str(tmp_path / "empty"), "verify", "--json")
    assert code == USAGE and out == ""
    assert "forge-tui init" in err


def test_whole_log_resigned_with_another_key_caught_by_anchor(verify, world, tmp_path):
    """--anchor holds a checkpoint signed by the real key; the working tree now trusts the attacker's."""
    anchor = tmp_path / "anchor.checkpoint"
    anchor.write_text(world.checkpoint.read_text())
    evil = attacker(world.origin)
    world.resign(world.records(), evil, start=0)
    world.pub.write_text(evil.verifier.vkey + "\n")
    code, rep, _ = verify("--anchor", str(anchor))
    assert code == FAIL
    assert ("anchor", None) in report_pairs(rep)


def test_anchor_for_no_ledger_is_reported(verify, world, other, tmp_path):
    """An anchor that is about none of the project's ledgers was not checked: say so, do not pass."""
    anchor = tmp_path / "other.checkpoint"
    anchor.write_text(other.checkpoint.read_text())
    code, rep, _ = verify("--anchor", str(anchor))
    assert code == FAIL
    assert report_pairs(rep) == {("anchor", None)}


def test_findings_do_not_depend_on_how_the_work_is_split(world):
    """Workers take byte ranges; a time step backwards or a bad line at a range boundary must be
    reported the same as in one process."""
    from forge_tui.core.verify import verify_project

    recs = world.records()
    recs[6]["ts"] = "2001" + recs[6]["ts"][4:]  # time runs backwards at 6, and forwards again at 7
    recs[7]["body"]["approval"]["reason"] = "changed"  # forged approval at 7
    world.resign(recs, world.signer(), start=6)
    lines = world.lines()
    lines[10] = lines[10].replace(b'"seq":10,', b'"seq": 10,')  # malformed at 10, chain at 11
    world.write_lines(lines)
    reports = {}
    for workers in (1, 2, 3, 5, 16):
        rep = verify_project(world.project, workers=workers, use_local_state=False, update_seen=False)
        reports[workers] = [(f.seq, f.code, f.message, f.severity) for f in rep.findings]
    assert {("time_backwards", 6), ("forged_approval", 7), ("malformed", 10), ("chain", 11)} <= {
        (c, s) for s, c, _m, _sev in reports[1]
    }
    for workers, found in reports.items():
        assert found == reports[1], workers


def test_one_ledger_of_a_team_deleted_caught_by_anchor(verify, world, tmp_path, monkeypatch):
    """Two machines, two ledgers; the second machine's ledger, key and checkpoint are deleted."""
    from forge_tui.core.project import join_project

    monkeypatch.setenv("FORGE_DATA_DIR", str(tmp_path / "machine-two"))
    second = join_project(world.project)
    anchor = tmp_path / "second.checkpoint"
    anchor.write_text(world.project.tracked_checkpoint(second).read_text())
    assert verify("--anchor", str(anchor))[0] == OK
    for p in (world.root / ".forge").rglob(f"{second}.*"):
        p.unlink()
    code, rep, _ = verify("--anchor", str(anchor))
    assert code == FAIL
    assert report_pairs(rep) == {("anchor", None)}
