"""build_record splices the signature into the unsigned encoding instead of encoding the record twice:
the line must still be exactly the JCS encoding of the signed record, whatever the body holds."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from forge_tui.core.jcs import canonical
from forge_tui.core.note import Signer
from forge_tui.core.records import TYPES, build_record, verify_record_sig

SIGNER = Signer.generate("forge-tui.local/p/l")
text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=10,
)
# Bodies whose keys mimic the record's own fields, so a naive search for `,"ts":` would be fooled.
bodies = st.dictionaries(st.sampled_from(["ts", "type", "v", "sig", "seq", "text", "x"]) | text, values)


@settings(max_examples=300, deadline=None)
@given(bodies, st.sampled_from(sorted(TYPES)), st.integers(0, 2**40))
def test_the_spliced_line_is_the_canonical_signed_record(body, type_, seq):
    from forge_tui.core.records import REQUIRED_BODY

    body = {**{k: "x" for k in REQUIRED_BODY[type_]}, **body}
    rec, line = build_record(
        log="forge-tui.local/p/l", seq=seq, ts="2026-11-25T14:00:00.123Z", type_=type_, prev="a" * 64,
        signer=SIGNER, body=body,
    )  # fmt: skip
    assert line == canonical(rec)
    verify_record_sig(rec, SIGNER.verifier)
