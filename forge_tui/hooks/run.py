"""What the hosts' settings run: `/abs/python3 -I -S /abs/forge_tui/hooks/run.py HOST --deadline S`.

Kept to a few lines on purpose: a script run by its path is compiled on every start (no .pyc), while
the module it imports (forge_tui/hooks/agent.py, where the hook lives) loads from its cached bytecode.
"""

import sys

if not __package__:  # run by path under -I -S, which puts nothing on sys.path: add our package's folder
    import posix

    _here = __file__ if __file__.startswith("/") else posix.getcwd() + "/" + __file__
    sys.path.insert(0, _here.rsplit("/", 3)[0])

from forge_tui.hooks.agent import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
