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
    agent socket `sock`; the reviewer socket is `review_sock`, else the daemon's default)."""
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
        if proc.poll() is not None:
            tail = _tail(log_path)
            raise ConfigError(f"the daemon exited at start (code {proc.returncode}): {tail}")
        if sock.exists() and daemon_answers(sock, timeout=1.0):
            return proc
        time.sleep(delay)  # polling a condition with a deadline, not synchronising on time
        delay = min(delay * 2, 0.2)
    proc.terminate()
    raise ConfigError(f"the daemon did not answer within {timeout:.0f} s (log: {log_path})")


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
