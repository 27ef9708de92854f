"""Benchmarks of the Spark event collector, side by side with Spark's History Server.

  PYTHONPATH=src .venv/bin/python bench/bench_events.py [--events 1000000] [--history-events 100000]

1. ingest over HTTP (a real uvicorn server process), gzipped payloads of 100 and 1,000 real-size
   events (TaskStart ~0.3 KB and TaskEnd ~5 KB, as Spark 4 writes them; also TaskEnd only);
2. a run of `--events` events as NDJSON: MB/s and time to first byte;
3. duration of that run: server time (in-process) and HTTP round trip;
4. the History Server replaying the same kind of events from an event log (events/s), and the ratio.
Prints a table and writes bench/results/events-<time>.json.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from _server import TOKEN, HistoryServer, UvicornServer

ROOT = Path(__file__).resolve().parent.parent


def task_start(i: int, t: int) -> bytes:
    return orjson.dumps({"Event": "SparkListenerTaskStart", "Stage ID": 1, "Stage Attempt ID": 0,
                         "Task Info": {"Task ID": i, "Index": i % 200, "Attempt": 0, "Partition ID": i % 200,
                                       "Launch Time": t, "Executor ID": "driver", "Host": "localhost",
                                       "Locality": "PROCESS_LOCAL", "Speculative": False,
                                       "Getting Result Time": 0, "Finish Time": 0, "Failed": False,
                                       "Killed": False, "Accumulables": []}})


def task_end(i: int, t: int) -> bytes:
    """A TaskEnd shaped like Spark 4's (SQL accumulables, executor metrics, task metrics): ~5 KB."""
    names = ["number of output rows", "peak memory", "time in aggregation build", "data size",
             "shuffle bytes written", "shuffle records written", "shuffle write time", "duration"]
    accumulables = [{"ID": 60 + k, "Name": names[k % len(names)], "Update": str(1000 + k * i % 977),
                     "Value": str(5000 + k * i), "Internal": True, "Count Failed Values": True,
                     "Metadata": "sql"} for k in range(12)]
    accumulables += [{"ID": 100 + k, "Name": f"internal.metrics.metric{k}", "Update": 17 * k + i % 13,
                      "Value": 101 * k + i, "Internal": True, "Count Failed Values": True}
                     for k in range(22)]
    executor_metrics = {name: (i * 7919 + k) % 100_000_000 for k, name in enumerate([
        "JVMHeapMemory", "JVMOffHeapMemory", "OnHeapExecutionMemory", "OffHeapExecutionMemory",
        "OnHeapStorageMemory", "OffHeapStorageMemory", "OnHeapUnifiedMemory", "OffHeapUnifiedMemory",
        "DirectPoolMemory", "MappedPoolMemory", "ProcessTreeJVMVMemory", "ProcessTreeJVMRSSMemory",
        "ProcessTreePythonVMemory", "ProcessTreePythonRSSMemory", "ProcessTreeOtherVMemory",
        "ProcessTreeOtherRSSMemory", "MinorGCCount", "MinorGCTime", "MajorGCCount", "MajorGCTime",
        "TotalGCTime"])}
    return orjson.dumps({
        "Event": "SparkListenerTaskEnd", "Stage ID": 1, "Stage Attempt ID": 0,
        "Task Type": "ShuffleMapTask", "Task End Reason": {"Reason": "Success"},
        "Task Info": {"Task ID": i, "Index": i % 200, "Attempt": 0, "Partition ID": i % 200,
                      "Launch Time": t - 40, "Executor ID": "driver", "Host": "localhost",
                      "Locality": "PROCESS_LOCAL", "Speculative": False, "Getting Result Time": 0,
                      "Finish Time": t, "Failed": False, "Killed": False, "Accumulables": accumulables},
        "Task Executor Metrics": executor_metrics,
        "Task Metrics": {
            "Executor Deserialize Time": 3, "Executor Deserialize CPU Time": 2_900_000,
            "Executor Run Time": 35 + i % 10, "Executor CPU Time": 30_000_000, "Peak Execution Memory": 262144,
            "Result Size": 2383, "JVM GC Time": i % 3, "Result Serialization Time": 0,
            "Memory Bytes Spilled": 0, "Disk Bytes Spilled": 0,
            "Shuffle Read Metrics": {"Remote Blocks Fetched": 0, "Local Blocks Fetched": 4,
                                     "Fetch Wait Time": 0, "Remote Bytes Read": 0,
                                     "Remote Bytes Read To Disk": 0, "Local Bytes Read": 1456,
                                     "Total Records Read": 40, "Remote Requests Duration": 0,
                                     "Push Based Shuffle": {"Corrupt Merged Block Chunks": 0,
                                                            "Merged Fetch Fallback Count": 0}},
            "Shuffle Write Metrics": {"Shuffle Bytes Written": 364, "Shuffle Write Time": 23169563,
                                      "Shuffle Records Written": 10},
            "Input Metrics": {"Bytes Read": 0, "Records Read": 0},
            "Output Metrics": {"Bytes Written": 0, "Records Written": 0},
            "Updated Blocks": []}})


def events(n: int, start: int = 1_800_000_000_000, kind: str = "mix"):
    for i in range(n):
        t = start + i // 4
        if kind == "taskend" or i % 2:
            yield t, task_end(i, t)
        else:
            yield t, task_start(i, t)


def payload(job: str, run: str, batch: list[tuple[int, bytes]], counter: int) -> bytes:
    return orjson.dumps({"job_name": job, "run_id": run, "sent_at": batch[-1][0],
                         "counters": {"message_counter": counter * len(batch), "payload_counter": counter},
                         "messages": [{"message_type": "spark-event", "generated_at": t,
                                       "content": c.decode()} for t, c in batch]})


def payloads(job: str, run: str, n: int, batch: int, kind: str):
    pending: list[tuple[int, bytes]] = []
    counter = 0
    for event in events(n, kind=kind):
        pending.append(event)
        if len(pending) == batch:
            counter += 1
            yield payload(job, run, pending, counter)
            pending = []


def bench_ingest(url: str, n: int, batch: int, kind: str, clients: int = 2,
                 run_id: str = "run-1") -> dict:
    """`clients` keep-alive connections posting pre-built gzipped payloads as fast as answered.

    The client is the standard library's http.client: it shares these two cores with the server it
    measures, and httpx's per-request work took a third of a core at 100-event payloads."""
    bodies = [gzip.compress(p, 6) for p in payloads(f"ingest-{kind}-{batch}", run_id, n, batch, kind)]
    raw = sum(len(b) for b in bodies)
    elapsed = post_bodies(url, bodies, clients)
    return {"events": n, "batch": batch, "kind": kind, "seconds": elapsed, "events_per_s": n / elapsed,
            "gzip_mb": raw / 1e6}


def post_bodies(url: str, bodies: list[bytes], clients: int = 2, on_start: Any = None) -> float:
    """POST the gzipped payloads to /collect over `clients` keep-alive connections, as fast as
    answered (every one must be stored); returns the seconds taken. `on_start()` is called just
    before the first is sent (to read a counter at the same moment)."""
    queue = list(reversed(bodies))
    lock = threading.Lock()
    failures: list[str] = []
    address = urlsplit(url)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Encoding": "gzip",
               "Content-Type": "application/json"}

    def post_all() -> None:
        conn = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
        try:
            while True:
                with lock:
                    if not queue:
                        return
                    body = queue.pop()
                conn.request("POST", "/collect", body, headers)
                response = conn.getresponse()
                answer = response.read()
                if response.status != 200 or orjson.loads(answer)["status"] != "stored":
                    failures.append(answer.decode(errors="replace"))
        finally:
            conn.close()

    threads = [threading.Thread(target=post_all) for _ in range(clients)]
    if on_start is not None:
        on_start()
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    assert not failures, failures[:3]
    return elapsed


def fill_direct(data_dir: Path, n: int) -> None:
    """Store n events for job 'big' through the ingest code (no HTTP: faster set-up), gzipped as
    the listener sends them, so they are stored (and exported) as /collect stores them."""
    from stoker.config import Settings
    from stoker.events.payload import parse_payload
    from stoker.events.store import EventStore
    from stoker.store.db import Database

    db = Database(Settings.from_env(data_dir=data_dir).resolved_database_url())
    db.upgrade()
    store = EventStore(db)
    for body in payloads("big", "run-1", n, 1000, "mix"):
        store.ingest(parse_payload(body), gzip.compress(body, 1))
    db.dispose()


def bench_ndjson(url: str) -> dict:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(timeout=600, headers=headers) as client:
        started = time.perf_counter()
        first = None
        size = lines = 0
        with client.stream("GET", url + "/api/v1/spark/jobs/big/runs/run-1/events") as response:
            for piece in response.iter_raw(1 << 20):
                if first is None:
                    first = time.perf_counter() - started
                size += len(piece)
                lines += piece.count(b"\n")
        elapsed = time.perf_counter() - started
    return {"events": lines, "mb": size / 1e6, "seconds": elapsed, "mb_per_s": size / 1e6 / elapsed,
            "first_byte_ms": (first or 0) * 1000}


def bench_duration(url: str, data_dir: Path) -> dict:
    from stoker.config import Settings
    from stoker.events.store import EventStore, duration_view
    from stoker.store.db import Database

    db = Database(Settings.from_env(data_dir=data_dir).resolved_database_url())
    store = EventStore(db)
    server = []
    for _ in range(2000):
        t = time.perf_counter()
        duration_view(store.app("big", "run-1"))
        server.append(time.perf_counter() - t)
    db.dispose()
    rtt = []
    with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        for _ in range(500):
            t = time.perf_counter()
            assert client.get(url + "/api/v1/spark/jobs/big/runs/run-1/duration").status_code == 200
            rtt.append(time.perf_counter() - t)
    q = lambda xs, p: sorted(xs)[int(len(xs) * p)] * 1000  # noqa: E731
    return {"server_p50_ms": q(server, 0.5), "server_p99_ms": q(server, 0.99),
            "http_p50_ms": q(rtt, 0.5), "http_p99_ms": q(rtt, 0.99)}


def bench_history_server(tmp: Path, n: int) -> dict:
    """Events/s of the History Server replaying an event log of n events (full app load)."""
    log_dir = tmp / "history"
    log_dir.mkdir()
    app_id = "local-1800000000000"
    with open(log_dir / app_id, "wb") as f:
        f.write(b'{"Event":"SparkListenerLogStart","Spark Version":"4.3.0"}\n')
        f.write(orjson.dumps({"Event": "SparkListenerApplicationStart", "App Name": "bench",
                              "App ID": app_id, "Timestamp": 1_800_000_000_000, "User": "bench"}) + b"\n")
        f.write(b'{"Event":"SparkListenerJobStart","Job ID":0,"Submission Time":1800000000000,'
                b'"Stage Infos":[],"Stage IDs":[1],"Properties":{}}\n')
        for _t, line in events(n):
            f.write(line + b"\n")
        f.write(b'{"Event":"SparkListenerJobEnd","Job ID":0,"Completion Time":1800000999999,'
                b'"Job Result":{"Result":"JobSucceeded"}}\n')
        f.write(b'{"Event":"SparkListenerApplicationEnd","Timestamp":1800000999999}\n')
    history = HistoryServer(log_dir).start()
    try:
        history.application(app_id, timeout=120)
        started = time.perf_counter()  # the listing is cheap; the first detail request replays all
        response = httpx.get(f"{history.url}/api/v1/applications/{app_id}/jobs", timeout=900)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.text[:300]
    finally:
        history.stop()
    return {"events": n, "seconds": elapsed, "events_per_s": n / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000, help="events stored for the query benchmarks")
    parser.add_argument("--ingest-events", type=int, default=100_000)
    parser.add_argument("--history-events", type=int, default=100_000)
    parser.add_argument("--skip-history", action="store_true")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--malloc-tuning", action="store_true",
                        help="keep freed memory in glibc's heap (MALLOC_MMAP_THRESHOLD_/TRIM_THRESHOLD_)")
    args = parser.parse_args()

    results: dict = {"ingest": []}
    with tempfile.TemporaryDirectory(prefix="stoker-bench-events-") as tmp_name:
        tmp = Path(tmp_name)
        data = tmp / "data"
        data.mkdir()
        env = {"MALLOC_MMAP_THRESHOLD_": str(1 << 30), "MALLOC_TRIM_THRESHOLD_": str(1 << 31)} \
            if args.malloc_tuning else {}
        results["config"] = {"workers": args.workers, "malloc_tuning": args.malloc_tuning}
        # Side by side: payloads checked in a helper process (the default on two cores or more)
        # and in the server's own process.
        for helpers in ("1", "0"):
            server = UvicornServer(data, workers=args.workers,
                                  env={**env, "STOKER_INGEST_PROCESSES": helpers}).start()
            try:
                for batch, kind in ((100, "mix"), (100, "taskend"), (1000, "mix"), (1000, "taskend")):
                    result = bench_ingest(server.url, args.ingest_events, batch, kind,
                                          run_id=f"run-helpers-{helpers}")
                    results["ingest"].append({**result, "helpers": int(helpers)})
                    print("ingest", results["ingest"][-1], flush=True)
            finally:
                server.stop()
        started = time.perf_counter()
        fill_direct(data, args.events)
        results["fill_seconds"] = time.perf_counter() - started
        server = UvicornServer(data, env=env).start()
        try:
            bench_ndjson(server.url)  # warm the page cache once, as a busy server would have it
            results["ndjson"] = bench_ndjson(server.url)
            print("ndjson", results["ndjson"], flush=True)
            results["duration"] = bench_duration(server.url, data)
            print("duration", results["duration"], flush=True)
        finally:
            server.stop()
        if not args.skip_history:
            results["history_server"] = bench_history_server(tmp, args.history_events)
            print("history", results["history_server"], flush=True)

    print("\n| measure | Stoker | target / peer |\n|---|---|---|")
    for r in results["ingest"]:
        where = "a helper process" if r["helpers"] else "the server process"
        print(f"| ingest, batches of {r['batch']} ({r['kind']}), checked in {where} | "
              f"{r['events_per_s']:,.0f} events/s | ≥ 50,000 |")
    n = results["ndjson"]
    print(f"| NDJSON, {n['events']:,} events ({n['mb']:,.0f} MB) | {n['mb_per_s']:,.0f} MB/s, first byte "
          f"{n['first_byte_ms']:.1f} ms | ≥ 200 MB/s, ≤ 50 ms |")
    d = results["duration"]
    print(f"| duration, {args.events:,} events stored | server p50 {d['server_p50_ms']:.3f} ms "
          f"(p99 {d['server_p99_ms']:.3f}); HTTP p50 {d['http_p50_ms']:.2f} ms | ≤ 1 ms |")
    if "history_server" in results:
        h = results["history_server"]
        best = max(r["events_per_s"] for r in results["ingest"]
                   if r["batch"] == 1000 and r["kind"] == "mix" and r["helpers"])
        results["ingest_vs_history_ratio"] = best / h["events_per_s"]
        print(f"| History Server replay, {h['events']:,} events | {h['events_per_s']:,.0f} events/s | "
              f"Stoker ingest is {results['ingest_vs_history_ratio']:.1f}x |")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"events-{time.strftime('%Y%m%d-%H%M%S')}.json"
    results["cpu_count"] = os.cpu_count()
    path.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
