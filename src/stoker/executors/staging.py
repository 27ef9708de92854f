"""The staged way to S3: the objects a pipeline reads are copied into a per-attempt staging
directory before Spark reads them; what a write step produced is uploaded under a temporary prefix
and published under the target prefix only when the run succeeded, `_SUCCESS` last. So a failed
run leaves nothing under its target prefix, and Spark needs no S3 connector at all.

The staging directory is private to the attempt (0700) and removed however the attempt ends; its
file names come from bucket and key names, never from credentials.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from stoker.catalog.paths import StorageRoots
from stoker.catalog.s3paths import S3Path
from stoker.config import Settings
from stoker.executors.base import Execution
from stoker.executors.s3client import S3Failed, explain, s3_client

MB = 1024 * 1024
PARALLEL = 8  # objects moved at once; each large one also moves in parallel parts
SUCCESS = "_SUCCESS"
# Spark's own bookkeeping files in a written directory, never uploaded.
_SKIP_SUFFIXES = (".crc",)


def transfer_config() -> Any:
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(multipart_threshold=16 * MB, multipart_chunksize=16 * MB,
                          max_concurrency=PARALLEL, use_threads=True)


@dataclass
class _Output:
    path: S3Path
    local: Path


@dataclass
class StagedRun:
    """A pipeline rewritten to read and write the staging directory, and how to publish it."""

    steps: list[Any]
    roots: StorageRoots
    outputs: list[_Output] = field(default_factory=list)
    # Each staged input's local path → the S3 objects it holds (bucket, keys, ETags, sizes): what
    # the schema cache keys a read of it by, since the local path is new for every attempt.
    sources: dict[str, Hashable] = field(default_factory=dict)


class S3Staging:
    """One attempt's staging: use as a context manager; stage(), run the steps, publish()."""

    def __init__(self, client: Any, paths: list[S3Path], *, staging_root: Path, attempt_id: str,
                 max_bytes: int, log: logging.Logger) -> None:
        self.client = client
        self.paths = paths
        self.staging_root = staging_root
        self.attempt_id = attempt_id
        self.max_bytes = max_bytes
        self.log = log
        self.directory: Path | None = None
        self.moved = 0  # bytes downloaded and uploaded, against max_bytes

    def __enter__(self) -> S3Staging:
        self.staging_root.mkdir(parents=True, exist_ok=True)
        self.directory = Path(tempfile.mkdtemp(prefix=f"{self.attempt_id}-", dir=self.staging_root))
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    # -- before the run ----------------------------------------------------------------------
    def stage(self, steps: list[Any], roots: StorageRoots) -> StagedRun:
        """Download every input, check every output may be written; the steps now point at the
        staging directory, which the returned roots let the catalog read and write."""
        assert self.directory is not None, "use S3Staging as a context manager"
        rewritten = [list(step) for step in steps]
        staged = StagedRun(rewritten, StorageRoots(roots.storage_root, [*roots.extra_roots, self.directory]))
        for n, path in enumerate(self.paths):
            name = PurePosixPath(path.url.key.rstrip("/")).name or path.url.bucket
            local = self.directory / ("out" if path.writes else "in") / str(n) / name
            local.parent.mkdir(parents=True)
            if path.writes:
                self._check_writable(path)
                staged.outputs.append(_Output(path, local))
            else:
                staged.sources[str(local)] = self._download(path, local)
            rewritten[path.step][path.position + 1] = str(local)
        return staged

    def _objects(self, bucket: str, prefix: str) -> list[dict[str, Any]]:
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            return [obj for page in pages for obj in page.get("Contents", [])]
        except Exception as exc:
            raise explain(exc, bucket, prefix or None) from None

    def _download(self, path: S3Path, local: Path) -> Hashable:
        """Copy the object (or every object under the prefix) to `local`; returns their identity."""
        bucket, key = path.url.bucket, path.url.key
        directory = key.rstrip("/") + "/" if key.rstrip("/") else ""
        # One object when the key names one; else every object under it as a directory.
        found = [] if key.endswith("/") or not key else [o for o in self._objects(bucket, key) if o["Key"] == key]
        if found:
            objects = found
            jobs = [(key, local, found[0]["Size"])]
        else:
            objects = [o for o in self._objects(bucket, directory) if not o["Key"].endswith("/")]
            if not objects:
                raise S3Failed(f"S3 no such key: s3://{bucket}/{key} (no object and nothing under it)",
                               permanent=True)
            jobs = [(o["Key"], local / o["Key"][len(directory):], o["Size"]) for o in objects]
        self._count(sum(size for _, _, size in jobs), f"reading s3://{bucket}/{key}")
        config = transfer_config()

        def fetch(job: tuple[str, Path, int]) -> None:
            object_key, target, _size = job
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                self.client.download_file(bucket, object_key, str(target), Config=config)
            except Exception as exc:
                raise explain(exc, bucket, object_key) from None

        started = time.perf_counter()
        self._parallel(fetch, jobs)
        self.log.info("S3 staged: read %s (%d object(s), %.1f MB) in %.2f s", path.given, len(jobs),
                      sum(size for _, _, size in jobs) / MB, time.perf_counter() - started)
        return ("s3", bucket, key, tuple(sorted((o["Key"], o.get("ETag"), o["Size"]) for o in objects)))

    def _check_writable(self, path: S3Path) -> None:
        if path.mode == "errorifexists" and self._existing(path):
            raise S3Failed(f"S3 path already exists: {path.given} (write mode errorifexists; use "
                           "overwrite or append)", permanent=True)

    def _existing(self, path: S3Path) -> list[str]:
        prefix = path.url.key.rstrip("/") + "/"
        return [o["Key"] for o in self._objects(path.url.bucket, prefix)]

    # -- after the run -----------------------------------------------------------------------
    def publish(self, staged: StagedRun, result: Any) -> Any:
        """Upload what each write produced under a temporary prefix, then publish it under the
        target prefix, `_SUCCESS` last; the result names the S3 URL, not the staging path."""
        for output in staged.outputs:
            if output.path.mode == "ignore" and self._existing(output.path):
                self.log.info("S3 staged: %s exists, mode ignore: nothing written", output.path.given)
                continue
            self._publish(output)
        if isinstance(result, dict) and staged.outputs:
            by_local = {str(o.local): o.path.given for o in staged.outputs}
            if result.get("path") in by_local:
                result = {**result, "path": by_local[result["path"]]}
        return result

    def _publish(self, output: _Output) -> None:
        bucket = output.path.url.bucket
        target = output.path.url.key.rstrip("/") + "/"
        files = sorted(p for p in output.local.rglob("*") if p.is_file()
                       and p.name != SUCCESS and not p.name.endswith(_SKIP_SUFFIXES)
                       and not p.name.startswith("."))
        self._count(sum(p.stat().st_size for p in files), f"writing {output.path.given}")
        parent = str(PurePosixPath(target.rstrip("/")).parent)
        temporary = ("" if parent == "." else parent + "/") + f"_stoker_temporary_{self.attempt_id}/"
        relative = [p.relative_to(output.local).as_posix() for p in files]
        config = transfer_config()

        def upload(name: str) -> None:
            try:
                self.client.upload_file(str(output.local / name), bucket, temporary + name, Config=config)
            except Exception as exc:
                raise explain(exc, bucket, temporary + name) from None

        published: list[str] = []
        started = time.perf_counter()
        try:
            self._parallel(upload, relative)
            if output.path.mode == "overwrite":
                self._delete(bucket, self._existing(output.path))

            def copy(name: str) -> None:
                try:
                    self.client.copy({"Bucket": bucket, "Key": temporary + name}, bucket, target + name,
                                     Config=config)
                except Exception as exc:
                    raise explain(exc, bucket, target + name) from None
                published.append(target + name)

            self._parallel(copy, relative)
            self.client.put_object(Bucket=bucket, Key=target + SUCCESS, Body=b"")
        except BaseException:
            # Half a publish must not look like output: take back what was copied.
            self._delete(bucket, published, quiet=True)
            raise
        finally:
            self._delete(bucket, [temporary + name for name in relative], quiet=True)
        self.log.info("S3 staged: wrote %s (%d file(s), %.1f MB), then %s, in %.2f s", output.path.given,
                      len(files), sum(p.stat().st_size for p in files) / MB, SUCCESS,
                      time.perf_counter() - started)

    def _delete(self, bucket: str, keys: list[str], *, quiet: bool = False) -> None:
        for start in range(0, len(keys), 1000):
            chunk = [{"Key": key} for key in keys[start:start + 1000]]
            try:
                self.client.delete_objects(Bucket=bucket, Delete={"Objects": chunk, "Quiet": True})
            except Exception as exc:
                if not quiet:
                    raise explain(exc, bucket) from None
                self.log.warning("S3 staged: could not remove %d object(s) in bucket %s", len(chunk), bucket)

    # -- shared ----------------------------------------------------------------------------
    def _count(self, size: int, what: str) -> None:
        self.moved += size
        if self.moved > self.max_bytes:
            raise S3Failed(f"S3 staging limit: {what} brings this run to {self.moved / MB:.1f} MB moved, "
                           f"over the limit of {self.max_bytes / MB:.1f} MB per run "
                           "(STOKER_S3_MAX_RUN_BYTES)", permanent=True)

    @staticmethod
    def _parallel(work: Callable[[Any], None], items: list[Any]) -> None:
        if len(items) <= 1:
            for item in items:
                work(item)
            return
        with ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="stoker-s3") as pool:
            for _ in pool.map(work, items):
                pass


def staging_root(data_dir: Path) -> Path:
    return data_dir.resolve() / "staging"



def run_staged(execution: Execution, settings: Settings, paths: list[S3Path], steps: list[Any],
               roots: StorageRoots, run: Callable[[StagedRun], Any]) -> Any:
    """Stage the S3 inputs, `run(staged)` on the staged pipeline (its steps, roots and the
    identities of its inputs), publish its outputs; the staging directory goes however this ends.
    Used by session and submit mode alike."""
    execution.log.info("S3: staged way (%d S3 path(s); Spark has no s3a connector)", len(paths))
    client = s3_client(execution.secrets.get("s3"), allow_server=settings.s3_allow_server_credentials,
                       server_endpoint=settings.s3_endpoint_url)
    with S3Staging(client, paths, staging_root=staging_root(settings.data_dir),
                   attempt_id=execution.claimed.attempt_id, max_bytes=settings.s3_max_run_bytes,
                   log=execution.log) as staging:
        staged = staging.stage(steps, roots)
        return staging.publish(staged, run(staged))
