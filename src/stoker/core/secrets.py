"""Secrets at rest (Fernet: AES-128-CBC + HMAC) and their redaction everywhere else."""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path
from typing import Any

import orjson
from cryptography.fernet import Fernet

REDACTED = "***redacted***"

# Keys whose values are secrets wherever they appear in run options: a pipeline's S3 keys, and the
# environment variables of a container run that must not be stored or shown in the clear.
SECRET_OPTION_KEYS = frozenset({"s3", "secret_env"})


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)
        self._key = key

    def derive(self, label: str) -> str:
        """A stable secret for `label`, the same in every process that shares the key."""
        return hmac.new(self._key, label.encode(), hashlib.sha256).hexdigest()

    @classmethod
    def from_settings(cls, key: str | None, data_dir: Path) -> SecretBox:
        """Use the configured key; else a key file in the data dir, made (mode 0600) on first use."""
        if key:
            return cls(key.encode())
        path = data_dir / "secret.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(Fernet.generate_key())
        return cls(path.read_bytes().strip())

    def seal(self, secrets: dict[str, Any]) -> str:
        return self._fernet.encrypt(orjson.dumps(secrets)).decode()

    def open(self, sealed: str) -> dict[str, Any]:
        opened: dict[str, Any] = orjson.loads(self._fernet.decrypt(sealed.encode()))
        return opened


def split_secrets(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split run options into (what may be stored and shown, what must be sealed)."""
    public = {k: v for k, v in options.items() if k not in SECRET_OPTION_KEYS}
    secret = {k: v for k, v in options.items() if k in SECRET_OPTION_KEYS}
    return public, secret


def redacted_view(options: dict[str, Any], has_secrets: bool) -> dict[str, Any]:
    """Options as shown in responses: secret sections present but their values hidden."""
    if not has_secrets:
        return options
    # Each kind of run takes one secret section (submission/runs.py): a container run (its options hold
    # the container spec) its secret_env, a pipeline its s3 keys.
    return {**options, ("secret_env" if "container" in options else "s3"): REDACTED}


def write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner can read (it may hold secrets). Written under a temporary name
    and renamed, so a reader never sees it half-written or, for a moment, with wider permissions."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(temporary, path)
