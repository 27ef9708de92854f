"""Where the client finds Stoker and its token: the argument, then STOKER_URL / STOKER_TOKEN, then the
CLI's config file (`stoker login` writes it), then the local default address."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:8000"


def config_path() -> Path:
    """$STOKER_CONFIG, else $XDG_CONFIG_HOME/stoker/config.toml, else ~/.config/stoker/config.toml."""
    if explicit := os.environ.get("STOKER_CONFIG"):
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "stoker" / "config.toml"


@dataclass(frozen=True)
class Target:
    url: str
    token: str | None

    def headers(self) -> dict[str, str]:
        """Every request's headers: who asks, and its bearer token when there is one."""
        from stoker import __version__

        found = {"User-Agent": f"stoker-client/{__version__}"}
        if self.token:
            found["Authorization"] = f"Bearer {self.token}"
        return found


def read_config(path: Path | None = None) -> dict[str, str]:
    """The file's `url` and `token` (strings), or nothing when there is no file."""
    path = path or config_path()
    try:
        loaded = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read the Stoker config {path}: {exc}") from exc
    return {k: v for k, v in loaded.items() if k in ("url", "token") and isinstance(v, str)}


def write_config(url: str, token: str, path: Path | None = None) -> Path:
    """Write `url` and `token` (owner-only permissions: it holds a secret)."""
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(f"url = {_toml_string(url)}\ntoken = {_toml_string(token)}\n")
    os.chmod(path, 0o600)
    return path


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def resolve(url: str | None = None, token: str | None = None) -> Target:
    """Each of url and token from the first place that has it: argument, environment, config file."""
    url = url or os.environ.get("STOKER_URL")
    token = token or os.environ.get("STOKER_TOKEN")
    if url is None or token is None:
        saved = read_config()
        url = url or saved.get("url")
        token = token or saved.get("token")
    return Target((url or DEFAULT_URL).rstrip("/"), token)
