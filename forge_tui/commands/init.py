"""forge-tui init"""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "init"
HELP = "create .forge/ in a project: project id, this machine's ledger and key, a policy pack"
DESCRIPTION = """\
Create the .forge/ folder in DIR (default: the current folder): a project id, this machine's ledger
signing key (stored 0600 in your user data folder, never in the repository), the ledger's public key,
the genesis record and first signed checkpoint, .gitattributes entries that keep ledgers byte-exact,
and a policy copied from a pack. Commit the .forge/ folder and .gitattributes.

Use --join in a clone of a project that already has .forge/: it gives this machine its own ledger.
Never prompts; refuses to touch an existing .forge/ unless --force (the old folder is kept as
.forge.bak-<time>)."""


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", nargs="?", default=".", help="project folder (default: current folder)")
    p.add_argument(
        "--pack",
        default="solo",
        choices=["solo", "pair-review", "strict", "ci"],
        help="policy pack to start from (default: solo)",
    )
    p.add_argument("--name", help="project name (default: the folder name)")
    p.add_argument("--join", action="store_true", help="add this machine's ledger to an existing project")
    p.add_argument(
        "--force", action="store_true", help="start over even if .forge/ exists (the old one is kept)"
    )
    p.add_argument(
        "--claude-code",
        action="store_true",
        help="also install the Claude Code hooks in .claude/settings.json",
    )


def run(args: argparse.Namespace) -> int:
    from forge_tui.core.project import find_project, init_project, join_project
    from forge_tui.errors import ConfigError

    root = Path(args.dir)
    if not root.is_dir():
        raise ConfigError(f"{root} is not a folder")
    if args.join:
        project = find_project(root)
        lid = join_project(project)
        print(f"joined project {project.name} ({project.project_id}) with ledger {lid}")
        return 0
    project = init_project(root, pack=args.pack, name=args.name, force=args.force)
    lid = project.local_ledger_id()
    if args.claude_code:
        try:
            from forge_tui.integrations.claude_code import install_settings
        except ImportError:
            raise ConfigError("the Claude Code integration is not available in this version") from None
        install_settings(project)
    print(f"initialised {project.name} ({project.project_id})")
    print(f"  ledger {lid}: .forge/ledger/{lid}.jsonl (genesis signed)")
    print(f"  policy: .forge/policy.toml from the {args.pack} pack")
    print("  next: forge-tui reviewer add NAME, then commit .forge/ and .gitattributes")
    return 0
