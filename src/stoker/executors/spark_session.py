"""Building a warm local/remote SparkSession with defaults that suit small, frequent jobs."""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# Defaults for sub-second small jobs that scale to real inputs: no UI, few shuffle partitions
# when the input size is unknown (AQE coalesces further; known sizes set their own, see
# catalog/tuning.py), and no Arrow fallback noise. The default parallelism is left to Spark (the
# cores of the master), so inputs are split across every core. The JVMs keep their full JIT and
# default (parallel) collector: a warm session lives for hours and moves real data, and with C1 only
# and the serial collector (SHORT_LIVED_JVM) a 50 MB CSV pipeline ran 2.6× slower.
FAST_DEFAULTS: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.scheduler.mode": "FAIR",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    # Peak executor memory for the tuning loop (docs/tuning.md): per-stage peaks, the process tree
    # (JVM and Python workers) included, polled often enough for tasks of a second.
    "spark.eventLog.logStageExecutorMetrics": "true",
    "spark.executor.processTreeMetrics.enabled": "true",
    "spark.executor.metrics.pollingInterval": "500ms",
}

# For a JVM that lives a few seconds (a spark-submit driver per attempt): C1 only and the serial
# collector start faster and cost less JIT time on small jobs.
SHORT_LIVED_JVM: dict[str, str] = {
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
    "spark.executor.extraJavaOptions": "-XX:TieredStopAtLevel=1",
}


LOOPBACK = "127.0.0.1"


def driver_address(master: str) -> str:
    """The address a driver of `master` listens on and is reached at: loopback for a local master
    or one on this machine's loopback; otherwise this machine's address on the route to the master
    (the executors run on the master's hosts and connect back to the driver: docs/deploy.md)."""
    host = urlsplit(master.split(",")[0]).hostname if master.startswith("spark://") else None
    if not host:
        return LOOPBACK
    try:
        if ipaddress.ip_address(host).is_loopback:
            return LOOPBACK
    except ValueError:
        if host == "localhost":
            return LOOPBACK
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((host, 7077))  # no packet is sent: this only picks the route
            return str(probe.getsockname()[0])
    except OSError:
        return LOOPBACK


def driver_conf(master: str) -> dict[str, str]:
    address = driver_address(master)
    return {"spark.driver.host": address, "spark.driver.bindAddress": address}


def build_spark_session(master: str = "local[*]", app_name: str = "stoker",
                        conf: dict[str, str] | None = None) -> SparkSession:
    """Start (or return the running) SparkSession for this process."""
    # Spark's and PySpark's own variables, for the JVM and Python workers this process starts (a
    # protocol between processes, not Stoker configuration: config.py holds that).
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", _python())
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in {**FAST_DEFAULTS, **driver_conf(master), **(conf or {})}.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def _python() -> str:
    import sys

    return sys.executable
