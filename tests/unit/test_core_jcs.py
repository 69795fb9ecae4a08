"""RFC 8785 (JCS) canonical JSON: published vectors, the `rfc8785` package as an oracle, and the strict
parser's refusals (floats, duplicate keys, non-NFC strings, lone surrogates, BOM, non-canonical bytes)."""

from __future__ import annotations

import json
import unicodedata
from decimal import Decimal

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from forge_tui.core.jcs import MAX_SAFE_INT, canonical, loads_strict, normalize, parse_canonical
from forge_tui.errors import CanonicalError

# ---- published vectors ------------------------------------------------------------------------------

# RFC 8785 §3.2.3 (sorting of properties): keys are ordered by their UTF-16 code units, so the emoji
# (a surrogate pair, D83D DE00) sorts before U+FB33 although its code point is larger.
RFC8785_SORT_INPUT = {
    "\u20ac": "Euro Sign",
    "\r": "Carriage Return",
    "\ufb33": "Hebrew Letter Dalet With Dagesh",
    "1": "One",
    "\U0001f600": "Emoji: Grinning Face",
    "\u0080": "Control",
    "\u00f6": "Latin Small Letter O With Diaeresis",
}
RFC8785_SORT_ORDER = ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]

# RFC 8785 §3.2.2 example, without its "numbers" member (records hold no floats).
RFC8785_STRING_INPUT = (
    '{"string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/", "literals": [null, true, false]}'
)
RFC8785_STRING_OUTPUT = '{"literals":[null,true,false],"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'

# cyberphone/json-canonicalization testdata (the reference implementation's vectors).
CYBERPHONE = [
    (  # weird.json
        '{"\\u20ac": "Euro Sign", "1": "One", "\\u0080": "Control\\u007f", "\\ud83d\\ude02": "Smiley",'
        ' "\\u00f6": "Latin Small Letter O With Diaeresis", "\\ufb33": "Hebrew Letter Dalet With Dagesh",'
        ' "</script>": "Browser Challenge"}',
        '{"1":"One","</script>":"Browser Challenge","\u0080":"Control\u007f",'
        '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign","\U0001f602":"Smiley",'
        '"\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    ),
    (  # arrays.json
        '[\n  56,\n  {\n    "d": true,\n    "10": null,\n    "1": [ ]\n  }\n]',
        '[56,{"1":[],"10":null,"d":true}]',
    ),
    (  # french.json: locale plays no part in the order
        '{"peach": "This sorting order", "p\u00e9ch\u00e9": "is wrong according to French",'
        ' "p\u00eache": "but canonicalization MUST", "sin": "ingnore locale"}',
        '{"peach":"This sorting order","p\u00e9ch\u00e9":"is wrong according to French",'
        '"p\u00eache":"but canonicalization MUST","sin":"ingnore locale"}',
    ),
    (  # unicode.json: JCS itself does not normalise
        '{"Unnormalized Unicode": "\\u1e0d\\u0307"}',
        '{"Unnormalized Unicode":"\u1e0d\u0307"}',
    ),
]
# structures.json holds one float (56.0), which records refuse; its float-free form must match.
STRUCTURES_INPUT = '{"1": {"f": {"f": "hi","F": 5} ,"\\n": 56.0}, "10": { }, "": "empty", "a": { }, "111": [ { } ], "A": { }}'
STRUCTURES_OUTPUT = '{"":"empty","1":{"\\n":56,"f":{"F":5,"f":"hi"}},"10":{},"111":[{}],"A":{},"a":{}}'


def test_rfc8785_property_sorting_uses_utf16_code_units():
    out = canonical(RFC8785_SORT_INPUT).decode("utf-8")
    assert list(json.loads(out)) == RFC8785_SORT_ORDER
    assert out == rfc8785.dumps(RFC8785_SORT_INPUT).decode("utf-8")


def test_rfc8785_string_escapes():
    value = json.loads(RFC8785_STRING_INPUT)
    assert canonical(value) == RFC8785_STRING_OUTPUT.encode("utf-8")


@pytest.mark.parametrize("source,expected", CYBERPHONE, ids=["weird", "arrays", "french", "unicode"])
def test_reference_implementation_vectors(source, expected):
    assert canonical(loads_strict(source)) == expected.encode("utf-8")


def test_structures_vector_float_refused_and_float_free_form_matches():
    with pytest.raises(CanonicalError, match="float"):
        loads_strict(STRUCTURES_INPUT)
    assert canonical(loads_strict(STRUCTURES_INPUT.replace("56.0", "56"))) == STRUCTURES_OUTPUT.encode()


# ---- rfc8785 as an oracle ----------------------------------------------------------------------------

keys = st.text(st.characters(codec="utf-8"), max_size=6)  # no lone surrogates; includes astral planes
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-MAX_SAFE_INT, MAX_SAFE_INT)
    | st.text(st.characters(codec="utf-8"), max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_canonical_equals_rfc8785_package(value):
    assert canonical(value) == rfc8785.dumps(value)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(keys, json_values, max_size=5))
def test_parse_canonical_accepts_its_own_output_and_round_trips(obj):
    obj = normalize(obj)
    line = canonical(obj)
    assert parse_canonical(line) == obj


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(keys, json_values, min_size=1, max_size=5))
def test_parse_canonical_rejects_pretty_printed(obj):
    pretty = json.dumps(obj, indent=1, ensure_ascii=False).encode("utf-8")
    if pretty == canonical(obj):  # pragma: no cover - cannot happen with indent and >= 1 key
        return
    with pytest.raises(CanonicalError):
        parse_canonical(pretty)


# ---- what records may not hold -----------------------------------------------------------------------


@pytest.mark.parametrize("value", [1.5, 0.0, float("nan"), float("inf"), {"a": [1, 2.0]}])
def test_floats_refused_by_canonical(value):
    with pytest.raises(CanonicalError):
        canonical(value)


@pytest.mark.parametrize(
    "text", ['{"a":1.0}', '{"a":1e3}', '{"a":NaN}', '{"a":Infinity}', '{"a":-Infinity}', "[0.5]"]
)
def test_floats_and_constants_refused_by_parser(text):
    with pytest.raises(CanonicalError):
        loads_strict(text)


def test_integer_range_is_the_safe_integers():
    assert canonical(MAX_SAFE_INT) == str(MAX_SAFE_INT).encode()
    assert canonical(-MAX_SAFE_INT) == str(-MAX_SAFE_INT).encode()
    for bad in (MAX_SAFE_INT + 1, -MAX_SAFE_INT - 1, 2**64):
        with pytest.raises(CanonicalError):
            canonical(bad)


@pytest.mark.parametrize("text", ['{"a":1,"a":2}', '{"a":{"b":1,"b":1}}', '[{"x":0,"y":1,"x":0}]'])
def test_duplicate_keys_refused(text):
    with pytest.raises(CanonicalError, match="duplicate"):
        loads_strict(text)


def test_lone_surrogates_refused():
    with pytest.raises(CanonicalError, match="surrogate"):
        canonical({"a": "\ud800"})
    with pytest.raises(CanonicalError, match="surrogate"):
        canonical({"\udfff": 1})
    # A JSON escape of a lone surrogate decodes to one too: it can never become a canonical line.
    with pytest.raises(CanonicalError):
        parse_canonical(b'{"a":"\\ud800"}')


def test_escaped_surrogate_pair_is_not_canonical_but_raw_is():
    raw = '{"a":"\U0001f600"}'.encode()
    assert parse_canonical(raw) == {"a": "\U0001f600"}
    with pytest.raises(CanonicalError, match="canonical"):
        parse_canonical(b'{"a":"\\ud83d\\ude00"}')


@pytest.mark.parametrize(
    "value",
    [{1: "a"}, {"a": b"bytes"}, {"a": {1, 2}}, {"a": object()}, {"a": Decimal(1)}],
    ids=["int-key", "bytes", "set", "object", "decimal"],
)
def test_other_types_refused(value):
    with pytest.raises(CanonicalError):
        canonical(value)


def test_tuples_encode_as_arrays():
    assert canonical({"a": (1, 2)}) == b'{"a":[1,2]}'


def test_nesting_limit():
    deep: object = 1
    for _ in range(70):
        deep = [deep]
    with pytest.raises(CanonicalError, match="deep"):
        canonical(deep)


def test_nfc_normalisation_at_ingestion():
    decomposed = "e\u0301"  # e + combining acute
    assert not unicodedata.is_normalized("NFC", decomposed)
    out = normalize({decomposed: [decomposed, {"k": decomposed}]})
    assert out == {"\u00e9": ["\u00e9", {"k": "\u00e9"}]}
    # Two keys that are the same after NFC would silently merge: refused instead.
    with pytest.raises(CanonicalError, match="collide"):
        normalize({decomposed: 1, "\u00e9": 2})


def test_parse_canonical_rejects_non_nfc_strings_and_keys():
    for obj in ({"a": "e\u0301"}, {"e\u0301": 1}):
        line = canonical(obj)
        with pytest.raises(CanonicalError, match="NFC"):
            parse_canonical(line)
        assert parse_canonical(canonical(normalize(obj))) == normalize(obj)


@pytest.mark.parametrize(
    "line,why",
    [
        (b'{"b":1,"a":2}', "canonical"),
        (b'{"a": 1}', "canonical"),
        (b'{"a":1} ', "canonical"),
        (b'{"a":"\\u0041"}', "canonical"),
        (b'{"a":"\\/"}', "canonical"),
        (b'{"a":01}', "JSON"),
        (b'{"a":-0}', "canonical"),
        (b"\xef\xbb\xbf{}", "byte order mark"),
        (b'{"a":"\xff"}', "UTF-8"),
        (b"[1]", "object"),
        (b'"x"', "object"),
        (b"{", "JSON"),
    ],
)
def test_parse_canonical_refusals(line, why):
    with pytest.raises(CanonicalError, match=why):
        parse_canonical(line)


def test_line_size_limit():
    ok = canonical({"a": "x" * ((1 << 20) - 8)})
    assert len(ok) == 1 << 20
    assert parse_canonical(ok)["a"].startswith("x")
    too_big = canonical({"a": "x" * ((1 << 20) - 7)})
    with pytest.raises(CanonicalError, match="1 MiB"):
        parse_canonical(too_big)
