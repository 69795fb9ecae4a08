"""RFC 8785 (JCS) canonical JSON for ledger records, and the strict parser that goes with it.

Records hold no floats: integers within ±(2^53-1), strings, booleans, null, arrays and objects.
Strings are NFC-normalised at ingestion (`normalize`). `canonical()` refuses anything else rather than
guessing. `parse_canonical()` accepts a line only if it decodes strictly, has no duplicate keys, no
floats or NaN, and re-encodes to exactly the same bytes: that makes every record's byte form unique,
which the hash chain and the signatures depend on.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

from forge_tui.errors import CanonicalError

MAX_SAFE_INT = 2**53 - 1
MAX_LINE = 1 << 20  # 1 MiB, docs/design.md §4.1

_dumps_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False)
# The C encoder that `_dumps_encoder.encode` makes anew for each call, made once. Without its check for
# circular references (markers None): it only ever encodes values `_check` or `_norm_check` walked first,
# and their depth limit refuses a cycle before it is encoded.
_c_encoder = (
    json.encoder.c_make_encoder(
        None, _dumps_encoder.default, json.encoder.encode_basestring, None, ":", ",", True, False, False
    )
    if json.encoder.c_make_encoder is not None
    else None
)


def _dumps_fast(value: Any) -> str:
    """`_dumps_encoder.encode(value)` of a checked value."""
    if _c_encoder is None:
        return _dumps_encoder.encode(value)
    return "".join(_c_encoder(value, 0))


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def _check(value: Any, needs_custom_sort: list[bool], depth: int = 0) -> None:
    """Validate the value tree; note whether any key lies outside the BMP (sort order differs then)."""
    if depth > 64:
        raise CanonicalError("value nested more than 64 levels deep")
    t = type(value)
    if t is str:
        if not value.isascii():  # ASCII (most strings) can hold no lone surrogate
            _check_str(value)
    elif t is bool or value is None:
        pass
    elif t is int:
        if not -MAX_SAFE_INT <= value <= MAX_SAFE_INT:
            raise CanonicalError(f"integer {value} is outside ±(2^53-1)")
    elif t is dict:
        for k, v in value.items():
            if type(k) is not str:
                raise CanonicalError(f"object key {k!r} is not a string")
            if not k.isascii():
                _check_str(k)
                if not needs_custom_sort[0] and max(k) > "\uffff":
                    needs_custom_sort[0] = True
            _check(v, needs_custom_sort, depth + 1)
    elif t is list or t is tuple:
        for v in value:
            _check(v, needs_custom_sort, depth + 1)
    elif t is float:
        raise CanonicalError("floats are not allowed in records")
    else:
        raise CanonicalError(f"a {t.__name__} cannot be stored in a record")


def _check_str(s: str) -> None:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raise CanonicalError("string holds a lone surrogate") from None


def _encode_sorted16(value: Any) -> str:
    # Slow path for keys outside the BMP: JCS orders keys by UTF-16 code units, Python by code points.
    if type(value) is dict:
        items = sorted(value.items(), key=lambda kv: _utf16_key(kv[0]))
        return "{" + ",".join(_dumps_fast(k) + ":" + _encode_sorted16(v) for k, v in items) + "}"
    if type(value) in (list, tuple):
        return "[" + ",".join(_encode_sorted16(v) for v in value) + "]"
    return _dumps_fast(value)


def canonical(value: Any) -> bytes:
    """The JCS bytes of `value`; raises CanonicalError for anything a record may not hold."""
    flag = [False]
    _check(value, flag)
    text = _encode_sorted16(value) if flag[0] else _dumps_fast(value)
    return text.encode("utf-8")


def normalize(value: Any) -> Any:
    """NFC-normalise every string (keys too) of a JSON value; used at ingestion."""
    t = type(value)
    if t is str:
        return unicodedata.normalize("NFC", value)
    if t is dict:
        out: dict[str, Any] = {}
        for k, v in value.items():
            nk = unicodedata.normalize("NFC", k) if type(k) is str else k
            if nk in out:
                raise CanonicalError(f"keys {k!r} collide after NFC normalisation")
            out[nk] = normalize(v)
        return out
    if t in (list, tuple):
        return [normalize(v) for v in value]
    return value


def normalized_checked(value: Any, depth: int = 0) -> tuple[Any, bool]:
    """`normalize(value)` and the checks `canonical()` makes of it, in one walk: (the normalised value,
    whether some key lies outside the BMP, which JCS sorts differently). Raises CanonicalError for
    anything `canonical(normalize(value))` refuses. Record building uses it so the body is walked once:
    `jcs_dumps` of a value made of checked parts is then exactly `canonical()` of it. `depth`: how deep
    the value will sit in what is encoded (a record's body: 1), for the 64-level limit."""
    astral = [False]
    return _norm_check(value, astral, depth), astral[0]


def _norm_check(value: Any, astral: list[bool], depth: int) -> Any:
    if depth > 64:
        raise CanonicalError("value nested more than 64 levels deep")
    t = type(value)
    if t is str:
        if value.isascii():  # ASCII is NFC and holds no lone surrogate
            return value
        _check_str(value)
        return unicodedata.normalize("NFC", value)
    if t is dict:
        return _norm_dict(value, astral, depth)
    if t is int:
        if not -MAX_SAFE_INT <= value <= MAX_SAFE_INT:
            raise CanonicalError(f"integer {value} is outside ±(2^53-1)")
        return value
    if t is bool or value is None:
        return value
    if t is list or t is tuple:
        return _norm_list(value, astral, depth)
    if t is float:
        raise CanonicalError("floats are not allowed in records")
    raise CanonicalError(f"a {t.__name__} cannot be stored in a record")


# `_norm_dict` and `_norm_list` are `_norm_check` of a dict and of a list (or tuple) at `depth`, with the
# members that need no walk of their own (ASCII strings, None, booleans, safe integers: most of a record
# body) taken inline instead of through one call each. The same checks in the same order, the same
# errors; `deep` is `_norm_check`'s own test of the member's depth, made where it would make it.


def _norm_dict(value: dict, astral: list[bool], depth: int) -> dict[str, Any]:
    deep = depth + 1 > 64
    out: dict[str, Any] = {}
    folded = False  # a key was NFC-normalised: an ASCII key may now collide with it
    for k, v in value.items():
        if type(k) is not str:
            raise CanonicalError(f"object key {k!r} is not a string")
        if not k.isascii():
            _check_str(k)
            nk = unicodedata.normalize("NFC", k)
            if max(nk) > "\uffff":
                astral[0] = True
            if nk in out:
                raise CanonicalError(f"keys {k!r} collide after NFC normalisation")
            k = nk
            folded = True
        elif folded and k in out:
            raise CanonicalError(f"keys {k!r} collide after NFC normalisation")
        if deep:
            raise CanonicalError("value nested more than 64 levels deep")
        t = type(v)
        if t is str:
            out[k] = v if v.isascii() else _norm_check(v, astral, depth + 1)
        elif v is None or t is bool:
            out[k] = v
        elif t is dict:
            out[k] = _norm_dict(v, astral, depth + 1)
        elif t is int and -MAX_SAFE_INT <= v <= MAX_SAFE_INT:
            out[k] = v
        else:
            out[k] = _norm_check(v, astral, depth + 1)
    return out


def _norm_list(value: list | tuple, astral: list[bool], depth: int) -> list[Any]:
    if value and depth + 1 > 64:
        raise CanonicalError("value nested more than 64 levels deep")
    out: list[Any] = []
    for v in value:
        t = type(v)
        if (t is str and v.isascii()) or v is None or t is bool:
            out.append(v)
        elif t is dict:
            out.append(_norm_dict(v, astral, depth + 1))
        elif t is int and -MAX_SAFE_INT <= v <= MAX_SAFE_INT:
            out.append(v)
        else:
            out.append(_norm_check(v, astral, depth + 1))
    return out


def jcs_dumps(value: Any, astral: bool) -> bytes:
    """The JCS bytes of a value already checked (by `normalized_checked`, or one made only of checked
    values, ASCII strings and safe integers); `astral` as `normalized_checked` said."""
    return (_encode_sorted16(value) if astral else _dumps_fast(value)).encode("utf-8")


def _no_dupes(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise CanonicalError(f"duplicate key {k!r}")
            seen.add(k)
    return out


def _no_float(s: str) -> Any:
    raise CanonicalError(f"float {s} is not allowed")


def _no_constant(s: str) -> Any:
    raise CanonicalError(f"{s} is not allowed")


_strict_decoder = json.JSONDecoder(
    object_pairs_hook=_no_dupes, parse_float=_no_float, parse_constant=_no_constant
)


def loads_strict(data: bytes | str) -> Any:
    """Parse JSON strictly: UTF-8 only, no duplicate keys, no floats/NaN. Not a canonical-form check."""
    if isinstance(data, bytes):
        if data.startswith(b"\xef\xbb\xbf"):
            raise CanonicalError("byte order mark")
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CanonicalError(f"invalid UTF-8 at byte {exc.start}") from None
    try:
        return _strict_decoder.decode(data)
    except json.JSONDecodeError as exc:
        raise CanonicalError(f"invalid JSON: {exc.msg} at column {exc.colno}") from None
    except ValueError as exc:  # an integer past the interpreter's digit limit (sys.set_int_max_str_digits)
        raise CanonicalError(f"invalid JSON: {exc}") from None
    except RecursionError:
        raise CanonicalError("JSON nested too deeply") from None


def parse_canonical(line: bytes) -> dict[str, Any]:
    """Parse one ledger line (without its LF); it must be a JSON object in exact canonical form."""
    if len(line) > MAX_LINE:
        raise CanonicalError(f"line is {len(line)} bytes, over the 1 MiB limit")
    obj = loads_strict(line)
    if type(obj) is not dict:
        raise CanonicalError("a record must be a JSON object")
    if canonical(obj) != line:
        raise CanonicalError("not in canonical (RFC 8785) form")
    if not _all_nfc(obj):
        raise CanonicalError("a string is not NFC-normalised")
    return obj


def _all_nfc(value: Any) -> bool:
    t = type(value)
    if t is str:
        return value.isascii() or unicodedata.is_normalized("NFC", value)
    if t is dict:
        return all(_all_nfc(k) and _all_nfc(v) for k, v in value.items())
    if t is list:
        return all(_all_nfc(v) for v in value)
    return True
