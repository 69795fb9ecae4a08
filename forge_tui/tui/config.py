"""The console's user configuration: `<user config dir>/forge-tui/config.toml` (platformdirs).

```toml
reviewer = "alice"          # the reviewer key to use when several are on this machine (optional)
lock_after = "5m"           # lock the unlocked reviewer key after this long without a key press ("off": never)
lock_on_detach = true       # lock it when the terminal session goes away (tmux detach, a hang-up)
lock_on_blur = false        # lock it whenever the terminal loses focus too
desktop_notify = true       # a notify-send notification for a new request, where notify-send exists

[keymap]                    # binding id = keys (comma-separated for several)
"app.approve" = "y"
"app.reject" = "n,ctrl+r"
```
A nested form (`[keymap.app] approve = "y"`) means the same. A config that cannot be read never stops
the console: it starts with the defaults and shows what was wrong.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

APP = "forge-tui"
CONFIG_ENV = "FORGE_TUI_CONFIG"


DEFAULT_LOCK_AFTER_S = 300
FLAGS = ("lock_on_detach", "lock_on_blur", "desktop_notify")


@dataclass
class ConsoleConfig:
    keymap: dict[str, str] = field(default_factory=dict)
    reviewer: str | None = None
    lock_after_s: int | None = DEFAULT_LOCK_AFTER_S  # None: never lock for idleness
    lock_on_detach: bool = True
    lock_on_blur: bool = False
    desktop_notify: bool = True
    problems: list[str] = field(default_factory=list)
    path: Path | None = None


def config_path() -> Path:
    """FORGE_TUI_CONFIG when set, else platformdirs' user config folder for forge-tui."""
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    from platformdirs import user_config_path

    return user_config_path(APP) / "config.toml"


def _flatten(table: dict, prefix: str, out: dict[str, str], problems: list[str]) -> None:
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            _flatten(value, f"{name}.", out, problems)
        elif isinstance(value, str) and value.strip():
            out[name] = ",".join(k.strip() for k in value.split(",") if k.strip())
        elif isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value):
            out[name] = ",".join(v.strip() for v in value)
        else:
            problems.append(f'keymap.{name}: expected keys as a string such as "y" or "n,ctrl+r"')


def parse_config(text: str, path: Path | None = None) -> ConsoleConfig:
    cfg = ConsoleConfig(path=path)
    where = str(path) if path else "config"
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        cfg.problems.append(f"{where}: {exc}")
        return cfg
    keymap = doc.get("keymap", {})
    if not isinstance(keymap, dict):
        cfg.problems.append(f"{where}: [keymap] must be a table")
    else:
        _flatten(keymap, "", cfg.keymap, cfg.problems)
    reviewer = doc.get("reviewer")
    if reviewer is not None:
        if isinstance(reviewer, str) and reviewer:
            cfg.reviewer = reviewer
        else:
            cfg.problems.append(f"{where}: reviewer must be a name")
    _lock_after(doc, cfg, where)
    for flag in FLAGS:
        if flag in doc:
            if isinstance(doc[flag], bool):
                setattr(cfg, flag, doc[flag])
            else:
                cfg.problems.append(f"{where}: {flag} must be true or false")
    unknown = set(doc) - {"keymap", "reviewer", "lock_after", *FLAGS}
    if unknown:
        cfg.problems.append(f"{where}: unknown settings {', '.join(sorted(unknown))}")
    return cfg


def _lock_after(doc: dict, cfg: ConsoleConfig, where: str) -> None:
    from forge_tui.core.policy import parse_duration

    value = doc.get("lock_after")
    if value is None:
        return
    if value in ("off", "never", 0):
        cfg.lock_after_s = None
        return
    try:
        cfg.lock_after_s = parse_duration(value)
    except ValueError:
        cfg.problems.append(f'{where}: lock_after must be a duration such as "5m" or "off", not {value!r}')


def load_config(path: Path | None = None) -> ConsoleConfig:
    """The configuration at `path` (default `config_path()`); missing means defaults."""
    path = path or config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ConsoleConfig(path=path)
    except (OSError, UnicodeDecodeError) as exc:
        return ConsoleConfig(path=path, problems=[f"{path}: {exc}"])
    return parse_config(text, path)
