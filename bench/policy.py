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

    .venv/bin/python bench/policy.py --worker [--baseline SRC] [--reps 7] [--loops 4000] [--clients 32]
                                     [--loop-work-us 150]

--worker measures the policy worker (daemon/policy_worker.py) through the daemon's own side of it
(daemon/policy_offload.PolicyOffload) in an event loop: `--clients` evaluations in flight, each caller
spending `--loop-work-us` of CPU on the loop after its answer (the gate's record building), on the gate
mix's distinct actions. Per decision: the worker's CPU (from /proc), the loop's CPU less the callers'
own work, and decide() alone in the same child (the anchor). worker - decide is the worker's share of the
IPC. Child processes alternate between the trees, as with --distinct.

    .venv/bin/python bench/policy.py --imports [--baseline SRC] [--reps 15]

--imports times `import forge_tui.core.policy` (and the other imports listed in IMPORTS) in fresh
interpreters with byte code cached (the median of the import's CPU time), and with --callgrind counts
their instructions.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import pickle
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
    if args.worker:
        _worker_child(args, pol, ctx, dec)
        return
    if args.ipc:
        _ipc_child(args, pol, ctx, dec)
        return
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


def _proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _spin(us: float) -> None:
    end = time.thread_time() + us / 1e6
    while time.thread_time() < end:
        pass


async def _drive_worker(args: argparse.Namespace, pol, ctx, actions: list[dict]) -> dict[str, float]:
    import asyncio

    from forge_tui.daemon.policy_offload import PolicyOffload

    offload = PolicyOffload()
    deadline = time.monotonic() + 60
    while not offload.available():
        if time.monotonic() > deadline:
            raise SystemExit("the policy worker never became ready")
        await asyncio.sleep(0.01)
    pid = offload.pid
    assert pid is not None
    todo = iter(actions[:200])  # warm-up: the worker's imports, compiled patterns, guards
    work = args.loop_work_us

    async def caller(it) -> None:
        for a in it:
            await offload.evaluate(pol, ctx, a, frozenset())
            _spin(work)

    await asyncio.gather(*(caller(todo) for _ in range(args.clients)))
    rest = actions[200:]
    todo = iter(rest)
    w0, l0 = _proc_cpu(pid), time.process_time()
    await asyncio.gather(*(caller(todo) for _ in range(args.clients)))
    w1, l1 = _proc_cpu(pid), time.process_time()
    await offload.close()
    n = len(rest)
    return {"worker": (w1 - w0) / n * 1e6, "loop": (l1 - l0) / n * 1e6 - work}


def _worker_child(args: argparse.Namespace, pol, ctx, dec) -> None:
    import asyncio

    decide_us, worker_us, loop_us = [], [], []
    for rep in range(args.reps):
        actions = distinct_actions("gate", args.loops, 2 * rep + 1)
        start = time.process_time()
        for a in actions:
            dec(pol, a, ctx)
        decide_us.append((time.process_time() - start) / len(actions) * 1e6)
        got = asyncio.run(
            _drive_worker(args, pol, ctx, distinct_actions("gate", args.loops + 200, 2 * rep + 2))
        )
        worker_us.append(got["worker"])
        loop_us.append(got["loop"])
    over = [w - d for w, d in zip(worker_us, decide_us, strict=True)]
    print(
        json.dumps(
            {
                "decide": statistics.median(decide_us),
                "worker": statistics.median(worker_us),
                "over": statistics.median(over),
                "loop": statistics.median(loop_us),
            }
        )
    )


def _ipc_child(args: argparse.Namespace, pol, ctx, dec) -> None:
    """For --worker --callgrind: one side of the policy worker's wire, `args.loops` decisions, nothing
    else to count. `worker`: the worker's serve() on a socket pair already holding the daemon's frames
    (the policy, the context, then one request per action), its answers left in the socket; `decide`:
    decide() alone on the same actions; `loop`: the daemon's side, framing each request as
    PolicyOffload.evaluate does and reading the answers (made beforehand by `answers`, from args.root's
    answers file) through its _Link as they arrive; `answers`: writes that file, and the daemon's
    request frames the `worker` side reads."""
    import asyncio
    import socket

    from forge_tui.daemon import policy_offload as po
    from forge_tui.daemon import policy_worker as pw

    for a in distinct_actions("gate", 200, 0):  # warm-up, as for --distinct
        dec(pol, a, ctx)
    actions = distinct_actions("gate", args.loops, 1)
    answers = Path(args.root).parent / "answers.bin"
    requests = Path(args.root).parent / "requests.bin"
    if args.ipc == "decide":
        for a in actions:
            dec(pol, a, ctx)
    elif args.ipc == "answers":
        state = pw._State()
        state.policy, state.context = pol, ctx
        replies = [state.evaluate(i + 1, a, frozenset()) for i, a in enumerate(actions)]
        answers.write_bytes(pickle.dumps(replies))  # each the bytes the worker writes for one answer
        requests.write_bytes(
            pickle.dumps([pw.frame((pw.EVALUATE, i + 1, a, frozenset())) for i, a in enumerate(actions)])
        )
    elif args.ipc in ("worker", "wire"):  # wire: the worker with decide() stubbed, its wire alone
        if args.ipc == "wire":
            evs = [dec(pol, a, ctx) for a in distinct_actions("gate", 8, 9)]
            picks = iter(range(1 << 30))
            pw.decide = lambda p, a, c: evs[next(picks) % 8]
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        for s in (ours, theirs):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        ours.sendall(pw.frame((pw.SET_POLICY, pol)) + pw.frame((pw.SET_CONTEXT, ctx)))
        # the daemon's frames, made beforehand (`answers`): framing them is the loop's work, not this side's
        ours.sendall(b"".join(pickle.loads(requests.read_bytes())[: len(actions)]))
        ours.shutdown(socket.SHUT_WR)
        gc.collect()
        gc.freeze()  # a full collection over the warmed-up caches in one run and not the other: scatter
        pw.serve(theirs)
    elif args.ipc == "loop":
        replies = pickle.loads(answers.read_bytes())
        loop = asyncio.new_event_loop()
        off = po.PolicyOffload()
        link = po._Link(off, None)
        off._link = link
        futs = []
        gc.collect()
        gc.freeze()
        for i, a in enumerate(actions):
            frames = [pw.frame((pw.EVALUATE, i + 1, a, frozenset()))]  # what evaluate() queues for it
            futs.append(loop.create_future())
            off._waiting[i + 1] = futs[-1]
            del frames
            if i % 4 == 3:  # the answers of every fourth request arrive together
                link.data_received(b"".join(replies[i - 3 : i + 1]))
        assert all(f.done() and f.exception() is None for f in futs[: len(actions) // 4 * 4])


def _scratch(args: argparse.Namespace, prefix: str) -> tuple[Path, dict[str, str], dict[str, str]]:
    """A scratch project folder, the environment that isolates it, and the trees to compare (this one
    and --baseline); prints the machine line."""
    from machine import cpu_model

    home = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    root = home / "proj"
    for sub in (".forge", "src/app", "build", "tests"):
        (root / sub).mkdir(parents=True)
    env = dict(os.environ, FORGE_DATA_DIR=str(home / "data"), HOME=str(home))
    engines = {"this tree": str(REPO), **({"baseline": args.baseline} if args.baseline else {})}
    print(f"cpu: {cpu_model()}; {os.cpu_count()} cores; load average before: {os.getloadavg()[0]:.2f}")
    return root, env, engines


def worker(args: argparse.Namespace) -> None:
    root, env, engines = _scratch(args, "fbw-")
    print(
        f"policy worker: {args.loops} distinct gate-mix actions per batch, {args.clients} in flight, each"
        f" caller spending {args.loop_work_us:.0f} us on the loop per answer; {args.batches} batches per"
        f" child, {args.reps} children per tree, alternating (CPU us per decision)"
    )
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in engines}
    for _ in range(args.reps):
        for name, src in engines.items():
            cmd = [sys.executable, __file__, "--child", "--worker", "--root", str(root), "--src", src]
            cmd += ["--reps", str(args.batches), "--loops", str(args.loops), "--clients", str(args.clients)]
            cmd += ["--loop-work-us", str(args.loop_work_us)]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
            runs[name].append(json.loads(out.splitlines()[-1]))
    fields = ("decide", "worker", "over", "loop")
    med = {k: {f: statistics.median(r[f] for r in v) for f in fields} for k, v in runs.items()}
    for name, m in med.items():
        line = (
            f"  {name:10} decide alone {m['decide']:6.1f}, worker {m['worker']:6.1f} (IPC share"
            f" {m['over']:5.1f}), loop's IPC {m['loop']:5.1f}"
        )
        if "baseline" in med:
            b = med["baseline"]
            line += "; vs baseline: " + ", ".join(f"{f} {m[f] / b[f]:.3f}" for f in fields)
        print(line)
    print(
        "  runs (worker/loop us): "
        + "; ".join(
            f"{name}: " + ", ".join(f"{r['worker']:.0f}/{r['loop']:.0f}" for r in v)
            for name, v in runs.items()
        )
    )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


# What --imports times: the package alone, the constant verify's re-evaluation imports first, the whole
# engine (what deciding needs), and verify's own module.
IMPORTS = (
    "import forge_tui.core.policy",
    "from forge_tui.core.policy.model import MATCH_KEYS",
    "from forge_tui.core.policy import decide, parse_policy",
    "import forge_tui.core.verify",
)
_TIME_IMPORT = "import time; t = time.process_time(); {stmt}; print(time.process_time() - t)"


def _import_env(src: str, cached: bool, prefix: str) -> tuple[dict[str, str], list[str]]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = src
    if cached:
        return env, []
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env, ["-X", f"pycache_prefix={prefix}"]  # an empty cache folder: every module compiled afresh


def imports(args: argparse.Namespace) -> None:
    engines = {"this tree": str(REPO), **({"baseline": args.baseline} if args.baseline else {})}
    empty = tempfile.mkdtemp(
        prefix="fbi-", dir="/tmp"
    )  # also the working folder: `-c` puts it first on sys.path
    print(f"load average before: {os.getloadavg()[0]:.2f}; CPU ms of the import statement in a fresh")
    print(f"interpreter, median of {args.reps} alternating runs per tree")
    for cached in (True, False):
        print("byte code cached (__pycache__):" if cached else "no byte code cache (compiled from source):")
        for stmt in IMPORTS:
            times: dict[str, list[float]] = {k: [] for k in engines}
            for src in engines.values():  # write the byte code once, outside the timing
                env, flags = _import_env(src, True, empty)
                subprocess.run([sys.executable, "-c", stmt], env=env, check=True, cwd=empty)
            for _ in range(args.reps):
                for name, src in engines.items():
                    env, flags = _import_env(src, cached, empty)
                    cmd = [sys.executable, *flags, "-c", _TIME_IMPORT.format(stmt=stmt)]
                    out = subprocess.run(
                        cmd, env=env, capture_output=True, text=True, check=True, cwd=empty
                    ).stdout
                    times[name].append(float(out) * 1e3)
            med = {k: statistics.median(v) for k, v in times.items()}
            line = f"  {stmt:55} " + ", ".join(f"{k} {v:6.1f} ms" for k, v in med.items())
            if "baseline" in med:
                line += f"; ratio {med['this tree'] / med['baseline']:.3f}"
            print(line)
    if args.callgrind and shutil.which("valgrind") is not None:
        print(
            "instructions of the import (callgrind; less `import forge_tui` in the same tree), byte code cached:"
        )
        for stmt in IMPORTS:
            counts: dict[str, float] = {}
            for name, src in engines.items():
                env, _ = _import_env(src, True, empty)
                totals = []
                for code in ("import forge_tui", stmt):
                    cmd = [
                        "valgrind",
                        "--tool=callgrind",
                        "--callgrind-out-file=/dev/null",
                        sys.executable,
                        "-c",
                    ]
                    err = subprocess.run(
                        [*cmd, code], env=env, capture_output=True, text=True, check=True, cwd=empty
                    ).stderr
                    totals.append(int(re.search(r"Collected : (\d+)", err).group(1)))  # type: ignore[union-attr]
                counts[name] = totals[1] - totals[0]
            line = f"  {stmt:55} " + ", ".join(f"{k} {v / 1e6:7.1f}M" for k, v in counts.items())
            if "baseline" in counts:
                line += f"; ratio {counts['this tree'] / counts['baseline']:.3f}"
            print(line)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


def distinct(args: argparse.Namespace) -> None:
    root, env, engines = _scratch(args, "fbd-")
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


def ipc_callgrind(engines: dict[str, str], root: Path, env: dict[str, str]) -> None:
    """Instructions per decision of each side of the policy worker's wire (callgrind, user space; the
    kernel's share of the socket calls is not in it): 300 decisions less 20, over 280 (_ipc_child)."""
    if shutil.which("valgrind") is None:
        print("callgrind: valgrind not found")
        return
    print("instructions per decision (callgrind, user space), gate mix:")
    counts: dict[str, dict[str, float]] = {}
    for name, src in engines.items():
        base = [sys.executable, __file__, "--child", "--root", str(root), "--src", src]
        subprocess.run([*base, "--ipc", "answers", "--loops", "300"], env=env, check=True)
        counts[name] = {}
        for side in ("decide", "worker", "wire", "loop"):
            totals = []
            for loops in (20, 300):
                cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *base]
                cmd += ["--ipc", side, "--loops", str(loops)]
                run_env = dict(env, PYTHONHASHSEED="0")  # the same dict layouts in both runs
                err = subprocess.run(cmd, env=run_env, capture_output=True, text=True, check=True).stderr
                totals.append(int(re.search(r"Collected : (\d+)", err).group(1)))  # type: ignore[union-attr]
            counts[name][side] = (totals[1] - totals[0]) / 280
        c = counts[name]
        c["worker IPC"] = c["worker"] - c["decide"]
    for name, c in counts.items():
        line = f"  {name:10} " + ", ".join(
            f"{k} {c[k]:,.0f}" for k in ("decide", "worker", "worker IPC", "wire", "loop")
        )
        if "baseline" in counts and name != "baseline":
            b = counts["baseline"]
            line += "; vs baseline: " + ", ".join(
                f"{k} {c[k] / b[k]:.3f}" for k in ("decide", "worker", "worker IPC", "wire", "loop")
            )
        print(line)


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
    ap.add_argument("--worker", action="store_true", help="the policy worker's CPU per decision")
    ap.add_argument("--imports", action="store_true", help="the CPU time of importing the policy engine")
    ap.add_argument("--clients", type=int, default=32, help="with --worker: evaluations in flight")
    ap.add_argument(
        "--loop-work-us", type=float, default=150.0, help="with --worker: each caller's loop CPU per answer"
    )
    ap.add_argument("--ipc", help=argparse.SUPPRESS)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--count-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--mix", default="gate", help=argparse.SUPPRESS)
    ap.add_argument("--root", help=argparse.SUPPRESS)
    ap.add_argument(
        "--batches", type=int, default=5, help="with --distinct, --worker: batches per child process"
    )
    ap.add_argument("--src", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args)
        return
    if args.distinct:
        distinct(args)
        return
    if args.worker:
        worker(args)
        return
    if args.imports:
        imports(args)
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
