"""CrewAI: a global before-tool-call hook asks forge-tui's gate before every tool of every crew.

Run it inside a forge-tui project whose daemon runs:

    pip install crewai
    python examples/crewai_hook.py "echo hello" "git push --force origin main"

CrewAI swallows any exception a hook raises other than its own `HookAborted`, and then RUNS the tool
(fail open). So the hook catches everything and returns False: a denial, a request still pending
after the wait, no daemon, or a bug in the hook all block the call. The after-tool-call hook puts the
gate's reason in place of CrewAI's "blocked" text and records the outcome of allowed calls.

The LLM here is scripted (one tool call per command line given, then a final answer), so the example
runs without an API key; give the Agent your own `llm=` instead.
"""

from __future__ import annotations

import json
import subprocess
import sys

from crewai import Agent, BaseLLM, Crew, Task
from crewai.hooks import after_tool_call, before_tool_call
from crewai.tools import tool

from forge_tui.sdk import Gate, input_digest

KINDS = {"run_shell": "shell.exec"}  # tool name -> forge-tui action kind; anything else is "other"
gate = Gate(actor="crewai:example")
allowed: dict[tuple[str, str], str] = {}  # (tool, input digest) -> request id, until the outcome
denied: dict[tuple[str, str], str] = {}  # (tool, input digest) -> the reason, for the after hook


@tool("run_shell")
def run_shell(command: str) -> str:
    """Run a shell command in the project folder and return its output."""
    done = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=120)
    return done.stdout if done.returncode == 0 else f"exit {done.returncode}: {done.stderr[:200]}"


@before_tool_call
def forge_gate(context) -> bool | None:
    """None lets the tool run; False blocks it. Never raises (CrewAI would run the tool)."""
    try:
        args = dict(context.tool_input or {})
        key = (context.tool_name, input_digest(args))
        decision = gate.ask(
            {
                "kind": KINDS.get(context.tool_name, "other"),
                "tool": context.tool_name,
                "command": args.get("command"),
                "summary": f"CrewAI tool {context.tool_name}",
                "input_digest": key[1],
            }
        )
        allowed[key] = decision.request_id
        return None
    except Exception as exc:  # Denied, GateUnavailable, or anything else: block
        denied[(context.tool_name, input_digest(dict(context.tool_input or {})))] = str(exc)
        return False


@after_tool_call
def forge_outcome(context) -> str | None:
    try:
        key = (context.tool_name, input_digest(dict(context.tool_input or {})))
        if key in denied:
            return f"Denied by forge-tui: {denied.pop(key)}. Do not retry this action."
        rid = allowed.pop(key, None)
        if rid is not None:
            failed = str(context.tool_result or "").startswith("exit ")
            gate.record(rid, "failed" if failed else "succeeded")
    except Exception:
        pass  # the tool has run; an unrecorded outcome shows as a gap in the ledger
    return None


class ScriptedLLM(BaseLLM):
    """A stand-in LLM in CrewAI's text protocol: one Action per command, then a Final Answer."""

    commands: list[str] = []
    step: int = 0

    def call(self, messages, tools=None, callbacks=None, available_functions=None, **kw) -> str:
        self.step += 1
        if self.step <= len(self.commands):
            command = json.dumps({"command": self.commands[self.step - 1]})
            return f"Thought: run it\nAction: run_shell\nAction Input: {command}"
        return "Thought: I now know the final answer\nFinal Answer: done"

    def supports_function_calling(self) -> bool:
        return False


def main(argv: list[str]) -> int:
    commands = argv or ["echo hello from a gated tool", "git push --force origin main"]
    agent = Agent(
        role="operator",
        goal="run the commands",
        backstory="runs shell commands",
        tools=[run_shell],
        llm=ScriptedLLM(model="scripted", commands=commands),
        max_iter=len(commands) + 2,
    )
    task = Task(description="Run the commands.", expected_output="done", agent=agent)
    crew = Crew(agents=[agent], tasks=[task])
    print(crew.kickoff())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
