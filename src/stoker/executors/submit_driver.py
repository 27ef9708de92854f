"""The driver program spark-submit runs in submit mode: spec file in, result file out."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def main(spec_path: str, result_path: str) -> int:
    import orjson
    from pyspark.sql import SparkSession

    from stoker.catalog import RunContext, StorageRoots, load_catalog
    from stoker.executors.base import s3a_conf
    from stoker.executors.failures import is_permanent, short_error

    spec = orjson.loads(Path(spec_path).read_bytes())
    Path(spec_path).unlink()  # it may hold secrets; it has been read
    spark = SparkSession.builder.getOrCreate()
    for key, value in s3a_conf(spec.get("s3")).items():
        spark.conf.set(key, value)
    roots = StorageRoots(Path(spec["storage_root"]), [Path(p) for p in spec["extra_roots"]])
    ctx = RunContext(spark=lambda: spark, roots=roots, max_rows=spec["max_rows"], max_bytes=spec["max_bytes"],
                     conf=spec.get("conf") or {})
    try:
        result = execute(load_catalog(), spec, ctx)
        outcome = {"ok": True, "result": result}
    except Exception as exc:  # reported to the worker as the attempt's error
        import traceback

        traceback.print_exc()
        outcome = {"ok": False, "error": short_error(exc), "permanent": is_permanent(exc)}
    outcome["app_id"] = spark.sparkContext.applicationId
    Path(result_path).write_bytes(orjson.dumps(outcome))
    spark.stop()
    return 0 if outcome["ok"] else 1


def execute(catalog: Any, spec: dict[str, Any], ctx: Any) -> Any:
    """The pipeline, with S3 through the executors when the worker chose that way (docs/s3.md)."""
    through = spec.get("executors_s3")
    if not through:
        return catalog.execute(spec["steps"], ctx)
    import dataclasses
    import logging

    from stoker.executors.s3_executors import through_executors

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    paths = catalog.s3_paths(spec["steps"], ctx.roots)
    return through_executors(through["s3"], paths, lambda remote: catalog.execute(
        spec["steps"], dataclasses.replace(ctx, remote=remote)), attempt_id=through["attempt_id"],
        log=logging.getLogger("stoker.driver"), allow_server=through["allow_server"],
        server_endpoint=through["server_endpoint"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
