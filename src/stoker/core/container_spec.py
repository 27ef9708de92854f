"""What a container run executes: image, command, env and limits, checked before anything is queued.

A container job's spec holds the defaults; a run may override any field (Stevedore's "additional
parameters" of a RUN), and `{{param}}` placeholders in the command and env are filled from the run's
parameters by the submitter. Pure: no I/O.
"""

from __future__ import annotations

import shlex
from typing import Any

from stoker.core import limits
from stoker.core.errors import InvalidInput

NETWORKS = ("none", "host", "bridge")
FIELDS = ("image", "command", "env", "timeout_seconds", "memory_mb", "cpus", "pids", "network")
MIN_MEMORY_MB = 6  # below this the runtime itself cannot start the container
MAX_ENV_VALUE = 100_000


def parse_command(command: Any) -> list[str] | None:
    """A command as a list of arguments; a string is split as a shell would (as Stevedore's clients
    sent it), without running a shell."""
    if command is None:
        return None
    if isinstance(command, str):
        try:
            return parse_command(shlex.split(command))
        except ValueError as exc:
            raise InvalidInput(f"command: cannot split {command!r} as a shell would: {exc}") from exc
    if isinstance(command, list) and all(isinstance(a, (str, int, float)) for a in command):
        if any("\0" in str(a) for a in command):
            raise InvalidInput("command: an argument cannot hold a NUL character")
        return [str(a) for a in command]
    raise InvalidInput("command must be a string (split as a shell would) or a list of strings")


def check_spec(raw: dict[str, Any]) -> dict[str, Any]:
    """A clean spec (unknown fields refused, values checked); raises InvalidInput saying what is wrong."""
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        raise InvalidInput(f"unknown container field(s) {', '.join(unknown)}; known: {', '.join(FIELDS)}")
    image = raw.get("image")
    if not isinstance(image, str) or not image.strip() or any(c.isspace() for c in image):
        raise InvalidInput("image must be an image reference such as localhost/stoker/busybox:latest")
    spec: dict[str, Any] = {"image": image, "command": parse_command(raw.get("command")),
                            "env": check_env(raw.get("env")), "network": raw.get("network") or "none"}
    if spec["network"] not in NETWORKS:
        raise InvalidInput(f"network must be one of {', '.join(NETWORKS)} (default none)")
    spec["timeout_seconds"] = _number(raw, "timeout_seconds", low=0.001, high=limits.MAX_TIMEOUT_SECONDS)
    spec["memory_mb"] = _number(raw, "memory_mb", low=MIN_MEMORY_MB, high=1_048_576, integer=True)
    spec["cpus"] = _number(raw, "cpus", low=0.01, high=1024)
    spec["pids"] = _number(raw, "pids", low=1, high=1_000_000, integer=True)
    return spec


def registry_of(image: str) -> str:
    """The registry an image reference pulls from, as Docker reads it: a first component with a dot
    or a port, or `localhost`, names a registry; anything else is on Docker Hub (docker.io)."""
    first, sep, _rest = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def check_registry(image: str, allowed: tuple[str, ...]) -> None:
    """Refuse an image from a registry outside `allowed` (empty: any registry)."""
    registry = registry_of(image)
    if allowed and registry not in allowed:
        raise InvalidInput(f"image {image!r} is from registry {registry}; this Stoker pulls only from "
                           f"{', '.join(allowed)} (STOKER_ALLOWED_REGISTRIES)")


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A job's spec with a run's overrides (None leaves the job's value)."""
    return {**base, **{k: v for k, v in overrides.items() if v is not None}}


def check_env(env: Any, field: str = "env") -> dict[str, str]:
    """Environment variables as strings; `field` names them in errors (env, or options.secret_env,
    whose values are never repeated in a message)."""
    if env is None:
        return {}
    if not isinstance(env, dict):
        raise InvalidInput(f'{field} must be an object of names to values, e.g. {{"GREETING": "hello"}}')
    out: dict[str, str] = {}
    for name, value in env.items():
        if not name or "=" in name or "\0" in name:
            raise InvalidInput(f"{field}: {name!r} is not a variable name")
        if not isinstance(value, (str, int, float, bool)) or len(str(value)) > MAX_ENV_VALUE or "\0" in str(value):
            raise InvalidInput(f"{field}: the value of {name} must be a string (or number) "
                               f"of at most {MAX_ENV_VALUE} characters, without NUL")
        out[name] = str(value)
    return out


def _number(raw: dict[str, Any], name: str, *, low: float, high: float,
            integer: bool = False) -> float | int | None:
    value = raw.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and value != int(value)):
        raise InvalidInput(f"{name} must be a{'n integer' if integer else ' number'} "
                           f"between {low:g} and {high:g}")
    if not low <= value <= high:
        raise InvalidInput(f"{name} must be between {low:g} and {high:g}, not {value:g}")
    return int(value) if integer else float(value)
