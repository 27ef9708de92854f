"""An S3 client for one attempt (boto3, with the run's credentials) and S3 errors as people read them.

boto3 rather than pyarrow's S3FileSystem: its transfer manager does multipart uploads and parallel
ranged downloads, its "standard" retry mode retries throttling and dropped connections with
exponential backoff, and its errors carry S3's own codes (AccessDenied, NoSuchBucket, ...), so a
permanent failure can be told from a passing one without reading messages (docs/s3.md).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from stoker.catalog.s3paths import ACCESS_KEY, SECRET_KEY, SESSION_TOKEN, endpoint_of, has_credentials

# Codes a retry cannot fix: the keys, the bucket or the key are wrong, not the moment.
_PERMANENT = {
    "AccessDenied": "access denied", "AllAccessDisabled": "access denied",
    "InvalidAccessKeyId": "access denied (the access key is not known)",
    "SignatureDoesNotMatch": "access denied (the secret key does not match the access key)",
    "ExpiredToken": "access denied (the session token has expired)",
    "InvalidToken": "access denied (the session token is not valid)",
    "403": "access denied", "Forbidden": "access denied",
    "NoSuchBucket": "no such bucket", "NoSuchKey": "no such key", "404": "not found",
    "NotFound": "not found", "InvalidBucketName": "invalid bucket name",
    "PermanentRedirect": "the bucket is in another region or endpoint",
    "AuthorizationHeaderMalformed": "the region does not match the bucket's",
}
RETRIES = {"mode": "standard", "max_attempts": 6}  # throttling, 5xx, resets: backoff up to ~20 s


class S3Failed(Exception):
    """An S3 operation failed; `permanent` says a retry of the attempt would fail the same way."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


def s3_client(s3: Mapping[str, Any] | None, *, allow_server: bool, server_endpoint: str | None,
              pool: int = 16) -> Any:
    """A client with the run's keys; with none, the server's own chain when the operator allows it."""
    import boto3
    import botocore.session
    from botocore.config import Config

    options = s3 or {}
    config = Config(retries=RETRIES, max_pool_connections=pool, connect_timeout=5, read_timeout=60,
                    s3={"addressing_style": "path"} if endpoint_of(options) or server_endpoint else None)
    kwargs: dict[str, Any] = {"config": config}
    if has_credentials(options):
        kwargs.update(aws_access_key_id=options[ACCESS_KEY], aws_secret_access_key=options[SECRET_KEY],
                      aws_session_token=options.get(SESSION_TOKEN) or None,
                      endpoint_url=endpoint_of(options), region_name=options.get("region") or None)
    elif allow_server:
        kwargs.update(endpoint_url=endpoint_of(options) or server_endpoint,
                      region_name=options.get("region") or None)
    else:
        raise S3Failed("the run has no S3 credentials (options.s3) and this server does not lend its "
                       "own", permanent=True)
    # A session of its own (boto3's default session is shared process-wide state, and a session
    # keeps the credentials it resolved), but the loader of the service's model is shared: a new
    # session loads S3's model again, about 0.2 s of CPU per attempt here, against 0.015 s.
    core = botocore.session.get_session()
    core.register_component("data_loader", _model_loader())
    return boto3.session.Session(botocore_session=core).client("s3", **kwargs)


@functools.cache
def _model_loader() -> Any:
    """botocore's loader of service models, made on first use; it caches what it loads."""
    import botocore.loaders

    return botocore.loaders.create_loader()


def explain(exc: BaseException, bucket: str, key: str | None = None) -> S3Failed:
    """An S3Failed naming the bucket (and key) and the problem, never the credentials."""
    from botocore.exceptions import (
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        ParamValidationError,
    )

    where = f"s3://{bucket}/{key}" if key else f"bucket {bucket!r}"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code in _PERMANENT:
            return S3Failed(f"S3 {_PERMANENT[code]}: {where} ({code})", permanent=True)
        return S3Failed(f"S3 error on {where}: {code} {error.get('Message', '')}".strip(), permanent=False)
    if isinstance(exc, (EndpointConnectionError, ConnectTimeoutError)):
        # botocore has already retried; an endpoint that never answers is a wrong endpoint.
        return S3Failed(f"S3 endpoint unreachable for {where}: {_endpoint_of(exc)}", permanent=True)
    if isinstance(exc, NoCredentialsError):
        return S3Failed(f"no S3 credentials found for {where}", permanent=True)
    if isinstance(exc, (ParamValidationError, ValueError)):
        return S3Failed(f"S3 request for {where} is not valid: {exc}", permanent=True)
    return S3Failed(f"S3 transfer for {where} failed: {type(exc).__name__}: {exc}", permanent=False)


def _endpoint_of(exc: BaseException) -> str:
    kwargs = getattr(exc, "kwargs", {}) or {}
    return str(kwargs.get("endpoint_url") or exc)
