"""Container runs: `echo` through Stoker (Stevedore submit → COMPLETE) vs `podman run --rm` directly,
and 100 executions of one task (times: 100) with container concurrency 4.

    .venv/bin/python bench/bench_containers.py [--runs 30] [--times 100] [--concurrency 4]

Both sides run in the same invocation, on the same image (localhost/stoker/busybox:latest, built by
`make setup`) and the same Podman with the same containers.conf; Stoker runs its own private Podman
API service, as `stoker serve` does by default.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from _server import percentile, print_table, stoker_server, write_results
from stoker.containers.image import BUILTIN_IMAGE
from stoker.containers.runtime import podman_env


def through_stoker(client, task_id: str) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result_id = client.post(f"/task/{task_id}/", json={"command": "echo hi"}).json()["result_id"]
    [detail] = client.get(f"/result/{result_id}/detail/").json()
    run = client.get(f"/api/v1/runs/{detail['detail_id']}", params={"wait_seconds": 30}).json()
    elapsed = time.perf_counter() - started
    assert run["state"] == "SUCCEEDED" and run["result"]["stdout"] == "hi\n", run
    return elapsed


def direct(env: dict[str, str]) -> float:
    started = time.perf_counter()
    out = subprocess.run(["podman", "run", "--rm", "--network", "none", BUILTIN_IMAGE, "echo", "hi"],
                         env=env, capture_output=True, text=True, check=True).stdout
    elapsed = time.perf_counter() - started
    assert out == "hi\n", out
    return elapsed


def many(client, task_id: str, times: int) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result_id = client.post(f"/task/{task_id}/", json={"command": "echo hi", "times": times}).json()["result_id"]
    while (result := client.get(f"/result/{result_id}/").json())["status"] in ("QUEUED", "RUNNING"):
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    assert result["status"] == "COMPLETE" and result["times"] == times, result
    return times / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--times", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    env = podman_env()
    with tempfile.TemporaryDirectory(prefix="stoker-bench-") as tmp, \
            stoker_server(Path(tmp) / "data", extra_env={
                "STOKER_CONTAINER_CONCURRENCY": str(args.concurrency)}) as client:
        created = client.post("/task/", json={"repository": BUILTIN_IMAGE})
        created.raise_for_status()
        task_id = created.json()["task_id"]
        through_stoker(client, task_id), direct(env)  # warm both paths once
        stoker, podman = [], []
        for _ in range(args.runs):  # interleaved, so both see the same machine
            stoker.append(through_stoker(client, task_id))
            podman.append(direct(env))
        rate = many(client, task_id, args.times)
    rows = [["echo via Stoker (submit → COMPLETE)", f"{statistics.median(stoker) * 1000:.0f}",
             f"{percentile(stoker, 90) * 1000:.0f}"],
            ["podman run --rm echo", f"{statistics.median(podman) * 1000:.0f}",
             f"{percentile(podman, 90) * 1000:.0f}"]]
    print_table(["what", "p50 ms", "p90 ms"], rows)
    print(f"\n{args.times} executions (times: {args.times}), container concurrency {args.concurrency}: "
          f"{rate:.1f} executions/s")
    write_results("containers", {"runs": args.runs, "stoker_p50_s": statistics.median(stoker),
                                 "podman_p50_s": statistics.median(podman), "times": args.times,
                                 "concurrency": args.concurrency, "executions_per_s": rate})


if __name__ == "__main__":
    main()
