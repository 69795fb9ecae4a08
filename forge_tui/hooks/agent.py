"""The agent-side hook: `forge-tui hook HOST`, or, as the hosts' settings run it (init writes this),
`/abs/python3 -I -S /abs/forge_tui/hooks/run.py HOST --deadline SECONDS` (run.py only launches this).

It runs once per tool call, so it does as little as the interpreter allows: read standard input, find
the socket, send the payload (base64, no JSON parsing here) as one `hook.run` call, print the bytes the
daemon returns and exit with its code. It is one module that imports only modules built into the
interpreter (`sys`, `posix`, `time`, `_signal`) and `_socket` and `binascii`: run.py imports it as a top-level
module from its own folder, so no package `__init__` and no other file of forge-tui is loaded on the
path of an answer (each one costs a directory listing and a bytecode read at every tool call). So the
few protocol names it needs are spelled here, and a unit test checks them against forge_tui.protocol
and forge_tui.hooks.

Fail closed in each host's terms: whatever goes wrong here — no project, no daemon, a timeout, garbage
on standard input, a malformed reply, a bug — prints the host's deny, writes the reason on standard
error and exits 2, the one exit code all three hosts treat as "block". The hook's own deadline
(--deadline, below the timeout written into the host's settings) ends the wait before the host would
kill the hook and, on a timeout, let the tool run. It bounds the whole run, not only the wait for the
daemon: an alarm at the deadline also ends a read of standard input that never reaches its end (a host
or a child of it holding the pipe open) or a reply trickling in.
"""

import sys

if __name__ == "__main__" and not __package__:  # run as a file under -I -S: find our own package
    import posix

    _here = __file__ if __file__.startswith("/") else posix.getcwd() + "/" + __file__
    sys.path.insert(0, _here.rsplit("/", 3)[0])

import _signal
import _socket
import binascii
import posix
import time

# As forge_tui.protocol and forge_tui.hooks say (tests/unit/test_hook_actions.py checks they agree).
HOOK_RUN = "hook.run"
MAX_LINE = 1 << 20
HOSTS = ("claude-code", "codex", "gemini")
EXIT_ALLOW = 0
EXIT_BLOCK = 2

DEFAULT_DEADLINE_S = 570.0  # Claude Code's default hook timeout is 600 s; init writes its own
MAX_ALARM_S = 1e9  # setitimer refuses much more; a deadline that long is "none" in practice
WAIT_MARGIN_S = 10.0  # the daemon stops waiting for a reviewer this long before the hook's deadline
ENVELOPE = 256  # bytes of the request line around the payload
MAX_PAYLOAD = (MAX_LINE - ENVELOPE) // 4 * 3  # the largest payload whose base64 fits in one line
USAGE = "usage: forge-tui hook claude-code|codex|gemini [--deadline SECONDS]"


class HookFailure(Exception):
    """A reason to deny that is not the daemon's decision (the message is shown to the agent)."""


DEADLINE_PASSED = "no decision before the hook's deadline (the daemon is busy or stuck)"
ALARM_PASSED = (
    "the hook's deadline passed before it could answer (its standard input still open, or the daemon stuck)"
)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    host = args[0] if args else ""
    try:
        try:
            return _main(host, args[1:])
        finally:
            _disarm()
    except HookFailure as exc:
        return _deny(host, f"forge-tui denied: {exc}")
    except BaseException as exc:  # noqa: BLE001 - a hook that crashes lets the tool run: deny instead
        return _deny(host, f"forge-tui denied: the hook failed ({type(exc).__name__}: {exc})")


def _arm(deadline_s: float) -> None:
    """Raise HookFailure wherever the hook is when its deadline passes (SIGALRM; a blocked read of
    standard input is interrupted and the handler's exception ends it)."""
    _signal.signal(_signal.SIGALRM, _on_alarm)
    _signal.setitimer(_signal.ITIMER_REAL, min(deadline_s, MAX_ALARM_S))


def _on_alarm(signum, frame) -> None:  # noqa: ANN001 - a signal handler's fixed signature
    raise HookFailure(ALARM_PASSED)


def _disarm() -> None:
    try:
        _signal.setitimer(_signal.ITIMER_REAL, 0)
    except BaseException:  # noqa: BLE001, S110 - nothing armed: nothing to do
        pass


def _main(host: str, rest: list[str]) -> int:
    if host not in HOSTS:
        raise HookFailure(USAGE)
    deadline_s = _deadline(rest)
    t0 = time.monotonic()
    _arm(deadline_s)
    data = sys.stdin.buffer.read(MAX_PAYLOAD + 1)
    if len(data) > MAX_PAYLOAD:
        raise HookFailure(f"the tool call is over {MAX_PAYLOAD} bytes, more than the gate accepts")
    if not data.lstrip()[:1] == b"{":
        raise HookFailure("the hook's standard input is not a JSON object")
    try:
        path = socket_path()
    except LocateError as exc:
        raise HookFailure(str(exc)) from None
    wait_s = max(0.0, deadline_s - WAIT_MARGIN_S)
    line = b"".join(
        (
            b'{"jsonrpc":"2.0","id":1,"method":"',
            HOOK_RUN.encode(),
            b'","params":{"host":"',
            host.encode(),
            b'","wait_s":',
            str(wait_s).encode(),
            b',"payload":"',
            binascii.b2a_base64(data, newline=False),
            b'"}}\n',
        )
    )
    reply = _call(path, line, t0 + deadline_s)
    code, out, err = _parse(reply)
    if out:
        sys.stdout.buffer.write(out)
        sys.stdout.buffer.flush()
    if err:
        sys.stderr.buffer.write(err)
        sys.stderr.buffer.flush()
    return code


def _deadline(rest: list[str]) -> float:
    if not rest:
        return DEFAULT_DEADLINE_S
    if len(rest) == 2 and rest[0] == "--deadline":
        try:
            value = float(rest[1])
        except ValueError:
            value = -1.0
        if value > 0:
            return value
    raise HookFailure(USAGE)


def _call(path: bytes, line: bytes, deadline: float) -> bytes:
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        s.settimeout(max(0.001, deadline - time.monotonic()))
        try:
            s.connect(path)
        except OSError as exc:
            where = path.decode("utf-8", "replace")
            raise HookFailure(
                f"the forge-tui daemon is unreachable at {where} ({exc.strerror or exc}); "
                "start it with `forge-tui daemon` (or `forge-tui`) in the project"
            ) from None
        s.sendall(line)
        buf = b""
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            s.settimeout(left)
            chunk = s.recv(65536)
            if not chunk:
                raise HookFailure("the daemon closed the connection without answering")
            buf += chunk
            if len(buf) > MAX_LINE + 1:
                raise HookFailure("the daemon's reply is too long")
        return buf.partition(b"\n")[0]
    except TimeoutError:
        raise HookFailure(DEADLINE_PASSED) from None
    finally:
        s.close()


def _parse(reply: bytes) -> tuple[int, bytes, bytes]:
    """(exit code, stdout, stderr) from `{"jsonrpc":"2.0","id":1,"result":{"exit":N,"stdout":"<b64>",
    "stderr":"<b64>"}}`; base64 holds no quote, so plain searching is exact. Anything else denies."""
    if b'"result":' not in reply:
        raise HookFailure(f"the daemon refused the call: {_error_text(reply)}")
    code = _field(reply, b'"exit":', b",}")
    if code not in (b"0", b"2"):
        raise HookFailure("the daemon's reply holds no valid exit code")
    try:  # strict: a lenient decoder would turn a corrupt field into empty output
        out = binascii.a2b_base64(_field(reply, b'"stdout":"', b'"'), strict_mode=True)
        err = binascii.a2b_base64(_field(reply, b'"stderr":"', b'"'), strict_mode=True)
    except binascii.Error:
        raise HookFailure("the daemon's reply is malformed") from None
    if code == b"0" and not out.lstrip().startswith(b"{"):  # the hosts read anything else as no objection
        raise HookFailure("the daemon's reply allows with no JSON answer to print")
    return (EXIT_ALLOW if code == b"0" else EXIT_BLOCK), out, err


def _field(reply: bytes, key: bytes, ends: bytes) -> bytes:
    at = reply.find(key)
    if at < 0:
        raise HookFailure("the daemon's reply is malformed")
    start = at + len(key)
    end = start
    while end < len(reply) and reply[end] not in ends:
        end += 1
    return reply[start:end].strip()


def _error_text(reply: bytes) -> str:
    at = reply.find(b'"message":"')
    if at < 0:
        return "no result"
    text = reply[at + 11 :].split(b'"', 1)[0]
    return text.decode("utf-8", "replace")[:300]


# ---- finding the agent socket, as forge_tui.paths.socket_path does, creating nothing -------------
# Paths stay bytes end to end (environment, stat, connect), so nothing is decoded or re-encoded; a
# missing folder is a daemon that is not there, and the hook then denies.

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


def _deny(host: str, reason: str) -> int:
    """Print the host's deny and the reason, and return 2, whatever else is broken."""
    try:
        from forge_tui.hooks.answers import deny_text  # only on this path: the allowed path skips it

        sys.stdout.write(deny_text(host, reason))
        sys.stdout.flush()
    except BaseException:  # noqa: BLE001, S110 - standard output closed: the exit code still blocks
        pass
    try:
        sys.stderr.write(reason + "\n")
        sys.stderr.flush()
    except BaseException:  # noqa: BLE001, S110
        pass
    return EXIT_BLOCK
