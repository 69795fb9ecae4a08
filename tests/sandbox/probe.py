"""Run INSIDE `forge-tui run`: try each operation given as JSON on argv[1] and print, as one JSON list,
what the kernel answered ("ok" or the errno name such as "EROFS"). Standard library only.

Operations: ["write", path], ["append", path], ["read", path], ["unlink", path], ["listdir", path],
["exists", path], ["rename", src, dst], ["connect", socket path], ["connect_abstract", name], ["tiocsti"], ["env", name].
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sys


def _do(op: str, *args: str):
    if op == "write":
        with open(args[0], "w") as fh:
            fh.write('[reviewers.mallory]\nvkey = "x"\n')
        return "ok"
    if op == "append":
        with open(args[0], "a") as fh:
            fh.write("\n[core]\n\thooksPath = /tmp/evil\n")
        return "ok"
    if op == "read":
        with open(args[0], "rb") as fh:
            fh.read()
        return "ok"
    if op == "unlink":
        os.unlink(args[0])
        return "ok"
    if op == "listdir":
        return sorted(os.listdir(args[0]))
    if op == "exists":
        return os.path.lexists(args[0])
    if op == "rename":
        os.rename(args[0], args[1])
        return "ok"
    if op == "connect":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(args[0])
        finally:
            s.close()
        return "ok"
    if op == "connect_abstract":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect("\0" + args[0])
        finally:
            s.close()
        return "ok"
    if op == "tiocsti":  # push a character into the terminal's input, as if typed
        import fcntl
        import termios

        fcntl.ioctl(0, termios.TIOCSTI, b"#")
        return "ok"
    if op == "env":
        return os.environ.get(args[0])
    raise ValueError(op)


def main() -> None:
    out = []
    for op in json.loads(sys.argv[1]):
        try:
            out.append(_do(*op))
        except OSError as exc:
            out.append(errno.errorcode.get(exc.errno or 0, str(exc)))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
