"""AutoGen (0.7): a `CodeExecutorAgent` whose `approval_func` asks forge-tui's gate before it runs
each code block.

Run it inside a forge-tui project whose daemon runs:

    pip install autogen-agentchat autogen-ext
    python examples/autogen_code_executor.py "echo hello" "git push --force origin main"

Each argument becomes a ```sh block sent to the agent, as a coding agent would send it. The gate sees
the block as a shell.exec action (the policy's shell rules apply to every command in it); a denial is
returned to AutoGen as a refused approval with the gate's reason, and the code does not run.
For MCP tools, put `forge-tui proxy` in front of the server instead of wrapping `McpWorkbench`
(autogen-ext 0.7's MCP support needs `mcp<2`; the proxy needs nothing in the agent's environment).
"""

from __future__ import annotations

import asyncio
import re
import sys
import tempfile

from autogen_agentchat.agents import ApprovalRequest, ApprovalResponse, CodeExecutorAgent
from autogen_agentchat.messages import TextMessage
from autogen_core import CancellationToken
from autogen_ext.code_executors.local import LocalCommandLineCodeExecutor

from forge_tui.sdk import Denied, Gate, input_digest

gate = Gate(actor="autogen:example")
BLOCK = re.compile(r"```([\w+-]*)\n(.*?)```", re.DOTALL)
SHELLS = {"sh", "bash", "shell", "zsh", ""}


def action_of(code: str) -> dict:
    """Shell blocks are a shell.exec of their commands; any other language is `other` (the policy's
    default decides, and the reviewer sees the code)."""
    blocks = BLOCK.findall(code) or [("", code)]
    if all(lang.lower() in SHELLS for lang, _ in blocks):
        return {"kind": "shell.exec", "command": "\n".join(body.strip() for _, body in blocks)}
    langs = ",".join(sorted({lang or "text" for lang, _ in blocks}))
    return {"kind": "other", "summary": f"AutoGen {langs} code ({len(code.splitlines())} lines)"}


async def forge_approval(request: ApprovalRequest) -> ApprovalResponse:
    """AutoGen's approval hook: approved only when the gate allows (a pending wait, a denial or no
    daemon all refuse)."""
    action = {
        "tool": "autogen.CodeExecutorAgent",
        "summary": "AutoGen shell code block",
        **action_of(request.code),
        "input_digest": input_digest(request.code),
    }
    try:
        decision = await gate.aask(action, diff=request.code)
    except Denied as exc:
        return ApprovalResponse(approved=False, reason=f"denied by forge-tui: {exc.reason}")
    return ApprovalResponse(approved=True, reason=f"allowed by forge-tui (request {decision.request_id})")


async def main(argv: list[str]) -> int:
    commands = argv or ["echo hello from a gated code block", "git push --force origin main"]
    with tempfile.TemporaryDirectory() as work:
        agent = CodeExecutorAgent(
            "executor",
            code_executor=LocalCommandLineCodeExecutor(work_dir=work),
            approval_func=forge_approval,
        )
        for command in commands:
            msg = TextMessage(content=f"```sh\n{command}\n```", source="coder")
            reply = await agent.on_messages([msg], CancellationToken())
            print(reply.chat_message.content.strip())
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
