"""S3 bookkeeping shared by the staged way and the executors' way (docs/s3.md): what a read names,
whether an output may be written, and the commits of an output: the staged way's local files as
multipart uploads completed together (`commit_files`); the executors' way's objects, which Spark
wrote under a temporary prefix, copied under the target prefix (`publish`). `_SUCCESS` comes last."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any

from stoker.catalog.s3paths import S3Path
from stoker.executors.s3client import S3Failed, explain

PARALLEL = 8  # objects moved at once; each large one also moves in parallel parts
PART_BYTES = 16 * 1024 * 1024  # S3's parts are 5 MiB at least, all but the last
SUCCESS = "_SUCCESS"


def objects(client: Any, bucket: str, prefix: str) -> list[dict[str, Any]]:
    try:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [obj for page in pages for obj in page.get("Contents", [])]
    except Exception as exc:
        raise explain(exc, bucket, prefix or None) from None


def source_objects(client: Any, bucket: str, key: str) -> tuple[str, list[dict[str, Any]]]:
    """(the directory prefix, the objects) a read of s3://bucket/key means: the one object the key
    names, else every object under it as a directory. Raises S3Failed when there is none."""
    directory = key.rstrip("/") + "/" if key.rstrip("/") else ""
    found = [] if key.endswith("/") or not key else [o for o in objects(client, bucket, key) if o["Key"] == key]
    if found:
        return directory, found
    under = [o for o in objects(client, bucket, directory) if not o["Key"].endswith("/")]
    if not under:
        raise S3Failed(f"S3 no such key: s3://{bucket}/{key} (no object and nothing under it)", permanent=True)
    return directory, under


def data_files(directory: str, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The objects of a directory read that hold data: not Spark's or Hadoop's bookkeeping
    (`_SUCCESS`, `.crc`, hidden files), as Spark's own file listing skips them."""
    def is_data(key: str) -> bool:
        name = PurePosixPath(key[len(directory):]).name
        return not name.startswith(("_", ".")) and not name.endswith(".crc")

    return [o for o in found if is_data(o["Key"])]


def existing(client: Any, path: S3Path) -> list[str]:
    return [o["Key"] for o in objects(client, path.url.bucket, _prefix(path))]


def check_writable(client: Any, path: S3Path) -> None:
    if path.mode == "errorifexists" and existing(client, path):
        raise S3Failed(f"S3 path already exists: {path.given} (write mode errorifexists; use "
                       "overwrite or append)", permanent=True)


def temporary_prefix(path: S3Path, attempt_id: str) -> str:
    """The prefix an attempt's output is written under before it is published: beside the target,
    so a listing of the target never sees it."""
    parent = str(PurePosixPath(path.url.key.rstrip("/")).parent)
    return ("" if parent == "." else parent + "/") + f"_stoker_temporary_{attempt_id}/"


def delete(client: Any, bucket: str, keys: list[str], log: logging.Logger, *, quiet: bool = False) -> None:
    for start in range(0, len(keys), 1000):
        chunk = [{"Key": key} for key in keys[start:start + 1000]]
        try:
            client.delete_objects(Bucket=bucket, Delete={"Objects": chunk, "Quiet": True})
        except Exception as exc:
            if not quiet:
                raise explain(exc, bucket) from None
            log.warning("S3: could not remove %d object(s) in bucket %s", len(chunk), bucket)


def publish(client: Any, path: S3Path, temporary: str, names: list[str], log: logging.Logger,
            config: Any = None) -> None:
    """Copy the files `names` from the temporary prefix under the target prefix (after removing
    what was there, in mode overwrite), then `_SUCCESS`. Half a publish must not look like output:
    on failure what was copied is taken back. The caller removes the temporary prefix."""
    bucket = path.url.bucket
    extra = {"Config": config} if config is not None else {}

    def copy(key: str, name: str) -> None:
        client.copy({"Bucket": bucket, "Key": temporary + name}, bucket, key, **extra)

    _show(client, path, names, copy, log)


def commit_files(client: Any, path: S3Path, files: list[tuple[Path, str]], log: logging.Logger) -> None:
    """Write local files under the target prefix (each as `name`, relative to it), `_SUCCESS` last,
    after removing what was there in mode overwrite. Each file goes up as a multipart upload that
    is completed only once every part of every file is up: S3 shows an object when its upload
    completes, so until then nothing is visible, a failure aborts the uploads and leaves no half
    output, and, unlike an upload under a temporary prefix, the bytes are never copied again (the
    way Hadoop's S3A committers commit). Half a commit is taken back."""
    bucket, target = path.url.bucket, _prefix(path)
    uploads: dict[str, str] = {}  # key → upload id, until completed
    etags: dict[str, dict[int, str]] = {}

    def start(item: tuple[Path, str]) -> None:
        key = target + item[1]
        try:
            uploads[key] = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        except Exception as exc:
            raise explain(exc, bucket, key) from None
        etags[key] = {}

    def send(part: tuple[str, int, Path, int]) -> None:
        key, number, local, offset = part
        with open(local, "rb") as f:
            f.seek(offset)
            body = f.read(PART_BYTES)
        try:
            etags[key][number] = client.upload_part(Bucket=bucket, Key=key, UploadId=uploads[key],
                                                    PartNumber=number, Body=body)["ETag"]
        except Exception as exc:
            raise explain(exc, bucket, key) from None

    def complete(key: str, _name: str) -> None:
        numbered = [{"PartNumber": n, "ETag": etag} for n, etag in sorted(etags[key].items())]
        client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uploads[key],
                                         MultipartUpload={"Parts": numbered})
        del uploads[key]  # only once completed: a failed completion is still aborted

    try:
        parallel(start, files)
        parallel(send, [(target + name, n + 1, local, offset) for local, name in files
                        for n, offset in enumerate(range(0, max(1, local.stat().st_size), PART_BYTES))])
        _show(client, path, [name for _, name in files], complete, log)
    except BaseException:
        for key, upload in list(uploads.items()):
            try:
                client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload)
            except Exception:
                log.warning("S3: could not abort the upload of s3://%s/%s", bucket, key)
        raise


def _prefix(path: S3Path) -> str:
    return path.url.key.rstrip("/") + "/"


def _show(client: Any, path: S3Path, names: list[str], show: Callable[[str, str], None],
          log: logging.Logger) -> None:
    """The end of both commits: in mode overwrite remove what is under the target prefix, make
    each name visible under it (`show(key, name)`, in parallel), then `_SUCCESS`. On failure what
    was shown is taken back, so half a commit never looks like output."""
    bucket, target = path.url.bucket, _prefix(path)
    shown: list[str] = []

    def one(name: str) -> None:
        try:
            show(target + name, name)
        except Exception as exc:
            raise explain(exc, bucket, target + name) from None
        shown.append(target + name)

    try:
        if path.mode == "overwrite":
            delete(client, bucket, existing(client, path), log)
        parallel(one, names)
        client.put_object(Bucket=bucket, Key=target + SUCCESS, Body=b"")
    except BaseException:
        delete(client, bucket, shown, log, quiet=True)
        raise


def parallel(work: Callable[[Any], None], items: list[Any]) -> None:
    if len(items) <= 1:
        for item in items:
            work(item)
        return
    with ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="stoker-s3") as pool:
        for _ in pool.map(work, items):
            pass
