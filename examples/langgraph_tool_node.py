"""LangGraph: every tool call of a `ToolNode` asks forge-tui's gate first (`wrap_tool_call`).

Run it inside a forge-tui project whose daemon runs (`forge-tui daemon`, or the console):

    pip install langgraph langchain-core
    python examples/langgraph_tool_node.py "echo hello" "git push --force origin main"

The chat model here is scripted (it asks for each command line given, then stops) so the example runs
without an API key; put your own model, bound to TOOLS, in its place. A denied call comes back to the
model as an error ToolMessage with the reason; the tool does not run. The outcome of each allowed call
(succeeded, or failed when the tool returned an error) is recorded in the ledger.
"""

from __future__ import annotations

import subprocess
import sys

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from forge_tui.sdk import Denied, Gate, input_digest


@tool
def run_shell(command: str) -> str:
    """Run a shell command in the project folder and return its output."""
    done = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=120)
    if done.returncode:
        raise RuntimeError(f"exit {done.returncode}: {done.stderr.strip()[:200]}")
    return done.stdout


TOOLS = [run_shell]
KINDS = {"run_shell": "shell.exec"}  # tool name -> forge-tui action kind; anything else is "other"
gate = Gate(actor="langgraph:example")


def forge_gate(request, execute):
    """ToolNode's wrap_tool_call: ask the gate, run only when allowed, record the outcome."""
    call = request.tool_call
    args = call.get("args") or {}
    action = {
        "kind": KINDS.get(call["name"], "other"),
        "tool": call["name"],
        "command": args.get("command"),
        "summary": f"LangGraph tool {call['name']}",
        "input_digest": input_digest(args),
    }
    try:
        decision = gate.ask(action)
    except Denied as exc:  # denied, still pending after the wait, or no daemon: the tool does not run
        return ToolMessage(
            content=f"Denied by forge-tui: {exc.reason}. Do not retry this action.",
            tool_call_id=call["id"],
            name=call["name"],
            status="error",
        )
    try:
        result = execute(request)
    except BaseException as exc:
        gate.record(decision.request_id, "failed", type(exc).__name__)
        raise
    failed = isinstance(result, ToolMessage) and result.status == "error"
    gate.record(decision.request_id, "failed" if failed else "succeeded", "tool error" if failed else None)
    return result


def scripted_model(commands: list[str]) -> GenericFakeChatModel:
    """A stand-in chat model: one tool call per command, then a final answer."""
    replies = [
        AIMessage(content="", tool_calls=[{"name": "run_shell", "args": {"command": c}, "id": f"call-{i}"}])
        for i, c in enumerate(commands)
    ]
    return GenericFakeChatModel(messages=iter([*replies, AIMessage(content="done")]))


def build_graph(model):
    def agent(state: MessagesState) -> dict:
        return {"messages": [model.invoke(state["messages"])]}

    g = StateGraph(MessagesState)
    g.add_node("agent", agent)
    g.add_node("tools", ToolNode(TOOLS, wrap_tool_call=forge_gate, handle_tool_errors=True))
    g.add_edge(START, "agent")
    g.add_conditional_edges("agent", tools_condition)
    g.add_edge("tools", "agent")
    return g.compile()


def main(argv: list[str]) -> int:
    commands = argv or ["echo hello from a gated tool", "git push --force origin main"]
    graph = build_graph(scripted_model(commands))
    final = graph.invoke({"messages": [HumanMessage(content="run the commands")]})
    for msg in final["messages"]:
        if isinstance(msg, ToolMessage):
            print(f"[{msg.status}] {msg.content.strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
