"""`forge-tui run -- CMD…`: the agent in a kernel sandbox (docs/sandbox.md, docs/design.md §6.1).

On Linux the command runs under bubblewrap with the whole file system as the user sees it, except:
- `.forge/`, `.claude/`, `.codex/`, `.gemini/`, the git hooks and git config (and the user's hook
  settings that exist) are bound read-only: writes fail with EROFS;
- forge-tui's data folder (keys, the authoritative ledgers, anchors), the reviewer socket's folder, the
  pair socket's folder and `$XDG_RUNTIME_DIR` are covered by an empty read-only tmpfs: reads find
  nothing (ENOENT);
- the agent socket's folder (or the socket alone) is bound back, so `gate.request` works;
- every ancestor of a protected or hidden path is a mount point, so it cannot be renamed away and
  replaced by a writable copy;
- new pid and ipc namespaces (no `/proc/<daemon>/root`, no signals out), all capabilities dropped (bwrap
  keeps them for root otherwise), a fresh minimal `/dev` (no raw disks), `/sys` read-only.

The plan (what is mounted where) is a pure function of a `Layout`, so tests can check it without bwrap.
Standard library only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from forge_tui.errors import ForgeError

# Exit codes of `forge-tui run` itself, as env(1), timeout(1) and container runners use them; any other
# code is the agent's own.
EXIT_SANDBOX = 125  # the sandbox could not be set up (bwrap missing, user namespaces refused, a bad layout)
EXIT_CANNOT_EXEC = 126  # the command exists but cannot be executed
EXIT_NOT_FOUND = 127  # the command was not found

PROTECTED_DIRS = (".forge", ".claude", ".codex", ".gemini")
# User-level settings that can switch an agent's hooks off (`disableAllHooks`, a hooks table): made
# read-only where they exist.
HOME_HOOK_FILES = (
    ".claude/settings.json",
    ".claude/settings.local.json",
    ".codex/config.toml",
    ".codex/hooks.json",
    ".gemini/settings.json",
)
# What in the home folder runs later OUTSIDE the sandbox, as you (a git hook set in the global git
# config, a line in a shell's start file, a program planted early on PATH, a user unit): read-only where
# it exists. The global git config (~/.gitconfig and $XDG_CONFIG_HOME/git) is created empty when missing
# (machine_layout), since a `core.hooksPath` there would run the agent's code at the reviewer's next
# commit in this very project.
HOME_PERSISTENCE = (
    ".gitconfig",
    ".config/git",
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".bash_logout",
    ".profile",
    ".zshenv",
    ".zprofile",
    ".zshrc",
    ".zlogin",
    ".config/fish",
    ".ssh",
    ".local/bin",
    "bin",
    ".config/systemd",
    ".config/autostart",
    ".config/environment.d",
    ".pam_environment",
)
INIT_SCRIPT = Path(__file__).with_name("sandbox_init.py")


class SandboxError(ForgeError):
    """The sandbox cannot be set up; the agent is not started (never run unsandboxed silently)."""

    exit_code = EXIT_SANDBOX


@dataclass(frozen=True)
class Layout:
    """Where things are on this machine, as `forge-tui run` sees them before it starts the agent."""

    project_root: Path
    data_root: Path
    agent_socket: Path
    review_socket: Path
    home: Path | None = None
    runtime_dir: Path | None = None  # $XDG_RUNTIME_DIR: the session bus, systemd --user, other sockets
    extra_hidden: tuple[Path, ...] = ()  # e.g. /tmp/tmux-<uid> (a tmux server runs commands outside)
    pair_dirs: tuple[Path, ...] = ()  # the pair socket's folders (daemon/admission.py): hidden, never bound
    git_paths: tuple[Path, ...] = ()  # hooks and config of the project's repository


@dataclass(frozen=True)
class Mount:
    """One bwrap mount: `bind` (a writable self-bind, to pin a path), `ro` (read-only self-bind),
    `hide` (an empty tmpfs, made read-only at the end) or `expose` (a self-bind inside a hidden folder)."""

    op: str
    path: Path


@dataclass(frozen=True)
class Plan:
    mounts: tuple[Mount, ...]
    readonly: tuple[Path, ...]
    hidden: tuple[Path, ...]
    exposed: Path
    env: dict[str, str] = field(default_factory=dict)


_OP_ORDER = {"bind": 0, "ro": 1, "hide": 2, "expose": 3}


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _ancestors(path: Path) -> list[Path]:
    """The folders between `/` (excluded) and `path` (excluded), outermost first."""
    return [p for p in reversed(path.parents) if p != Path(p.anchor)]


def plan(layout: Layout) -> Plan:
    """What to mount where for `layout`; raises SandboxError for a layout that cannot be sandboxed."""
    root = layout.project_root
    readonly = [root / d for d in PROTECTED_DIRS] + list(layout.git_paths)
    if layout.home is not None:
        readonly += [layout.home / f for f in HOME_HOOK_FILES if (layout.home / f).is_file()]
        readonly += [layout.home / f for f in HOME_PERSISTENCE if (layout.home / f).exists()]
    review_dir = layout.review_socket.parent
    a_dir = layout.agent_socket.parent
    # The agent socket must stay reachable: bind its folder back, or the socket alone when it shares a
    # folder with the reviewer (or pair) socket (then a daemon restart needs a new `forge-tui run`).
    shared = any(_inside(a_dir, d) for d in (review_dir, *layout.pair_dirs))
    exposed = layout.agent_socket if shared else a_dir
    keep = [("the project", root), ("the current folder", Path.cwd().resolve())]
    if layout.home is not None:
        keep.append(("the home folder", layout.home))
    hidden = _dedupe([layout.data_root, review_dir, *layout.pair_dirs])
    for h in hidden:
        for what, path in keep:
            if _inside(path, h):
                raise SandboxError(
                    f"{what} ({path}) lies inside {h}, which the sandbox must hide from the agent",
                    hint="keep projects and the home folder outside forge-tui's data and reviewer-socket folders",
                )
    if _inside(layout.agent_socket, layout.data_root):
        raise SandboxError(
            f"the agent socket {layout.agent_socket} lies inside the data folder {layout.data_root}",
            hint="set FORGE_SOCKET outside it",
        )
    # Other sockets that can run code outside (session bus, systemd --user, tmux): hidden as well, unless
    # such a folder holds the project, the home folder or is the agent socket's own folder.
    optional = [layout.runtime_dir] if layout.runtime_dir is not None else []
    for h in [*optional, *layout.extra_hidden]:
        if h != exposed and not any(_inside(path, h) for _, path in keep) and h not in hidden:
            hidden.append(h)
    mounts: set[Mount] = set()
    for path in readonly:
        mounts.add(Mount("ro", path))
    for path in hidden:
        mounts.add(Mount("hide", path))
    if any(_inside(exposed, h) for h in hidden):
        mounts.add(Mount("expose", exposed))
    # Pin every ancestor of a protected or hidden path: a mount point cannot be renamed or removed, so the
    # agent cannot move `.forge` (or the project, or `~/.local`) aside and put a writable copy in its place.
    for path in [*readonly, *hidden]:
        for anc in _ancestors(path):
            if not any(_inside(anc, h) for h in hidden):
                mounts.add(Mount("bind", anc))
    ordered = sorted(mounts, key=lambda m: (len(m.path.parts), _OP_ORDER[m.op], str(m.path)))
    env = {"FORGE_SOCKET": str(layout.agent_socket), "FORGE_SANDBOX": "bwrap"}
    return Plan(tuple(ordered), tuple(readonly), tuple(hidden), exposed, env)


def _dedupe(paths: list[Path]) -> list[Path]:
    seen: list[Path] = []
    for p in paths:
        if p not in seen:
            seen.append(p)
    return seen


# ---- bubblewrap ------------------------------------------------------------------------------------------


def find_bwrap() -> str:
    path = shutil.which("bwrap")
    if path is None:
        raise SandboxError(
            "bubblewrap (bwrap) is not installed, so the agent cannot be sandboxed",
            hint="install it (Debian/Ubuntu: apt-get install bubblewrap), or pass --unsandboxed to run without",
        )
    return path


def bwrap_argv(bwrap: str, p: Plan, command: list[str], *, new_session: bool, landlock: bool) -> list[str]:
    """The bwrap command line running `command` under plan `p` (through sandbox_init.py)."""
    argv = [
        bwrap,
        "--die-with-parent",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-user-try",
        "--cap-drop",
        "ALL",  # bwrap keeps every capability for root otherwise, and root could then unmount the tmpfs
        "--bind",
        "/",
        "/",
        "--dev",
        "/dev",  # a fresh /dev: the host's would give root the raw disks
        "--proc",
        "/proc",  # of the new pid namespace: no /proc/<daemon pid>/root
        "--ro-bind-try",
        "/sys",
        "/sys",
    ]
    for m in p.mounts:
        if m.op in ("bind", "expose"):
            argv += ["--bind", str(m.path), str(m.path)]
        elif m.op == "ro":
            argv += ["--ro-bind", str(m.path), str(m.path)]
        else:
            argv += ["--tmpfs", str(m.path)]
    for m in p.mounts:  # after everything below them has its mount point
        if m.op == "hide":
            argv += ["--remount-ro", str(m.path)]
    for key, value in p.env.items():
        argv += ["--setenv", key, value]
    for key in ("FORGE_PASSPHRASE", "FORGE_REVIEW_SOCKET"):
        argv += ["--unsetenv", key]
    if new_session:
        argv.append("--new-session")  # TIOCSTI: no typing into the terminal of the shell outside
    argv += ["--chdir", os.getcwd(), "--", sys.executable, "-I", "-S", str(INIT_SCRIPT)]
    argv += ["--landlock" if landlock else "--no-landlock", "--", *command]
    return argv


def tiocsti_possible() -> bool:
    """True when a sandboxed process holding our terminal could push keystrokes into it (TIOCSTI):
    the kernel allows it unless `dev.tty.legacy_tiocsti` is 0."""
    if not any(os.isatty(fd) for fd in (0, 1, 2)):
        return False
    try:
        return Path("/proc/sys/dev/tty/legacy_tiocsti").read_text().strip() != "0"
    except OSError:
        return True  # an older kernel: TIOCSTI always works


def preflight(argv: list[str]) -> None:
    """Start the same sandbox around `true` once, so a refusal (no user namespaces, a mount bwrap cannot
    make) is one clear line before the agent starts rather than a half-started agent."""
    probe = argv[: argv.index("--") + 1] + ["/bin/sh", "-c", ":"]
    try:
        res = subprocess.run(probe, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxError(f"bubblewrap could not start: {exc}") from None
    if res.returncode != 0:
        text = res.stderr.decode("utf-8", "replace").strip().splitlines()
        why = text[-1] if text else f"exit {res.returncode}"
        hint = None
        if "namespace" in why.lower() or "permission" in why.lower():
            hint = "user namespaces may be disabled (sysctl kernel.unprivileged_userns_clone / apparmor)"
        raise SandboxError(f"the sandbox could not start: {why}", hint=hint)


# ---- the layout of this machine -----------------------------------------------------------------------------


def git_paths(root: Path) -> tuple[Path, ...]:
    """The hooks and config of the repository at `root` (a `.git` folder, or a worktree's `.git` file),
    and a `core.hooksPath` folder; missing hooks folders are created so that they can be bound."""
    dot = root / ".git"
    if dot.is_dir():
        gitdir = common = dot
    elif dot.is_file():
        text = dot.read_text(encoding="utf-8", errors="replace").strip()
        if not text.startswith("gitdir:"):
            return ()
        gitdir = (root / text.split(":", 1)[1].strip()).resolve()
        common_file = gitdir / "commondir"
        common = (gitdir / common_file.read_text().strip()).resolve() if common_file.is_file() else gitdir
    else:
        return ()
    (common / "hooks").mkdir(exist_ok=True)
    found = [common / "hooks", common / "config", gitdir / "config.worktree"]
    if dot.is_file():
        found.append(dot)  # the pointer itself: rewritten, it would send git to another gitdir
    hooks_path = _git_hooks_path(root)
    if hooks_path is not None:
        found.append(hooks_path)
    return tuple(_dedupe([p for p in found if p.exists()]))


def _git_hooks_path(root: Path) -> Path | None:
    git = shutil.which("git")
    if git is None:
        return None
    try:
        res = subprocess.run(
            [git, "-C", str(root), "config", "--get", "core.hooksPath"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    value = res.stdout.strip()
    if res.returncode != 0 or not value:
        return None
    path = (root / os.path.expanduser(value)).resolve()
    return path if path.is_dir() else None


def machine_layout(project_root: Path, project_id: str) -> Layout:
    """The layout of this machine for the project at `project_root` (creates what must exist to be
    bound: the data folder, the reviewer socket's folder, empty `.claude/`, `.codex/`, `.gemini/`)."""
    from forge_tui import paths

    root = project_root.resolve()
    for d in PROTECTED_DIRS:
        (root / d).mkdir(exist_ok=True)
    data = paths.data_root().resolve()
    agent = Path(os.path.abspath(paths.socket_path(project_id)))
    review = Path(os.path.abspath(paths.review_socket_path(project_id)))
    review.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    home_env = os.environ.get("HOME")
    home = Path(home_env).resolve() if home_env and Path(home_env).is_dir() else None
    global_git: list[Path] = []
    if home is not None:  # git reads both: neither may be created by the agent
        xdg_config = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
        if not (home / ".gitconfig").exists():
            (home / ".gitconfig").touch(mode=0o644)
        (xdg_config / "git").mkdir(parents=True, exist_ok=True)
        global_git = [home / ".gitconfig", (xdg_config / "git").resolve()]
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    runtime = Path(xdg).resolve() if xdg and Path(xdg).is_dir() else None
    tmux = Path("/tmp") / f"tmux-{os.getuid()}"
    return Layout(
        pair_dirs=pair_socket_dirs(project_id),
        project_root=root,
        data_root=data,
        agent_socket=_resolve_parent(agent),
        review_socket=_resolve_parent(review),
        home=home,
        runtime_dir=runtime,
        extra_hidden=(tmux,) if tmux.is_dir() else (),
        git_paths=tuple(_dedupe([*git_paths(root), *global_git])),
    )


def pair_socket_dirs(project_id: str) -> tuple[Path, ...]:
    """The folders where this project's pair socket (daemon/admission.py) is or may appear: the default
    `/tmp/forge-tui-pair-<id>/` and the one pair.toml names. Each is prepared as the daemon would
    (created 0711 when missing), so it can be hidden even before a daemon listens there, and a daemon
    restarted while the agent runs cannot put a reviewer-role socket in its reach. A folder that is
    not ours (or a symlink) is skipped: the daemon refuses to listen in it too."""
    from forge_tui.daemon.admission import default_socket, load_admission, prepare_pair_dir
    from forge_tui.errors import ConfigError
    from forge_tui.paths import project_state_dir

    configured = load_admission(project_state_dir(project_id), project_id).socket
    found: list[Path] = []
    for sock in _dedupe([default_socket(project_id), *([configured] if configured else [])]):
        try:
            prepare_pair_dir(sock.parent)
        except (ConfigError, OSError):
            continue
        found.append(sock.parent.resolve())
    return tuple(found)


def _resolve_parent(path: Path) -> Path:
    return path.parent.resolve() / path.name
