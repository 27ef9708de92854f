"""Cluster launch → ready, side by side with starting the same JVMs by hand, in the same run.

    .venv/bin/python bench/bench_cluster.py [--runs 5] [--pipeline-runs 20]

  stoker      POST /bigdata/api/v1/products/spark-standalone/4.3 {"size": 2} to a `stoker serve`,
              poll the cluster every 50 ms until `ready` (the master's /json lists both workers
              ALIVE with their cores), then destroy it
  by hand     pyspark's sbin/spark-daemon.sh start …Master, then …Worker twice (what sbin/start-all.sh
              does), the same ports, memory and cores; ready when the master's /json lists both
              workers ALIVE and the commands have returned
  by hand ∥   the three spark-daemon.sh commands at once; ready as soon as /json lists both ALIVE
              (the scripts' own 2 s waits not counted)
Stoker and the hand-started cluster alternate run by run. With --pipeline-runs, the small pipeline
(bench_pipeline.py's) also runs through the same server on local[*] and on a ready 2-worker cluster
(session mode; each side as a block after two warm-up runs: a worker keeps one warm session at a time).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from _server import percentile, print_table, stoker_server, write_results
from bench_pipeline import STEPS, make_csv
from stoker.clusters.orchestrators.local import spark_home
from stoker.clusters.processes import free_port


def wait_alive(web_port: int, workers: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/json", timeout=1) as r:
                if json.loads(r.read()).get("aliveworkers") == workers:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("the hand-started cluster never had its workers ALIVE")


def by_hand(tmp: Path, *, parallel: bool) -> float:
    """Start master + 2 workers with spark-daemon.sh; seconds until both workers are ALIVE."""
    home = spark_home()
    daemon = str(home / "sbin" / "spark-daemon.sh")
    run_dir = Path(tempfile.mkdtemp(dir=tmp))
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_DAEMON_MEMORY": "256m",
           "SPARK_PID_DIR": str(run_dir), "SPARK_LOG_DIR": str(run_dir / "logs"),
           "SPARK_WORKER_DIR": str(run_dir / "work"), "SPARK_IDENT_STRING": run_dir.name}
    port, web = free_port(), free_port()
    master = [daemon, "start", "org.apache.spark.deploy.master.Master", "1", "--host", "127.0.0.1",
              "--port", str(port), "--webui-port", str(web)]
    workers = [[daemon, "start", "org.apache.spark.deploy.worker.Worker", str(i), f"spark://127.0.0.1:{port}",
                "--host", "127.0.0.1", "--port", str(free_port()), "--webui-port", str(free_port()),
                "--cores", "1", "--memory", "512m"] for i in (1, 2)]
    started = time.perf_counter()
    try:
        if parallel:
            procs = [subprocess.Popen(c, env=env, stdout=subprocess.DEVNULL) for c in [master, *workers]]
            wait_alive(web, 2)
            elapsed = time.perf_counter() - started
            for p in procs:
                p.wait()
        else:
            for command in [master, *workers]:
                subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
            wait_alive(web, 2)
            elapsed = time.perf_counter() - started
    finally:
        for name, instance in [("org.apache.spark.deploy.worker.Worker", "1"),
                               ("org.apache.spark.deploy.worker.Worker", "2"),
                               ("org.apache.spark.deploy.master.Master", "1")]:
            subprocess.run([daemon, "stop", name, instance], env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    return elapsed


def launch_stoker(client) -> tuple[float, str]:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    r = client.post("/bigdata/api/v1/products/spark-standalone/4.3", json={"size": 2})
    r.raise_for_status()
    cluster_id = r.json()["id"]
    while True:
        view = client.get(f"/api/v1/clusters/{cluster_id}").json()
        if view["status"] == "ready":
            return time.perf_counter() - started, cluster_id
        if view["status"] == "failed":
            raise RuntimeError(view["reason"])
        time.sleep(0.05)


def run_pipeline(client, cluster_id: str | None) -> float:  # type: ignore[no-untyped-def]
    body: dict = {"steps": STEPS}
    if cluster_id:
        body["options"] = {"cluster": cluster_id}
    started = time.perf_counter()
    run = client.post("/api/v1/runs", json=body).json()
    done = client.get(f"/api/v1/runs/{run['id']}", params={"wait_seconds": 60}).json()
    elapsed = time.perf_counter() - started
    if done["state"] != "SUCCEEDED":
        raise RuntimeError(f"run failed: {done['error']}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pipeline-runs", type=int, default=0)
    args = parser.parse_args()
    stoker_times: list[float] = []
    hand_times: list[float] = []
    parallel_times: list[float] = []
    cluster_runs: list[float] = []
    local_runs: list[float] = []
    with tempfile.TemporaryDirectory(prefix="stoker-bench-cluster-") as tmpdir:
        tmp = Path(tmpdir)
        data = tmp / "data"
        make_csv(data / "files" / "bench" / "people.csv")
        with stoker_server(data) as client:
            for _ in range(args.runs):
                elapsed, cluster_id = launch_stoker(client)
                stoker_times.append(elapsed)
                client.delete(f"/api/v1/clusters/{cluster_id}")
                hand_times.append(by_hand(tmp, parallel=False))
                parallel_times.append(by_hand(tmp, parallel=True))
            if args.pipeline_runs:
                _, cluster_id = launch_stoker(client)
                try:
                    # One warm session per worker process (PySpark's one SparkContext): alternating
                    # run by run would rebuild it each time, so each side runs as a block, warmed first.
                    for _ in range(2):
                        run_pipeline(client, None)
                    local_runs = [run_pipeline(client, None) for _ in range(args.pipeline_runs)]
                    for _ in range(2):
                        run_pipeline(client, cluster_id)
                    cluster_runs = [run_pipeline(client, cluster_id) for _ in range(args.pipeline_runs)]
                finally:
                    client.delete(f"/api/v1/clusters/{cluster_id}")

    def stats(xs: list[float]) -> dict[str, float]:
        return {"p50_ms": percentile(xs, 50) * 1000, "min_ms": min(xs) * 1000, "max_ms": max(xs) * 1000,
                "n": len(xs)}

    result = {"stoker_launch_to_ready": stats(stoker_times), "by_hand_spark_daemon": stats(hand_times),
              "by_hand_spark_daemon_parallel": stats(parallel_times)}
    if cluster_runs:
        result["pipeline_on_cluster"] = stats(cluster_runs)
        result["pipeline_on_local"] = stats(local_runs)
    rows = [[name, f"{s['p50_ms']:.0f}", f"{s['min_ms']:.0f}", f"{s['max_ms']:.0f}", s["n"]]
            for name, s in result.items()]
    print_table(["2-worker spark standalone", "p50 ms", "min ms", "max ms", "n"], rows)
    ours = result["stoker_launch_to_ready"]["p50_ms"]
    print(f"stoker / by hand (p50) = {ours / result['by_hand_spark_daemon']['p50_ms']:.2f}; "
          f"stoker / by hand in parallel = {ours / result['by_hand_spark_daemon_parallel']['p50_ms']:.2f}")
    print("written to", write_results("cluster", result))


if __name__ == "__main__":
    main()
