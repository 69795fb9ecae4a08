"""Where forge-tui keeps things outside the project (docs/design.md §3).

Private keys, the authoritative ledger copy and the "latest checkpoint seen" cache live in the user
data directory (platformdirs, honouring XDG_DATA_HOME); the socket lives in the user runtime directory
unless FORGE_SOCKET says otherwise. Nothing here is ever inside the working tree.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

APP = "forge-tui"
FORGE_DIR = ".forge"
SOCKET_PATH_MAX = 107  # sun_path is 108 bytes on Linux, including the NUL


def data_root() -> Path:
    """The user data folder (created 0700 on first use)."""
    env = os.environ.get("FORGE_DATA_DIR")
    if env:
        root = Path(env)
    else:
        from platformdirs import user_data_path

        root = user_data_path(APP)
    return private_dir(root)


def private_dir(path: Path) -> Path:
    """Create `path` (and parents) and make sure it is a 0700 folder owned by us."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    st = path.stat()
    if stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(path, 0o700)
    return path


def keys_dir() -> Path:
    return private_dir(data_root() / "keys")


def project_state_dir(project_id: str) -> Path:
    """Per-project private state: the authoritative ledger, the local ledger id, the seen cache."""
    return private_dir(data_root() / "projects" / project_id)


def runtime_dir() -> Path:
    """Where sockets live: FORGE_RUNTIME_DIR, else $XDG_RUNTIME_DIR/forge-tui when that is a private
    folder of ours (as platformdirs accepts it), else /tmp/forge-tui-<uid>. Standard library only."""
    env = os.environ.get("FORGE_RUNTIME_DIR")
    if env:
        return private_dir(Path(env))
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        try:
            st = os.stat(xdg)
            if st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) & 0o077 == 0:
                return private_dir(Path(xdg) / APP)
        except OSError:
            pass
    return private_dir(Path("/tmp") / f"{APP}-{os.getuid()}")


def find_project_root(start: Path | None = None) -> Path | None:
    """The nearest folder at or above `start` holding `.forge/project.toml`, or None."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / FORGE_DIR / "project.toml").is_file():
            return folder
    return None


def read_project_id(root: Path) -> str:
    """The project id from `.forge/project.toml` (tomllib only: the agent-side paths use this)."""
    import tomllib

    from forge_tui.errors import ConfigError

    path = root / FORGE_DIR / "project.toml"
    try:
        with open(path, "rb") as fh:
            pid = tomllib.load(fh).get("project_id")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}", hint="restore it from git") from None
    if type(pid) is not str or not pid:
        raise ConfigError(f"{path} has no project_id", hint="restore it from git")
    return pid


def socket_path(project_id: str) -> Path:
    """The agent socket for a project: FORGE_SOCKET, else `<runtime dir>/<project id>.sock`."""
    env = os.environ.get("FORGE_SOCKET")
    return _short_enough(Path(env) if env else runtime_dir() / f"{project_id}.sock", "FORGE_SOCKET")


def review_socket_path(project_id: str) -> Path:
    """The reviewer socket (queue, approvals, notes): FORGE_REVIEW_SOCKET, else
    `<runtime dir>/review/<project id>.sock`. It sits in its own 0700 folder so that `forge-tui run` can
    hide it from the agent while the agent socket (`socket_path`) stays reachable."""
    env = os.environ.get("FORGE_REVIEW_SOCKET")
    path = Path(env) if env else runtime_dir() / "review" / f"{project_id}.sock"
    return _short_enough(path, "FORGE_REVIEW_SOCKET")


def _short_enough(path: Path, env_var: str) -> Path:
    """`path`, if it fits in a Unix socket address; else a ConfigError naming the override."""
    n = len(os.fsencode(str(path)))
    if n > SOCKET_PATH_MAX:
        from forge_tui.errors import ConfigError

        raise ConfigError(
            f"socket path is {n} bytes, over the {SOCKET_PATH_MAX}-byte limit: {path}",
            hint=f"set {env_var} to a shorter path",
        )
    return path


def write_private_file(path: Path, data: bytes) -> None:
    """Write `data` to `path` as a 0600 file atomically (temp file, fsync, rename, fsync folder)."""
    atomic_write(path, data, mode=0o600)


def _write_all(fd: int, data: bytes) -> None:
    """os.write until every byte is written (a single write may be short)."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace `path` with `data` atomically and durably; on failure the temporary file is removed."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        _write_all(fd, data)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        fd = -1
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        if fd >= 0:
            os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
