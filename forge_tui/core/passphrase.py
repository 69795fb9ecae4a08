"""How strong a reviewer key's passphrase must be (issue 7 §7).

A reviewer key file is readable by anything running as the reviewer (an agent, too), so its passphrase
is all that stands between a copied file and a forged approval; argon2id slows each guess, it cannot
save a four-letter word. The check is deliberately simple and explainable: a minimum length, an
entropy estimate from the characters' frequencies (Shannon entropy times the length, so `aaaa…` or
`abcabc…` score low however long), and no sequences or repetitions of a shorter part. A few words are
the best passphrase: `correct horse battery` passes, `password1234` does not.
"""

from __future__ import annotations

import math
from collections import Counter

from forge_tui.errors import ConfigError

MIN_CHARS = 12
MIN_BITS = 36.0
COMMON = frozenset({"password", "passphrase", "passwort", "qwerty", "letmein", "secret", "admin", "welcome"})
HINT = "use three or four words you can remember, e.g. 'tulip orbit cellar nine'"


def estimated_bits(passphrase: str) -> float:
    """Shannon entropy of the passphrase's characters times its length (bits)."""
    n = len(passphrase)
    if not n:
        return 0.0
    return -sum(c / n * math.log2(c / n) for c in Counter(passphrase).values()) * n


def weakness(passphrase: str) -> str:
    """Why `passphrase` is too weak for a reviewer key ("" when it is strong enough)."""
    n = len(passphrase)
    if n < MIN_CHARS:
        return f"it has {n} characters; at least {MIN_CHARS} are needed"
    bits = estimated_bits(passphrase)
    if bits < MIN_BITS:
        return f"it has too little variety (about {bits:.0f} bits; at least {MIN_BITS:.0f} are needed)"
    for size in range(1, n // 2 + 1):
        if n % size == 0 and passphrase[:size] * (n // size) == passphrase:
            return f"it repeats {passphrase[:size]!r}"
    steps = [ord(b) - ord(a) for a, b in zip(passphrase, passphrase[1:], strict=False)]
    if sum(1 for s in steps if s in (-1, 0, 1)) * 2 > len(steps):
        return "it is mostly a run of neighbouring characters (abcd, 4321, aaaa)"
    letters = "".join(ch for ch in passphrase.casefold() if ch.isalpha())
    if any(letters and letters == w * (len(letters) // len(w)) for w in COMMON):
        return "it is a common password with digits or symbols around it"
    return ""


def check_passphrase(passphrase: str) -> None:
    """Raise ConfigError (exit 2) when `passphrase` is too weak for a reviewer key."""
    why = weakness(passphrase)
    if why:
        raise ConfigError(f"the passphrase is too weak: {why}", hint=HINT)
