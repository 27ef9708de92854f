"""Small pipeline, submit → SUCCEEDED over HTTP, side by side with its peers in the same run.

    .venv/bin/python bench/bench_pipeline.py [--runs 30] [--submit-runs 3]

Pipeline: read_csv (10k rows, header, inferSchema) → filter → group_by → collect.
  stoker     HTTP submit to a `stoker serve` (session mode, warm), long-poll until SUCCEEDED
  pyspark    the same pipeline written directly in a warm PySpark session (the floor)
  submit     the same pipeline through a cold `spark-submit` (one JVM per run)
Stoker and the floor alternate run by run so machine noise hits both alike.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from _server import percentile, print_table, stoker_server, write_results

STEPS = [["read_csv", "bench/people.csv", {"header": True, "inferSchema": True}],
         ["filter", "age > 30"],
         ["group_by", ["city"], {"people": "count(*)", "avg_age": "avg(age)", "total": "sum(score)"}],
         ["collect"]]

DIRECT = """
df = spark.read.options(header=True, inferSchema=True).csv(PATH)
rows = df.filter("age > 30").groupBy("city").agg(
    F.expr("count(*)").alias("people"), F.expr("avg(age)").alias("avg_age"),
    F.expr("sum(score)").alias("total")).collect()
"""


def make_csv(path: Path, rows: int = 10_000) -> None:
    rng = random.Random(7)
    cities = ["Lisbon", "Oslo", "Lima", "Pune", "Kyiv", "Quito", "Accra", "Hanoi"]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        fh.write("id,name,age,city,score\n")
        for i in range(rows):
            fh.write(f"{i},person{i},{rng.randint(18, 80)},{rng.choice(cities)},{rng.random() * 100:.3f}\n")


def run_direct(spark, path: str) -> float:  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    started = time.perf_counter()
    exec(DIRECT, {"spark": spark, "F": F, "PATH": path})
    return time.perf_counter() - started


def run_stoker(client) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    run = client.post("/api/v1/runs", json={"steps": STEPS}).json()
    done = client.get(f"/api/v1/runs/{run['id']}", params={"wait_seconds": 60}).json()
    elapsed = time.perf_counter() - started
    if done["state"] != "SUCCEEDED":
        raise RuntimeError(f"run failed: {done['error']}")
    return elapsed


def run_submit(path: str, tmp: Path) -> float:
    from stoker.executors.spark_session import FAST_DEFAULTS, SHORT_LIVED_JVM
    from stoker.executors.submit_mode import spark_submit_path

    script = tmp / "direct.py"
    script.write_text("from pyspark.sql import SparkSession, functions as F\n"
                      "spark = SparkSession.builder.getOrCreate()\n"
                      f"PATH = {path!r}\n" + textwrap.dedent(DIRECT) + "spark.stop()\n")
    cmd = [spark_submit_path(), "--master", "local[*]"]
    for key, value in {**FAST_DEFAULTS, **SHORT_LIVED_JVM}.items():
        cmd += ["--conf", f"{key}={value}"]
    started = time.perf_counter()
    subprocess.run([*cmd, str(script)], check=True, capture_output=True,
                   env={**__import__("os").environ, "PYSPARK_PYTHON": sys.executable})
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--submit-runs", type=int, default=3)
    args = parser.parse_args()
    from stoker.executors.spark_session import build_spark_session

    with tempfile.TemporaryDirectory(prefix="stoker-bench-") as tmpdir:
        tmp = Path(tmpdir)
        data = tmp / "data"
        csv = data / "files" / "bench" / "people.csv"
        make_csv(csv)
        spark = build_spark_session("local[*]", "bench-floor")
        with stoker_server(data) as client:
            for _ in range(args.warmup):
                run_stoker(client)
                run_direct(spark, str(csv))
            stoker_times, direct_times = [], []
            for _ in range(args.runs):
                stoker_times.append(run_stoker(client))
                direct_times.append(run_direct(spark, str(csv)))
        spark.stop()
        submit_times = [run_submit(str(csv), tmp) for _ in range(args.submit_runs)]

    def stats(xs: list[float]) -> dict[str, float]:
        return {"p50_ms": percentile(xs, 50) * 1000, "p95_ms": percentile(xs, 95) * 1000, "n": len(xs)}

    result: dict[str, Any] = {"stoker_http_session_mode": stats(stoker_times),
                              "pyspark_warm_direct": stats(direct_times)}
    if submit_times:  # --submit-runs 0 leaves the cold spark-submit out
        result["spark_submit_cold"] = stats(submit_times)
    floor = result["pyspark_warm_direct"]["p50_ms"]
    result["ratio_stoker_to_floor_p50"] = result["stoker_http_session_mode"]["p50_ms"] / floor
    if submit_times:
        result["ratio_submit_to_stoker_p50"] = (result["spark_submit_cold"]["p50_ms"]
                                                / result["stoker_http_session_mode"]["p50_ms"])
    rows = [[name, f"{s['p50_ms']:.0f}", f"{s['p95_ms']:.0f}", s["n"]]
            for name, s in result.items() if isinstance(s, dict)]
    print_table(["pipeline: csv 10k → filter → group_by → collect", "p50 ms", "p95 ms", "runs"], rows)
    print(f"stoker p50 / warm pyspark p50 = {result['ratio_stoker_to_floor_p50']:.2f} "
          f"(difference {result['stoker_http_session_mode']['p50_ms'] - floor:+.0f} ms)")
    if submit_times:
        print(f"cold spark-submit p50 / stoker p50 = {result['ratio_submit_to_stoker_p50']:.1f}")
    print("written to", write_results("pipeline", result))


if __name__ == "__main__":
    main()
