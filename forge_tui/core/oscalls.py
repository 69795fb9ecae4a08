"""The system calls of the ledger's write path, behind one small object so tests can inject faults.

Every call names its *site*: `ledger` (the append: write, fdatasync, ftruncate), `checkpoint` (the
signed checkpoint: temp write, fsync, rename, folder fsync), `tracked` (the copy in `.forge/ledger/`)
and `aside` (files set beside the ledger: a torn tail, the marker of an undo that failed). `tests/faults/` subclasses `OsCalls` and overrides
`before(call, site)` to raise EIO or ENOSPC at exactly one of them; the writer uses `OsCalls()`, which
is plain `os`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

# The calls a fault can be injected at (the `call` argument of `before`).
CALLS = ("open", "write", "fdatasync", "fsync", "ftruncate", "replace", "fsync_dir")
SITES = ("ledger", "checkpoint", "tracked", "aside")


class OsCalls:
    """Plain `os`, each call preceded by `before(call, site)` (a no-op here)."""

    def before(self, call: str, site: str) -> None:
        """Called before each system call; a test subclass raises OSError here to inject a fault."""

    def open(self, site: str, path: Path | str, flags: int, mode: int = 0o600) -> int:
        self.before("open", site)
        return os.open(path, flags, mode)

    def write_all(self, site: str, fd: int, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            self.before("write", site)
            n = os.write(fd, view)
            view = view[n:]

    def fdatasync(self, site: str, fd: int) -> None:
        self.before("fdatasync", site)
        os.fdatasync(fd)

    def fsync(self, site: str, fd: int) -> None:
        self.before("fsync", site)
        os.fsync(fd)

    def ftruncate(self, site: str, fd: int, size: int) -> None:
        self.before("ftruncate", site)
        os.ftruncate(fd, size)

    def replace(self, site: str, src: Path | str, dst: Path | str) -> None:
        self.before("replace", site)
        os.replace(src, dst)

    def fsync_dir(self, site: str, path: Path | str) -> None:
        self.before("fsync_dir", site)
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def atomic_write(self, site: str, path: Path, data: bytes, mode: int = 0o600) -> None:
        """Replace `path` with `data` durably: temp file, write, fsync, rename, fsync of the folder. The
        temp file is `.<name>.<pid>.tmp` and is removed again if anything before the rename fails."""
        self._replace(site, path, mode, lambda fd: self.write_all(site, fd, data))

    def copy_file(self, site: str, src: Path, dst: Path, mode: int = 0o644) -> None:
        """Copy `src` over `dst` atomically and durably (the same steps as `atomic_write`)."""

        def fill(fd: int) -> None:
            with open(src, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    self.write_all(site, fd, chunk)

        self._replace(site, dst, mode, fill)

    def _replace(self, site: str, path: Path, mode: int, fill: Callable[[int], None]) -> None:
        """`fill` a temp file beside `path`, fsync it, rename it over `path`, fsync the folder."""
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            fd = self.open(site, tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
            try:
                fill(fd)
                self.fsync(site, fd)
            finally:
                os.close(fd)
            self.replace(site, tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self.fsync_dir(site, path.parent)

    def append_range(self, site: str, src: Path, dst: Path, start: int, end: int) -> None:
        """Append bytes start..end of `src` to `dst` and fsync it (the tracked copy's fast path)."""
        fd = self.open(site, dst, os.O_WRONLY | os.O_APPEND)
        try:
            with open(src, "rb") as fh:
                fh.seek(start)
                left = end - start
                while left > 0 and (chunk := fh.read(min(left, 1 << 20))):
                    self.write_all(site, fd, chunk)
                    left -= len(chunk)
            self.fsync(site, fd)
        finally:
            os.close(fd)


DEFAULT = OsCalls()
