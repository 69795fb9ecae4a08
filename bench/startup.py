"""What a command costs before it does its work: the modules it imports and the instructions of the
whole process (valgrind --tool=callgrind, stable under load), for `verify --fast`, `log --tail` and
`status` run with -C on a small project. `--src DIR` runs another checkout of forge_tui (e.g. a
`git worktree` of an older commit) with the same interpreter, to compare before and after.

    .venv/bin/python bench/make_ledger.py --records 200 /tmp/fl   # then:
    FORGE_DATA_DIR=/tmp/fl/data .venv/bin/python bench/startup.py /tmp/fl/project [--src DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

COMMANDS = (("verify", "-q", "--fast"), ("log", "--tail", "5"), ("status",))

# Run forge_tui from SRC, not from the installed (editable) copy; print the module count at exit.
RUNNER = """
import atexit, runpy, sys
src = sys.argv.pop(1)
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f)]
sys.path.insert(0, src)
if sys.argv.pop(1) == "count":
    atexit.register(lambda: sys.stderr.write(f"MODULES {len(sys.modules)}\\n"))
sys.argv[0] = "forge-tui"
runpy.run_module("forge_tui", run_name="__main__")
"""


def _run(src: str, mode: str, argv: list[str], prefix: list[str]) -> str:
    cmd = [*prefix, sys.executable, "-c", RUNNER, src, mode, *argv]
    return subprocess.run(cmd, capture_output=True, text=True).stderr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("project", help="a forge-tui project folder")
    ap.add_argument("--src", default=str(Path(__file__).resolve().parent.parent), help="checkout to run")
    args = ap.parse_args()
    grind = shutil.which("valgrind")
    vg = [grind, "--tool=callgrind", "--callgrind-out-file=/dev/null"] if grind else None
    print(f"src {args.src}, load {os.getloadavg()[0]:.1f}")
    if vg:
        anchor = re.search(
            r"Collected : (\d+)",
            subprocess.run([*vg, sys.executable, "-c", "pass"], capture_output=True, text=True).stderr,
        )
        print(f"anchor `python -c pass`: {int(anchor.group(1)) / 1e6:.1f} M instructions")
    for command in COMMANDS:
        argv = ["-C", args.project, *command]
        mods = re.search(r"MODULES (\d+)", _run(args.src, "count", argv, []))
        line = f"{' '.join(command):20} modules {mods.group(1) if mods else '?'}"
        if vg:
            got = re.search(r"Collected : (\d+)", _run(args.src, "", argv, vg))
            line += f", instructions {int(got.group(1)) / 1e6:.1f} M" if got else ", instructions ?"
        print(line)


if __name__ == "__main__":
    main()
