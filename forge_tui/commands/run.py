"""forge-tui run -- CMD… (the agent in a sandbox; docs/sandbox.md)"""

from __future__ import annotations

import argparse

NAME = "run"
HELP = "start an agent (claude, codex, a script) in a sandbox that keeps it away from the trust roots"
DESCRIPTION = """\
Run CMD in a kernel sandbox (bubblewrap on Linux) where:
  - .forge/, .claude/, .codex/, .gemini/, the git hooks and git config are read-only (EROFS),
  - forge-tui's data folder (keys, authoritative ledgers), the reviewer socket and $XDG_RUNTIME_DIR
    are hidden (ENOENT),
  - only the agent socket of this project's daemon is reachable (gate.request works, approving does not),
  - what in the home folder runs later outside (global git config, shell start files, ~/.ssh,
    ~/.local/bin, user units) is read-only.
Everything else is as the user sees it: the project is writable, the network works.

  forge-tui run -- claude
  forge-tui run -- codex exec "fix the tests"

forge-tui never runs CMD unsandboxed by itself: where the sandbox cannot start it stops with exit 125
and says why. --unsandboxed runs CMD without it, loudly, after asking the gate (the request is in the
ledger) and only when the gate allows it. macOS: no sandbox yet (exit 125; see docs/sandbox.md).
Exit codes: CMD's own, or 125 the sandbox could not start, 126 CMD cannot be executed, 127 CMD not
found, 2 usage error, 1 --unsandboxed was denied, 3 --unsandboxed and the daemon is unreachable."""


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-landlock", action="store_true", help="skip the Landlock scoping layer")
    p.add_argument(
        "--print", dest="print_only", action="store_true", help="print the bwrap command, run nothing"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no line about the sandbox on stderr")
    p.add_argument(
        "--unsandboxed",
        action="store_true",
        help="run CMD WITHOUT a sandbox; asks the gate first and is recorded in the ledger",
    )
    p.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="with --unsandboxed: wait this long for a reviewer",
    )
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD…", help="the agent and its arguments")


def run(args: argparse.Namespace) -> int:
    import os
    import shlex
    import sys

    from forge_tui import sandbox
    from forge_tui.errors import EXIT_USAGE, NotAProject
    from forge_tui.paths import find_project_root, read_project_id

    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        print("forge-tui run: error: give the command to run after -- (see --help)", file=sys.stderr)
        return EXIT_USAGE
    root = find_project_root()
    if root is None:
        raise NotAProject("not inside a forge-tui project (no .forge/project.toml here or above)")
    project_id = read_project_id(root)
    if args.unsandboxed:
        return _unsandboxed(command, args.wait)
    if not sys.platform.startswith("linux"):
        raise sandbox.SandboxError(
            f"forge-tui run has no sandbox for {sys.platform} yet (Linux: bubblewrap)",
            hint="see docs/sandbox.md; --unsandboxed runs the agent without one, recorded",
        )
    bwrap = sandbox.find_bwrap()
    layout = sandbox.machine_layout(root, project_id)
    plan = sandbox.plan(layout)
    new_session = sandbox.tiocsti_possible()
    argv = sandbox.bwrap_argv(bwrap, plan, command, new_session=new_session, landlock=not args.no_landlock)
    if args.print_only:
        print(shlex.join(argv))
        return 0
    if plan.exposed == layout.agent_socket and not layout.agent_socket.exists():
        raise sandbox.SandboxError(
            f"no agent socket at {layout.agent_socket} to bind into the sandbox",
            hint="start the daemon first (`forge-tui daemon`)",
        )
    sandbox.preflight(argv)
    if not args.quiet:
        hidden = ", ".join(str(h) for h in plan.hidden)
        print(
            f"forge-tui run: sandboxed (bubblewrap); read-only: {', '.join(p.name for p in plan.readonly)};"
            f" hidden: {hidden}; agent socket: {layout.agent_socket}",
            file=sys.stderr,
        )
        if not _daemon_answers(layout.agent_socket):
            print(
                f"forge-tui run: warning: no daemon answers on {layout.agent_socket}: the agent's requests"
                " are refused until one runs (`forge-tui daemon`)",
                file=sys.stderr,
            )
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(bwrap, argv)
    return 0  # not reached


def _daemon_answers(sock) -> bool:
    from forge_tui.client import Client, DaemonUnavailable, hello

    try:
        with Client(sock, client="run", timeout=2.0) as c:
            hello(c)
        return True
    except DaemonUnavailable:
        return False


def _unsandboxed(command: list[str], wait: float) -> int:
    """Ask the gate whether CMD may run without a sandbox (recorded in the ledger); exec it if allowed."""
    import getpass
    import os
    import shlex
    import sys

    from forge_tui.client import Client, project_socket
    from forge_tui.protocol import ALLOWED, GATE_REQUEST, DaemonUnavailable, RPCError
    from forge_tui.sandbox import EXIT_CANNOT_EXEC, EXIT_NOT_FOUND

    print(
        "forge-tui run: WARNING: --unsandboxed: the agent will run WITHOUT a sandbox and can reach the keys,"
        " the ledger and the reviewer socket",
        file=sys.stderr,
    )
    params = {
        "action": {
            "kind": "shell.exec",
            "tool": "forge-tui run --unsandboxed",
            "command": shlex.join(command),
            "summary": "run an agent without the sandbox",
        },
        "actor": {"id": f"cli:{getpass.getuser()}", "kind": "agent", "session": f"run-{os.getpid()}"},
        "wait_s": wait,
    }
    try:
        with Client(project_socket(), client="run", timeout=wait + 30) as c:
            res = c.call(GATE_REQUEST, params)
    except DaemonUnavailable as exc:
        print(f"forge-tui run: refused: --unsandboxed must be recorded, and {exc}", file=sys.stderr)
        return 3
    except RPCError as exc:
        print(f"forge-tui run: refused: {exc.message} (error {exc.code})", file=sys.stderr)
        return 1
    if res.get("status") != ALLOWED:
        print(
            f"forge-tui run: refused: the gate answered {res.get('status')} for running unsandboxed"
            f" (request {res.get('request_id')}): {res.get('reason') or ''}",
            file=sys.stderr,
        )
        return 1
    print(f"forge-tui run: unsandboxed run recorded as request {res.get('request_id')}", file=sys.stderr)
    sys.stderr.flush()
    try:
        os.execvp(command[0], command)
    except FileNotFoundError:
        print(f"forge-tui run: {command[0]}: command not found", file=sys.stderr)
        return EXIT_NOT_FOUND
    except OSError as exc:
        print(f"forge-tui run: {command[0]}: cannot execute: {exc.strerror}", file=sys.stderr)
        return EXIT_CANNOT_EXEC
    return 0  # not reached
