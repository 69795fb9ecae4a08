"""Loading and validating `.forge/policy.toml` (docs/policy.md): every problem is one `PolicyFileError`
whose message reads "<path>:<line>:<col>: <what is wrong>" and whose `line` and `column` say where."""

from __future__ import annotations

import fnmatch
import hashlib
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from forge_tui.core.lazyre import LazyPattern
from forge_tui.core.policy.match import pattern_words
from forge_tui.core.policy.model import (
    ACTION_KINDS,
    DECISIONS,
    DEFAULT_TIMEOUT_S,
    DISTINCT_BY,
    DISTINCT_FROM,
    MATCH_KEYS,
    MAX_TIMEOUT_S,
    RULE_KEYS,
    TOP_KEYS,
    Policy,
    Rule,
)
from forge_tui.errors import PolicyError

_RULE_ID = LazyPattern(globals(), r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
_DURATION = LazyPattern(globals(), r"(\d+)([smh]?)")


class PolicyFileError(PolicyError):
    """A policy file that does not parse or validate, with where (1-based line and column)."""

    def __init__(self, path: str, line: int, column: int, problem: str) -> None:
        super().__init__(f"{path}:{line}:{column}: {problem}", line=line, col=column, detail=problem)
        self.path = path
        self.column = column
        self.problem = problem


def load_policy(path: Path) -> Policy:
    """Read and validate a policy file; every problem is a one-line PolicyError."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise PolicyError(f"{path}: no such policy file") from None
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read the policy: {exc.strerror or exc}") from None
    return parse_policy(data, str(path))


def parse_policy(data: bytes, path: str = "<policy>") -> Policy:
    """Parse and validate policy bytes. Errors read "<path>:<line>:<col>: <what is wrong>"."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise PolicyFileError(path, line, col, "the policy is not valid UTF-8") from None
    import tomllib  # only what reads a policy file needs it (not `import forge_tui.core.policy`)

    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\s*\(at line (\d+), column (\d+)\)$", msg)
        if m:
            raise PolicyFileError(path, int(m.group(1)), int(m.group(2)), msg[: m.start()]) from None
        m = re.search(r"\s*\(at end of document\)$", msg)
        if m:
            msg = msg[: m.start()] + " at the end of the file"
        lines = text.split("\n")
        raise PolicyFileError(path, len(lines), len(lines[-1]) + 1, msg) from None
    return _Validator(doc, text, path).policy(hashlib.sha256(data).hexdigest())


def parse_duration(value: Any) -> int:
    """Seconds from "90", "30s", "10m", "1h" or an integer; raises ValueError."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str) and (m := _DURATION.fullmatch(value.strip())):
        seconds = int(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]
    else:
        raise ValueError(value)
    if not 1 <= seconds <= MAX_TIMEOUT_S:
        raise ValueError(value)
    return seconds


class _Locator:
    """Finds the line and column of keys in the raw text: tomllib reports none for semantic errors."""

    def __init__(self, text: str) -> None:
        self.lines = [ln.rstrip("\r") for ln in text.split("\n")]
        self.headers = [k for k, ln in enumerate(self.lines) if re.match(r"\s*\[\[\s*rule\s*\]\]", ln)]
        first_table = next((k for k, ln in enumerate(self.lines) if re.match(r"\s*\[", ln)), len(self.lines))
        self.top_end = first_table

    def _key_in(self, key: str, start: int, end: int) -> tuple[int, int] | None:
        rx = re.compile(r"""(?:^|[\s{,.])(["']?)""" + re.escape(key) + r"""\1\s*=""")
        for k in range(start, min(end, len(self.lines))):
            m = rx.search(self.lines[k])
            if m:
                return k + 1, m.start(1) + 1
        return None

    def top(self, key: str) -> tuple[int, int]:
        found = self._key_in(key, 0, self.top_end) or self._key_in(key, 0, len(self.lines))
        if found:
            return found
        rx = re.compile(r"\s*\[+\s*[\"']?" + re.escape(key) + r"\b")  # a table: [key] or [[key]]
        for k, ln in enumerate(self.lines):
            if rx.match(ln):
                return k + 1, ln.index("[") + 1
        return 1, 1

    def rule(
        self, index: int, key: str | None = None, sub: str | None = None, rule_id: Any = None
    ) -> tuple[int, int]:
        if index < len(self.headers):
            start = self.headers[index]
            end = self.headers[index + 1] if index + 1 < len(self.headers) else len(self.lines)
            base = (start + 1, self.lines[start].index("[") + 1)
        else:  # rules written as an inline array: anchor on the id
            start, end, base = 0, len(self.lines), (1, 1)
            if isinstance(rule_id, str):
                rx = re.compile(r"""\bid\s*=\s*["']""" + re.escape(rule_id) + """["']""")
                for k, ln in enumerate(self.lines):
                    if m := rx.search(ln):
                        start, end, base = k, len(self.lines), (k + 1, m.start() + 1)
                        break
        if key is None:
            return base
        pos = self._key_in(key, start, end)
        if sub is not None:  # a key inside `match = {...}` or a `[rule.match]` table
            return self._key_in(sub, pos[0] - 1 if pos else start, end) or pos or base
        return pos or base


class _Validator:
    def __init__(self, doc: dict, text: str, path: str) -> None:
        self.doc = doc
        self.loc = _Locator(text)
        self.path = path

    def fail(self, pos: tuple[int, int], message: str) -> PolicyFileError:
        return PolicyFileError(self.path, pos[0], pos[1], message)

    def policy(self, digest: str) -> Policy:
        doc, loc = self.doc, self.loc
        for key in doc:
            if key not in TOP_KEYS:
                raise self.fail(loc.top(key), f"unknown key {key!r} (expected one of: {', '.join(TOP_KEYS)})")
        if "version" not in doc:
            raise self.fail((1, 1), "missing `version = 1`")
        if type(doc["version"]) is not int or doc["version"] != 1:
            raise self.fail(loc.top("version"), f"unsupported version {doc['version']!r} (expected 1)")
        default = doc.get("default", "ask")
        if default not in DECISIONS:
            raise self.fail(loc.top("default"), f"default must be one of {_alts(DECISIONS)}, not {default!r}")
        timeout = DEFAULT_TIMEOUT_S
        if "approval_timeout" in doc:
            try:
                timeout = parse_duration(doc["approval_timeout"])
            except ValueError:
                raise self.fail(
                    loc.top("approval_timeout"),
                    f"bad duration {doc['approval_timeout']!r} for approval_timeout "
                    '(use seconds like "90" or "30s", "10m", "1h"; at most 7 days)',
                ) from None
        per_minute = doc.get("max_per_minute")
        if per_minute is not None and (type(per_minute) is not int or per_minute < 1):
            raise self.fail(
                loc.top("max_per_minute"), f"max_per_minute must be a whole number >= 1, not {per_minute!r}"
            )
        raw_rules = doc.get("rule", [])
        if not isinstance(raw_rules, list):
            raise self.fail(loc.top("rule"), "`rule` must be an array of tables ([[rule]])")
        rules = [self.rule(k, r) for k, r in enumerate(raw_rules)]
        seen: dict[str, Rule] = {}
        for k, r in enumerate(rules):
            if r.id in seen:
                raise self.fail(
                    loc.rule(k, "id", rule_id=r.id),
                    f"duplicate rule id {r.id!r} (first defined at line {seen[r.id].line})",
                )
            seen[r.id] = r
        for k, r in enumerate(rules):
            for prior in r.requires_prior:
                if prior == r.id:
                    raise self.fail(
                        loc.rule(k, "requires_prior", rule_id=r.id), f"rule {r.id!r} requires itself"
                    )
                if prior not in seen:
                    raise self.fail(
                        loc.rule(k, "requires_prior", rule_id=r.id),
                        f"requires_prior names unknown rule {prior!r}",
                    )
        return Policy(1, default, timeout, tuple(rules), digest, self.path, per_minute)

    def rule(self, k: int, raw: Any) -> Rule:
        loc = self.loc
        if not isinstance(raw, dict):
            raise self.fail(loc.rule(k), "each rule must be a table")
        rid = raw.get("id")

        def at(key: str | None = None, sub: str | None = None) -> tuple[int, int]:
            return loc.rule(k, key, sub, rule_id=rid)

        for key in raw:
            if key not in RULE_KEYS:
                raise self.fail(
                    at(key), f"unknown rule key {key!r} (expected one of: {', '.join(RULE_KEYS)})"
                )
        if not isinstance(rid, str) or not _RULE_ID.fullmatch(rid):
            where = at("id") if "id" in raw else at()
            raise self.fail(where, f"rule needs an `id` of letters, digits, '.', '_' or '-' (got {rid!r})")
        decision = raw.get("decision")
        if decision not in DECISIONS:
            where = at("decision") if "decision" in raw else at()
            raise self.fail(
                where, f"rule {rid!r}: decision must be one of {_alts(DECISIONS)}, not {decision!r}"
            )
        match = self.match(raw.get("match"), rid, at)
        approvals = raw.get("approvals", 1)
        if type(approvals) is not int or approvals < 1:
            raise self.fail(
                at("approvals"), f"rule {rid!r}: approvals must be a whole number >= 1, not {approvals!r}"
            )
        if approvals != 1 and decision != "ask":
            raise self.fail(at("approvals"), f'rule {rid!r}: approvals only applies to decision = "ask"')
        distinct = self.strings(
            raw.get("distinct_from", []), at("distinct_from"), f"rule {rid!r}: distinct_from"
        )
        for d in distinct:
            if d not in DISTINCT_FROM:
                raise self.fail(
                    at("distinct_from"),
                    f"rule {rid!r}: distinct_from takes {_alts(DISTINCT_FROM)}, not {d!r}",
                )
        by = self.strings(raw.get("distinct_by", []), at("distinct_by"), f"rule {rid!r}: distinct_by")
        for d in by:
            if d not in DISTINCT_BY:
                raise self.fail(
                    at("distinct_by"), f"rule {rid!r}: distinct_by takes {_alts(DISTINCT_BY)}, not {d!r}"
                )
        prior = self.strings(
            raw.get("requires_prior", []), at("requires_prior"), f"rule {rid!r}: requires_prior"
        )
        reason = raw.get("reason")
        if reason is not None and (not isinstance(reason, str) or not reason.strip() or "\n" in reason):
            raise self.fail(at("reason"), f"rule {rid!r}: reason must be a one-line string")
        instead = raw.get("instead")
        if instead is not None and (not isinstance(instead, str) or not instead.strip() or "\n" in instead):
            raise self.fail(at("instead"), f"rule {rid!r}: instead must be a one-line string")
        return Rule(
            id=rid,
            match=match,
            decision=decision,
            approvals=approvals,
            distinct_from=frozenset(distinct) | {"requester"},
            requires_prior=tuple(prior),
            reason=reason,
            line=at()[0],
            instead=instead,
            distinct_by=frozenset(by) | {"reviewer"},
        )

    def match(self, raw: Any, rid: str, at: Callable[..., tuple[int, int]]) -> dict:
        if raw is None:
            raise self.fail(at(), f"rule {rid!r} has no `match` (use `default` for a catch-all)")
        if not isinstance(raw, dict) or not raw:
            raise self.fail(at("match"), f"rule {rid!r}: match must be a non-empty table")
        out: dict[str, tuple[str, ...]] = {}
        for key, value in raw.items():
            pos = at("match", key)
            if key not in MATCH_KEYS:
                raise self.fail(
                    pos, f"rule {rid!r}: unknown match key {key!r} (expected one of: {', '.join(MATCH_KEYS)})"
                )
            values = self.strings(value, pos, f"rule {rid!r}: match.{key}", one_ok=True)
            if not values:
                raise self.fail(pos, f"rule {rid!r}: match.{key} is empty")
            for v in values:
                if not v.strip():
                    raise self.fail(pos, f"rule {rid!r}: match.{key} has an empty pattern")
                if key == "kind" and not any(fnmatch.fnmatchcase(kind, v) for kind in ACTION_KINDS):
                    raise self.fail(
                        pos, f"rule {rid!r}: unknown kind {v!r} (kinds: {', '.join(ACTION_KINDS)})"
                    )
                if key == "command":
                    try:
                        pattern_words(v)
                    except ValueError as exc:
                        raise self.fail(pos, f"rule {rid!r}: bad command pattern {v!r}: {exc}") from None
            out[key] = tuple(values)
        return out

    def strings(self, value: Any, pos: tuple[int, int], what: str, one_ok: bool = False) -> list[str]:
        if one_ok and isinstance(value, str):
            return [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(pos, f"{what} must be a list of strings{' or a string' if one_ok else ''}")
        return list(value)


def _alts(values: Iterable[str]) -> str:
    return ", ".join(f'"{v}"' for v in values)
