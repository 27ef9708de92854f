"""The attempt contract between the worker and the executors: what an executor is handed for one
attempt (`Execution`: the claimed attempt, its secrets, its control and log) and what it offers
(`Executor`). It lives here, with control.py, attempt_log.py and errors.py, so executors never
import the worker; the worker imports them."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from stoker.core.attempts import Claimed, attempt_tag
from stoker.executors.attempt_log import AttemptLog, QuietLog
from stoker.executors.control import AttemptControl


@dataclass(frozen=True)
class SparkTarget:
    """Where an attempt's Spark work runs when it is not the worker's own master: a cluster's."""

    master: str
    conf: dict[str, str] = field(default_factory=dict)  # what its workers fit (executor memory, cores)
    cluster_id: str | None = None


class ClusterUnavailable(Exception):
    """The run's cluster cannot take it; `permanent` when it never will (destroyed, failed, unknown)."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass
class Execution:
    """Everything an executor gets for one attempt."""

    claimed: Claimed
    secrets: dict[str, Any]
    control: AttemptControl
    attempt_log: AttemptLog | QuietLog
    annotate: Callable[..., None] = lambda **_fields: None  # records spark_app_id etc. on the attempt
    target: SparkTarget | None = None  # None: the worker's own Spark master

    @property
    def log(self) -> logging.Logger:
        return self.attempt_log.logger

    @property
    def job_group(self) -> str:
        return attempt_tag(self.claimed.run_id, self.claimed.number)


class Executor(Protocol):
    name: str

    def execute(self, execution: Execution) -> Any:
        """Run the attempt to completion and return its result; raise on failure."""


def s3a_conf(s3: dict[str, Any] | None) -> dict[str, str]:
    """Map Speedy-style S3 credentials to Hadoop s3a settings (fs.s3a.* keys pass through)."""
    if not s3:
        return {}
    names = {"aws_access_key_id": "fs.s3a.access.key", "aws_secret_access_key": "fs.s3a.secret.key",
             "aws_session_token": "fs.s3a.session.token", "endpoint": "fs.s3a.endpoint",
             "endpoint_url": "fs.s3a.endpoint", "region": "fs.s3a.endpoint.region"}
    conf = {names[k]: str(v) for k, v in s3.items() if k in names}
    if "fs.s3a.endpoint" in conf:  # S3-compatible stores are addressed by path, not virtual host
        conf["fs.s3a.path.style.access"] = "true"
    # Hadoop caches one FileSystem per bucket and user: without this, a run could reuse the
    # filesystem (and so the keys) of another run on the same warm session.
    conf["fs.s3a.impl.disable.cache"] = "true"
    conf.update({k: str(v) for k, v in s3.items() if k.startswith("fs.s3a.")})
    if "fs.s3a.session.token" in conf:
        conf.setdefault("fs.s3a.aws.credentials.provider",
                        "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider")
    return conf


S3A_CLASS = "org.apache.hadoop.fs.s3a.S3AFileSystem"


def s3a_on_classpath(spark: Any, class_name: str = S3A_CLASS) -> bool:
    """Can this session's JVM load Hadoop's S3A filesystem (hadoop-aws and the AWS SDK bundle, from
    spark.jars or STOKER_SPARK_JARS)? Looked up through Spark's own class loader, which sees
    spark.jars; any failure counts as no."""
    try:
        return bool(spark.sparkContext._jvm.org.apache.spark.util.Utils.classIsLoadable(class_name))
    except Exception:
        return False
