"""Pair review under separate OS accounts: who besides the daemon's owner may take the reviewer role.

The owner lists the accounts in a file OUTSIDE the repository, in the project's private state folder
(`<data dir>/projects/<project id>/pair.toml`, which `forge-tui run` hides from the agent), so an agent
cannot add itself:

```toml
users = ["bob"]                 # OS account names
uids = [1002]                   # or numeric uids
groups = ["reviewers"]          # or every member of a group (primary or supplementary)
socket = "/srv/forge/shop.sock" # where they connect (default: /tmp/forge-tui-pair-<project id>/review.sock)
```

With anyone listed, the daemon opens a third socket, the pair socket, with the reviewer role. Its folder
is 0711 (others may reach the socket by its name but not list the folder) and the socket 0666, so the
kernel lets any local account connect; the daemon then admits a connection only when SO_PEERCRED names
an admitted account, and never the owner's own uid there (the owner's console uses the private
reviewer socket, and an agent running as the owner must not find a reviewer socket it can reach). The
file is read again for every connection: a change applies at once, and a file that anyone but the owner
could write, or that does not parse, admits nobody (fail closed).
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from forge_tui.errors import ConfigError

PAIR_FILE = "pair.toml"
KEYS = ("users", "uids", "groups", "socket")


@dataclass(frozen=True)
class Admission:
    """The accounts admitted to the pair socket (besides nobody: the owner uses the reviewer socket)."""

    uids: frozenset[int] = frozenset()
    gids: frozenset[int] = frozenset()
    socket: Path | None = None
    problems: tuple[str, ...] = field(default=())

    @property
    def anyone(self) -> bool:
        return bool(self.uids or self.gids)

    def admits(self, uid: int | None, gid: int | None = None) -> bool:
        """True when the peer (SO_PEERCRED uid and gid) is an admitted account other than the owner."""
        if uid is None or uid == os.getuid():
            return False
        if uid in self.uids or (gid is not None and gid in self.gids):
            return True
        if not self.gids:
            return False
        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:
            return False
        return any(name in grp.getgrgid(g).gr_mem for g in self.gids if _group_exists(g))


def _group_exists(gid: int) -> bool:
    try:
        grp.getgrgid(gid)
    except KeyError:
        return False
    return True


def pair_file(state_dir: Path) -> Path:
    return Path(state_dir) / PAIR_FILE


def default_socket(project_id: str) -> Path:
    return Path("/tmp") / f"forge-tui-pair-{project_id}" / "review.sock"


def user_name(uid: int | None) -> str | None:
    """The account name of `uid`, None when it has none."""
    if uid is None:
        return None
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def load_admission(state_dir: Path, project_id: str) -> Admission:
    """The admission file of a project, or an Admission admitting nobody (with why) when it is missing,
    unsafe or malformed."""
    path = pair_file(state_dir)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return Admission()
    except OSError as exc:
        return Admission(problems=(f"{path}: {exc.strerror}",))
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or stat.S_IMODE(st.st_mode) & 0o022:
        return Admission(problems=(f"{path} must be a regular file of yours that nobody else can write",))
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
        return _parse(doc, project_id)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, ConfigError) as exc:
        return Admission(problems=(f"{path}: {exc}",))


def _parse(doc: dict, project_id: str) -> Admission:
    unknown = set(doc) - set(KEYS)
    if unknown:
        raise ConfigError(f"unknown keys {', '.join(sorted(unknown))} (expected {', '.join(KEYS)})")
    uids = set(_list(doc, "uids", int))
    for name in _list(doc, "users", str):
        try:
            uids.add(pwd.getpwnam(name).pw_uid)
        except KeyError:
            raise ConfigError(f"no OS account named {name!r}") from None
    gids = set()
    for name in _list(doc, "groups", str):
        try:
            gids.add(grp.getgrnam(name).gr_gid)
        except KeyError:
            raise ConfigError(f"no OS group named {name!r}") from None
    if os.getuid() in uids:
        raise ConfigError("the daemon's own account uses the reviewer socket, not the pair socket")
    sock = doc.get("socket")
    if sock is not None and (type(sock) is not str or not sock.startswith("/")):
        raise ConfigError("socket must be an absolute path")
    return Admission(
        uids=frozenset(uids),
        gids=frozenset(gids),
        socket=Path(sock) if sock else default_socket(project_id),
    )


def _list(doc: dict, key: str, kind: type) -> list:
    value = doc.get(key, [])
    if type(value) is not list or not all(type(v) is kind for v in value):
        raise ConfigError(f"{key} must be a list of {'numbers' if kind is int else 'names'}")
    return value


def prepare_pair_dir(folder: Path) -> None:
    """The pair socket's folder: made 0711 when missing; an existing one must be ours and writable by
    nobody else (others may pass through it, never replace the socket)."""
    try:
        folder.mkdir(mode=0o711)
        os.chmod(folder, 0o711)  # the folder just made, against the umask
    except FileExistsError:
        pass
    st = os.lstat(folder)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or stat.S_IMODE(st.st_mode) & 0o022:
        raise ConfigError(
            f"the pair socket folder {folder} must be a folder of yours that nobody else can write",
            hint="remove it, or set `socket` in pair.toml to a path in such a folder",
        )


def distinct_by_of(policy, rule_ids) -> list[str]:
    """What approvals of a request must differ by: "reviewer" always, "uid" when a counted rule says so."""
    ids = set(rule_ids)
    return sorted({"reviewer"}.union(*(r.distinct_by for r in policy.rules if r.id in ids)))


def same_account(distinct_by, earlier_uids, uid: int | None) -> str:
    """Why an approval from `uid` may not count toward a `distinct_by` quorum ("" when it may)."""
    if "uid" not in distinct_by:
        return ""
    if uid is None:
        return "the daemon cannot tell which OS account this approval came from"
    if uid in earlier_uids:
        who = user_name(uid)
        return f"OS account uid {uid}{f' ({who})' if who else ''} has already approved"
    return ""
