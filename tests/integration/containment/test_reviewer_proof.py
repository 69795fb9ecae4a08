"""A reviewer without the owner's ledger (a second OS account) takes the reviewer set from the daemon's
`reviewer.proof` only after checking it (forge_tui/core/trust_proof.py, docs/trust-model.md): each test
poses as a daemon, or a program on the pair socket, that lies in one way, and names what would be
broken if it were believed."""

from __future__ import annotations

import json

import pytest
from gatehelp import reviewer_key

from forge_tui.core.jcs import canonical
from forge_tui.core.keys import load_ledger_key
from forge_tui.core.note import Signer
from forge_tui.core.records import build_record
from forge_tui.core.trust import reviewer_statement, sign_reviewer_statement
from forge_tui.core.trust_proof import PIN_FILE, ReviewerProof, verify_reviewer_proof
from forge_tui.errors import UnverifiedTrust
from forge_tui.protocol import REVIEWER_ENROL, REVIEWER_PROOF

POLICY = 'version = 1\ndefault = "ask"\n'


async def proof_of(connect, w) -> ReviewerProof:
    rev = await connect(w.rsock)
    return ReviewerProof.from_wire(await rev.call(REVIEWER_PROOF))


def resigned(w, proof: ReviewerProof, bodies: list[dict], signer: Signer | None = None) -> ReviewerProof:
    """A proof of `reviewer` records with `bodies`, signed by the real ledger key (which an agent running
    as the owner can read) unless `signer` is given: what a liar with the ledger key can make."""
    signer = signer or load_ledger_key(proof.ledger_id)
    lines = []
    for k, body in enumerate(bodies):
        _rec, line = build_record(
            log=w.project.origin(proof.ledger_id),
            seq=k + 1,
            ts="2026-12-01T12:00:00.000Z",
            type_="reviewer",
            prev="0" * 64,
            signer=signer,
            body=body,
        )
        lines.append(line.decode())
    return ReviewerProof(proof.project_id, proof.ledger_id, tuple(lines))


def bodies(proof: ReviewerProof) -> list[dict]:
    return [json.loads(line)["body"] for line in proof.records]


async def test_the_daemons_proof_checks_out_and_follows_an_enrolment(make_world, start_daemon, connect):
    """Broken if a true reviewer set is refused, or an enrolment made while the daemon runs is missing
    from the next proof (a second account could then not approve as the new reviewer)."""
    w = make_world(POLICY)
    await start_daemon(w)
    proof = await proof_of(connect, w)
    assert set(verify_reviewer_proof(w.project, proof).active()) == {"alice", "bob", "carol"}
    dave = reviewer_key("dave")
    body = sign_reviewer_statement(
        w.keys["alice"],
        reviewer_statement("enrol", "dave", dave.verifier.vkey, w.project.project_id, "alice"),
    )
    rev = await connect(w.rsock)
    await rev.call(REVIEWER_ENROL, body)
    later = await proof_of(connect, w)
    assert later.records[: len(proof.records)] == proof.records
    assert "dave" in verify_reviewer_proof(w.project, later).active()


async def test_lies_about_the_reviewer_set_are_refused(make_world, start_daemon, connect):
    """Broken if a daemon (or an impostor on the pair socket) can withhold an enrolment the repository
    holds, root the chain at its own key, sign with another ledger key, alter a line, or serve another
    project, and be believed."""
    w = make_world(POLICY)
    await start_daemon(w)
    proof = await proof_of(connect, w)
    verify_reviewer_proof(w.project, proof)  # pins alice as the first reviewer for this account

    withheld = ReviewerProof(proof.project_id, proof.ledger_id, proof.records[:-1])
    with pytest.raises(UnverifiedTrust, match="lacks 'carol'"):
        verify_reviewer_proof(w.project, withheld)

    mallory = reviewer_key("mallory")
    pid = w.project.project_id
    fake = [
        sign_reviewer_statement(
            mallory, reviewer_statement("enrol", "mallory", mallory.verifier.vkey, pid, "mallory")
        )
    ] + [
        sign_reviewer_statement(mallory, reviewer_statement("enrol", b["name"], b["vkey"], pid, "mallory"))
        for b in bodies(proof)
    ]
    with pytest.raises(UnverifiedTrust, match="first reviewer 'mallory' is not the one committed"):
        verify_reviewer_proof(w.project, resigned(w, proof, fake))

    # An agent that also rewrites the committed view to name mallory first: the pin still holds.
    view = w.project.reviewers_path.read_text()
    w.project.reviewers_path.write_text(view + f'\n[reviewers.mallory]\nvkey = "{mallory.verifier.vkey}"\n')
    with pytest.raises(UnverifiedTrust, match="not the one this account accepted before"):
        verify_reviewer_proof(w.project, resigned(w, proof, fake))
    assert (w.project.state_dir / PIN_FILE).exists()
    w.project.reviewers_path.write_text(view)

    other_key = Signer.generate(w.project.origin(proof.ledger_id))
    with pytest.raises(UnverifiedTrust, match="not signed by the ledger key"):
        verify_reviewer_proof(w.project, resigned(w, proof, bodies(proof), other_key))

    first = json.loads(proof.records[0])
    first["body"]["name"] = "mallory"
    altered = ReviewerProof(
        proof.project_id, proof.ledger_id, (canonical(first).decode(), *proof.records[1:])
    )
    with pytest.raises(UnverifiedTrust, match="not signed by the ledger key"):
        verify_reviewer_proof(w.project, altered)
    spaced = ReviewerProof(proof.project_id, proof.ledger_id, (json.dumps(json.loads(proof.records[0])),))
    with pytest.raises(UnverifiedTrust, match="malformed"):
        verify_reviewer_proof(w.project, spaced)

    with pytest.raises(UnverifiedTrust, match="serves project"):
        verify_reviewer_proof(w.project, ReviewerProof("another", proof.ledger_id, proof.records))
