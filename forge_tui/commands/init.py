"""forge-tui init"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
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
.forge.bak-<time>).

--claude-code, --codex and --gemini merge forge-tui's hooks into that host's project settings (every
other setting and hook is kept; run again to update them). On a project that already has .forge/ they
only install the hooks. Existing settings files are checked before anything is written: a file that is
not valid JSON stops init with nothing changed. Then run `forge-tui doctor`."""


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
        help="also install the Claude Code hooks in .claude/settings.json (works on an existing project)",
    )
    p.add_argument(
        "--codex", action="store_true", help="also install the Codex CLI hooks in .codex/hooks.json"
    )
    p.add_argument(
        "--gemini", action="store_true", help="also install the Gemini CLI hooks in .gemini/settings.json"
    )


def run(args: argparse.Namespace) -> int:
    from forge_tui.core.project import find_project, init_project, join_project
    from forge_tui.errors import ConfigError, NotAProject

    root = Path(args.dir)
    if not root.is_dir():
        raise ConfigError(f"{root} is not a folder")
    hosts = [
        h
        for h, on in (("claude-code", args.claude_code), ("codex", args.codex), ("gemini", args.gemini))
        if on
    ]
    if args.join:
        project = find_project(root)
        lid = join_project(project)
        print(f"joined project {project.name} ({project.project_id}) with ledger {lid}")
        if hosts:
            _integrate(project.root, hosts, _timeout_of_file(project.policy_path))
        return 0
    if hosts and not args.force and (root / ".forge").exists():
        try:
            project = find_project(root)
        except NotAProject:
            raise ConfigError(f"{root / '.forge'} exists but holds no project.toml") from None
        if project.root != root.resolve():
            raise ConfigError(f"{root} is inside project {project.root}; run init there")
        _integrate(project.root, hosts, _timeout_of_file(project.policy_path))
        return 0
    from forge_tui.core.project import pack_text
    from forge_tui.hooks import settings

    # Everything the integration will write is computed first: a bad settings file stops here.
    planned = settings.plan(root.resolve(), hosts, _timeout_of(pack_text(args.pack))) if hosts else []
    undo = _Undo.before(root.resolve())
    project = init_project(root, pack=args.pack, name=args.name, force=args.force)
    lid = project.local_ledger_id()
    try:
        settings.write(planned)
    except OSError as exc:
        try:
            undo.run(project, lid)
        except OSError:
            pass  # the write's error is the one to report
        raise ConfigError(f"could not write the hook settings ({exc}); nothing was initialised") from None
    print(f"initialised {project.name} ({project.project_id})")
    print(f"  ledger {lid}: .forge/ledger/{lid}.jsonl (genesis signed)")
    print(f"  policy: .forge/policy.toml from the {args.pack} pack")
    for p in planned:
        print(f"  {p.host.title} hooks: {p.host.settings}")
    print("  next: forge-tui reviewer add NAME, then commit .forge/ and .gitattributes")
    if planned:
        print("  then: forge-tui doctor")
    return 0


def _integrate(root: Path, hosts: list[str], approval_timeout_s: int) -> None:
    from forge_tui.errors import ConfigError
    from forge_tui.hooks import settings

    planned = settings.plan(root, hosts, approval_timeout_s)
    try:
        settings.write(planned)
    except OSError as exc:
        raise ConfigError(
            f"could not write the hook settings ({exc.filename}: {exc.strerror}); every settings file is unchanged"
        ) from None
    for p in planned:
        print(
            f"{p.host.title} hooks installed in {p.host.settings} (timeout {approval_timeout_s + settings.TIMEOUT_MARGIN_S} s)"
        )
    print("check the setup with: forge-tui doctor")


def _timeout_of(policy_bytes: bytes) -> int:
    from forge_tui.core.policy import parse_policy

    return int(parse_policy(policy_bytes).approval_timeout_s)


def _timeout_of_file(path: Path) -> int:
    """The approval timeout of the project's policy (ConfigError when it does not load: the hooks'
    timeouts are derived from it, so a guess could leave the host's timeout below it)."""
    from forge_tui.errors import ConfigError

    try:
        return _timeout_of(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None


@dataclass(frozen=True)
class _Undo:
    """What a new project's init changes outside .forge/, noted before it runs, to put back when the
    hooks cannot be written (a failed integration leaves no half-made project)."""

    root: Path
    gitattributes: bytes | None  # the file's bytes before init (None: there was none)
    backups: frozenset[str]  # .forge.bak-* folders already there (--force adds one)

    @classmethod
    def before(cls, root: Path) -> _Undo:
        attrs = root / ".gitattributes"
        return cls(
            root,
            attrs.read_bytes() if attrs.is_file() else None,
            frozenset(p.name for p in root.glob(".forge.bak-*")),
        )

    def run(self, project, ledger_id: str) -> None:
        import shutil

        from forge_tui.core.keys import ledger_key_path

        shutil.rmtree(project.forge_dir, ignore_errors=True)
        shutil.rmtree(project.state_dir, ignore_errors=True)  # its ledger copy and local.toml
        ledger_key_path(ledger_id).unlink(missing_ok=True)  # the key of a ledger that no longer exists
        attrs = self.root / ".gitattributes"
        if self.gitattributes is None:
            attrs.unlink(missing_ok=True)
        else:
            attrs.write_bytes(self.gitattributes)
        new = [p for p in self.root.glob(".forge.bak-*") if p.name not in self.backups]
        if len(new) == 1 and not project.forge_dir.exists():
            new[0].rename(project.forge_dir)  # --force: the project it replaced comes back
