"""`forge-tui doctor`: the checks, each with a status and the fix (docs/hooks.md).

Every check is a small function returning Check records; none raises for a finding (a bug still does).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from forge_tui.errors import ForgeError
from forge_tui.hooks.settings import HOOK_SCRIPT, HOSTS, Host, entry_argv, is_ours, split_guard
from forge_tui.protocol import STATUS, RPCError

OK, WARN, FAIL = "ok", "warn", "FAIL"
# Where Claude Code reads managed settings that no project or user file can override.
MANAGED_SETTINGS = (Path("/etc/claude-code/managed-settings.json"),)
PROBE_TOOLS = ("Bash", "Edit", "Write", "Read", "WebFetch", "mcp__server__tool")


@dataclass(frozen=True)
class Check:
    status: str  # OK, WARN or FAIL
    item: str
    detail: str
    fix: str | None = None

    def line(self) -> str:
        text = f"{self.status:<4}  {self.item}: {self.detail}"
        return text + (f"\n      fix: {self.fix}" if self.fix and self.status != OK else "")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def run_checks(project, required: list[str]) -> list[Check]:
    timeout_s, checks = _policy(project)
    present = [h for h in HOSTS if (project.root / HOSTS[h].settings).exists()]
    hosts = list(dict.fromkeys([*required, *present]))
    if not hosts:
        checks.append(
            Check(
                FAIL,
                "agent hooks",
                "no agent host is set up in this project: agents are not gated",
                "forge-tui init --claude-code (or --codex, --gemini)",
            )
        )
    for name in hosts:
        checks.extend(host_checks(project.root, HOSTS[name], timeout_s))
    if "claude-code" in hosts:
        checks.extend(claude_overrides(project.root))
    if "codex" in hosts:
        checks.append(codex_trust(project.root))
    if "gemini" in hosts:
        checks.append(gemini_trust(project.root))
    checks.append(_daemon(project))
    checks.append(_keys(project))
    checks.append(_ledger(project))
    checks.append(_sandbox(project))
    return checks


# ---- the hosts' settings ---------------------------------------------------------------------------


def host_checks(root: Path, host: Host, approval_timeout_s: int | None) -> list[Check]:
    path = root / host.settings
    item = f"{host.title} ({host.settings})"
    init = f"forge-tui init --{host.name}"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [Check(FAIL, item, "the settings file does not exist: this host is not gated", init)]
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        why = "Claude Code silently ignores it in headless mode and runs no hook at all"
        return [Check(FAIL, item, f"not valid JSON ({exc}); {why}", f"fix the file, then {init}")]
    if not isinstance(doc, dict):
        return [Check(FAIL, item, "does not hold a JSON object", f"fix the file, then {init}")]
    out: list[Check] = []
    bad_timeouts = _non_numeric_timeouts(doc)
    if bad_timeouts:
        out.append(
            Check(
                FAIL,
                item,
                f"timeout is not a number in {', '.join(bad_timeouts)}: Claude Code then ignores the whole file",
                "write timeouts as numbers (seconds; Gemini: milliseconds)",
            )
        )
    if host.name == "claude-code" and doc.get("disableAllHooks") is True:
        out.append(Check(FAIL, item, "disableAllHooks is true: no hook runs", "remove disableAllHooks"))
    hooks = doc.get("hooks") if isinstance(doc.get("hooks"), dict) else {}
    for event in host.events:
        out.append(_event_check(item, host, hooks.get(event), event, approval_timeout_s, init))
    return out


def _event_check(item: str, host: Host, groups: Any, event: str, approval_s: int | None, init: str) -> Check:
    ours = [
        (g, h)
        for g in (groups if isinstance(groups, list) else [])
        if isinstance(g, dict)
        for h in (g.get("hooks") if isinstance(g.get("hooks"), list) else [])
        if is_ours(h)
    ]
    where = f"{item} {event}"
    if not ours:
        return Check(FAIL, where, "no forge-tui hook for this event", init)
    group, entry = ours[-1]
    missed = [t for t in PROBE_TOOLS if not matcher_covers(host, group.get("matcher"), t)]
    if missed:
        return Check(
            FAIL,
            where,
            f"matcher {group.get('matcher')!r} misses {', '.join(missed)}",
            f"use the matcher {host.matcher!r} ({init} rewrites it)",
        )
    argv, guarded = split_guard(entry_argv(entry))
    problem = _command_problem(argv)
    if problem:
        return Check(FAIL, where, problem, init)
    if not guarded:
        return Check(
            FAIL,
            where,
            "the command has no `|| exit 2` guard: if the interpreter goes missing or crashes, the host lets the tool run",
            init,
        )
    timeout = entry.get("timeout")
    if not isinstance(timeout, int | float) or isinstance(timeout, bool):
        return Check(
            FAIL, where, "no numeric timeout: the host's default may be below a reviewer's wait", init
        )
    timeout_s = timeout / 1000 if host.timeout_ms else timeout
    deadline = _deadline(argv)
    if approval_s is not None:
        if deadline is None or deadline <= approval_s:
            return Check(
                FAIL,
                where,
                f"the hook's --deadline ({deadline}) is not above the approval timeout ({approval_s} s)",
                init,
            )
        if timeout_s <= deadline:
            return Check(
                FAIL,
                where,
                f"the host's timeout ({timeout_s:g} s) is not above the hook's deadline ({deadline:g} s): "
                "a host that times a hook out lets the tool run",
                init,
            )
    return Check(OK, where, f"{argv[0]} {' '.join(argv[1:4])}…, timeout {timeout_s:g} s")


def matcher_covers(host: Host, matcher: Any, tool: str) -> bool:
    """Whether the host runs a hook with this matcher for `tool` (Claude Code: `*`, empty or absent
    match all; letters, digits, `_`, `|` and `,` only name tools exactly; else a regex)."""
    if matcher in (None, "", "*"):
        return True
    if not isinstance(matcher, str):
        return False
    if host.name == "claude-code" and re.fullmatch(r"[A-Za-z0-9_|,]+", matcher):
        return tool in re.split(r"[|,]", matcher)
    try:
        return re.search(matcher, tool) is not None
    except re.error:
        return False


def _command_problem(argv: list[str]) -> str | None:
    if not argv:
        return "the hook has no command"
    exe = argv[0]
    if not os.path.isabs(exe):
        return f"the command {exe!r} is not an absolute path (a PATH lookup or a shim can change or slow it)"
    if not os.access(exe, os.X_OK):
        return f"the command {exe} does not exist or is not executable: the host then lets every tool run"
    scripts = [a for a in argv[1:] if a.endswith("run.py")]
    if scripts and not os.path.isfile(scripts[0]):
        return f"the hook script {scripts[0]} does not exist (moved or uninstalled forge-tui?)"
    if scripts and Path(scripts[0]).resolve() != HOOK_SCRIPT:
        return f"the hook script {scripts[0]} is not this forge-tui's ({HOOK_SCRIPT})"
    return None


def _deadline(argv: list[str]) -> float | None:
    if "--deadline" in argv:
        i = argv.index("--deadline")
        try:
            return float(argv[i + 1])
        except (IndexError, ValueError):
            return None
    return None


def _non_numeric_timeouts(doc: dict[str, Any]) -> list[str]:
    bad = []
    hooks = doc.get("hooks") if isinstance(doc.get("hooks"), dict) else {}
    for event, groups in hooks.items():
        for g in groups if isinstance(groups, list) else []:
            for h in (g.get("hooks") or []) if isinstance(g, dict) else []:
                if isinstance(h, dict) and "timeout" in h:
                    t = h["timeout"]
                    if isinstance(t, bool) or not isinstance(t, int | float):
                        bad.append(event)
    return sorted(set(bad))


def claude_other_settings(root: Path) -> list[Path]:
    """The settings files Claude Code layers over or under the project's: the project's local file,
    and the user's (in $CLAUDE_CONFIG_DIR, else ~/.claude), shared and local. Any of them can set
    disableAllHooks."""
    user = (
        Path(os.environ["CLAUDE_CONFIG_DIR"])
        if os.environ.get("CLAUDE_CONFIG_DIR")
        else Path.home() / ".claude"
    )
    return [root / ".claude" / "settings.local.json", user / "settings.json", user / "settings.local.json"]


def claude_overrides(root: Path) -> list[Check]:
    """What can switch Claude Code's project hooks off from outside .claude/settings.json."""
    out = []
    for path in claude_other_settings(root):
        if not path.exists():
            continue
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            out.append(
                Check(FAIL, f"Claude Code ({path})", f"not valid JSON ({exc})", "fix or remove the file")
            )
            continue
        if isinstance(doc, dict) and doc.get("disableAllHooks") is True:
            out.append(
                Check(
                    FAIL,
                    f"Claude Code ({path})",
                    "disableAllHooks is true: it switches the project's hooks off",
                    "remove disableAllHooks from that file",
                )
            )
    out.append(claude_managed())
    return out


def claude_managed() -> Check:
    """Managed settings outrank every other file: they can hold the gate where no commit reaches it, or
    switch it off (disableAllHooks, or allowManagedHooksOnly without forge-tui's hook among theirs)."""
    item = "Claude Code managed settings"
    recommend = (
        f"where the gate must not be switched off, put the same hooks in {MANAGED_SETTINGS[0]} "
        '(with "allowManagedHooksOnly": true), and run agents under `forge-tui run`'
    )
    managed = [p for p in MANAGED_SETTINGS if p.exists()]
    if not managed:
        return Check(
            WARN,
            item,
            "the hooks live in the repository, where a commit (or the agent, if not sandboxed) can remove them",
            recommend,
        )
    path = managed[0]
    doc = _json_or_none(path)
    if doc is None:
        return Check(
            FAIL, f"{item} ({path})", "not a valid JSON object", "fix the file (ask its administrator)"
        )
    hooks = doc.get("hooks") if isinstance(doc.get("hooks"), dict) else {}
    groups = hooks.get("PreToolUse") if isinstance(hooks.get("PreToolUse"), list) else []
    has_gate = any(
        is_ours(h)
        for g in groups
        if isinstance(g, dict)
        for h in (g.get("hooks") or [])
        if isinstance(g.get("hooks"), list)
    )
    if doc.get("disableAllHooks") is True:
        return Check(
            FAIL,
            f"{item} ({path})",
            "disableAllHooks is true: no hook runs, the gate's included",
            "remove it there",
        )
    if doc.get("allowManagedHooksOnly") is True and not has_gate:
        return Check(
            FAIL,
            f"{item} ({path})",
            "allowManagedHooksOnly is true and forge-tui's hook is not among the managed ones: Claude Code "
            "ignores the project's hooks, so nothing is gated",
            "add the hook entries `forge-tui init --claude-code` wrote in .claude/settings.json to that file",
        )
    if has_gate:
        return Check(OK, item, f"{path} holds forge-tui's hook: no repository setting can remove it")
    return Check(WARN, item, f"{path} exists but does not hold forge-tui's hook", recommend)


CODEX_TRUST_FIX = (
    "trust the project and its hooks once in an interactive `codex` session in it (scripts: `codex exec "
    "--trust --dangerously-bypass-hook-trust`), or install the same hooks in $CODEX_HOME/hooks.json"
)


def codex_home() -> Path:
    """Where Codex keeps config.toml: $CODEX_HOME, else ~/.codex."""
    env = os.environ.get("CODEX_HOME")
    return Path(env) if env else Path.home() / ".codex"


def codex_trust(root: Path) -> Check:
    """Codex runs a project's .codex/hooks.json only when the project is trusted (`[projects."PATH"]
    trust_level = "trusted"` in its config.toml, for the project or a folder above it) and the hooks
    themselves are (it asks again when they change). The first is read here; the second only Codex
    can tell, so it stays a reminder."""
    import tomllib

    item = "Codex CLI project trust"
    config = codex_home() / "config.toml"
    try:
        projects = tomllib.loads(config.read_text(encoding="utf-8")).get("projects")
    except FileNotFoundError:
        projects = None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return Check(WARN, item, f"{config} is unreadable ({exc}): Codex may not start", CODEX_TRUST_FIX)
    here = root.resolve()
    trusted = [
        key
        for key, table in (projects.items() if isinstance(projects, dict) else [])
        if isinstance(table, dict)
        and table.get("trust_level") == "trusted"
        and (here == Path(key) or Path(key) in here.parents)
    ]
    if not trusted:
        return Check(
            WARN,
            item,
            f"{here} is not trusted in {config}: Codex runs no project hook there, so its tools are not gated "
            "(unless each run passes --trust)",
            CODEX_TRUST_FIX,
        )
    return Check(
        OK,
        item,
        f"{trusted[0]} is trusted in {config}; Codex also asks to trust the hooks themselves, and again "
        "after they change (each `init --codex`)",
    )


GEMINI_TRUST_FIX = (
    'trust the folder when `gemini` asks (or add {"PATH": "TRUST_FOLDER"} to '
    "~/.gemini/trustedFolders.json); scripts: GEMINI_CLI_TRUST_WORKSPACE=true"
)


def gemini_trust(root: Path) -> Check:
    """Gemini CLI loads a folder's own settings, hooks included, only in a trusted folder (folder trust
    is on unless the user's settings say `security.folderTrust.enabled: false`): the longest rule of
    ~/.gemini/trustedFolders.json that covers the project decides (TRUST_FOLDER: that folder and below,
    TRUST_PARENT: its parent and below, DO_NOT_TRUST). GEMINI_CLI_TRUST_WORKSPACE in the agent's
    environment overrides both; doctor cannot see that environment, so it reads the files."""
    item = "Gemini CLI folder trust"
    home = Path(os.environ["GEMINI_CLI_HOME"]) if os.environ.get("GEMINI_CLI_HOME") else Path.home()
    user_settings = _json_or_none(home / ".gemini" / "settings.json")
    if _dig(user_settings, "security", "folderTrust", "enabled") is False:
        return Check(OK, item, "folder trust is off in the user's settings: Gemini loads the project's hooks")
    path = Path(os.environ.get("GEMINI_CLI_TRUSTED_FOLDERS_PATH") or home / ".gemini" / "trustedFolders.json")
    try:
        rules = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return Check(WARN, item, f"{path} is not plain JSON ({exc}): cannot tell", GEMINI_TRUST_FIX)
    here = root.resolve()
    level = gemini_trust_level(rules, here)
    if level in ("TRUST_FOLDER", "TRUST_PARENT"):
        return Check(OK, item, f"{here} is trusted in {path}")
    why = "is marked DO_NOT_TRUST" if level else "is not trusted"
    return Check(
        WARN,
        item,
        f"{here} {why} in {path}: Gemini CLI loads no project settings there, so no hook and its tools are "
        "not gated (unless the agent runs with GEMINI_CLI_TRUST_WORKSPACE=true)",
        GEMINI_TRUST_FIX.replace("PATH", str(here)),
    )


def gemini_trust_level(rules: Any, here: Path) -> str | None:
    """The level of the longest rule covering `here` (None: no rule does)."""
    best: tuple[int, str] | None = None
    for rule, level in rules.items() if isinstance(rules, dict) else []:
        if level not in ("TRUST_FOLDER", "TRUST_PARENT", "DO_NOT_TRUST"):
            continue
        covered = Path(rule).parent if level == "TRUST_PARENT" else Path(rule)
        if (here == covered or covered in here.parents) and (best is None or len(rule) > best[0]):
            best = (len(rule), level)
    return best[1] if best else None


def _dig(doc: Any, *keys: str) -> Any:
    for key in keys:
        doc = doc.get(key) if isinstance(doc, dict) else None
    return doc


def _json_or_none(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


# ---- the project's own state -----------------------------------------------------------------------


def _policy(project) -> tuple[int | None, list[Check]]:
    from forge_tui.core.policy import load_policy

    try:
        policy = load_policy(project.policy_path)
    except ForgeError as exc:
        return None, [Check(FAIL, "policy", f"{exc}", "forge-tui policy check, then fix .forge/policy.toml")]
    t = int(policy.approval_timeout_s)
    return t, [Check(OK, "policy", f"{len(policy.rules)} rules, approval timeout {t} s")]


def _daemon(project) -> Check:
    from forge_tui.client import Client, DaemonUnavailable, hello
    from forge_tui.paths import socket_path

    try:
        sock = socket_path(project.project_id)
        with Client(sock, client="doctor", timeout=3.0) as c:
            info = hello(c)
    except (DaemonUnavailable, ForgeError) as exc:
        return Check(
            FAIL,
            "daemon",
            f"not reachable ({exc}): every hook call is denied meanwhile",
            "start it: `forge-tui daemon` (foreground) or `forge-tui` (console, starts it)",
        )
    if info.get("project_id") != project.project_id:
        return Check(FAIL, "daemon", f"{sock} serves another project", "set FORGE_SOCKET correctly")
    return Check(OK, "daemon", f"answers on {sock} (ledger size {info.get('ledger', {}).get('size')})")


def _keys(project) -> Check:
    from forge_tui.core.keys import load_ledger_key

    try:
        lid = project.local_ledger_id()
        load_ledger_key(lid)
    except ForgeError as exc:
        return Check(
            FAIL, "ledger key", str(exc), "forge-tui init --join (gives this machine its own ledger)"
        )
    return Check(OK, "ledger key", f"this machine's key for ledger {lid} is readable")


def _ledger(project) -> Check:
    from forge_tui.core.verify import verify_project

    try:
        report = verify_project(project, update_seen=False)
    except ForgeError as exc:
        return Check(FAIL, "ledger", f"cannot verify: {exc}", "forge-tui verify")
    code = report.exit_code()
    errors = [f for f in report.findings if f.severity == "error"]
    if code == 0:
        return Check(OK, "ledger", f"verifies ({sum(r.records for r in report.ledgers)} records)")
    if not errors:
        return Check(WARN, "ledger", f"{len(report.findings)} warning(s)", "forge-tui verify shows them")
    return Check(
        FAIL, "ledger", f"{errors[0].line()} (+{len(errors) - 1} more)", "forge-tui verify shows them all"
    )


def _sandbox(project) -> Check:
    """Whether agents run sandboxed, from what the daemon saw (it checks each peer's namespaces and
    what its root shows: docs/sandbox.md), never from an environment variable an agent could set."""
    from forge_tui.client import Client, DaemonUnavailable
    from forge_tui.paths import socket_path

    have = shutil.which("bwrap") is not None
    fix = (
        "start agents with `forge-tui run -- claude` (needs bubblewrap"
        + ("" if have else ", which is not installed")
        + ")"
    )
    try:
        with Client(socket_path(project.project_id), client="doctor", timeout=3.0) as c:
            counts = (c.call(STATUS, {}) or {}).get("requests_by_sandbox") or {}
    except (DaemonUnavailable, ForgeError, RPCError):
        return Check(WARN, "sandbox", "unknown: the daemon does not answer", fix)
    inside, outside = int(counts.get("sandboxed") or 0), int(counts.get("unsandboxed") or 0)
    if outside:
        return Check(
            WARN,
            "sandbox",
            f"{outside} of {inside + outside} agent requests since the daemon started came from outside a "
            "sandbox: such an agent can edit the hook settings and the policy file as your user",
            fix,
        )
    if inside:
        return Check(
            OK, "sandbox", f"all {inside} agent requests since the daemon started came from a sandbox"
        )
    return Check(WARN, "sandbox", "no agent request yet since the daemon started: nothing to tell", fix)
