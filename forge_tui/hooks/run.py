"""What the hosts' settings run: `/abs/python3 -I -S /abs/forge_tui/hooks/run.py HOST --deadline S`.

Kept to a few lines on purpose: a script run by its path is compiled on every start (no .pyc), while
the module it imports (forge_tui/hooks/agent.py, where the hook lives) loads from its cached bytecode.
It imports that module as a top-level `agent` from this folder, so that neither package's `__init__`
is loaded on the way (agent.py is self-contained); the package's folder comes second on the path, for
the deny path, which imports forge_tui.hooks.answers.
"""

import sys

if not __package__:  # run by path under -I -S, which puts nothing on sys.path: add our folders
    import posix

    _here = __file__ if __file__.startswith("/") else posix.getcwd() + "/" + __file__
    _hooks = _here.rsplit("/", 1)[0]
    sys.path[:0] = [_hooks, _hooks.rsplit("/", 2)[0]]

from agent import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
