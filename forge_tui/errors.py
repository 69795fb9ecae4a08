"""Errors forge-tui raises on purpose, each with the exit code the command line uses.

Exit codes (documented in the README):
  0  success / verified
  1  a check failed: tampering or a forensic violation (verify), a denied gate (request)
  2  usage or configuration error
  3  warning-level result (verify: torn or unsigned tail) / daemon unreachable (request)
  70 internal error (a bug: please report it)
Standard library only: the agent-side paths import this module.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2
EXIT_WARN = 3
EXIT_INTERNAL = 70


class ForgeError(Exception):
    """Base of every error forge-tui raises deliberately; `str(err)` is one line for the user."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def diagnostics(self) -> str:
        text = str(self)
        if self.hint:
            text += f" ({self.hint})"
        return text


class ConfigError(ForgeError):
    """The project, a key or a configuration file is missing or malformed."""


class NotAProject(ConfigError):
    """No `.forge/project.toml` in this folder or above it."""


class CanonicalError(ForgeError):
    """A value cannot be, or a line is not, canonical JSON as the ledger requires."""

    exit_code = EXIT_FAIL


class LedgerError(ForgeError):
    """The ledger cannot be opened or written safely."""

    exit_code = EXIT_FAIL


class LedgerCorrupt(LedgerError):
    """A record in the middle of the ledger is damaged: never repaired automatically."""


class LedgerLoss(LedgerError):
    """The ledger holds fewer records than a checkpoint already signed for it."""


class LedgerBusy(LedgerError):
    """Another process holds the ledger's writer lock."""


class LedgerUnavailable(LedgerError):
    """The ledger cannot be written just now (a full disk, an I/O error): a running daemon denies and
    retries by itself; a command that needs the ledger exits 3."""

    exit_code = EXIT_WARN


class SignatureError(ForgeError):
    """A signature does not verify."""

    exit_code = EXIT_FAIL


class UnverifiedTrust(ForgeError):
    """What a daemon says about the trust roots (its reviewer set) does not check out against what this
    account trusts (docs/trust-model.md "A second OS account")."""

    exit_code = EXIT_FAIL


class KeyError_(ConfigError):
    """A key file is missing, unreadable or cannot be unlocked."""


class PolicyError(ConfigError):
    """A policy file failed to parse or validate. `line` and `col` (1-based) say where when the parser
    knows it, else None; `detail` is what is wrong, without the "<path>:<line>:<col>: " of the message."""

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        col: int | None = None,
        detail: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.line = line
        self.col = col
        self.detail = message if detail is None else detail

    def location(self) -> dict[str, object]:
        """{line, col, detail}: where and what, as the daemon's status carries it."""
        return {"line": self.line, "col": self.col, "detail": self.detail}
