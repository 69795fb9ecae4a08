"""Find the agent socket of the project a hook runs in, the way forge_tui.paths.socket_path does, using
only modules built into the interpreter (no pathlib, no tomllib unless the fast read fails) and
creating nothing: a missing folder is a daemon that is not there, and the hook then denies.

Paths stay bytes end to end (environment, stat, connect), so nothing is decoded or re-encoded.
"""

from __future__ import annotations

import posix

FORGE_DIR = b".forge"
PROJECT_FILE = b"project.toml"
# The folders a host names as the project, in order; else the hook's working folder.
PROJECT_ENV = (b"CLAUDE_PROJECT_DIR", b"GEMINI_PROJECT_DIR")
_HEX = frozenset(b"0123456789abcdef-")


class LocateError(Exception):
    """No project or no socket can be found from here."""


def project_root() -> bytes:
    env = posix.environ
    start = next((env[k] for k in PROJECT_ENV if env.get(k)), None) or posix.getcwdb()
    here = start.rstrip(b"/") or b"/"
    while True:
        if _is_file(here + b"/" + FORGE_DIR + b"/" + PROJECT_FILE):
            return here
        if here in (b"/", b""):
            raise LocateError(
                "not inside a forge-tui project: no .forge/project.toml at or above "
                + start.decode("utf-8", "replace")
            )
        here = here.rsplit(b"/", 1)[0] or b"/"


def _is_file(path: bytes) -> bool:
    try:
        return posix.stat(path).st_mode & 0o170000 == 0o100000
    except OSError:
        return False


def project_id(root: bytes) -> str:
    """`project_id` from .forge/project.toml: the line init writes, else a full TOML parse."""
    path = root + b"/" + FORGE_DIR + b"/" + PROJECT_FILE
    with open(path, "rb") as fh:
        data = fh.read(65536)
    for line in data.split(b"\n"):
        if line.startswith(b"project_id"):
            key, _, value = line.partition(b"=")
            value = value.strip()
            if key.strip() == b"project_id" and len(value) == 38 and value[:1] == value[-1:] == b'"':
                pid = value[1:-1]
                if set(pid) <= _HEX:
                    return pid.decode("ascii")
    import tomllib  # an unusual but valid file: pay for the real parser

    with open(path, "rb") as fh:
        return str(tomllib.load(fh)["project_id"])


def runtime_dir() -> bytes:
    """As forge_tui.paths.runtime_dir, without creating anything."""
    env = posix.environ
    if env.get(b"FORGE_RUNTIME_DIR"):
        return env[b"FORGE_RUNTIME_DIR"]
    xdg = env.get(b"XDG_RUNTIME_DIR")
    if xdg:
        try:
            st = posix.stat(xdg)
            if st.st_uid == posix.getuid() and st.st_mode & 0o077 == 0:
                return xdg + b"/forge-tui"
        except OSError:
            pass
    return b"/tmp/forge-tui-" + str(posix.getuid()).encode()


def socket_path() -> bytes:
    """The agent socket: FORGE_SOCKET, else <runtime dir>/<project id>.sock of the project around us."""
    env = posix.environ.get(b"FORGE_SOCKET")
    if env:
        return env
    try:
        return runtime_dir() + b"/" + project_id(project_root()).encode() + b".sock"
    except LocateError:
        raise
    except (OSError, KeyError, ValueError) as exc:
        raise LocateError(f"cannot read the project id: {exc}") from None
