"""A forge-tui project: the `.forge/` folder in the repository and its private state outside it (docs/design.md §3)."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forge_tui.errors import ConfigError, ForgeError, NotAProject
from forge_tui.paths import FORGE_DIR, atomic_write, find_project_root, private_dir, project_state_dir

if TYPE_CHECKING:
    from forge_tui.core.note import Verifier

# Imports used by one path only (init, join, packs, copies) live in the functions that use them:
# `verify`, `log` and `status` load a project on their critical path (tests/unit/test_cli_imports.py).

PROJECT_FILE = "project.toml"
GITATTRIBUTES_LINES = (
    "# forge-tui: ledgers are byte-exact (a CRLF conversion would break every hash)",
    ".forge/ledger/** -text merge=forge-ledger",
)
PACKS = ("solo", "pair-review", "strict", "ci")


@dataclass
class Project:
    root: Path
    project_id: str
    name: str
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def forge_dir(self) -> Path:
        return self.root / FORGE_DIR

    @property
    def policy_path(self) -> Path:
        return self.forge_dir / "policy.toml"

    @property
    def ledger_dir(self) -> Path:
        return self.forge_dir / "ledger"

    @property
    def pub_dir(self) -> Path:
        return self.forge_dir / "keys"

    @property
    def reviewers_path(self) -> Path:
        return self.forge_dir / "reviewers.toml"

    @property
    def state_dir(self) -> Path:
        return project_state_dir(self.project_id)

    def local_ledger_id(self) -> str:
        """The ledger this machine writes (its signing key's ledger)."""
        path = self.state_dir / "local.toml"
        try:
            doc = tomllib.loads(path.read_text())
            return str(doc["ledger_id"])
        except FileNotFoundError:
            raise ConfigError(
                "this machine has no ledger for this project",
                hint="run `forge-tui init --join` to create one",
            ) from None
        except (OSError, tomllib.TOMLDecodeError, KeyError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path} is unreadable: {exc}") from None

    def ledger_ids(self) -> list[str]:
        """Every ledger tracked in the repository (one per machine that ever wrote)."""
        if not self.ledger_dir.is_dir():
            return []
        return sorted(p.stem for p in self.ledger_dir.glob("*.jsonl"))

    def tracked_ledger(self, ledger_id: str) -> Path:
        return self.ledger_dir / f"{ledger_id}.jsonl"

    def tracked_checkpoint(self, ledger_id: str) -> Path:
        return self.ledger_dir / f"{ledger_id}.checkpoint"

    def origin(self, ledger_id: str) -> str:
        return f"forge-tui.local/{self.project_id}/{ledger_id}"

    def ledger_verifiers(self, ledger_id: str) -> list[Verifier]:
        """The ledger's public keys from `.forge/keys/<ledger-id>.pub` (one vkey per line)."""
        return read_pub_file(self.pub_dir / f"{ledger_id}.pub")


def read_pub_file(path: Path) -> list[Verifier]:
    from forge_tui.core.note import parse_vkey

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"no public key file {path}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8") from None
    out = [parse_vkey(line) for line in text.split("\n") if line.strip() and not line.startswith("#")]
    if not out:
        raise ConfigError(f"{path} holds no vkey")
    return out


def load_project_file(forge_dir: Path) -> Project:
    path = forge_dir / PROJECT_FILE
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8") from None
    pid = doc.get("project_id")
    try:
        _check_uuid(str(pid))
    except ValueError:
        raise ConfigError(f"{path}: project_id {pid!r} is not a UUID") from None
    return Project(
        root=forge_dir.parent.resolve(),
        project_id=str(pid),
        name=str(doc.get("name", forge_dir.parent.name)),
        settings=dict(doc.get("settings", {})),
    )


def _check_uuid(text: str) -> None:
    """ValueError unless `text` is a UUID in a form `uuid.UUID(text)` accepts (the same rule, without
    importing uuid, which imports platform: this runs on every command that loads a project)."""
    hexits = text.replace("urn:", "").replace("uuid:", "").strip("{}").replace("-", "")
    if len(hexits) != 32:
        raise ValueError("badly formed hexadecimal UUID string")
    int(hexits, 16)


def find_project(start: Path | None = None) -> Project:
    """The project containing `start` (default: the current folder), searching upwards."""
    root = find_project_root(start)
    if root is None:
        here = (start or Path.cwd()).resolve()
        raise NotAProject(
            f"no {FORGE_DIR}/{PROJECT_FILE} in {here} or above", hint="run `forge-tui init` first"
        )
    return load_project_file(root / FORGE_DIR)


def pack_text(pack: str) -> bytes:
    if pack not in PACKS:
        raise ConfigError(f"unknown policy pack {pack!r}", hint=f"choose one of {', '.join(PACKS)}")
    from importlib import resources

    return (resources.files("forge_tui") / "packs" / f"{pack}.toml").read_bytes()


def new_ledger_id() -> str:
    import secrets

    return secrets.token_hex(8)


def init_project(root: Path, *, pack: str = "solo", name: str | None = None, force: bool = False) -> Project:
    """Create `.forge/` in `root`: project id, this machine's ledger and key, policy, genesis, checkpoint."""
    import shutil
    import time
    import uuid

    import tomli_w

    root = root.resolve()
    forge = root / FORGE_DIR
    policy = pack_text(pack)
    if forge.exists() and not force:
        raise ConfigError(
            f"{forge} already exists",
            hint="use `forge-tui init --join` to add this machine, or --force to start over (the old folder is kept)",
        )
    from forge_tui.paths import data_root

    try:
        data_root()  # the private data folder must be usable before anything is written
    except OSError as exc:
        raise ConfigError(
            f"cannot use the data folder {exc.filename or ''}: {exc.strerror}",
            hint="set FORGE_DATA_DIR to a folder you can write",
        ) from None
    backup = None
    if forge.exists():
        backup = root / f"{FORGE_DIR}.bak-{time.strftime('%Y%m%dT%H%M%S')}"
    project = Project(root=root, project_id=str(uuid.uuid4()), name=name or root.name)
    made_forge = False
    try:
        if backup is not None:
            forge.rename(backup)
        forge.mkdir()
        made_forge = True
        doc = {"project_id": project.project_id, "name": project.name, "settings": {}}
        atomic_write(forge / PROJECT_FILE, tomli_w.dumps(doc).encode())
        atomic_write(project.policy_path, policy)
        atomic_write(
            project.reviewers_path,
            b'# Reviewers who may approve requests: [reviewers.<name>] vkey = "..." (forge-tui reviewer add NAME)\n',
        )
        _ensure_gitattributes(root)
        join_project(project)
    except (OSError, ForgeError) as exc:
        # Leave no half-made project: what this call created goes, the folder it replaced comes back.
        if made_forge:
            shutil.rmtree(forge, ignore_errors=True)
        shutil.rmtree(data_root() / "projects" / project.project_id, ignore_errors=True)
        if backup is not None and backup.exists() and not forge.exists():
            backup.rename(forge)
        if isinstance(exc, ForgeError):
            raise
        where = exc.filename or root
        raise ConfigError(
            f"cannot initialise {root}: {where}: {exc.strerror}", hint="nothing was left behind"
        ) from None
    return project


def join_project(project: Project) -> str:
    """Give this machine its own ledger (key, public key file, genesis record) in an existing project."""
    import tomli_w

    from forge_tui.core.keys import save_ledger_key
    from forge_tui.core.ledger import LedgerWriter
    from forge_tui.core.note import Signer

    state = project.state_dir
    if (state / "local.toml").exists():
        lid = project.local_ledger_id()
        if project.tracked_ledger(lid).exists():
            raise ConfigError(f"this machine already writes ledger {lid} for this project")
    lid = new_ledger_id()
    signer = Signer.generate(project.origin(lid))
    save_ledger_key(lid, signer)
    project.pub_dir.mkdir(parents=True, exist_ok=True)
    project.ledger_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(project.pub_dir / f"{lid}.pub", (signer.verifier.vkey + "\n").encode())
    writer = LedgerWriter.create(project, lid, signer)
    writer.close()
    atomic_write(state / "local.toml", tomli_w.dumps({"ledger_id": lid}).encode(), mode=0o600)
    return lid


def _ensure_gitattributes(root: Path) -> None:
    path = root / ".gitattributes"
    existing = path.read_bytes() if path.exists() else b""  # kept byte for byte, whatever its encoding
    missing = [line.encode() for line in GITATTRIBUTES_LINES if line.encode() not in existing.split(b"\n")]
    if missing:
        sep = b"" if existing.endswith(b"\n") or not existing else b"\n"
        atomic_write(path, existing + sep + b"\n".join(missing) + b"\n")


def private_state(project: Project, *parts: str) -> Path:
    return private_dir(project.state_dir.joinpath(*parts))


def copy_file(src: Path, dst: Path) -> None:
    import shutil

    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)
