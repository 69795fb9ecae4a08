"""Differential tests of forge_tui/core/jcs.py's fused walk (`_norm_dict`/`_norm_list`) and its
encoder made once (`_dumps_fast` over one C encoder) against the code they replaced, copied below from
the revision before them (771c328): the same normalised value (types included), the same astral flag,
the same error *message* (not only "refused": the gate words its refusal with it), and the same bytes.

Fails if the inline members skip a check, make it in another order (a different first error), miss
a key collision that NFC makes, or if the reused encoder writes other text than a fresh one."""

from __future__ import annotations

import json
import unicodedata
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forge_tui.core import jcs
from forge_tui.core.jcs import MAX_SAFE_INT, canonical, jcs_dumps, normalized_checked
from forge_tui.errors import CanonicalError

_old_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False)


def _old_norm_check(value: Any, astral: list[bool], depth: int) -> Any:
    """jcs._norm_check at 771c328, verbatim."""
    if depth > 64:
        raise CanonicalError("value nested more than 64 levels deep")
    t = type(value)
    if t is str:
        if value.isascii():
            return value
        jcs._check_str(value)
        return unicodedata.normalize("NFC", value)
    if t is dict:
        out: dict[str, Any] = {}
        for k, v in value.items():
            if type(k) is not str:
                raise CanonicalError(f"object key {k!r} is not a string")
            if not k.isascii():
                jcs._check_str(k)
                nk = unicodedata.normalize("NFC", k)
                if max(nk) > "\uffff":
                    astral[0] = True
                if nk in out:
                    raise CanonicalError(f"keys {k!r} collide after NFC normalisation")
                k = nk
            elif k in out:
                raise CanonicalError(f"keys {k!r} collide after NFC normalisation")
            out[k] = _old_norm_check(v, astral, depth + 1)
        return out
    if t is int:
        if not -MAX_SAFE_INT <= value <= MAX_SAFE_INT:
            raise CanonicalError(f"integer {value} is outside ±(2^53-1)")
        return value
    if t is bool or value is None:
        return value
    if t is list or t is tuple:
        return [_old_norm_check(v, astral, depth + 1) for v in value]
    if t is float:
        raise CanonicalError("floats are not allowed in records")
    raise CanonicalError(f"a {t.__name__} cannot be stored in a record")


def _typed(v: Any) -> Any:
    """`v` with every scalar tagged by its type (True == 1 would hide a bool turned int)."""
    if type(v) is dict:
        return ("dict", [(k, _typed(x)) for k, x in v.items()])
    if type(v) in (list, tuple):
        return (type(v).__name__, [_typed(x) for x in v])
    return (type(v).__name__, v)


def _outcome(fn, value: Any, depth: int) -> tuple:
    astral = [False]
    try:
        out = fn(value, astral, depth)
    except CanonicalError as exc:
        return ("refused", str(exc))
    except RecursionError:
        return ("recursion",)
    return ("ok", _typed(out), astral[0])


def _new(value: Any, astral: list[bool], depth: int) -> Any:
    v, a = normalized_checked(value, depth)
    astral[0] = a
    return v


TRICKY = 'e\u0301\u212bK\u212a\u00c5A\u030a"\\\n\t\x00\x1f\x7f\u2028\U0001f600\U00010000\ufb01\u1e9b\u0323\ud800\udc00'
text = st.text(alphabet=st.sampled_from(TRICKY) | st.characters(), max_size=6)
keys = text | st.sampled_from(["K", "\u212a", "\u00c5", "A\u030a", "a", "\U0001f600", "\ud83d"])
ints = st.integers(-MAX_SAFE_INT - 2, MAX_SAFE_INT + 2) | st.sampled_from([2**63, -(2**64), 0, -1])
scalars = (
    st.none()
    | st.booleans()
    | ints
    | text
    | st.floats(allow_nan=False)
    | st.just(b"x")
    | st.just(frozenset())
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(keys, inner, max_size=5)
        | st.dictionaries(st.integers(0, 3) | st.none(), inner, min_size=1, max_size=2)
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(values, st.sampled_from([0, 1, 2, 60, 63, 64, 65]))
def test_the_fused_walk_is_the_old_walk_error_for_error(value: Any, depth: int) -> None:
    assert _outcome(_new, value, depth) == _outcome(_old_norm_check, value, depth)


def _nest(depth: int, leaf: Any, kinds: str) -> Any:
    v = leaf
    for i in range(depth):
        v = [v] if kinds[i % len(kinds)] == "l" else {"k": v}
    return v


@pytest.mark.parametrize("kinds", ["l", "d", "ld", "dl"])
@pytest.mark.parametrize("leaf", ["x", "\u00e9", 2**60, 1.5, None, [], {}, {"\u212a": 1, "K": 2}])
@pytest.mark.parametrize("depth", [62, 63, 64, 65, 66])
def test_the_nesting_limit_and_what_fails_first_at_it(kinds: str, leaf: Any, depth: int) -> None:
    value = _nest(depth, leaf, kinds)
    for start in (0, 1):
        assert _outcome(_new, value, start) == _outcome(_old_norm_check, value, start)


@pytest.mark.parametrize(
    "body",
    [
        {"\u212a": 1, "K": 2},
        {"K": 1, "\u212a": 2},
        {"a": 1, "\u212a": 2, "b": 3, "K": 4},
        {"A\u030a": 1, "\u00c5": 2},
        {"\u00c5": 1, "A\u030a": 2},
        {"x": 1, "\u212b": 2, "\u00c5": 3},
        {"K": 1.5, "\u212a": 2},  # a bad value before the collision
        {"\u212a": 1, "K": 1.5},  # the collision before a bad value
        {"\ud800": 1, "K": 2},
        {"ok": {"\U0001f600": 1}, "z": 2**60},
    ],
)
def test_key_collisions_and_their_order_against_other_errors(body: dict) -> None:
    assert _outcome(_new, body, 1) == _outcome(_old_norm_check, body, 1)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-MAX_SAFE_INT, MAX_SAFE_INT)
    | st.text(st.characters(), max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner) | st.dictionaries(text, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_canonical_and_jcs_dumps_write_the_old_encoders_bytes(value: Any) -> None:
    """`canonical` (and `jcs_dumps` after the fused walk) against the encoder made per call: the
    encoder made once must write the same text, escapes, astral characters and tuples included."""
    try:
        flag = [False]
        jcs._check(value, flag)
    except CanonicalError:
        with pytest.raises(CanonicalError):
            canonical(value)
        return
    if flag[0]:
        want = _old_sorted16(value)
    else:
        want = _old_encoder.encode(value)
    assert canonical(value) == want.encode("utf-8")
    try:
        v, astral = normalized_checked(value)
    except CanonicalError:
        return
    ref_flag = [False]
    jcs._check(v, ref_flag)
    ref = _old_sorted16(v) if ref_flag[0] else _old_encoder.encode(v)
    assert jcs_dumps(v, astral) == ref.encode("utf-8")


def _old_sorted16(value: Any) -> str:
    if type(value) is dict:
        items = sorted(value.items(), key=lambda kv: kv[0].encode("utf-16-be", "surrogatepass"))
        return "{" + ",".join(_old_encoder.encode(k) + ":" + _old_sorted16(v) for k, v in items) + "}"
    if type(value) in (list, tuple):
        return "[" + ",".join(_old_sorted16(v) for v in value) + "]"
    return _old_encoder.encode(value)


def test_the_encoder_made_once_is_reentrant_across_threads() -> None:
    """One C encoder object shared by the daemon's threads (group commit, queries, to_thread): each
    call's text must be its own value's, whatever other threads encode meanwhile."""
    import threading

    vals = [
        {"i": i, "s": "\u00e9" * (i % 7), "l": list(range(i % 50)), "d": {"x": [i] * 30}} for i in range(200)
    ]
    want = [_old_encoder.encode(v) for v in vals]
    bad: list[int] = []

    def run() -> None:
        for _ in range(20):
            for i, v in enumerate(vals):
                if jcs._dumps_fast(v) != want[i]:
                    bad.append(i)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not bad
