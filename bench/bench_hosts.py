"""Across hosts: runs/s by worker count, and a cluster's launch → ready with its nodes on two hosts,
each against its one-host peer in the same run.

    .venv/bin/python bench/bench_hosts.py [--runs 4000] [--pipelines 40] [--launches 2] [--no-workers]
                                          [--remote] [--no-launches]

1. Runs/s for 1, 2 and 4 `stoker worker` processes (with `--remote`: `stoker worker --remote`, the
   HTTP lease only, no database access, as on worker hosts) behind one `stoker serve --no-worker`
   on a fresh PostgreSQL database each: no-op runs (batches of 500) and a small Spark pipeline (range →
   filter → collect, one run per request), from the first submit to the last SUCCEEDED. The ratio
   is against 1 worker. On a machine of 2 cores more workers mostly add contention: read it as
   what the queue costs, not as a cluster's scaling.
2. Cluster launch → ready (a Spark master and two workers as containers, `containers`
   orchestrator): two container hosts, each a Podman API service with storage of its own; the
   cluster once with the second host drained (every node on one host) and once spread over both,
   alternating, `--launches` times each. The ratio is two hosts / one host.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import print_table, stoker_server, write_results
from bench_noop import bench_batch, drop_postgres, fresh_postgres, wait_all, worker_process

PIPELINE = [["range", 1000], ["filter", "id % 7 = 0"], ["collect"]]
BUILTIN = "localhost/stoker/busybox:latest"
SPARK_TEMPLATE = {
    "nodes": {"master": {"docker_image": BUILTIN, "cpu": 1, "mem": 256, "spark": True},
              "worker0": {"docker_image": BUILTIN, "cpu": 1, "mem": 512, "spark": True},
              "worker1": {"docker_image": BUILTIN, "cpu": 1, "mem": 512, "spark": True}},
    "services": {"spark-master": {"role": "master", "nodes": ["master"], "conf": {"daemon.memory": "256m"}},
                 "spark-worker": {"role": "worker", "nodes": ["worker0", "worker1"],
                                  "conf": {"daemon.memory": "256m"}}}}


def pipelines_per_s(client: httpx.Client, runs: int) -> float:
    job = f"small-{uuid.uuid4().hex[:6]}"
    client.post("/api/v1/jobs", json={"name": job, "steps": PIPELINE, "max_concurrent_runs": 100000})
    client.post(f"/api/v1/jobs/{job}/runs", json={}).raise_for_status()  # each worker's session warms up
    wait_all(client, job, 1)
    started = time.perf_counter()
    for _ in range(runs):
        client.post(f"/api/v1/jobs/{job}/runs", json={}).raise_for_status()
    wait_all(client, job, runs + 1)
    return runs / (time.perf_counter() - started)


@contextlib.contextmanager
def remote_worker_process(api_url: str, token: str, data_dir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`stoker worker --remote`: a data dir of its own, no database, the API's token only."""
    env = {k: v for k, v in os.environ.items() if k not in ("STOKER_DATABASE_URL", "STOKER_ADMIN_TOKEN")}
    proc = subprocess.Popen([sys.executable, "-m", "stoker.cli", "worker", "--remote", api_url, "--token", token,
                             "--data-dir", str(data_dir)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(30)


def by_workers(counts: list[int], runs: int, pipelines: int, *, remote: bool = False) -> dict[int, dict[str, float]]:
    results = {}
    for count in counts:
        with tempfile.TemporaryDirectory(prefix="stoker-bench-hosts-") as tmp:
            name, url = fresh_postgres()
            data = Path(tmp) / "data"
            try:
                with stoker_server(data, database_url=url, args=("--no-worker",)) as client, \
                        contextlib.ExitStack() as workers:
                    token = client.post("/api/v1/tokens", json={
                        "name": "bench workers", "user": "bench", "scopes": ["worker", "ingest"]}).json()["token"]
                    for i in range(count):
                        workers.enter_context(
                            remote_worker_process(str(client.base_url).rstrip("/"), token, Path(tmp) / f"w{i}")
                            if remote else worker_process(data, url))
                    bench_batch(client, 1000, 500)  # warm-up
                    results[count] = {"noop_runs_per_s": bench_batch(client, runs, 500),
                                      "pipelines_per_s": pipelines_per_s(client, pipelines)}
            finally:
                drop_postgres(name)
    return results


@contextlib.contextmanager
def podman_hosts(tmp: Path, count: int) -> Iterator[list[str]]:
    from stoker.containers.image import ensure_builtin_image, podman_command
    from stoker.containers.runtime import PodmanService

    services = []
    try:
        for i in range(count):
            podman = podman_command(tmp / f"h{i}" / "root", tmp / f"h{i}" / "runroot")
            ensure_builtin_image(podman)
            service = PodmanService(tmp / f"h{i}", podman=podman)
            service.start()
            services.append((service, podman))
        yield [s.docker_host for s, _ in services]
    finally:
        import subprocess

        from stoker.containers.runtime import podman_env

        for service, podman in services:
            service.stop()
            subprocess.run([*podman, "rm", "-a", "-f"], env=podman_env(), capture_output=True)


def launch_to_ready(client: httpx.Client) -> float:
    started = time.perf_counter()
    made = client.post("/api/v1/products/spark-hosts/1/clusters", json={})
    made.raise_for_status()
    cluster_id = made.json()["id"]
    while True:
        view = client.get(f"/api/v1/clusters/{cluster_id}").json()
        if view["status"] in ("ready", "failed"):
            break
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    if view["status"] != "ready":
        raise RuntimeError(f"the cluster failed: {view['reason']}")
    hosts = {n["host_name"] for n in view["nodes"]}
    client.delete(f"/api/v1/clusters/{cluster_id}").raise_for_status()
    print(f"  launch → ready {elapsed:.2f} s on {sorted(hosts)}")
    return elapsed


def cluster_launches(launches: int) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix="stoker-bench-hosts-"))
    try:
        with podman_hosts(tmp, 2) as endpoints, stoker_server(
                tmp / "data", args=("--no-worker",), extra_env={"STOKER_LOCAL_HOST": "false"}) as client:
            for i, endpoint in enumerate(endpoints):
                client.post("/api/v1/hosts", json={"name": f"host{i}", "endpoint": endpoint, "cores": 3,
                                                   "mem": 4096}).raise_for_status()
            client.post("/api/v1/products", json={"name": "spark-hosts", "version": "1"}).raise_for_status()
            client.put("/api/v1/products/spark-hosts/1/template", json=SPARK_TEMPLATE).raise_for_status()
            one, two = [], []
            for _ in range(launches):
                client.post("/api/v1/hosts/host1/drain").raise_for_status()
                one.append(launch_to_ready(client))
                client.post("/api/v1/hosts/host1/undrain").raise_for_status()
                two.append(launch_to_ready(client))
        return {"one_host_s": statistics.median(one), "two_hosts_s": statistics.median(two)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=4000)
    parser.add_argument("--pipelines", type=int, default=40)
    parser.add_argument("--launches", type=int, default=2)
    parser.add_argument("--no-workers", action="store_true", help="only the cluster launches")
    parser.add_argument("--no-launches", action="store_true", help="only the runs/s by worker count")
    parser.add_argument("--remote", action="store_true", help="remote workers (HTTP lease, no database)")
    args = parser.parse_args()
    results: dict[str, object] = {"remote_workers": args.remote}
    if not args.no_workers:
        workers = by_workers([1, 2, 4], args.runs, args.pipelines, remote=args.remote)
        base = workers[1]
        print_table(["workers", "no-op runs/s", "× 1 worker", "pipelines/s", "× 1 worker"],
                    [[n, f"{r['noop_runs_per_s']:.0f}", f"{r['noop_runs_per_s'] / base['noop_runs_per_s']:.2f}",
                      f"{r['pipelines_per_s']:.1f}", f"{r['pipelines_per_s'] / base['pipelines_per_s']:.2f}"]
                     for n, r in workers.items()])
        results["workers"] = workers
    if args.no_launches:
        print("written to", write_results("hosts", results))
        return
    launches = cluster_launches(args.launches)
    print_table(["cluster launch → ready (median)", "one host", "two hosts", "two / one"],
                [["master + 2 workers (containers)", f"{launches['one_host_s']:.2f} s",
                  f"{launches['two_hosts_s']:.2f} s", f"{launches['two_hosts_s'] / launches['one_host_s']:.2f}"]])
    results["launch"] = launches
    print("written to", write_results("hosts", results))


if __name__ == "__main__":
    main()
