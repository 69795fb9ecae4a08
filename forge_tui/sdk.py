"""Gate Python calls with forge-tui: a decorator and a context manager, sync and async.

    from forge_tui.sdk import Denied, approval, guard

    @guard(kind="shell.exec", command="make deploy ENV={env}", summary="deploy to {env}")
    def deploy(env: str) -> None: ...

    with approval(kind="file.write", paths=["infra/main.tf"], summary="apply the plan") as ok:
        apply_plan()          # runs only when allowed; ok.request_id names the request

Before the call the action goes to the project's daemon (the agent socket) and waits for the policy or
a reviewer. Anything but `allowed` raises `Denied` (with `.reason`, `.request_id`, `.status`) and the
call does not run: a denial, a request still pending after the wait, no daemon (`GateUnavailable`), a
refused request. After the call the outcome is recorded: `succeeded`, or `failed` with the exception's
type name (never its message: it may hold data). Async functions and `async with` work the same.

Standard library only, so it can live in any agent's environment next to any framework.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
import json
import os
import sys
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from forge_tui.client import Client, project_socket
from forge_tui.protocol import ALLOWED, GATE_OUTCOME, GATE_REQUEST, GATE_WAIT, DaemonUnavailable, RPCError

__all__ = ["Decision", "Denied", "Gate", "GateUnavailable", "approval", "guard", "input_digest"]

DEFAULT_WAIT_S = 300.0  # how long a call waits for a reviewer before it counts as denied
REPLY_MARGIN_S = 30.0
F = TypeVar("F", bound=Callable[..., Any])
Template = str | Callable[..., Any] | None


class Denied(Exception):
    """The gate did not allow the action; the guarded code did not run."""

    def __init__(
        self,
        reason: str,
        *,
        request_id: str | None = None,
        status: str = "denied",
        rule: str | None = None,
        seq: int | None = None,
    ) -> None:
        where = f" (request {request_id})" if request_id else ""
        super().__init__(f"forge-tui: {status}: {reason}{where}")
        self.reason = reason
        self.request_id = request_id
        self.status = status
        self.rule = rule
        self.seq = seq


class GateUnavailable(Denied):
    """No daemon could be asked (not running, not a project, a refused or malformed request)."""


@dataclass(frozen=True)
class Decision:
    request_id: str
    status: str
    decided_by: str | None
    rule: str | None
    reason: str | None
    seq: int | None


class Gate:
    """Where and as whom to ask. The defaults fit a script run inside a project: the project's agent
    socket (FORGE_SOCKET wins), actor `sdk:<program>`, session FORGE_SESSION or the process id."""

    def __init__(
        self,
        *,
        socket: str | os.PathLike[str] | None = None,
        actor: str | None = None,
        session: str | None = None,
        principal: str | None = None,
        wait: float = DEFAULT_WAIT_S,
    ) -> None:
        self.socket = Path(socket) if socket is not None else None
        self.actor = actor or f"sdk:{os.path.basename(sys.argv[0] or 'python') or 'python'}"
        self.session = session or os.environ.get("FORGE_SESSION") or f"pid-{os.getpid()}"
        self.principal = principal
        self.wait = wait

    # ---- the calls ----------------------------------------------------------------------------------
    def _rpc(self, method: str, params: dict[str, Any], wait: float = 0.0) -> dict[str, Any]:
        try:
            path = self.socket if self.socket is not None else project_socket()
            with Client(path, client="sdk", timeout=wait + REPLY_MARGIN_S) as c:
                res = c.call(method, params)
        except DaemonUnavailable as exc:
            raise GateUnavailable(f"daemon unreachable: {exc}") from None
        except RPCError as exc:
            raise GateUnavailable(f"request refused: {exc.message} (error {exc.code})") from None
        except Exception as exc:  # a config error (socket path too long, unreadable project): fail closed
            raise GateUnavailable(f"cannot ask the gate: {type(exc).__name__}: {exc}") from exc
        if not isinstance(res, dict):
            raise GateUnavailable("the daemon sent a malformed reply")
        return res

    def ask(
        self,
        action: dict[str, Any],
        *,
        wait: float | None = None,
        requirement: str | None = None,
        diff: str | None = None,
    ) -> Decision:
        """Send one action; return the Decision when allowed, else raise Denied."""
        wait_s = self.wait if wait is None else wait
        params: dict[str, Any] = {
            "action": {k: v for k, v in action.items() if v is not None},
            "actor": {"id": self.actor, "kind": "agent", "session": self.session},
            "principal": self.principal,
            "requirement": requirement,
            "wait_s": wait_s,
            "client": "sdk",
        }
        if diff is not None:
            params["content"] = {"kind": "diff", "text": diff}
        return _allowed(self._rpc(GATE_REQUEST, params, wait_s), wait_s)

    def check(self, request_id: str, *, wait: float | None = None) -> Decision:
        """Wait for an earlier request (e.g. a Denied with status 'pending'); raise Denied unless allowed."""
        wait_s = self.wait if wait is None else wait
        return _allowed(self._rpc(GATE_WAIT, {"request_id": request_id, "wait_s": wait_s}, wait_s), wait_s)

    def record(self, request_id: str, status: str, detail: str | None = None) -> None:
        """Record the outcome; a failure to record warns (the action has already happened)."""
        try:
            self._rpc(GATE_OUTCOME, {"request_id": request_id, "status": status, "detail": detail})
        except Denied as exc:
            warnings.warn(f"forge-tui: outcome of {request_id} not recorded: {exc.reason}", RuntimeWarning, 3)

    async def aask(self, action: dict[str, Any], **kw: Any) -> Decision:
        return await asyncio.to_thread(functools.partial(self.ask, action, **kw))

    async def acheck(self, request_id: str, *, wait: float | None = None) -> Decision:
        return await asyncio.to_thread(functools.partial(self.check, request_id, wait=wait))

    async def arecord(self, request_id: str, status: str, detail: str | None = None) -> None:
        await asyncio.to_thread(self.record, request_id, status, detail)


def _allowed(res: dict[str, Any], wait_s: float) -> Decision:
    d = Decision(
        request_id=str(res.get("request_id")),
        status=str(res.get("status")),
        decided_by=res.get("decided_by"),
        rule=res.get("rule"),
        reason=res.get("reason"),
        seq=res.get("seq"),
    )
    if d.status == ALLOWED:
        return d
    if d.status == "pending":
        reason = f"no reviewer decided within {wait_s:g} s"
    else:
        reason = d.reason or (f"rule {d.rule}" if d.rule else "denied")
    raise Denied(reason, request_id=d.request_id, status=d.status, rule=d.rule, seq=d.seq)


def outcome_of(exc: BaseException | None) -> tuple[str, str | None]:
    """('succeeded', None), or ('failed', the exception's type name)."""
    if exc is None:
        return "succeeded", None
    return "failed", type(exc).__qualname__


_default_gate: Gate | None = None


def default_gate() -> Gate:
    global _default_gate
    if _default_gate is None:
        _default_gate = Gate()
    return _default_gate


# ---- the context manager ------------------------------------------------------------------------------
class approval:  # noqa: N801 - used like a function: `with approval(...)`
    """`with approval(kind=…, summary=…, …) as decision:` (or `async with`): the block runs only when
    the gate allows it; the outcome is recorded when the block ends. Raises Denied before the block."""

    def __init__(
        self,
        kind: str,
        summary: str | None = None,
        *,
        tool: str | None = None,
        command: str | None = None,
        paths: Iterable[str] = (),
        url: str | None = None,
        diff: str | None = None,
        input_digest: str | None = None,
        requirement: str | None = None,
        wait: float | None = None,
        gate: Gate | None = None,
    ) -> None:
        self.action = {
            "kind": kind,
            "tool": tool,
            "command": command,
            "paths": [os.fspath(p) for p in paths],
            "url": url,
            "summary": summary,
            "input_digest": input_digest,
        }
        self.options: dict[str, Any] = {"wait": wait, "requirement": requirement, "diff": diff}
        self.gate = gate
        self.decision: Decision | None = None

    def _gate(self) -> Gate:
        return self.gate or default_gate()

    def __enter__(self) -> Decision:
        self.decision = self._gate().ask(self.action, **self.options)
        return self.decision

    def __exit__(self, et: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if self.decision is not None:
            self._gate().record(self.decision.request_id, *outcome_of(exc))

    async def __aenter__(self) -> Decision:
        self.decision = await self._gate().aask(self.action, **self.options)
        return self.decision

    async def __aexit__(self, et: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if self.decision is not None:
            await self._gate().arecord(self.decision.request_id, *outcome_of(exc))


# ---- the decorator --------------------------------------------------------------------------------------
def guard(
    kind: str,
    summary: Template = None,
    *,
    tool: str | None = None,
    command: Template = None,
    paths: Callable[..., Iterable[str]] | Iterable[str] | None = None,
    url: Template = None,
    requirement: str | None = None,
    wait: float | None = None,
    gate: Gate | None = None,
) -> Callable[[F], F]:
    """Gate every call of the decorated function (sync or async). `summary`, `command` and `url` are
    format strings over the call's arguments (`"deploy {env}"`) or callables taking them; `paths` a
    list of such strings or a callable returning paths. The action's `input_digest` is the SHA-256 of
    the arguments (JSON, sorted keys; `repr` for what JSON cannot hold); `tool` defaults to the
    function's qualified name."""

    def decorate(fn: F) -> F:
        sig = inspect.signature(fn)
        name = tool or f"{fn.__module__}.{fn.__qualname__}"

        def build(args: tuple, kwargs: dict) -> approval:
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            values = dict(bound.arguments)
            a = approval(
                kind,
                _fill(summary, values) or f"call {name}",
                tool=name,
                command=_fill(command, values),
                paths=_paths(paths, values),
                url=_fill(url, values),
                requirement=requirement,
                wait=wait,
                gate=gate,
            )
            a.action["input_digest"] = input_digest(values)
            return a

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                async with build(args, kwargs):
                    return await fn(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with build(args, kwargs):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def _fill(template: Template, values: dict[str, Any]) -> str | None:
    if template is None:
        return None
    if callable(template):
        return str(template(**values))
    return template.format(**values)


def _paths(spec: Callable[..., Iterable[str]] | Iterable[str] | None, values: dict[str, Any]) -> list[str]:
    if spec is None:
        return []
    if callable(spec):
        return [os.fspath(p) for p in spec(**values)]
    return [str(_fill(p, values)) for p in spec]


def input_digest(values: Any) -> str:
    """`sha256:<hex>` of `values` as compact JSON with sorted keys, UTF-8 (`repr` for what JSON cannot
    hold). The hooks and `forge-tui proxy` digest `{"tool": name, "input": arguments}` this way."""
    text = json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr)
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
