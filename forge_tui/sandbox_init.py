"""The first process inside `forge-tui run`'s sandbox: add the Landlock layer, then exec the agent.

Run by bubblewrap as a script (`python -I -S sandbox_init.py --landlock|--no-landlock -- CMD…`), so it
imports only the standard library and nothing from forge_tui. Landlock (Linux 5.13+) cannot carve a
read-only folder out of a writable tree, which bubblewrap's mounts already do; what it adds here is
scoping (ABI 6+): no connecting to abstract Unix sockets made outside the sandbox (a shared network
namespace would otherwise reach them: X11, some session buses) and no signals to processes outside.
Where the kernel has no such ABI the layer is skipped and the variable FORGE_SANDBOX_LANDLOCK says so.
Exit codes: 126 the command cannot be executed, 127 it was not found (as env(1) uses them).
"""

from __future__ import annotations

import ctypes
import os
import sys

SYS_LANDLOCK_CREATE_RULESET = 444  # the same number on every architecture (the unified syscall table)
SYS_LANDLOCK_RESTRICT_SELF = 446
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET = 1
LANDLOCK_SCOPE_SIGNAL = 2
PR_SET_NO_NEW_PRIVS = 38
SCOPE_ABI = 6


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 when Landlock is absent or disabled."""
    libc = ctypes.CDLL(None, use_errno=True)
    abi = libc.syscall(SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), LANDLOCK_CREATE_RULESET_VERSION)
    return max(0, int(abi))


def apply_scope() -> str:
    """Restrict this process (and what it execs) to its own abstract sockets and signals; returns what
    was applied, for FORGE_SANDBOX_LANDLOCK."""
    abi = landlock_abi()
    if abi < SCOPE_ABI:
        return f"none (kernel ABI {abi}, scoping needs {SCOPE_ABI})"
    libc = ctypes.CDLL(None, use_errno=True)
    attr = _RulesetAttr(0, 0, LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL)
    fd = libc.syscall(
        SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)), 0
    )
    if fd < 0:
        return f"none (create_ruleset: {os.strerror(ctypes.get_errno())})"
    try:
        libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        if libc.syscall(SYS_LANDLOCK_RESTRICT_SELF, fd, 0) != 0:
            return f"none (restrict_self: {os.strerror(ctypes.get_errno())})"
    finally:
        os.close(fd)
    return f"scoped (ABI {abi}: abstract unix sockets, signals)"


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--" or argv[0] not in ("--landlock", "--no-landlock"):
        print("forge-tui run: sandbox_init: usage: --landlock|--no-landlock -- CMD…", file=sys.stderr)
        return 2
    os.environ["FORGE_SANDBOX_LANDLOCK"] = apply_scope() if argv[0] == "--landlock" else "off"
    command = argv[2:]
    try:
        os.execvp(command[0], command)
    except FileNotFoundError:
        print(f"forge-tui run: {command[0]}: command not found", file=sys.stderr)
        return 127
    except OSError as exc:
        print(f"forge-tui run: {command[0]}: cannot execute: {exc.strerror}", file=sys.stderr)
        return 126
    return 126  # not reached: execvp returns only by raising


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
