"""Pipelines at real sizes: Stoker (session mode, over HTTP) against the same operations written by
hand in a warm PySpark session with the same resources, alternating run by run; S3 against local.

    .venv/bin/python bench/bench_sizes.py [--sizes 10,100,1024,2048] [--runs 5]
        [--pipelines csv_filter,group_by,join,sort] [--s3-max-mb 1024] [--data DIR] [--keep-data]
        [--cluster] [--conf KEY=VALUE ...]

Data (generated once per size, seeded, under --data; reused by later invocations with --keep-data):
  people.csv        id,name,age,city,score (bench_s3's columns), about SIZE MB of CSV part files
  people.parquet    the same rows as Parquet (written by Spark from the CSV, schema given)
  accounts.parquet  id,balance for every other id of people (the join's right side)
Pipelines (each ends with a Parquet write, overwrite):
  csv_filter   read_csv (header, inferSchema) → filter age > 30
  group_by     read_parquet people → group_by city (count, avg, sum)
  join         read_parquet people → inner join accounts on id
  sort         read_parquet people → sort by score descending
Sides, alternating run by run after one warm-up each, so machine noise hits all alike:
  stoker    HTTP submit → SUCCEEDED to one warm `stoker serve` (session mode, local[*])
  pyspark   the same operations in this process's warm PySpark session (local[*], Spark's own
            defaults: a user's hand-written job), same cores and driver memory
  s3        (csv_filter, sizes ≤ --s3-max-mb) Stoker with input and output in moto's S3 server
With --cluster both sides run on Spark standalone instead of local[*]: Stoker launches two identical
`spark-standalone` clusters (2 workers of 1 core, --worker-mem MB each); Stoker's runs go to one
(`options.cluster`), the hand-written session's executors to the other, so each side has the same
resources and neither waits for the other's executors to let go of cores (no S3 side then).
--conf adds server-level Spark settings (STOKER_SPARK_CONF_DEFAULTS) to Stoker's side, e.g. to try its
warm session without one of its defaults: --conf spark.scheduler.mode=FIFO.
MB/s is input bytes read over the p50. "cores busy" is from the collected listener events: the
task time of the run's jobs (its job group) over cores × the span from its first task's launch to
its last task's end; "of wall" divides by cores × the run's whole time instead; "outside tasks s" is
the run's time before its first task and after its last (submit, queue, session, planning, answer). "py MB" is the peak
resident memory (VmHWM) of Stoker's Python processes (the JVM is a child process, not counted).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from _server import TOKEN, percentile, print_table, write_results
from bench_s3 import staging_seconds, timed
from harness import Server, children_of

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from moto_s3 import start_moto, stop_moto

MB = 1024 * 1024
PIPELINES = ("csv_filter", "group_by", "join", "sort")
AGGS = {"people": "count(*)", "avg_age": "avg(age)", "total": "sum(score)"}
CITIES = ("Lisbon", "Oslo", "Lima", "Pune", "Kyiv", "Quito", "Accra", "Hanoi")
CSV_ROW_BYTES = 38  # about, for ids of 6 to 8 digits
FLOOR_JOB = "bench-pyspark"


# -- data ----------------------------------------------------------------------------------------

def generate(spark: Any, root: Path, size_mb: int) -> dict[str, Path]:
    """The inputs of one size under root/<size>mb, made once. Spark writes them (Python's writer in
    bench_s3 makes 2 MB/s here) from seeded columns over a fixed range and partitioning: the same
    rows every time. people.csv is a directory of CSV part files."""
    where = root / f"{size_mb}mb"
    paths = {"csv": where / "people.csv", "people": where / "people.parquet",
             "accounts": where / "accounts.parquet"}
    done = where / ".complete"
    if done.exists():
        return paths
    shutil.rmtree(where, ignore_errors=True)
    started = time.perf_counter()
    rows = size_mb * MB // CSV_ROW_BYTES
    cities = ", ".join(f"'{c}'" for c in CITIES)
    people = spark.range(0, rows, 1, max(2, size_mb // 64)).selectExpr(
        "id", "concat('person', id) AS name", "CAST(18 + floor(rand(11) * 63) AS INT) AS age",
        f"element_at(array({cities}), CAST(1 + floor(rand(12) * {len(CITIES)}) AS INT)) AS city",
        "round(rand(13) * 100, 3) AS score")
    people.write.mode("overwrite").option("header", True).csv(str(paths["csv"]))
    people.write.mode("overwrite").parquet(str(paths["people"]))
    spark.read.parquet(str(paths["people"])).where("id % 2 = 0").selectExpr(
        "id", "round(score * 37.5, 2) AS balance").write.mode("overwrite").parquet(str(paths["accounts"]))
    done.write_text("")
    print(f"generated {size_mb} MB in {time.perf_counter() - started:.0f} s", flush=True)
    return paths


def size_of(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.name.startswith((".", "_")))


def input_bytes(pipeline: str, paths: dict[str, Path]) -> int:
    if pipeline == "csv_filter":
        return size_of(paths["csv"])
    if pipeline == "join":
        return size_of(paths["people"]) + size_of(paths["accounts"])
    return size_of(paths["people"])


# -- the two ways of running a pipeline ----------------------------------------------------------

def stoker_steps(pipeline: str, paths: dict[str, str], out: str) -> list[list[Any]]:
    write = ["write_parquet", out, "overwrite"]
    if pipeline == "csv_filter":
        return [["read_csv", paths["csv"], {"header": True, "inferSchema": True}], ["filter", "age > 30"], write]
    source = ["read_parquet", paths["people"]]
    if pipeline == "group_by":
        return [source, ["group_by", ["city"], AGGS], write]
    if pipeline == "join":
        return [source, ["join", paths["accounts"], "id", "inner"], write]
    if pipeline == "sort":
        return [source, ["sort", "-score"], write]
    raise ValueError(pipeline)


def run_pyspark(spark: Any, pipeline: str, paths: dict[str, Path], out: Path, group: str) -> float:
    """The same operations as a user writes them by hand."""
    from pyspark.sql import functions as F

    spark.sparkContext.setJobGroup(group, group)
    started = time.perf_counter()
    if pipeline == "csv_filter":
        frame = spark.read.options(header=True, inferSchema=True).csv(str(paths["csv"])).filter("age > 30")
    else:
        people = spark.read.parquet(str(paths["people"]))
        if pipeline == "group_by":
            frame = people.groupBy("city").agg(*[F.expr(e).alias(n) for n, e in AGGS.items()])
        elif pipeline == "join":
            frame = people.join(spark.read.parquet(str(paths["accounts"])), on="id", how="inner")
        else:
            frame = people.orderBy(F.col("score").desc())
    frame.write.mode("overwrite").parquet(str(out))
    return time.perf_counter() - started


def floor_session(url: str, app_run_id: str, master: str = "local[*]", conf: dict[str, str] | None = None) -> Any:
    """A plain warm PySpark session, as a user starts one (Spark's defaults), plus Stoker's listener
    so its tasks are measured the same way (Stoker's sessions carry the same listener)."""
    from pyspark.sql import SparkSession

    from stoker.events.listener_conf import listener_conf

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(master).appName("bench-pyspark").config("spark.ui.enabled", "false")
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    builder = builder.config("spark.ui.showConsoleProgress", "false")
    for key, value in listener_conf(url, TOKEN, FLOOR_JOB, app_run_id).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def launch_cluster(client: Any, worker_mem: int) -> str:
    answer = client.post("/bigdata/api/v1/products/spark-standalone/4.3",
                         json={"size": 2, "worker.cores": 1, "worker.mem": worker_mem})
    answer.raise_for_status()
    return str(answer.json()["id"])


def wait_ready(client: Any, cluster_id: str, timeout: float = 300) -> str:
    """The cluster's master URL, once it is ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = client.get(f"/api/v1/clusters/{cluster_id}").json()
        if view["status"] == "ready":
            return str(view["master_url"])
        if view["status"] == "failed":
            raise RuntimeError(f"cluster {cluster_id} failed: {view['reason']}")
        time.sleep(0.5)
    raise RuntimeError(f"cluster {cluster_id} was not ready in {timeout:.0f} s")


# -- what the events say -------------------------------------------------------------------------

def task_times(client: Any, job_name: str, app_id: str) -> dict[str, list[tuple[int, int, int]]]:
    """(launch, finish, JVM GC ms) of every task, by job group, from an app's collected events."""
    text = client.get(f"/api/v1/spark/jobs/{job_name}/runs/{app_id}/events", timeout=300).text
    stage_group: dict[int, str] = {}
    tasks: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    for line in text.splitlines():
        if '"SparkListenerJobStart"' not in line and '"SparkListenerTaskEnd"' not in line:
            continue
        event = json.loads(line)
        if event["Event"] == "SparkListenerJobStart":
            group = (event.get("Properties") or {}).get("spark.jobGroup.id")
            for stage in event.get("Stage IDs", []):
                stage_group[stage] = group
        else:
            info = event["Task Info"]
            group = stage_group.get(event["Stage ID"])
            if group:
                gc = (event.get("Task Metrics") or {}).get("JVM GC Time", 0)
                tasks[group].append((info["Launch Time"], info["Finish Time"], gc))
    return tasks


def busy(tasks: list[tuple[int, int, int]], wall_s: float, cores: int) -> tuple[float, float, int, float, float]:
    """(share of cores busy over the tasks' span, share over the run's wall time, task count,
    share of task time in JVM GC, seconds of the run outside the tasks' span: the submit, the queue,
    the session, planning between jobs and the answer, which the cores-busy share does not see;
    task seconds in all)."""
    if not tasks:
        return 0.0, 0.0, 0, 0.0, wall_s, 0.0
    total = sum(end - start for start, end, _ in tasks)
    span = max(end for _, end, _ in tasks) - min(start for start, _, _ in tasks)
    gc = sum(g for _, _, g in tasks) / max(total, 1)
    return (total / (cores * max(span, 1)), total / (cores * wall_s * 1000), len(tasks), gc, wall_s - span / 1000,
            total / 1000)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds these processes have used so far (their own threads, not children)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def python_pids(pid: int) -> list[int]:
    """A process and its Python children (the JVMs left out)."""
    return [p for p, cmd in [(pid, "python"), *children_of(pid)] if "java" not in cmd]


def python_peak_mb(pid: int) -> float:
    """Peak resident memory of a process and its Python children (the JVMs left out)."""
    peak = 0
    for p in python_pids(pid):
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]))
    return peak / 1024


# -- the run -------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10,100,1024,2048", help="MB of CSV per size")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pipelines", default=",".join(PIPELINES))
    parser.add_argument("--s3-max-mb", type=int, default=1024, help="S3 runs for sizes up to this (0: none)")
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[1] / "data" / "bench-sizes"))
    parser.add_argument("--keep-data", action="store_true", help="keep the generated inputs for the next run")
    parser.add_argument("--name", default="sizes", help="results file name under bench/results/")
    parser.add_argument("--cluster", action="store_true", help="both sides on 2-worker standalone clusters")
    parser.add_argument("--worker-mem", type=int, default=2048, help="MB of each cluster worker (--cluster)")
    parser.add_argument("--conf", action="append", default=[], help="KEY=VALUE, a server-level Spark setting")
    args = parser.parse_args()
    if args.cluster:
        args.s3_max_mb = 0
    sizes = [int(s) for s in args.sizes.split(",")]
    pipelines = args.pipelines.split(",")
    cores = os.cpu_count() or 1
    data = Path(args.data)
    results: dict[str, Any] = {"cores": cores, "runs": args.runs, "cluster": args.cluster, "conf": args.conf,
                               "cells": []}
    groups: dict[str, tuple[str, str, str, float]] = {}  # job group → (size/pipeline/side key, ...)

    with tempfile.TemporaryDirectory(prefix="stoker-bench-sizes-") as t:
        tmp = Path(t)
        env = {"STOKER_STORAGE_ROOTS": str(data)}
        if args.conf:
            env["STOKER_SPARK_CONF_DEFAULTS"] = json.dumps(dict(item.split("=", 1) for item in args.conf))
        if args.cluster:  # two clusters of a master and 2 workers: 6 cores booked on a 2-core machine
            env["STOKER_CLUSTER_CAPACITY"] = "cores=6"
        server = Server(tmp / "stoker", env=env, fast_leases=False, start_timeout=120)
        data.mkdir(parents=True, exist_ok=True)
        server.start()
        moto = start_moto(tmp / "moto.log") if args.s3_max_mb else None
        spark = None
        clusters: list[str] = []
        try:
            client = server.client(timeout=300)
            floor_app = f"floor-{os.getpid()}"  # the listener's run id for the floor's events
            options: dict[str, Any] = {}
            if args.cluster:
                clusters = [launch_cluster(client, args.worker_mem) for _ in range(2)]
                masters = [wait_ready(client, c) for c in clusters]
                options = {"cluster": clusters[0]}
                spark = floor_session(server.url, floor_app, masters[1], {
                    "spark.executor.cores": "1", "spark.executor.memory": f"{args.worker_mem}m"})
            else:
                spark = floor_session(server.url, floor_app)
            stoker_app = None
            out_root = tmp / "stoker" / "files" / "out"
            for size in sizes:
                paths = generate(spark, data, size)
                str_paths = {k: str(v) for k, v in paths.items()}
                s3_on = moto is not None and size <= args.s3_max_mb and "csv_filter" in pipelines
                if s3_on:
                    assert moto is not None
                    alice = moto.client("alice")
                    for part in sorted(paths["csv"].glob("part-*")):
                        alice.upload_file(str(part), "alice-bucket", f"bench/{size}/people.csv/{part.name}")
                for pipeline in pipelines:
                    nbytes = input_bytes(pipeline, paths)
                    body = {"steps": stoker_steps(pipeline, str_paths, str(out_root / f"{size}-{pipeline}")),
                            "options": options}
                    s3_body = None
                    if s3_on and pipeline == "csv_filter":
                        assert moto is not None
                        s3_body = {"steps": stoker_steps(pipeline, {"csv": f"s3://alice-bucket/bench/{size}/people.csv/"},
                                                         f"s3://alice-bucket/bench/{size}/out/"),
                                   "options": {"s3": moto.options("alice")}}
                    floor_out = tmp / "floor-out" / f"{size}-{pipeline}"
                    sides: dict[str, Any] = {"stoker": body, "pyspark": None}
                    if s3_body is not None:
                        sides["s3"] = s3_body
                    times: dict[str, list[float]] = {side: [] for side in sides}
                    staged: list[float] = []
                    # CPU seconds per run of Stoker's Python processes and of moto's server: where
                    # the staged way's time goes on a 2-core machine that runs S3 itself
                    cpu: dict[str, list[tuple[float, float]]] = {side: [] for side in sides if side != "pyspark"}
                    order = list(sides)
                    for n in range(args.runs + 1):  # run 0 warms up
                        for side in order[n % len(order):] + order[:n % len(order)]:
                            key = f"{size}/{pipeline}/{side}/{n}"
                            if side == "pyspark":
                                elapsed = run_pyspark(spark, pipeline, paths, floor_out, key)
                                groups[key] = (FLOOR_JOB, floor_app, key, elapsed)
                            else:
                                watched = python_pids(server.proc.pid) if server.proc else []
                                before = cpu_seconds(watched), cpu_seconds([moto.process.pid] if moto else [])
                                elapsed, done = timed(client, sides[side])
                                if n:
                                    cpu[side].append((cpu_seconds(watched) - before[0],
                                                      cpu_seconds([moto.process.pid] if moto else []) - before[1]))
                                attempt = done["attempts"][-1]
                                stoker_app = attempt["spark_app_id"]
                                groups[key] = ("stoker-session", stoker_app, attempt["spark_job_group"], elapsed)
                                if side == "s3" and n:
                                    log = client.get(f"/api/v1/runs/{done['id']}/log").text
                                    staged.append(staging_seconds(log))
                            if n:
                                times[side].append(elapsed)
                    cell = {"size_mb": size, "pipeline": pipeline, "input_mb": nbytes / MB,
                            "staging_p50_s": percentile(staged, 50) if staged else None}
                    for side, xs in times.items():
                        p50 = percentile(xs, 50)
                        cell[side] = {"p50_s": p50, "p95_s": percentile(xs, 95), "mb_per_s": nbytes / MB / p50,
                                      "times": xs}
                    for side, used in cpu.items():
                        cell[side]["stoker_py_cpu_s"] = percentile([u[0] for u in used], 50)
                        cell[side]["moto_cpu_s"] = percentile([u[1] for u in used], 50)
                    cell["ratio"] = cell["stoker"]["p50_s"] / cell["pyspark"]["p50_s"]
                    if "s3" in cell:
                        cell["s3_ratio"] = cell["s3"]["p50_s"] / cell["stoker"]["p50_s"]
                    cell["py_peak_mb"] = python_peak_mb(server.proc.pid) if server.proc else None
                    results["cells"].append(cell)
                    s3_note = (f", s3 {cell['s3']['p50_s']:.2f} s ({cell['s3_ratio']:.2f}× local; staging "
                               f"{cell['staging_p50_s']:.2f} s, CPU s Stoker's Python "
                               f"{cell['s3']['stoker_py_cpu_s']:.1f} "
                               f"(local {cell['stoker']['stoker_py_cpu_s']:.1f}), moto {cell['s3']['moto_cpu_s']:.1f})"
                               if "s3" in cell else "")
                    print(f"{size} MB {pipeline}: stoker {cell['stoker']['p50_s']:.2f} s, pyspark "
                          f"{cell['pyspark']['p50_s']:.2f} s, ratio {cell['ratio']:.2f}{s3_note}", flush=True)
                    shutil.rmtree(floor_out, ignore_errors=True)
            time.sleep(12)  # the listeners post every few seconds
            by_app: dict[tuple[str, str], dict[str, list[tuple[int, int, int]]]] = {}
            for job, app, _group, _elapsed in groups.values():
                if (job, app) not in by_app:
                    by_app[(job, app)] = task_times(client, job, app)
            for cell in results["cells"]:
                for side in ("stoker", "pyspark", "s3"):
                    if side not in cell:
                        continue
                    shares = []
                    for n in range(1, args.runs + 1):
                        job, app, group, elapsed = groups[f"{cell['size_mb']}/{cell['pipeline']}/{side}/{n}"]
                        shares.append(busy(by_app[(job, app)].get(group, []), elapsed, cores))
                    cell[side]["cores_busy"] = percentile([s[0] for s in shares], 50)
                    cell[side]["cores_busy_of_wall"] = percentile([s[1] for s in shares], 50)
                    cell[side]["tasks"] = int(percentile([s[2] for s in shares], 50))
                    cell[side]["gc_share"] = percentile([s[3] for s in shares], 50)
                    cell[side]["outside_tasks_s"] = percentile([s[4] for s in shares], 50)
                    cell[side]["task_s"] = percentile([s[5] for s in shares], 50)
            client.close()
        finally:
            if spark is not None:
                spark.stop()
            for cluster in clusters:
                server_client = server.client()
                server_client.delete(f"/api/v1/clusters/{cluster}")
                server_client.close()
            if moto is not None:
                stop_moto(moto)
            server.stop(timeout=30)
    if not args.keep_data:
        shutil.rmtree(data, ignore_errors=True)

    rows = []
    for c in results["cells"]:
        for side in ("stoker", "pyspark", "s3"):
            if side not in c:
                continue
            s = c[side]
            ratio = {"stoker": f"{c['ratio']:.2f}", "s3": f"{c.get('s3_ratio', 0):.2f} vs local"}.get(side, "")
            rows.append([f"{c['size_mb']} MB", c["pipeline"], side, f"{c['input_mb']:.0f}", f"{s['p50_s']:.2f}",
                         f"{s['p95_s']:.2f}", f"{s['mb_per_s']:.1f}", ratio,
                         f"{s.get('cores_busy', 0):.0%}", f"{s.get('cores_busy_of_wall', 0):.0%}", s.get("tasks", ""),
                         f"{s.get('task_s', 0):.1f}", f"{s.get('gc_share', 0):.0%}",
                         f"{s.get('outside_tasks_s', 0):.2f}",
                         f"{c['py_peak_mb']:.0f}" if side != "pyspark" and c["py_peak_mb"] else "",
                         f"{s['stoker_py_cpu_s']:.1f}" if "stoker_py_cpu_s" in s else "",
                         f"{s['moto_cpu_s']:.1f}" if side == "s3" else ""])
    print_table(["size", "pipeline", "side", "input MB", "p50 s", "p95 s", "MB/s", "ratio", "cores busy",
                 "of wall", "tasks", "task s", "GC", "outside tasks s", "py MB", "py CPU s", "moto CPU s"], rows)
    print("written to", write_results(args.name, results))


if __name__ == "__main__":
    main()
