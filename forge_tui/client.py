"""A small synchronous JSON-RPC client for the daemon socket. Standard library only: the agent-side
commands (`forge-tui request`, the hooks, the SDK) import it on every agent tool call."""

from __future__ import annotations

import itertools
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from forge_tui import __version__
from forge_tui.protocol import HELLO, MAX_LINE, DaemonUnavailable, RPCError, is_refusal, request_message

__all__ = ["Client", "DaemonUnavailable", "RPCError", "hello", "project_review_socket", "project_socket"]


class Client:
    def __init__(self, path: str | os.PathLike, *, client: str = "cli", timeout: float = 10.0) -> None:
        self.path = str(path)
        self.client = client
        self.timeout = timeout
        self._ids = itertools.count(1)
        self._sock: socket.socket | None = None
        self._buf = b""

    def connect(self) -> Client:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(self.path)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            s.close()
            raise DaemonUnavailable(f"no daemon at {self.path} ({exc.strerror})") from None
        except OSError as exc:
            s.close()
            raise DaemonUnavailable(f"cannot connect to {self.path}: {exc}") from None
        self._sock = s
        return self

    def __enter__(self) -> Client:
        return self.connect() if self._sock is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def call(self, method: str, params: dict[str, Any] | None = None, *, timeout: float | None = None) -> Any:
        """Send one request and wait for its response (notifications in between are skipped)."""
        if self._sock is None:
            self.connect()
        assert self._sock is not None
        rid = next(self._ids)
        msg = json.dumps(request_message(rid, method, params)) + "\n"
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        try:
            self._sock.sendall(msg.encode("utf-8"))
            while True:
                line = self._readline(deadline)
                resp = json.loads(line)
                if resp.get("id") != rid and not is_refusal(resp):
                    continue
                if "error" in resp:
                    err = resp["error"] or {}
                    raise RPCError(
                        int(err.get("code", -32603)), str(err.get("message", "error")), err.get("data")
                    )
                return resp.get("result")
        except TimeoutError:
            self.close()
            raise DaemonUnavailable(f"the daemon did not answer {method} in time") from None
        except (ConnectionError, OSError) as exc:
            self.close()
            raise DaemonUnavailable(f"connection to the daemon failed: {exc}") from None
        except ValueError:
            self.close()
            raise DaemonUnavailable("the daemon sent a malformed reply") from None

    def _readline(self, deadline: float) -> bytes:
        assert self._sock is not None
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            self._sock.settimeout(left)
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError("the daemon closed the connection")
            self._buf += chunk
            if len(self._buf) > MAX_LINE + 1 and b"\n" not in self._buf:
                raise ValueError("reply too long")
        line, _, self._buf = self._buf.partition(b"\n")
        return line


def project_socket(start: Path | None = None) -> Path:
    """The agent socket of the project around `start` (FORGE_SOCKET wins). Standard library only."""
    from forge_tui.paths import socket_path

    return _project_path("FORGE_SOCKET", socket_path, start)


def project_review_socket(start: Path | None = None) -> Path:
    """The reviewer socket of the project around `start` (FORGE_REVIEW_SOCKET wins)."""
    from forge_tui.paths import review_socket_path

    return _project_path("FORGE_REVIEW_SOCKET", review_socket_path, start)


def _project_path(env_var: str, for_project, start: Path | None) -> Path:
    from forge_tui.paths import find_project_root, read_project_id

    if os.environ.get(env_var):
        return Path(os.environ[env_var])
    root = find_project_root(start)
    if root is None:
        raise DaemonUnavailable("not inside a forge-tui project (no .forge/project.toml here or above)")
    return for_project(read_project_id(root))


def hello(c: Client) -> dict[str, Any]:
    return c.call(HELLO, {"client": c.client, "version": __version__})
