"""Secrets at rest and their redaction everywhere else.

The master key ring: one or more Fernet keys (AES-128-CBC + HMAC), each known by an id made from
the key itself (`key_id`). `STOKER_SECRET_KEY` holds one key or several separated by commas; without
it, the file `<data dir>/secret.key` holds them, one per line (made, mode 0600, on first use). Every
key of the ring opens; the first one seals (run secrets, webhook secrets) and, for named secrets,
wraps their data keys unless the database names another wrapping key (`stoker secrets
rotate-master-key`, docs/secrets.md). A named secret is encrypted under a key of its own (its data
key), and that key is stored wrapped by a master key, with the master key's id: rotating the master
key re-wraps data keys, never re-encrypts values, and a replica that lacks a key learns so by id.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from stoker.core.secret_refs import is_reference_section

REDACTED = "***redacted***"

# Keys whose values are secrets wherever they appear in run options: a pipeline's S3 keys, and the
# environment variables of a container run that must not be stored or shown in the clear.
SECRET_OPTION_KEYS = frozenset({"s3", "secret_env"})

KEY_FILE = "secret.key"


class MasterKeyError(Exception):
    """The master key ring cannot open what the database holds: a lost, wrong or missing key."""


def key_id(key: bytes) -> str:
    """A master key's public name: the start of its SHA-256, so no key needs a name of its own."""
    return hashlib.sha256(key.strip()).hexdigest()[:12]


def parse_keys(raw: str) -> list[bytes]:
    """Keys from `STOKER_SECRET_KEY` (commas) or the key file (lines); each must be a Fernet key."""
    keys = [part.strip().encode() for part in raw.replace(",", "\n").splitlines() if part.strip()]
    for number, key in enumerate(keys, 1):
        try:
            Fernet(key)
        except (ValueError, TypeError) as exc:
            raise MasterKeyError(f"master key {number} is not a Fernet key (32 url-safe base64-encoded "
                                 "bytes; make one with `stoker secrets generate-key`)") from exc
    if not keys:
        raise MasterKeyError("the master key ring is empty")
    return keys


class SecretBox:
    def __init__(self, key: bytes | Sequence[bytes], *, key_file: Path | None = None) -> None:
        self._key_file = key_file  # re-read when a key id is not in the ring (a rotation began)
        self._load([key] if isinstance(key, bytes) else list(key))

    def _load(self, keys: list[bytes]) -> None:
        self._keys = {key_id(k): k for k in keys}
        self._fernets = {kid: Fernet(k) for kid, k in self._keys.items()}
        self._multi = MultiFernet([Fernet(k) for k in keys])
        self._first = keys[0]

    @property
    def key_ids(self) -> list[str]:
        """The ring's key ids, the sealing key first."""
        return list(self._keys)

    @property
    def primary_id(self) -> str:
        return key_id(self._first)

    def has(self, kid: str) -> bool:
        if kid not in self._keys:
            self.reload()
        return kid in self._keys

    def reload(self) -> None:
        """Read the key file again (a rotation added a key to it while this process ran)."""
        if self._key_file is not None and self._key_file.exists():
            self._load(parse_keys(self._key_file.read_text()))

    def derive(self, label: str) -> str:
        """A stable secret for `label`, the same in every process that shares the key."""
        return hmac.new(self._first, label.encode(), hashlib.sha256).hexdigest()

    @classmethod
    def from_settings(cls, key: str | None, data_dir: Path) -> SecretBox:
        """Use the configured key(s); else the key file in the data dir, made (mode 0600) on first use."""
        if key:
            return cls(parse_keys(key))
        path = data_dir / KEY_FILE
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(Fernet.generate_key() + b"\n")
        return cls(parse_keys(path.read_text()), key_file=path)

    def seal(self, secrets: dict[str, Any]) -> str:
        return self._multi.encrypt(orjson.dumps(secrets)).decode()

    def open(self, sealed: str) -> dict[str, Any]:
        try:
            opened: dict[str, Any] = orjson.loads(self._multi.decrypt(sealed.encode()))
        except InvalidToken:
            self.reload()
            try:
                opened = orjson.loads(self._multi.decrypt(sealed.encode()))
            except InvalidToken as exc:
                raise MasterKeyError("no key of the master key ring opens this sealed value: the key it "
                                     "was sealed with is missing (STOKER_SECRET_KEY or secret.key)") from exc
        return opened

    def reseal(self, sealed: str) -> str:
        """The same value sealed with the ring's first key (MultiFernet.rotate)."""
        return self._multi.rotate(sealed.encode()).decode()

    # -- envelope encryption of named secrets ----------------------------------------------
    def wrap(self, data_key: bytes, kid: str | None = None) -> tuple[str, str]:
        """Encrypt a data key under the master key `kid` (default: the first); (kid, wrapped)."""
        kid = kid or self.primary_id
        if not self.has(kid):
            raise MasterKeyError(f"master key {kid} is not in this process's key ring")
        return kid, self._fernets[kid].encrypt(data_key).decode()

    def unwrap(self, kid: str, wrapped: str) -> bytes:
        if not self.has(kid):
            raise MasterKeyError(f"master key {kid} is not in this process's key ring (ids: "
                                 f"{', '.join(self.key_ids)}): add it to STOKER_SECRET_KEY or secret.key")
        try:
            return self._fernets[kid].decrypt(wrapped.encode())
        except InvalidToken as exc:
            raise MasterKeyError(f"master key {kid} does not open a data key it is said to wrap") from exc


def new_data_key() -> bytes:
    return Fernet.generate_key()


def encrypt_values(data_key: bytes, values: dict[str, str]) -> str:
    return Fernet(data_key).encrypt(orjson.dumps(values)).decode()


def decrypt_values(data_key: bytes, ciphertext: str) -> dict[str, str]:
    values: dict[str, str] = orjson.loads(Fernet(data_key).decrypt(ciphertext.encode()))
    return values


def generate_key() -> str:
    return Fernet.generate_key().decode()


def split_secrets(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split run options into (what may be stored and shown, what must be sealed). A section that
    only names secrets (`{"secret": "warehouse"}`, core/secret_refs.py) holds no value: it is public."""
    public = {k: v for k, v in options.items() if k not in SECRET_OPTION_KEYS or is_reference_section(v)}
    secret = {k: v for k, v in options.items() if k in SECRET_OPTION_KEYS and not is_reference_section(v)}
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
