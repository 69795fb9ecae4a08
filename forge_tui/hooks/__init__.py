"""Agent hooks for Claude Code, Codex CLI and Gemini CLI: one adapter, a dialect per host (docs/hooks.md).

The agent side (`run.py`, `locate.py`, `answers.py`) runs once per tool call and imports only
modules built into the interpreter; it sends the host's payload to the daemon (`hook.run`), which maps
the tool call to an action (`actions.py`), asks the gate, and returns the bytes to print in the host's
own terms (`dialects.py`). `settings.py` writes and checks the hosts' settings files.
"""

HOSTS = ("claude-code", "codex", "gemini")
EXIT_ALLOW = 0
EXIT_BLOCK = 2  # the one exit code all three hosts read as "block", whatever standard output says
