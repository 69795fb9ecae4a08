"""Start the daemon in the background and wait until it answers (used by `forge-tui` and `demo`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from forge_tui.client import Client, DaemonUnavailable, hello
from forge_tui.errors import ConfigError


def daemon_answers(sock: Path, timeout: float = 1.0) -> bool:
    try:
        with Client(sock, client="probe", timeout=timeout) as c:
            hello(c)
        return True
    except DaemonUnavailable:
        return False


def start_daemon(
    project_root: Path,
    sock: Path,
    *,
    log_path: Path,
    env: dict[str, str] | None = None,
    timeout: float = 15.0,
    review_sock: Path | None = None,
) -> subprocess.Popen:
    """Spawn `forge-tui daemon` detached (its own session) and wait until it answers `hello` (on the
    agent socket `sock`; the reviewer socket is `review_sock`, else the daemon's default). If another
    console started one at the same moment, ours exits and this waits for that one instead."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "forge_tui", "-C", str(project_root), "daemon", "--socket", str(sock)]
    if review_sock is not None:
        cmd += ["--review-socket", str(review_sock)]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            env=env if env is not None else os.environ.copy(),
        )
    deadline = time.monotonic() + timeout
    delay = 0.02
    while time.monotonic() < deadline:
        if proc.poll() is not None and not _another_daemon_starts(project_root, env, proc.pid):
            tail = _tail(log_path)
            raise ConfigError(f"the daemon exited at start (code {proc.returncode}): {tail}")
        # (If ours lost the race to another console's daemon, wait for that one: it answers soon.)
        if sock.exists() and daemon_answers(sock, timeout=1.0):
            return proc
        time.sleep(delay)  # polling a condition with a deadline, not synchronising on time
        delay = min(delay * 2, 0.2)
    proc.terminate()
    raise ConfigError(f"the daemon did not answer within {timeout:.0f} s (log: {log_path})")


def _another_daemon_starts(project_root: Path, env: dict[str, str] | None, ours: int) -> bool:
    """Whether another live daemon holds the project's lock (two consoles started together: the loser's
    daemon exits at once, and the winner's is the one to connect to). The lock file holds the pid of
    its holder, written just after the lock is taken: it is read, never locked (a probe that took the
    lock even for a moment could make the winner fail). Only when the daemon runs in this process's
    environment (`env` None), where the project's state folder is ours too."""
    from forge_tui.core.project import load_project_file
    from forge_tui.errors import ForgeError
    from forge_tui.paths import FORGE_DIR

    if env is not None:
        return False
    try:
        lock = load_project_file(project_root / FORGE_DIR).state_dir / "daemon.lock"
    except ForgeError:
        return False
    for _ in range(20):  # the winner writes its pid right after taking the lock
        try:
            text = lock.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return False
        if text.isdigit() and int(text) != ours:
            try:
                os.kill(int(text), 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                pass
            return True
        time.sleep(0.05)  # polling a condition with a deadline (1 s), not synchronising on time
    return False


def _tail(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").strip().split("\n")
    except OSError:
        return "no log"
    return lines[-1] if lines else "no output"


def stop_daemon(proc: subprocess.Popen) -> None:
    """Stop a daemon started by `start_daemon`: SIGTERM (it denies and records what is pending), then
    SIGKILL if it has not exited after 15 s."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
