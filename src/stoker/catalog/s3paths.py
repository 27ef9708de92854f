"""S3 in a pipeline: what an s3:// or s3a:// URL means, which steps read or write S3, and whether
a run has credentials that can apply. Pure: no network, no Spark, no S3 library."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

S3_SCHEMES = ("s3", "s3a")
# AWS's rules for general purpose bucket names (what S3-compatible stores accept too).
_BUCKET_CHARS = re.compile(r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$")
_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
# The run option names for credentials (Speedy Gonzales' options.s3).
ACCESS_KEY, SECRET_KEY, SESSION_TOKEN = "aws_access_key_id", "aws_secret_access_key", "aws_session_token"
ENDPOINT_KEYS = ("endpoint_url", "endpoint")


def bucket_problem(bucket: str) -> str | None:
    """Why `bucket` is not a valid bucket name, or None."""
    if not 3 <= len(bucket) <= 63:
        return f"bucket name {bucket!r} must be 3 to 63 characters long"
    if not _BUCKET_CHARS.match(bucket):
        return (f"bucket name {bucket!r} may hold only lowercase letters, digits, dots and hyphens, "
                "and must start and end with a letter or digit")
    if ".." in bucket:
        return f"bucket name {bucket!r} must not hold two dots in a row"
    try:
        ipaddress.IPv4Address(bucket)
        return f"bucket name {bucket!r} must not look like an IP address"
    except ValueError:
        pass
    if bucket.startswith(_BUCKET_PREFIXES) or bucket.endswith(_BUCKET_SUFFIXES):
        return f"bucket name {bucket!r} uses a prefix or suffix that S3 reserves"
    return None


@dataclass(frozen=True)
class S3Url:
    bucket: str
    key: str  # without a leading slash; "" for the bucket itself

    @property
    def uri(self) -> str:
        return f"s3a://{self.bucket}/{self.key}"

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def parse_s3_url(url: str) -> S3Url | None:
    """The bucket and key of an s3:// or s3a:// URL; None for anything else. Raises ValueError
    (with the reason) for an S3 URL that is malformed or names an invalid bucket."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in S3_SCHEMES:
        return None
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise ValueError(f"{url!r}: an S3 URL looks like s3://bucket/key")
    problem = bucket_problem(bucket)
    if problem:
        raise ValueError(f"{url!r}: {problem}")
    return S3Url(bucket, key.lstrip("/"))


@dataclass(frozen=True)
class S3Path:
    """One S3 URL in a checked pipeline: step `step`, argument `position`, read or written."""

    step: int
    position: int
    writes: bool
    url: S3Url
    given: str  # the URL as the client wrote it (s3:// or s3a://), shown back in results
    mode: str | None = None  # a write's save mode (errorifexists, overwrite, append, ignore)


def has_credentials(s3: Mapping[str, Any] | None) -> bool:
    """Does a run's options.s3 carry a key pair (or a session)?"""
    return bool(s3) and bool(s3.get(ACCESS_KEY)) and bool(s3.get(SECRET_KEY))  # type: ignore[union-attr]


def endpoint_of(s3: Mapping[str, Any] | None) -> str | None:
    for name in ENDPOINT_KEYS:
        value = (s3 or {}).get(name)
        if value:
            return str(value)
    return None


def options_problem(s3: Any) -> str | None:
    """Why a run's options.s3 cannot be used, or None."""
    if not isinstance(s3, dict):
        return ('options.s3 must be an object such as {"aws_access_key_id": "...", '
                '"aws_secret_access_key": "..."}')
    for name, value in s3.items():
        if not isinstance(value, str):
            return f"options.s3.{name} must be a string"
    if bool(s3.get(ACCESS_KEY)) != bool(s3.get(SECRET_KEY)):
        return f"options.s3 needs both {ACCESS_KEY} and {SECRET_KEY}, or neither"
    endpoint = endpoint_of(s3)
    if endpoint is not None and not re.match(r"^https?://[^/\s]+", endpoint):
        return "options.s3.endpoint_url must be an http:// or https:// URL"
    return None
