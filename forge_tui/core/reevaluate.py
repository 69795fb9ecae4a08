"""Re-deciding recorded `policy` decisions offline (docs/design.md §7: "a `policy` decision that re-evaluating
the recorded action under the recorded policy does not reproduce").

The policy text of a digest comes from `policy_texts()`: the working tree's `.forge/policy.toml`, the
trust source's (a `--base-ref`), every committed version of `.forge/policy.toml` in the history of HEAD,
and the policy archive the daemon keeps (docs/formats.md). A digest whose text none of them holds is
reported once as `reevaluation_skipped` (a notice: the decisions under it were not re-decided).

What cannot be reproduced offline is not judged: a denial by a built-in rule (rate limits, policy
errors, the guard of the private data folder depend on the daemon's state and machine), and a denial
where a `requires_prior` rule is involved (the daemon forgets a session's successes when it restarts,
so it may deny where the ledger shows the prior step). A decision that is looser than the
re-evaluation is always a finding, as is one whose rule differs.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any

from forge_tui.core.findings import Code
from forge_tui.core.summaries import DecisionSummary, RequestSummary
from forge_tui.errors import PolicyError

STATUS_OF = {"allow": "allowed", "deny": "denied", "ask": "pending"}
HISTORY_LIMIT = 500  # committed versions of policy.toml read from git


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def policy_texts(project, trust=None) -> dict[str, bytes]:
    """Every policy text this machine can find, by SHA-256 digest of its bytes."""
    found: dict[str, bytes] = {}

    def put(data: bytes | None) -> None:
        if data is not None:
            found.setdefault(_digest(data), data)

    try:
        put(project.policy_path.read_bytes())
    except OSError:
        pass
    if trust is not None and getattr(trust, "base_ref", None):
        text = trust.read("policy.toml")
        put(text.encode("utf-8") if text is not None else None)
    for data in _git_history(project.root):
        put(data)
    archive = getattr(project, "state_dir", None)
    if archive is not None:
        folder = Path(archive) / "policies"
        try:
            for p in folder.glob("*.toml"):
                put(p.read_bytes())
        except OSError:
            pass
    return found


def _git_history(root: Path) -> list[bytes]:
    """The committed versions of .forge/policy.toml reachable from HEAD (newest first)."""
    try:
        res = subprocess.run(
            [
                "git",
                "-C",
                str(root),
                "rev-list",
                f"--max-count={HISTORY_LIMIT}",
                "HEAD",
                "--",
                ".forge/policy.toml",
            ],
            capture_output=True,
            check=False,
            timeout=60,
        )
        if res.returncode != 0 or not res.stdout.strip():
            return []
        specs = "".join(f"{sha}:./.forge/policy.toml\n" for sha in res.stdout.decode().split())
        cat = subprocess.run(
            ["git", "-C", str(root), "cat-file", "--batch"],
            input=specs.encode(),
            capture_output=True,
            check=False,
            timeout=60,
            cwd=str(root),
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return _parse_batch(cat.stdout)


def _parse_batch(out: bytes) -> list[bytes]:
    blobs, pos = [], 0
    while pos < len(out):
        nl = out.find(b"\n", pos)
        if nl < 0:
            break
        header = out[pos:nl].split()
        pos = nl + 1
        if len(header) == 3 and header[1] == b"blob":
            size = int(header[2])
            blobs.append(out[pos : pos + size])
            pos += size + 1
    return blobs


class Reevaluator:
    """Re-decides policy decisions; caches policies by digest and results by input."""

    def __init__(self, project, texts: dict[str, bytes]) -> None:
        from forge_tui.core.policy.model import MATCH_KEYS
        from forge_tui.paths import keys_dir

        self.match_keys = MATCH_KEYS  # what the matcher reads of an action
        self.root = Path(project.root)
        self.texts = texts
        self.protected = (keys_dir(), Path(project.state_dir))
        self._policies: dict[str, Any] = {}
        self._results: dict[tuple, tuple] = {}
        self._prior_names: dict[str, frozenset[str]] = {}  # digest -> the names its rules require before
        self.skipped: dict[str, int] = {}  # digest -> decisions not re-decided (no text)
        self.checked = 0

    def policy(self, digest: Any):
        """The Policy of this digest, or None when its text is unknown or does not load."""
        if not isinstance(digest, str):
            return None
        if digest not in self._policies:
            self._policies[digest] = self._load(digest)
        return self._policies[digest]

    def _load(self, digest: str):
        from forge_tui.core.policy import default_policy, parse_policy

        default = default_policy()
        if digest == default.digest:
            return default
        if digest in self.texts:
            try:
                return parse_policy(self.texts[digest], f"policy {digest[:12]}")
            except PolicyError:
                return None
        return None

    def timeout_s(self, digest: Any) -> int | None:
        pol = self.policy(digest)
        return pol.approval_timeout_s if pol is not None else None

    def check(self, seq: int, dec: DecisionSummary, req: RequestSummary, prior: frozenset[str], add) -> None:
        """Compare one recorded `policy` decision with a fresh evaluation; `add` findings."""
        rule = dec.rule if isinstance(dec.rule, str) else None
        if dec.status == "denied" and rule and rule.startswith("builtin:"):
            return
        pol = self.policy(dec.policy_digest)
        if pol is None:
            key = str(dec.policy_digest)
            self.skipped[key] = self.skipped.get(key, 0) + 1
            return
        status, ev_rule, approvals, prior_involved = self._evaluate(pol, req, prior)
        self.checked += 1
        if dec.status == "denied" and status != "denied" and prior_involved:
            return
        if status != dec.status or ev_rule != rule:
            if self._foreign_paths(req.action):
                key = f"{dec.policy_digest} (paths of another checkout)"
                self.skipped[key] = self.skipped.get(key, 0) + 1
                return
            add(
                seq,
                Code.POLICY_MISMATCH,
                f"recorded {dec.status} by rule {rule!r}; the policy {str(dec.policy_digest)[:12]} gives "
                f"{status} by rule {ev_rule!r} for request {req.request_id}",
            )
            return
        needed = dec.approvals_needed
        if status == "pending" and type(needed) is int and needed != approvals:
            add(
                seq,
                Code.APPROVALS_NEEDED,
                f"pending with approvals_needed {needed} where rule {ev_rule!r} asks for {approvals}",
            )

    def _evaluate(self, pol, req: RequestSummary, prior: frozenset[str]) -> tuple:
        kind = req.actor_kind if isinstance(req.actor_kind, str) else "agent"
        # The session's prior steps count only through the rules' `requires_prior` names: keep those.
        named = self._prior_names.get(pol.digest)
        if named is None:
            named = self._prior_names[pol.digest] = frozenset(n for r in pol.rules for n in r.requires_prior)
        prior = prior & named
        # Only the fields the matcher reads are in the key: a file write's input digest or summary, new
        # at every request, decide nothing, so repeated actions are evaluated once.
        # repr of JSON values (str, int, bool, None, lists, dicts) tells different values apart.
        key = (pol.digest, repr(list(map(req.action.get, self.match_keys))), kind, prior)
        hit = self._results.get(key)
        if hit is None:
            ev = pol.evaluate(
                req.action,
                project_root=self.root,
                prior_succeeded=prior,
                actor_kind=kind,
                protected_dirs=self.protected,
            )
            with_prior = {r.id for r in pol.rules if r.requires_prior}
            hit = (
                STATUS_OF.get(ev.decision, ev.decision),
                ev.rule,
                max(1, ev.approvals),
                bool(with_prior & set(ev.rules)),
            )
            self._results[key] = hit
        return hit

    def _foreign_paths(self, action: dict[str, Any]) -> bool:
        """Whether the action names absolute paths outside this checkout (recorded on another machine)."""
        paths = action.get("paths")
        if not isinstance(paths, list):
            return False
        root = str(self.root)
        return any(isinstance(p, str) and p.startswith("/") and not p.startswith(root + "/") for p in paths)

    def notices(self, add) -> None:
        for key, n in sorted(self.skipped.items()):
            add(
                None,
                Code.REEVALUATION_SKIPPED,
                f"{n} policy decision(s) under policy {key[:12]}{key[64:]} not re-evaluated: "
                + (
                    "recorded with absolute paths of another checkout"
                    if "another" in key
                    else "its text is not available"
                ),
            )
