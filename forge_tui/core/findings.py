"""Every finding code `verify` can report, in one table (docs/design.md §5, §7).

The CLI (`forge-tui verify`, text and `--json`), the console's verify screen and `docs/findings.md`
all read this table: a code is stable once shipped (scripts and CI annotations key on it), its
meaning is one line, its severity decides the exit code (error 1; warning 3, or 1 under `--strict`;
notice never changes the exit code) and its check is the row of the console's verify screen it
belongs to. `python -m forge_tui.core.findings > docs/findings.md` writes its page (a
test keeps the two equal).
"""

from __future__ import annotations

import enum


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"
    NOTICE = "notice"


class Check(enum.StrEnum):
    """The part of verification a code belongs to (the console shows one status row per check)."""

    CHAIN = "chain"
    SIGNATURES = "signatures"
    CHECKPOINT = "checkpoint"
    ANCHORS = "anchors"
    FORENSICS = "forensics"
    GIT = "git"


E, W, N = Severity.ERROR, Severity.WARNING, Severity.NOTICE


class Code(enum.StrEnum):
    """A finding code; the member's value is the stable string written in reports."""

    check: Check
    severity: Severity
    meaning: str

    def __new__(cls, value: str, check: Check, severity: Severity, meaning: str) -> Code:
        obj = str.__new__(cls, value)
        obj._value_ = value
        obj.check = check
        obj.severity = severity
        obj.meaning = meaning
        return obj

    # -- the file and the hash chain
    NO_LEDGER = ("no_ledger", Check.CHAIN, E, "the project has no ledger in .forge/ledger/")
    DELETED = ("deleted", Check.CHAIN, E, "a ledger the trust source lists is missing from the working tree")
    BOM = ("bom", Check.CHAIN, E, "the ledger file starts with a byte order mark")
    TORN_TAIL = ("torn_tail", Check.CHAIN, W, "bytes after the last complete line (a torn write)")
    MALFORMED = ("malformed", Check.CHAIN, E, "a line is not a canonical, well-formed record")
    LOG = ("log", Check.CHAIN, E, "a record names another log (origin) than its ledger's")
    CHAIN = ("chain", Check.CHAIN, E, "`prev` is not the leaf hash of the record before")
    SEQ = ("seq", Check.CHAIN, E, "`seq` is not the record's position in the file")
    # -- record signatures
    BAD_KEY = ("bad_key", Check.SIGNATURES, E, "the ledger's public key file is malformed")
    NO_KEY = ("no_key", Check.SIGNATURES, E, "no trusted public key for the ledger")
    UNKNOWN_KEY = ("unknown_key", Check.SIGNATURES, E, "a record is signed by a key that is not trusted")
    SIGNATURE = ("signature", Check.SIGNATURES, E, "a record signature does not verify")
    GENESIS_KEY = (
        "genesis_key",
        Check.SIGNATURES,
        E,
        "the genesis record's key is not the trusted key, or the genesis is not signed by the key it names",
    )
    KEY_RECORD = (
        "key_record",
        Check.SIGNATURES,
        E,
        "a `key` record (rotation) that does not check out: not signed by the key in force, no valid"
        " signature by the new key, or bad ranges; it introduces no key",
    )
    RETIRED_KEY = (
        "retired_key",
        Check.SIGNATURES,
        E,
        "a record or checkpoint signed by a ledger key after the seq (size) it was retired from",
    )
    PREMATURE_KEY = (
        "premature_key",
        Check.SIGNATURES,
        E,
        "a record or checkpoint signed by a ledger key before the key record that introduces it",
    )
    # -- the signed checkpoint
    NO_CHECKPOINT = ("no_checkpoint", Check.CHECKPOINT, W, "no checkpoint: nothing signs the tree")
    CHECKPOINT = (
        "checkpoint",
        Check.CHECKPOINT,
        E,
        "the checkpoint is unreadable, unsigned or for another log",
    )
    TRUNCATED = ("truncated", Check.CHECKPOINT, E, "the checkpoint covers more records than the ledger holds")
    ROOT_MISMATCH = ("root_mismatch", Check.CHECKPOINT, E, "the records do not hash to the checkpoint's root")
    UNSIGNED_TAIL = ("unsigned_tail", Check.CHECKPOINT, W, "records after the last signed checkpoint")
    CHECKPOINT_COSIGN = (
        "checkpoint_cosign",
        Check.CHECKPOINT,
        E,
        "a checkpoint inside a key rotation's overlap that is not signed by both the old and the new key",
    )
    # -- anchors the ledger must extend
    ANCHOR = ("anchor", Check.ANCHORS, E, "an anchor checkpoint does not verify or matches no ledger")
    ROLLBACK = ("rollback", Check.ANCHORS, E, "an anchor holds more records than the ledger: truncated")
    FORK = ("fork", Check.ANCHORS, E, "the ledger does not extend an anchor: history was rewritten")
    STALE_TRACKED = (
        "stale_tracked",
        Check.ANCHORS,
        W,
        "the tracked copy is behind this machine's authoritative copy, which extends it (not a rollback)",
    )
    WITNESS_MISMATCH = (
        "witness_mismatch",
        Check.ANCHORS,
        E,
        "the ledger is not consistent with a checkpoint a reviewer cosigned in an approval: history"
        " below a witnessed size was rewritten",
    )
    # -- forensic rules over the records (docs/design.md §7)
    TIME_BACKWARDS = ("time_backwards", Check.FORENSICS, E, "a timestamp is earlier than the record before")
    CLOCK_STEP = ("clock_step", Check.FORENSICS, N, "the wall clock went back, recorded by a `clock` note")
    REVIEWERS = ("reviewers", Check.FORENSICS, E, "reviewers.toml (from the trust source) is invalid")
    REVIEWER_RECORD = (
        "reviewer_record",
        Check.FORENSICS,
        E,
        "a `reviewer` record (enrolment or retirement) not signed by an active reviewer: it changes nothing",
    )
    POLICY_APPROVAL_RECORD = (
        "policy_approval_record",
        Check.FORENSICS,
        E,
        "a policy approval record whose reviewer signature does not verify or binds another digest",
    )
    DUPLICATE_REQUEST = ("duplicate_request", Check.FORENSICS, E, "a request id is used twice")
    ORPHAN_DECISION = ("orphan_decision", Check.FORENSICS, E, "a decision for a request the ledger lacks")
    UNBOUND_DECISION = ("unbound_decision", Check.FORENSICS, E, "a decision names another request hash")
    DOUBLE_DECISION = ("double_decision", Check.FORENSICS, E, "a request decided (allowed/denied) twice")
    UNRECORDED_POLICY = (
        "unrecorded_policy",
        Check.FORENSICS,
        E,
        "a decision under a policy digest no earlier `policy` record loaded",
    )
    POLICY_MISMATCH = (
        "policy_mismatch",
        Check.FORENSICS,
        E,
        "a policy decision that re-evaluating the recorded action under the recorded policy does not give",
    )
    REEVALUATION_SKIPPED = (
        "reevaluation_skipped",
        Check.FORENSICS,
        N,
        "policy decisions not re-evaluated: the policy text is not available, or paths are of another checkout",
    )
    FALLBACK_ALLOWED = (
        "fallback_allowed",
        Check.FORENSICS,
        E,
        "a `fallback` or `timeout` decision that does not deny",
    )
    APPROVALS_NEEDED = (
        "approvals_needed",
        Check.FORENSICS,
        E,
        "a reviewers' decision needing 0 approvals, or fewer than its rule asks",
    )
    PENDING_UNCLOSED = (
        "pending_unclosed",
        Check.FORENSICS,
        E,
        "a pending request never closed although its approval timeout passed",
    )
    FORGED_APPROVAL = (
        "forged_approval",
        Check.FORENSICS,
        E,
        "an approval without an approval object, or whose reviewer signature does not verify",
    )
    UNKNOWN_REVIEWER = ("unknown_reviewer", Check.FORENSICS, E, "an approval by someone not a reviewer")
    RETIRED_REVIEWER = ("retired_reviewer", Check.FORENSICS, E, "an approval after its reviewer was retired")
    ORPHAN_APPROVAL = ("orphan_approval", Check.FORENSICS, E, "an approval for a request the ledger lacks")
    UNBOUND_APPROVAL = (
        "unbound_approval",
        Check.FORENSICS,
        E,
        "an approval signed over another request hash",
    )
    APPROVAL_AFTER_EXECUTION = (
        "approval_after_execution",
        Check.FORENSICS,
        E,
        "an approval recorded after the request's outcome",
    )
    SELF_APPROVAL = (
        "self_approval",
        Check.FORENSICS,
        E,
        "an approval by the requester (or the principal, where the rule excludes them)",
    )
    QUORUM = ("quorum", Check.FORENSICS, E, "allowed by reviewers with fewer valid approvals than needed")
    UNAUTHORIZED_EXECUTION = (
        "unauthorized_execution",
        Check.FORENSICS,
        E,
        "an outcome with no earlier allowing decision (its request denied, pending or never made)",
    )
    BYPASSED_GATE = (
        "bypassed_gate",
        Check.FORENSICS,
        E,
        "a tool run the gate never allowed (a `bypass` violation, or an outcome with a tool_use_id for no request)",
    )
    OUTCOME_INPUT_MISMATCH = (
        "outcome_input_mismatch",
        Check.FORENSICS,
        E,
        "an outcome whose input digest differs from the one its request was decided on",
    )
    REUSED_APPROVAL = (
        "reused_approval",
        Check.FORENSICS,
        E,
        "a second execution (a succeeded or failed outcome) of one request: a decision allows one run",
    )
    # -- refusals the gate itself recorded as `violation` records (evidence, not a break)
    RECORDED_SELF_APPROVAL = (
        "recorded_self_approval",
        Check.FORENSICS,
        N,
        "the gate refused a self-approval",
    )
    RECORDED_FORGED_APPROVAL = (
        "recorded_forged_approval",
        Check.FORENSICS,
        N,
        "the gate refused an approval whose signature did not verify",
    )
    RECORDED_UNKNOWN_REVIEWER = (
        "recorded_unknown_reviewer",
        Check.FORENSICS,
        N,
        "the gate refused an approval by an unknown reviewer",
    )
    RECORDED_RETIRED_REVIEWER = (
        "recorded_retired_reviewer",
        Check.FORENSICS,
        N,
        "the gate refused an approval by a retired reviewer",
    )
    RECORDED_UNBOUND_APPROVAL = (
        "recorded_unbound_approval",
        Check.FORENSICS,
        N,
        "the gate refused an approval bound to another request",
    )
    RECORDED_REPLAYED_APPROVAL = (
        "recorded_replayed_approval",
        Check.FORENSICS,
        N,
        "the gate refused an approval for a request already decided",
    )
    RECORDED_VIOLATION = (
        "recorded_violation",
        Check.FORENSICS,
        N,
        "the gate recorded a refusal of another kind (its kind is in the message)",
    )
    # -- `verify --git RANGE`: commits and requests
    UNGATED_COMMIT = (
        "ungated_commit",
        Check.GIT,
        E,
        "a commit touching governed paths with no Forge-Request trailer",
    )
    UNKNOWN_REQUEST = (
        "unknown_request",
        Check.GIT,
        E,
        "a Forge-Request trailer names no request of any ledger",
    )
    UNAPPROVED_REQUEST = (
        "unapproved_request",
        Check.GIT,
        E,
        "a Forge-Request trailer names a request that was denied, expired or is pending",
    )
    UNCOVERED_PATH = (
        "uncovered_path",
        Check.GIT,
        E,
        "a commit changes a governed path that no allowed request it names covers",
    )
    INPUT_MISMATCH = (
        "input_mismatch",
        Check.GIT,
        E,
        "a commit's change differs from the input digest its request recorded",
    )


def recorded(kind: object) -> Code:
    """The code of a `violation` record of this kind (an unknown kind gets `recorded_violation`)."""
    try:
        return Code(f"recorded_{kind}")
    except ValueError:
        return Code.RECORDED_VIOLATION


def check_of(code: str) -> Check:
    """The check a code belongs to; a code not in the table counts as forensic."""
    try:
        return Code(code).check
    except ValueError:
        return Check.FORENSICS


def markdown_table() -> str:
    """The table of docs/findings.md."""
    rows = ["| code | check | severity | meaning |", "| --- | --- | --- | --- |"]
    rows += [f"| `{c.value}` | {c.check.value} | {c.severity.value} | {c.meaning} |" for c in Code]
    return "\n".join(rows) + "\n"


PAGE_INTRO = """\
# Finding codes

`forge-tui verify` (text, `--json`, the console's verify screen) names every problem with one of these
codes. They are stable: CI annotations and scripts may key on them. The table is generated from
`forge_tui/core/findings.py` (`python -m forge_tui.core.findings`), and a test keeps this page equal
to it.

Severity decides the exit code: any `error` exits 1; otherwise any `warning` exits 3 (1 under
`--strict`); a `notice` never changes the exit code (it is evidence, such as a refusal the gate
recorded, or a statement of what could not be checked). The check is the row of the console's verify
screen the code belongs to (`git` codes come from `verify --git RANGE` and carry `commit` and `path`).

"""


def markdown_page() -> str:
    """docs/findings.md, whole."""
    return PAGE_INTRO + markdown_table()


if __name__ == "__main__":
    print(markdown_page(), end="")
