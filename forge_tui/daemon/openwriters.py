"""Whether some process holds a file open for writing (Linux, from /proc), so that a policy file an
editor is still writing in place is never read as complete (issue 10, docs/faults.md).

An in-place save is open, write, write, ..., close: however long the pause between two writes, the file
stays open for writing until the last byte is in. /proc/<pid>/fd names each open file and
/proc/<pid>/fdinfo/<fd> its open flags. Only processes this one may inspect are seen (those of the same
user, or all for root); where /proc is missing the answer is "none" and the settle window alone decides.
"""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")


def _opened_for_writing(fdinfo: Path) -> bool:
    try:
        text = fdinfo.read_text()
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags:"):
            return (int(line.split()[1], 8) & os.O_ACCMODE) in (os.O_WRONLY, os.O_RDWR)
    return False


def _fd_is(fd_link: Path, name: str, target: str, ident: tuple[int, int]) -> bool:
    try:
        link = os.readlink(fd_link)
    except OSError:
        return False
    if link != target and not link.endswith("/" + name):  # (another mount namespace: a different prefix)
        return False
    try:
        st = os.stat(fd_link)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == ident


def writers(path: Path) -> list[int]:
    """The pids of the processes (visible to this one) that hold `path` open for writing."""
    try:
        st = os.stat(path)
    except OSError:
        return []
    try:
        pids = [p for p in os.listdir(PROC) if p.isdigit()]
    except OSError:
        return []
    target = os.path.realpath(path)
    name = os.path.basename(target)
    ident = (st.st_dev, st.st_ino)
    found: list[int] = []
    for pid in pids:
        fd_dir = PROC / pid / "fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue  # gone, or another user's
        for fd in fds:
            if _fd_is(fd_dir / fd, name, target, ident) and _opened_for_writing(PROC / pid / "fdinfo" / fd):
                found.append(int(pid))
                break
    return found
