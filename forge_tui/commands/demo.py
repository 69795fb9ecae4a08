"""forge-tui demo"""

from __future__ import annotations

import argparse

NAME = "demo"
HELP = "see the whole product: scratch project, daemon, a scripted agent and the console"
DESCRIPTION = """\
Creates a scratch project in a temporary folder (its own keys and socket: your real keys and projects
are never touched), starts the daemon, and runs a scripted agent through the real gate: reads, an
edit of authentication code with a diff, a test run, a force push the policy denies, a deploy that
needs tests first, a hidden download in a compound command, attempts to run `forge-tui approve` and
to edit the policy, and a bot trying to approve its own request. The console opens: approve with `a`,
reject with `r`, inspect with Enter, browse the ledger with `l`, verify with `v`. Your reviewer key is
"you" with passphrase "demo" (already unlocked). On exit the ledger is verified and the temporary
folder is removed (--keep leaves it, and prints how to browse its ledger).

--no-tui runs the same script headless (you approve the edit and reject the deploy, as a script)."""


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-tui", action="store_true", help="run without the console (for scripts and CI)")
    p.add_argument(
        "--pace", type=float, default=None, help="seconds between agent steps (default 1.5, 0 headless)"
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary folder to explore it afterwards")


def run(args: argparse.Namespace) -> int:
    import shutil
    import sys
    import threading

    from forge_tui.daemon.spawn import start_daemon, stop_daemon
    from forge_tui.demo import HUMAN, DemoAgent, make_world, run_headless

    world = make_world()
    print(f"demo project: {world.project.root}")
    proc = start_daemon(world.project.root, world.sock, log_path=world.home / "daemon.log", env=world.env)
    headless = args.no_tui or not (sys.stdin.isatty() and sys.stdout.isatty())
    if headless and not args.no_tui:
        print("no terminal: running the demo headless (--no-tui)")
    lines: list[str] = []
    try:
        if headless:
            said = threading.Lock()

            def say(line: str) -> None:  # the agent's threads and the reviewer's loop both talk
                with said:
                    sys.stdout.write(f"  {line}\n")
                    sys.stdout.flush()

            run_headless(world, say, pace=args.pace or 0.0)
        else:
            from forge_tui.tui.app import ForgeApp

            agent = DemoAgent(
                world.sock,
                lines.append,
                pace=1.5 if args.pace is None else args.pace,
                bot_key=world.bot_key,
                review_sock=world.review_sock,
            )
            t = threading.Thread(target=agent.run, daemon=True)
            app = ForgeApp.for_project(
                world.project, socket=world.review_sock, title="forge-tui demo", reviewer=HUMAN
            )
            t.start()
            try:
                app.run()
            finally:
                agent.stop.set()
            for s in lines:
                print("  " + s)
    finally:
        stop_daemon(proc)
    try:
        return _verify(world, keep=args.keep)
    finally:
        if not args.keep:
            shutil.rmtree(world.home, ignore_errors=True)


def _verify(world, *, keep: bool) -> int:
    from forge_tui.core.verify import verify_project

    report = verify_project(world.project)
    n = sum(lr.records for lr in report.ledgers)
    for f in report.findings:
        print(f.line())
    code = report.exit_code()
    print(f"ledger: {n} records, verify exit code {code} ({'verified' if code == 0 else 'see findings'})")
    if keep:
        import sys

        from forge_tui.demo import command_hint

        cmd = command_hint(sys.argv[0])
        print(
            f"kept {world.home}; try:  FORGE_DATA_DIR={world.env['FORGE_DATA_DIR']} {cmd} -C {world.project.root} log"
        )
    else:
        print("the demo's temporary folder is removed (run `demo --keep` to explore its ledger afterwards)")
    return code
