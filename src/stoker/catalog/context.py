"""What a pipeline runs with: the caller's RunContext, and the StepContext each function gets."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from stoker.catalog.errors import Cancelled
from stoker.catalog.paths import StorageRoots
from stoker.catalog.readers import read_files, read_path_or_table
from stoker.catalog.schema_cache import SchemaCache
from stoker.catalog.sqlguard import SESSION_CONF
from stoker.catalog.tuning import Tuning

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

_LOG = logging.getLogger("stoker.catalog")


class RemoteFiles(Protocol):
    """S3 read and written by the executor tasks themselves (executors/s3_executors.py), for runs
    whose executors may not share the worker's disk; `url` is an s3a:// URL as paths resolve it."""

    def identity(self, url: str) -> Hashable:
        """What the URL names now (keys, ETags, sizes): the schema cache's key for a read of it."""
        ...

    def read(self, spark: Any, fmt: str, url: str, options: Mapping[str, Any], schema: Any = None) -> Any:
        """A frame of what the URL names; `schema` (a StructType or DDL) skips inference."""
        ...

    def write(self, frame: Any, fmt: str, url: str, mode: str, options: Mapping[str, Any]) -> int:
        """Rows written (published only when the whole pipeline has succeeded)."""
        ...


@dataclass
class RunContext:
    """Everything an attempt gives the catalog. `spark` is called at most once, and only when a
    step needs Spark; it returns a session of this attempt alone (spark.newSession()), so the
    catalog may set session conf on it."""

    spark: Callable[[], SparkSession]
    roots: StorageRoots
    max_rows: int = 10_000
    max_bytes: int = 10 * 1024 * 1024
    log: logging.Logger | None = None
    cancelled: threading.Event | None = None
    # Local paths that stand for data elsewhere (a staged S3 input), with that data's identity
    # (bucket, keys, ETags): the schema cache keys reads of them by it, not by the local path.
    sources: Mapping[str, Hashable] = field(default_factory=dict)
    # The run's own runtime Spark settings (docs/spark-conf.md): set on its session over Stoker's
    # input sizing, under the SQL guard's.
    conf: Mapping[str, str] = field(default_factory=dict)
    # S3 through the executors (docs/s3.md, the executors' way); None: Spark's own paths.
    remote: RemoteFiles | None = None

    @property
    def logger(self) -> logging.Logger:
        return self.log or _LOG

    def is_cancelled(self) -> bool:
        return self.cancelled is not None and self.cancelled.is_set()


class PlanRun:
    """State of one execute() call: the lazily made session and the sizing decided up front."""

    def __init__(self, ctx: RunContext, schema_cache: SchemaCache, tuning: Tuning, *,
                 explaining: bool = False) -> None:
        self.ctx = ctx
        self.schema_cache = schema_cache
        self.tuning = tuning
        # Explaining (catalog/explain.py): reads take the schemas known without a pass over the
        # data, and say where each came from (step -> how).
        self.explaining = explaining
        self.schema_sources: dict[int, str] = {}
        self._session: SparkSession | None = None
        # Frames a step cached: released when the plan ends, since a warm session's runs share one
        # SparkContext (and its block manager) with every later run.
        self.persisted: list[DataFrame] = []

    def release(self) -> None:
        """Unpersist what the plan cached (blocking: the next run must not find the memory taken)."""
        while self.persisted:
            self.persisted.pop().unpersist(blocking=True)

    def session(self) -> SparkSession:
        if self._session is None:
            session = self.ctx.spark()
            cores = session.sparkContext.defaultParallelism if self.tuning.shuffle_partitions else 1
            for key, value in {**self.tuning.session_conf(cores), **self.ctx.conf, **SESSION_CONF}.items():
                session.conf.set(key, value)
            self._session = session
        return self._session


class StepContext:
    """Handed to a function's implementation: the session, the roots, limits and helpers.
    Plugins get the same object, so this is the surface they code against."""

    def __init__(self, execution: PlanRun, step: int, function: str) -> None:
        self._execution = execution
        self.step = step
        self.function = function

    @property
    def run(self) -> RunContext:
        return self._execution.ctx

    @property
    def spark(self) -> SparkSession:
        return self._execution.session()

    @property
    def roots(self) -> StorageRoots:
        return self.run.roots

    @property
    def log(self) -> logging.Logger:
        return self.run.logger

    @property
    def small(self) -> bool:
        """True when the inputs are known to be small (see tuning.py)."""
        return self._execution.tuning.small

    @property
    def schema_cache(self) -> SchemaCache:
        return self._execution.schema_cache

    @property
    def explaining(self) -> bool:
        """True when the pipeline is explained, not run: reads must not pass over the data."""
        return self._execution.explaining

    def note_schema(self, how: str) -> None:
        """Where this step's input schema came from, for an explanation."""
        self._execution.schema_sources[self.step] = how

    def check_cancelled(self) -> None:
        if self.run.is_cancelled():
            raise Cancelled(f"cancelled at step {self.step} ({self.function})")

    def wait(self, seconds: float) -> None:
        """Sleep, waking at once if the attempt is cancelled."""
        event = self.run.cancelled or threading.Event()
        if event.wait(seconds):
            raise Cancelled(f"cancelled at step {self.step} ({self.function})")

    def shape(self, frame: DataFrame) -> DataFrame:
        """A new source frame, shaped for the input size: one partition when small."""
        return frame.coalesce(1) if self.small else frame

    def persist(self, frame: DataFrame, level: str) -> DataFrame:
        """Cache a frame at a storage level (a name of pyspark's StorageLevel) for the rest of the
        plan; it is released when the plan ends, whether it succeeded or not."""
        from pyspark import StorageLevel

        if self.explaining:  # nothing runs; a cache mark would outlive the explanation
            return frame
        cached = frame.persist(getattr(StorageLevel, level))
        self._execution.persisted.append(cached)
        return cached

    def read(self, fmt: str, path: str, options: dict[str, Any] | None = None) -> DataFrame:
        """Read a resolved path in a format, through the schema cache, shaped for the input size."""
        return self.shape(read_files(self, fmt, path, options or {}))

    def read_path_or_table(self, value: str) -> DataFrame:
        """Read what join/union name: a file by its extension, or a table."""
        return self.shape(read_path_or_table(self, value))
