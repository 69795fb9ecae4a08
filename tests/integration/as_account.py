"""Run `forge-tui ARGS` as another OS account: `python as_account.py UID GID ARGS...`, started as root.

The test's interpreter may sit where the other account cannot enter (a pyenv under a 0700 /root, a
checkout in root's home), so `setpriv ... python -m forge_tui` could not even start there. This script
loads the interpreter's and forge-tui's modules first, while still root, then drops to UID and GID for
good (no supplementary groups, real, effective and saved ids all the account's: what `setpriv --reuid
--regid --clear-groups` does) and only then runs the command line. Every file the command opens, and
the socket it connects to (SO_PEERCRED), is the account's.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys


def preload() -> None:
    """Import every forge-tui module and the standard-library modules its commands import lazily."""
    import forge_tui

    for mod in pkgutil.walk_packages(forge_tui.__path__, "forge_tui."):
        if mod.name.startswith(("forge_tui.integrations", "forge_tui.tui")) or mod.name in (
            "forge_tui.__main__",
            "forge_tui.hooks.run",
        ):
            # the MCP SDK and textual are not used by the headless commands; __main__ would run, and the
            # hook's entry script is run by path, never imported (it loads hooks/agent.py as `agent`)
            continue
        importlib.import_module(mod.name)
    for name in ("getpass", "difflib", "hashlib", "json", "tomllib", "subprocess", "shutil", "argparse"):
        importlib.import_module(name)
    "x".encode("idna")  # the codec is looked up on first use


def main() -> int:
    uid, gid, args = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    preload()
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if os.getuid() != uid or os.geteuid() != uid or os.getgroups():
        raise SystemExit("could not drop to the account")
    from forge_tui.cli import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
