"""The cost of one policy decision: `decide()` with the solo pack on a mix of actions, against the
single-module engine it replaced (forge_tui/core/policy.py at commit c284073, read from git) in the same
run, and against the shell parser alone.

    .venv/bin/python bench/policy.py --reps 7 --loops 2000

Caches stay warm, as in the daemon (the same command lines come back); every decision still resolves
the links of the paths and words it checks. Prints medians in microseconds per decision.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from forge_tui.core.policy import Context, decide, load_policy  # noqa: E402
from forge_tui.core.shell import parse_command  # noqa: E402

OLD_COMMIT = "c284073"
ACTIONS = [
    {"kind": "shell.exec", "tool": "Bash", "command": "pytest -q tests/"},
    {"kind": "shell.exec", "tool": "Bash", "command": "git status && git diff --stat"},
    {"kind": "shell.exec", "tool": "Bash", "command": "git -C . push origin +main"},
    {"kind": "shell.exec", "tool": "Bash", "command": "rm -fr build && ruff check . > build/lint.txt"},
    {"kind": "shell.exec", "tool": "Bash", "command": "python -c 'import os'"},
    {"kind": "file.write", "tool": "Write", "paths": ["src/app/models.py"]},
    {"kind": "file.read", "tool": "Read", "paths": ["README.md"]},
    {"kind": "net.fetch", "tool": "WebFetch", "url": "https://pypi.org/simple/requests/"},
]


def _old_engine():
    """The replaced engine, loaded from git as a module of its own (it imports forge_tui.core.shell)."""
    text = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{OLD_COMMIT}:forge_tui/core/policy.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = Path(tempfile.mkdtemp(prefix="fb-", dir="/tmp")) / "old_policy.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("old_policy", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["old_policy"] = mod  # dataclasses look their module up while the class is made
    spec.loader.exec_module(mod)
    return mod


def _per_decision_us(fn, loops: int) -> float:
    start = time.perf_counter()
    for _ in range(loops):
        for a in ACTIONS:
            fn(a)
    return (time.perf_counter() - start) / (loops * len(ACTIONS)) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--loops", type=int, default=2000)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="fb-", dir="/tmp")) / "proj"
    for sub in (".forge", "src/app", "build"):
        (root / sub).mkdir(parents=True)
    os.environ.setdefault("FORGE_DATA_DIR", str(root.parent / "data"))
    pack = REPO / "policies" / "solo.toml"
    new = load_policy(pack)
    ctx = Context.for_project(root, protected_dirs=(root.parent / "data" / "keys",))
    old_mod = _old_engine()
    old = old_mod.load_policy(pack)
    protected = (root.parent / "data",)
    runs: dict[str, list[float]] = {"decide (this engine)": [], "old engine (c284073)": [], "parse only": []}
    for _ in range(args.reps):
        runs["decide (this engine)"].append(_per_decision_us(lambda a: decide(new, a, ctx), args.loops))
        runs["old engine (c284073)"].append(
            _per_decision_us(
                lambda a: old.evaluate(a, project_root=root, protected_dirs=protected), args.loops
            )
        )
        runs["parse only"].append(
            _per_decision_us(lambda a: parse_command(a["command"]) if "command" in a else None, args.loops)
        )
    print(
        f"load average: {os.getloadavg()[0]:.2f}; {len(ACTIONS)} actions x {args.loops} loops x {args.reps} reps"
    )
    base = statistics.median(runs["old engine (c284073)"])
    for name, values in runs.items():
        med = statistics.median(values)
        print(
            f"{name:22} median {med:7.1f} us/decision  (runs {', '.join(f'{v:.1f}' for v in values)})  ratio to old {med / base:.2f}"
        )


if __name__ == "__main__":
    main()
