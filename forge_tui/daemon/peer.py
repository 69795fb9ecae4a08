"""Does a peer process run sandboxed? (docs/sandbox.md, "How the daemon tells")

The daemon does not take the peer's word for it (an environment variable or a registration could be
forged by any process of the same user). It looks at the peer through /proc, as the kernel shows it:
the peer is `sandboxed` when it lives in other mount and pid namespaces than the daemon (so it cannot
reach the daemon's files through /proc/<daemon pid>/root) and, seen from the peer's own root, the data
folder (keys, authoritative ledgers) and the reviewer socket's folder are empty or absent.

What it proves: the process that sent this request could not read the keys nor reach the reviewer
socket. What it cannot prove: that no unsandboxed process works with it (an agent started outside
`forge-tui run` can start a sandboxed child to ask for it). Linux only; elsewhere `None` (unknown).
"""

from __future__ import annotations

import os
from pathlib import Path

from forge_tui import paths


def watched_folders() -> tuple[str, ...]:
    """The folders a sandbox must hide: the data folder and the reviewer socket's folder (which does not
    depend on the project id: FORGE_REVIEW_SOCKET, else `<runtime dir>/review`)."""
    review = paths.review_socket_path("0").parent
    return (str(paths.data_root().resolve()), str(review.resolve()))


def _ns(pid: int | str, kind: str) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/{kind}")
    except OSError:
        return None


def _empty_from(pid: int, folder: str) -> bool | None:
    """True when `folder` is absent or empty in the peer's view of the file system; None when the peer's
    root cannot be looked at (gone, or not ours)."""
    try:
        return not os.listdir(f"/proc/{pid}/root{folder}")
    except (FileNotFoundError, NotADirectoryError):
        # Absent, provided the peer's root itself can be looked at.
        return True if os.path.isdir(f"/proc/{pid}/root/") else None
    except OSError:
        return None


def sandboxed(pid: int | None) -> bool | None:
    """True when the peer `pid` cannot see the trust roots (see the module text), False when it can,
    None when it cannot be told (no pid, the process is gone, not Linux)."""
    if not pid or not Path("/proc/self/ns/mnt").exists():
        return None
    theirs_mnt, theirs_pid = _ns(pid, "mnt"), _ns(pid, "pid")
    if theirs_mnt is None or theirs_pid is None:
        return None
    if theirs_mnt == _ns("self", "mnt") or theirs_pid == _ns("self", "pid"):
        return False
    for folder in watched_folders():
        seen = _empty_from(pid, folder)
        if seen is None:
            return None
        if not seen:
            return False
    return True
