"""What group commit costs a lone submit at low load: one submit at a time, with and without it.

    .venv/bin/python bench/bench_group_commit_idle.py [--runs 2000] [--postgres]

In one process, on an event loop as the API does it, one submit after the other (nothing to group
with), alternating call by call between the two ways a submit endpoint can hand its run to the
database: through the group commit (`GroupCommitter.submit_async`, what the endpoints do) and
without it (`RunStore.submit` in the thread pool, what a sync endpoint did before). Reports p50/p99
of each and the difference. The HTTP layer adds the same to both; `bench_submit.py` measures that.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

from starlette.concurrency import run_in_threadpool

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import percentile, print_table, write_results
from bench_noop import drop_postgres, fresh_postgres


async def measure(services, runs: int) -> dict[str, dict[str, float]]:  # type: ignore[no-untyped-def]
    from stoker.submission.runs import RunRequest, Submitter

    job = services.runs.jobs.create("nop", "pipeline", {"steps": [["noop"]]}, max_concurrent_runs=10 ** 6)
    prepare = Submitter(services).prepare
    timings: dict[str, list[float]] = {"with group commit": [], "without (thread pool)": []}
    for i in range(runs * 2 + 100):
        new = prepare(RunRequest(params={}), job)
        started = time.perf_counter()
        if i % 2:
            await services.group_commit.submit_async(job.id, new)
            way = "with group commit"
        else:
            await run_in_threadpool(services.runs.submit, job.id, [new])
            way = "without (thread pool)"
        if i >= 100:  # the first ones warm caches and connections
            timings[way].append(time.perf_counter() - started)
        await asyncio.sleep(0.001)  # low load: the committer's thread waits idle, as between requests
    return {way: {"p50_ms": percentile(t, 50) * 1000, "p99_ms": percentile(t, 99) * 1000, "n": len(t)}
            for way, t in timings.items()}


def main() -> None:
    from stoker.app.wiring import build_services
    from stoker.config import Settings

    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    pg_name, url = fresh_postgres() if args.postgres else (None, None)
    try:
        with tempfile.TemporaryDirectory(prefix="stoker-bench-gc-") as tmp:
            services = build_services(Settings.from_env(data_dir=Path(tmp), database_url=url, ingest_processes=0))
            try:
                results = asyncio.run(measure(services, args.runs))
            finally:
                services.close()
    finally:
        if pg_name:
            drop_postgres(pg_name)
    lone = results["with group commit"]["p50_ms"] - results["without (thread pool)"]["p50_ms"]
    print_table(["lone submit", "p50 ms", "p99 ms", "n"],
                [[k, f"{v['p50_ms']:.3f}", f"{v['p99_ms']:.3f}", int(v["n"])] for k, v in results.items()])
    print(f"group commit costs a lone submit {lone:+.3f} ms at the p50")
    write_results("group-commit-idle-" + ("postgres" if args.postgres else "sqlite"), results)


if __name__ == "__main__":
    main()
