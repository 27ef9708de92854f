"""Records the small Spark event logs the tuning heuristics are tested on
(tests/unit/test_tuning_diagnosis.py): one real local Spark application per pathology, its event log
gzipped here (oom_jvm.jsonl.gz: the spill app with uuid strings, which ran out of heap instead). Re-run by hand when
Spark's event format changes:

    PYTHONPATH=src .venv/bin/python tests/data/tuning/record_logs.py

Each app is small (seconds on 2 cores) but shows its pathology plainly."""

from __future__ import annotations

import glob
import gzip
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
BASE = {
    "spark.ui.enabled": "false", "spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1",
    "spark.eventLog.enabled": "true", "spark.eventLog.rolling.enabled": "false", "spark.eventLog.compress": "false",
    "spark.eventLog.logStageExecutorMetrics": "true",
    "spark.executor.processTreeMetrics.enabled": "true", "spark.executor.metrics.pollingInterval": "200ms",
}


def over_partitioned(spark):  # 400 shuffle partitions, AQE off, for a few thousand rows
    df = spark.range(0, 200_000, numPartitions=8).selectExpr("id % 97 AS k", "id AS v")
    df.groupBy("k").sum("v").collect()


def spill(spark):  # two partitions sorting 3M rows in a small execution memory
    spark.range(0, 3_000_000, numPartitions=2).selectExpr("rand(1) AS r", "id") \
        .sortWithinPartitions("r").write.format("noop").mode("overwrite").save()


def skew(spark):  # a join where one key holds most rows, AQE off
    big = spark.range(0, 1_500_000, numPartitions=4).selectExpr(
        "CASE WHEN id % 10 < 8 THEN 0 ELSE id END AS k", "id AS v")
    small = spark.range(0, 100_000, numPartitions=2).selectExpr("id AS k", "id * 2 AS w")
    big.join(small, "k").selectExpr("sum(v + w)").collect()


def broadcast(spark):  # a sort-merge join whose smaller side is a few hundred KB
    big = spark.range(0, 2_000_000, numPartitions=4).selectExpr("id % 5000 AS k", "id AS v")
    small = spark.range(0, 5000, numPartitions=1).selectExpr("id AS k", "cast(id AS string) AS name")
    big.join(small, "k").groupBy("name").count().collect()


def idle(spark):  # a driver-bound loop: small jobs with driver work between them, on 2 cores
    for i in range(4):
        spark.range(0, 50_000, numPartitions=1).selectExpr(f"sum(id + {i})").collect()
        time.sleep(0.8)


def oom(spark):  # a Python worker that runs out of the memory the executor allows it
    from pyspark.sql.functions import udf

    @udf("long")
    def hog(x):
        block = bytearray(400 * 1024 * 1024)
        return len(block) + x

    try:
        spark.range(0, 4, numPartitions=2).select(hog("id")).collect()
    except Exception:  # the failure is the recording
        pass


APPS: dict[str, tuple[Callable, dict[str, str]]] = {
    "over_partitioned": (over_partitioned, {"spark.sql.shuffle.partitions": "400",
                                            "spark.sql.adaptive.enabled": "false"}),
    "spill": (spill, {"spark.memory.fraction": "0.05", "spark.sql.adaptive.enabled": "false",
                      "spark.sql.shuffle.partitions": "1", "spark.driver.memory": "512m"}),
    "skew": (skew, {"spark.sql.adaptive.enabled": "false", "spark.sql.autoBroadcastJoinThreshold": "-1",
                    "spark.sql.shuffle.partitions": "8"}),
    "broadcast": (broadcast, {"spark.sql.autoBroadcastJoinThreshold": "-1", "spark.sql.shuffle.partitions": "8"}),
    "idle": (idle, {}),
    "oom": (oom, {"spark.executor.pyspark.memory": "200m", "spark.task.maxFailures": "1"}),
}


def record(name: str) -> Path:
    from pyspark.sql import SparkSession

    fn, conf = APPS[name]
    logdir = tempfile.mkdtemp(prefix="tuning-log-")
    builder = SparkSession.builder.master("local[2]").appName(f"tuning-{name}")
    for key, value in {**BASE, **conf, "spark.eventLog.dir": logdir}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    try:
        fn(spark)
    finally:
        spark.stop()
    (log,) = glob.glob(os.path.join(logdir, "*"))
    out = HERE / f"{name}.jsonl.gz"
    with open(log, "rb") as src, gzip.open(out, "wb", compresslevel=9) as dst:
        shutil.copyfileobj(src, dst)
    shutil.rmtree(logdir)
    return out


if __name__ == "__main__":
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    for name in sys.argv[1:] or APPS:
        # one JVM per app: driver memory is fixed when the JVM starts
        if len(sys.argv) == 1:
            os.system(f"{sys.executable} {__file__} {name}")
        else:
            print(name, record(name).stat().st_size)
