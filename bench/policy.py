"""The cost of one policy decision: `decide()` with the solo pack on a mix of actions, against the
single-module engine it replaced (forge_tui/core/policy.py at commit c284073, read from git) in the same
run, and against the shell parser alone.

    .venv/bin/python bench/policy.py --reps 7 --loops 2000

Caches stay warm, as in the daemon (the same command lines come back); every decision still resolves
the links of the paths and words it checks. Prints medians in microseconds per decision.

    .venv/bin/python bench/policy.py --distinct [--baseline SRC] [--reps 7] [--batches 5] [--loops 1000]
                                     [--callgrind]

--distinct decides actions never seen before (each command and path carries a fresh number, so the
parse and guard caches miss, as with real agents), in child processes that alternate: this tree and
the tree in SRC (a folder holding an older `forge_tui/`, e.g. `git worktree add --detach /tmp/x
<commit>`). Each child times, batch after batch in CPU time (process_time), a trivial anchor on the
actions (a JSON round trip and `shlex.split` of the command) and then `decide()` on the same actions:
the ratio of the two, taken batch by batch, is what load on a shared machine disturbs least.
--callgrind also counts the instructions per decision of each tree with valgrind, which load does not
change at all. Two mixes: `gate` (bench/gate.py's policy and its --distinct commands) and `solo` (the solo
pack on tests, git, ls, ruff, rm, a write and a read). Prints medians and ratios.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import gate as gate_bench  # noqa: E402  (bench/, the script's folder, is first on sys.path)

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


# The policy bench/gate.py runs its daemon with: the gate mix decides what the gate bench decides.
GATE_POLICY = gate_bench.POLICY


def distinct_actions(mix: str, n: int, salt: int) -> list[dict]:
    """`n` actions no earlier call returned (`salt` differs per call)."""
    out: list[dict] = []
    for i in range(n):
        tag = f"{salt}_{i}"
        if mix == "gate":  # exactly bench/gate.py --distinct
            cmd = f"pytest -q tests/test_{tag}.py" if i % 4 else f"rm -rf build/{tag}"
            out.append({"kind": "shell.exec", "command": cmd})
            continue
        k = i % 8
        if k == 0:
            out.append({"kind": "file.read", "tool": "Read", "paths": [f"src/app/mod_{tag}.py"]})
        elif k == 1:
            out.append({"kind": "file.write", "tool": "Write", "paths": [f"src/app/new_{tag}.py"]})
        else:
            cmd = (
                f"pytest -q tests/test_{tag}.py",
                f"git diff --stat src/app/mod_{tag}.py",
                f"ls -la src/app/pkg_{tag}",
                f"ruff check src/app/m_{tag}.py",
                f"rm -rf build/{tag}",
                f"git commit -m wip_{tag}",
            )[k - 2]
            out.append({"kind": "shell.exec", "tool": "Bash", "command": cmd})
    return out


def _anchor(action: dict) -> object:
    """The trivial anchor: what any gate does with an action at least (a JSON round trip of the request
    and splitting its command into words with shlex)."""
    a = json.loads(json.dumps(action))
    return shlex.split(a["command"]) if "command" in a else a["paths"]


def _child(args: argparse.Namespace) -> None:
    """One measurement in this process, printed as JSON: per batch of new actions, the anchor and then
    `decide()` on the same actions, each in CPU time; the medians of both and of their ratio."""
    root = Path(args.root)
    sys.path.insert(0, args.src)
    for name in [m for m in sys.modules if m == "forge_tui" or m.startswith("forge_tui.")]:
        del sys.modules[name]
    from forge_tui.core.policy import Context as Ctx
    from forge_tui.core.policy import decide as dec
    from forge_tui.core.policy import load_policy as load
    from forge_tui.core.policy import parse_policy

    assert Path(sys.modules["forge_tui"].__file__).is_relative_to(Path(args.src))  # type: ignore[arg-type]
    pol = parse_policy(GATE_POLICY.encode()) if args.mix == "gate" else load(REPO / "policies" / "solo.toml")
    ctx = Ctx.for_project(root)
    for a in distinct_actions(args.mix, 200, 0):  # warm-up: imports, compiled patterns, guards
        dec(pol, a, ctx)
        _anchor(a)
    if args.count_only:  # for --callgrind: only the decisions, nothing else to count
        for a in distinct_actions(args.mix, args.loops, 1):
            dec(pol, a, ctx)
        return
    decide_us, anchor_us = [], []
    for rep in range(args.reps):
        actions = distinct_actions(args.mix, args.loops, rep + 1)
        start = time.process_time()  # CPU time: on a shared machine, waiting for a core is not cost
        for a in actions:
            _anchor(a)
        mid = time.process_time()
        for a in actions:
            dec(pol, a, ctx)
        end = time.process_time()
        anchor_us.append((mid - start) / len(actions) * 1e6)
        decide_us.append((end - mid) / len(actions) * 1e6)
    ratios = [d / a for d, a in zip(decide_us, anchor_us, strict=True)]
    print(
        json.dumps(
            {
                "decide": statistics.median(decide_us),
                "anchor": statistics.median(anchor_us),
                "ratio": statistics.median(ratios),
            }
        )
    )


def distinct(args: argparse.Namespace) -> None:
    from machine import cpu_model

    home = Path(tempfile.mkdtemp(prefix="fbd-", dir="/tmp"))
    root = home / "proj"
    for sub in (".forge", "src/app", "build", "tests"):
        (root / sub).mkdir(parents=True)
    env = dict(os.environ, FORGE_DATA_DIR=str(home / "data"), HOME=str(home))
    engines = {"this tree": str(REPO), **({"baseline": args.baseline} if args.baseline else {})}
    print(f"cpu: {cpu_model()}; {os.cpu_count()} cores; load average before: {os.getloadavg()[0]:.2f}")
    print(
        f"{args.loops} distinct actions per batch; {args.batches} batches per child process (the anchor,"
        f" then decide() on the same actions); {args.reps} child processes per tree, alternating"
    )
    for mix in ("gate", "solo"):
        runs: dict[str, list[dict[str, float]]] = {k: [] for k in engines}
        for _ in range(args.reps):
            for name, src in engines.items():
                cmd = [sys.executable, __file__, "--child", "--mix", mix, "--root", str(root), "--src", src]
                cmd += ["--reps", str(args.batches), "--loops", str(args.loops)]
                out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
                runs[name].append(json.loads(out.splitlines()[-1]))
        med = {
            k: {f: statistics.median(r[f] for r in v) for f in ("decide", "anchor", "ratio")}
            for k, v in runs.items()
        }
        print(f"mix {mix}:")
        for name, m in med.items():
            line = (
                f"  {name:10} decide median {m['decide']:6.1f} us CPU, anchor {m['anchor']:5.1f} us,"
                f" decide/anchor {m['ratio']:5.2f}"
            )
            if "baseline" in med:
                base = med["baseline"]
                line += (
                    f"; vs baseline: decide/anchor {m['ratio'] / base['ratio']:.3f},"
                    f" us {m['decide'] / base['decide']:.3f}"
                )
            print(line)
        print(
            "  runs (decide us / ratio): "
            + "; ".join(
                f"{name}: " + ", ".join(f"{r['decide']:.0f}/{r['ratio']:.1f}" for r in v)
                for name, v in runs.items()
            )
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if args.callgrind:
        callgrind(engines, root, env)


def callgrind(engines: dict[str, str], root: Path, env: dict[str, str]) -> None:
    """Instructions per decision, counted by valgrind's callgrind (user-space instructions: the same on
    a loaded machine as on a quiet one; the kernel's share of lstat is not in it): the difference
    between a child deciding 300 new actions and one deciding 20, over 280."""
    if shutil.which("valgrind") is None:
        print("callgrind: valgrind not found")
        return
    print("instructions per decision (callgrind, user space):")
    for mix in ("gate", "solo"):
        counts: dict[str, float] = {}
        for name, src in engines.items():
            totals = []
            for loops in (20, 300):
                cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable]
                cmd += [__file__, "--child", "--count-only", "--mix", mix, "--root", str(root), "--src", src]
                cmd += ["--loops", str(loops)]
                err = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stderr
                totals.append(int(re.search(r"Collected : (\d+)", err).group(1)))  # type: ignore[union-attr]
            counts[name] = (totals[1] - totals[0]) / 280
        line = ", ".join(f"{name} {n:,.0f}" for name, n in counts.items())
        if "baseline" in counts:
            line += f"; ratio {counts['this tree'] / counts['baseline']:.3f}"
        print(f"  mix {mix}: {line}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--loops", type=int, default=2000)
    ap.add_argument("--distinct", action="store_true", help="actions never seen before, in child processes")
    ap.add_argument("--baseline", metavar="SRC", help="with --distinct: also time the forge_tui in SRC")
    ap.add_argument(
        "--callgrind", action="store_true", help="with --distinct: also count instructions (valgrind)"
    )
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--count-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--mix", default="gate", help=argparse.SUPPRESS)
    ap.add_argument("--root", help=argparse.SUPPRESS)
    ap.add_argument("--batches", type=int, default=5, help="with --distinct: batches per child process")
    ap.add_argument("--src", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args)
        return
    if args.distinct:
        distinct(args)
        return
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
