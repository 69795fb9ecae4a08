"""The policy engine's regular expressions compile on first use (forge_tui/core/lazyre.py), and the
first use can come from several threads at once (the daemon's loop, `asyncio.to_thread` helpers,
verify's re-evaluation): in a fresh interpreter, where nothing is compiled yet, threads that parse and
decide at the same moment, switching as often as the interpreter allows, must each get exactly what
one thread gets, with no exception, and every module name must end up the compiled pattern.

Fails if the swap of the lazy object for the compiled pattern in its module's namespace races (a
thread sees neither, a `dict changed size` error, a half-built pattern) or if a lazy object answers
otherwise than the pattern it stands for."""

from __future__ import annotations

import json
import subprocess
import sys

_CODE = r"""
import json, sys, threading
sys.setswitchinterval(1e-6)
from forge_tui.core.policy import Context, decide, parse_policy
from forge_tui.core import shell
from forge_tui.core.lazyre import lazy_patterns
import forge_tui.core.policy.evaluate, forge_tui.core.policy.guard, forge_tui.core.policy.normalize
import forge_tui.core.policy.match, forge_tui.core.policy.load

MODS = [shell, forge_tui.core.policy.evaluate, forge_tui.core.policy.guard,
        forge_tui.core.policy.normalize, forge_tui.core.policy.match, forge_tui.core.policy.load]
lazy_before = sum(len(lazy_patterns(vars(m))) for m in MODS)
POLICY = b'''version = 1
default = "ask"
[[rule]]
id = "tests"
match = { kind = "shell.exec", command = ["pytest*", "git status"] }
decision = "allow"
[[rule]]
id = "no-rm"
match = { kind = "shell.exec", command = ["rm *"] }
decision = "deny"
[[rule]]
id = "src"
match = { kind = "file.write", paths = ["src/**"] }
decision = "allow"
'''
COMMANDS = [
    "pytest -q tests/test_a.py", "FOO=1 pytest", "a[1]=x pytest", "rm -rf build", "echo $'\\x41\\101'",
    "git -c color.ui=always status", "git -c core.pager=sh status", "ls {a,b}.py", "echo $((1+2))",
    "cat $HOME/.ssh/id_rsa", "x=1; echo \"$x\"", "cp -oPATH a b", "printf '\\u0041' | sh",
    "echo \x01", "sleep 10 && pytest", "tar -xf a.tar -C /tmp", "[ 1 -eq 1 ] && pytest",
]
ACTIONS = [{"kind": "shell.exec", "command": c} for c in COMMANDS] + [
    {"kind": "file.write", "paths": ["src/a.py", "$HOME/x", "../y", "src/*.py"]},
    {"kind": "net.fetch", "url": "https://pypi.org@evil.example/x"},
]

def one(policy, ctx):
    out = []
    for a in ACTIONS:
        ev = decide(policy, a, ctx)
        out.append([ev.decision, ev.rule, ev.reason])
        if a["kind"] == "shell.exec":
            try:
                out.append(repr(shell.parse_command(a["command"])))
            except Exception as exc:
                out.append(type(exc).__name__ + ": " + str(exc))
    return out

policy = parse_policy(POLICY)
ctx = Context.for_project("/tmp/hunt-proj")
barrier = threading.Barrier(8)
results, errors = [None] * 8, []

def run(k):
    try:
        barrier.wait()
        results[k] = one(policy, ctx)
    except Exception as exc:
        errors.append(repr(exc))

threads = [threading.Thread(target=run, args=(k,)) for k in range(8)]
for t in threads: t.start()
for t in threads: t.join()
ref = one(policy, ctx)
print(json.dumps({
    "lazy_before": lazy_before,
    "errors": errors,
    "same": [r == ref for r in results],
    "lazy_after": {m.__name__: sorted(lazy_patterns(vars(m))) for m in MODS},
}))
"""


def test_first_use_from_many_threads_at_once_decides_as_one_thread() -> None:
    out = subprocess.run([sys.executable, "-c", _CODE], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.splitlines()[-1])
    assert got["lazy_before"] > 10, "nothing was lazy at the start: this test would not see a race"
    assert got["errors"] == []
    assert got["same"] == [True] * 8
    lazy_after = sum(len(v) for v in got["lazy_after"].values())
    assert lazy_after < got["lazy_before"] - 5, "the threads compiled next to nothing: no race was tried"
