"""Where the client finds its API URL and key, first match wins for each:

1. explicit values (the CLI's ``--api-url`` / ``--api-key``),
2. the environment: ``IOFOLD_API_URL``, ``IOFOLD_API_KEY``,
3. the login file ``iofold login`` writes: ``$XDG_CONFIG_HOME/iofold/config.json``
   (``~/.config/iofold/config.json``), mode 0600,
4. the running local stack's ``local.json``: ``$IOFOLD_DATA_DIR/local.json``, else
   ``.iofold/local.json`` in the current folder or the nearest parent that has one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from iofold.errors import ConfigError

ENV_URL, ENV_KEY = "IOFOLD_API_URL", "IOFOLD_API_KEY"


@dataclass(frozen=True)
class Settings:
    """A resolved API URL and key, and where each came from."""

    api_url: str
    api_key: str
    url_from: str
    key_from: str


def login_file() -> Path:
    """The file ``iofold login`` writes (XDG config dir)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "iofold" / "config.json"


def local_stack_file(cwd: Path | None = None) -> Path | None:
    """The running local stack's local.json, if there is one."""
    if os.environ.get("IOFOLD_DATA_DIR"):
        candidate = Path(os.environ["IOFOLD_DATA_DIR"]) / "local.json"
        return candidate if candidate.is_file() else None
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / ".iofold" / "local.json"
        if candidate.is_file():
            return candidate
    return None


def save_login(api_url: str, api_key: str) -> Path:
    """Write the login file, readable by its owner only; its path."""
    path = login_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), 0o600)  # an older file with looser bits is tightened
        json.dump({"api_url": api_url.rstrip("/"), "api_key": api_key}, f, indent=2)
    return path


def _read(path: Path | None) -> dict:
    if path is None or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    return data if isinstance(data, dict) else {}


def resolve(api_url: str | None = None, api_key: str | None = None) -> Settings:
    """The URL and key by the order in this module's docstring; ConfigError when either is missing."""
    sources = [("flag", {"api_url": api_url, "api_key": api_key}),
               ("environment", {"api_url": os.environ.get(ENV_URL), "api_key": os.environ.get(ENV_KEY)})]
    login = login_file()
    sources.append((str(login), _read(login)))
    local = local_stack_file()
    sources.append((str(local), _read(local)))
    found: dict[str, tuple[str, str]] = {}
    for name, values in sources:
        for field in ("api_url", "api_key"):
            if field not in found and values.get(field):
                found[field] = (str(values[field]), name)
    missing = [f for f in ("api_url", "api_key") if f not in found]
    if missing:
        raise ConfigError(f"no {' or '.join(m.replace('_', ' ') for m in missing)}: run `iofold login`, set "
                          f"{ENV_URL}/{ENV_KEY}, or start the local stack (`make dev`)")
    return Settings(found["api_url"][0].rstrip("/"), found["api_key"][0], found["api_url"][1], found["api_key"][1])
