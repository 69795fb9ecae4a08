"""forge-tui merge-ledger (a git merge driver)"""

from __future__ import annotations

import argparse

NAME = "merge-ledger"
HELP = "git merge driver for ledgers: takes the longer of two versions when one extends the other"
DESCRIPTION = """\
A git merge driver for .forge/ledger/** (docs/design.md §4.7). Each machine writes its own ledger, so two
branches only ever hold a shorter and a longer copy of one append-only file. If one version is a prefix
of the other the longer one is written to CURRENT and the exit code is 0; otherwise the merge fails
loudly (exit 1) and nothing is written. Register it once per clone:

  git config merge.forge-ledger.name "forge-tui ledger merge"
  git config merge.forge-ledger.driver "forge-tui merge-ledger %O %A %B %P"

.gitattributes (written by init) assigns it: .forge/ledger/** -text merge=forge-ledger"""


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("base", help="%%O: the common ancestor's version")
    p.add_argument("current", help="%%A: our version; the result is written here")
    p.add_argument("other", help="%%B: their version")
    p.add_argument("pathname", nargs="?", default="", help="%%P: the file's path (for messages)")


def run(args: argparse.Namespace) -> int:
    import sys

    from forge_tui.paths import atomic_write

    with open(args.current, "rb") as fh:
        ours = fh.read()
    with open(args.other, "rb") as fh:
        theirs = fh.read()
    name = args.pathname or args.current
    if args.pathname.endswith(".checkpoint"):
        return _merge_checkpoint(args, ours, theirs, name)
    if theirs.startswith(ours):
        atomic_write(__import__("pathlib").Path(args.current), theirs)
        return 0
    if ours.startswith(theirs):
        return 0
    print(
        f"forge-tui: error: {name}: the two versions of this ledger diverge (neither extends the other); "
        "this is a fork of an append-only log and is never merged automatically",
        file=sys.stderr,
    )
    return 1


def _merge_checkpoint(args, ours: bytes, theirs: bytes, name: str) -> int:
    """Keep the checkpoint with the larger tree; equal sizes must be identical."""
    import sys

    def size(b: bytes) -> int:
        try:
            return int(b.split(b"\n")[1])
        except (IndexError, ValueError):
            return -1

    so, st = size(ours), size(theirs)
    if so < 0 or st < 0 or (so == st and ours != theirs):
        print(f"forge-tui: error: {name}: conflicting checkpoints; run forge-tui verify", file=sys.stderr)
        return 1
    if st > so:
        from pathlib import Path

        from forge_tui.paths import atomic_write

        atomic_write(Path(args.current), theirs)
    return 0
