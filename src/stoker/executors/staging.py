"""The staged way to S3: the objects a pipeline reads are copied into a per-attempt staging
directory before Spark reads them; what a write step produced goes up under the target prefix, once
the run succeeded, as multipart uploads completed only when every file is up, `_SUCCESS` last
(s3objects.commit_files). So a failed run leaves nothing under its target prefix, and Spark needs
no S3 connector at all.

The staging directory is private to the attempt (0700) and removed however the attempt ends; its
file names come from bucket and key names, never from credentials.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from stoker.catalog.paths import StorageRoots
from stoker.catalog.s3paths import S3Path
from stoker.config import Settings
from stoker.executors.base import Execution
from stoker.executors.s3client import S3Failed, explain, s3_client
from stoker.executors.s3objects import (
    PARALLEL,
    SUCCESS,
    check_writable,
    commit_files,
    existing,
    parallel,
    source_objects,
)

MB = 1024 * 1024
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
                check_writable(self.client, path)
                staged.outputs.append(_Output(path, local))
            else:
                staged.sources[str(local)] = self._download(path, local)
            rewritten[path.step][path.position + 1] = str(local)
        return staged

    def _download(self, path: S3Path, local: Path) -> Hashable:
        """Copy the object (or every object under the prefix) to `local`; returns their identity."""
        bucket, key = path.url.bucket, path.url.key
        directory, found = source_objects(self.client, bucket, key)
        if len(found) == 1 and found[0]["Key"] == key:
            jobs = [(key, local, found[0]["Size"])]
        else:
            jobs = [(o["Key"], local / o["Key"][len(directory):], o["Size"]) for o in found]
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
        parallel(fetch, jobs)
        self.log.info("S3 staged: read %s (%d object(s), %.1f MB) in %.2f s", path.given, len(jobs),
                      sum(size for _, _, size in jobs) / MB, time.perf_counter() - started)
        return ("s3", bucket, key, tuple(sorted((o["Key"], o.get("ETag"), o["Size"]) for o in found)))

    # -- after the run -----------------------------------------------------------------------
    def publish(self, staged: StagedRun, result: Any) -> Any:
        """Upload what each write produced under a temporary prefix, then publish it under the
        target prefix, `_SUCCESS` last; the result names the S3 URL, not the staging path."""
        for output in staged.outputs:
            if output.path.mode == "ignore" and existing(self.client, output.path):
                self.log.info("S3 staged: %s exists, mode ignore: nothing written", output.path.given)
                continue
            self._publish(output)
        if isinstance(result, dict) and staged.outputs:
            by_local = {str(o.local): o.path.given for o in staged.outputs}
            if result.get("path") in by_local:
                result = {**result, "path": by_local[result["path"]]}
        return result

    def _publish(self, output: _Output) -> None:
        files = sorted(p for p in output.local.rglob("*") if p.is_file()
                       and p.name != SUCCESS and not p.name.endswith(_SKIP_SUFFIXES)
                       and not p.name.startswith("."))
        size = sum(p.stat().st_size for p in files)
        self._count(size, f"writing {output.path.given}")
        started = time.perf_counter()
        commit_files(self.client, output.path, [(p, p.relative_to(output.local).as_posix()) for p in files],
                     self.log)
        self.log.info("S3 staged: wrote %s (%d file(s), %.1f MB), then %s, in %.2f s", output.path.given,
                      len(files), size / MB, SUCCESS, time.perf_counter() - started)

    # -- shared ----------------------------------------------------------------------------
    def _count(self, size: int, what: str) -> None:
        self.moved += size
        if self.moved > self.max_bytes:
            raise S3Failed(f"S3 staging limit: {what} brings this run to {self.moved / MB:.1f} MB moved, "
                           f"over the limit of {self.max_bytes / MB:.1f} MB per run "
                           "(STOKER_S3_MAX_RUN_BYTES)", permanent=True)


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
