"""S3, staged way and executors' way, against the same pipeline on local files, in the same run.

    .venv/bin/python bench/bench_s3.py [--mb 50] [--runs 3]

Pipeline: read_csv (about 50 MB, header, inferSchema) → filter → write_parquet (overwrite).
  s3        input in moto's S3 server (IAM enforced), output to it: staged by the worker
  executors the same S3 run on a second `stoker serve` with STOKER_S3_WAY=executors: the Spark
            tasks read and write S3 themselves (pyarrow's S3FileSystem in Python data sources)
  local     the same file and output under the storage root
All go over HTTP to warm `stoker serve`s (session mode, local[*] master) and alternate run by run,
so machine noise hits them alike. MB/s is input bytes over submit → SUCCEEDED; the overhead is the
difference of the medians; the time spent moving bytes (download, upload, publish) is read from
the run's log.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from _server import percentile, print_table, stoker_server, write_results

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from moto_s3 import start_moto, stop_moto

MB = 1024 * 1024


def make_csv(path: Path, megabytes: int) -> int:
    rng = random.Random(11)
    cities = ["Lisbon", "Oslo", "Lima", "Pune", "Kyiv", "Quito", "Accra", "Hanoi"]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        fh.write("id,name,age,city,score\n")
        i = 0
        while fh.tell() < megabytes * MB:
            lines = [f"{n},person{n},{rng.randint(18, 80)},{rng.choice(cities)},{rng.random() * 100:.3f}\n"
                     for n in range(i, i + 10_000)]
            fh.write("".join(lines))
            i += 10_000
    return path.stat().st_size


def steps(source: str, target: str) -> list[list[object]]:
    return [["read_csv", source, {"header": True, "inferSchema": True}], ["filter", "age > 30"],
            ["write_parquet", target, "overwrite"]]


def timed(client, body: dict) -> tuple[float, dict]:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    run = client.post("/api/v1/runs", json=body).json()
    done = client.get(f"/api/v1/runs/{run['id']}", params={"wait_seconds": 30}).json()
    while done["state"] not in ("SUCCEEDED", "FAILED", "CANCELLED"):
        done = client.get(f"/api/v1/runs/{run['id']}", params={"wait_seconds": 30}).json()
    elapsed = time.perf_counter() - started
    if done["state"] != "SUCCEEDED":
        raise RuntimeError(f"run failed: {done['error']}")
    return elapsed, done


def staging_seconds(log: str) -> float:
    """Seconds the run spent moving bytes to and from S3, as its log reports them."""
    import re

    return sum(float(m) for m in re.findall(r" S3 staged: .* in ([0-9.]+) s$", log, flags=re.M))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="stoker-bench-s3-") as tmpdir:
        tmp = Path(tmpdir)
        data = tmp / "data"
        csv = data / "files" / "bench" / "people.csv"
        size = make_csv(csv, args.mb)
        moto = start_moto(tmp / "moto.log")
        try:
            moto.client("alice").upload_file(str(csv), "alice-bucket", "bench/people.csv")
            s3_body = {"steps": steps("s3://alice-bucket/bench/people.csv", "s3://alice-bucket/bench/out/"),
                       "options": {"s3": moto.options("alice")}}
            local_body = {"steps": steps("bench/people.csv", "bench/out")}
            executors_body = {**s3_body, "steps": steps("s3://alice-bucket/bench/people.csv",
                                                        "s3://alice-bucket/bench/out-executors/")}
            s3_times, local_times, executors_times, staged = [], [], [], []
            with ExitStack() as servers:
                client = servers.enter_context(stoker_server(data))
                executors = servers.enter_context(stoker_server(tmp / "data-executors",
                                                                extra_env={"STOKER_S3_WAY": "executors"}))
                timed(client, local_body)  # warm: JVM, code paths, schema cache
                timed(client, s3_body)
                timed(executors, executors_body)
                for _ in range(args.runs):
                    elapsed, done = timed(client, s3_body)
                    s3_times.append(elapsed)
                    staged.append(staging_seconds(client.get(f"/api/v1/runs/{done['id']}/log").text))
                    elapsed, done = timed(executors, executors_body)
                    assert "S3: executors' way" in executors.get(f"/api/v1/runs/{done['id']}/log").text
                    executors_times.append(elapsed)
                    local_times.append(timed(client, local_body)[0])
            written = sum(o["Size"] for o in moto.client().list_objects_v2(
                Bucket="alice-bucket", Prefix="bench/out/").get("Contents", []))
        finally:
            stop_moto(moto)

    def stats(xs: list[float]) -> dict[str, float]:
        p50 = percentile(xs, 50)
        return {"p50_s": p50, "max_s": max(xs), "mb_per_s": size / MB / p50, "n": len(xs)}

    result = {"input_mb": size / MB, "output_mb": written / MB, "s3_staged": stats(s3_times),
              "s3_executors": stats(executors_times), "local_files": stats(local_times),
              "staging_p50_s": percentile(staged, 50)}
    result["overhead_s"] = result["s3_staged"]["p50_s"] - result["local_files"]["p50_s"]
    result["overhead_ratio"] = result["s3_staged"]["p50_s"] / result["local_files"]["p50_s"]
    rows = [[name, f"{s['p50_s']:.2f}", f"{s['max_s']:.2f}", f"{s['mb_per_s']:.1f}", s["n"]]
            for name, s in result.items() if isinstance(s, dict)]
    print_table([f"csv {size / MB:.0f} MB → filter → parquet", "p50 s", "max s", "MB/s", "runs"], rows)
    print(f"S3 staged / local = {result['overhead_ratio']:.2f}× (overhead {result['overhead_s']:+.2f} s; "
          f"staging itself {result['staging_p50_s']:.2f} s p50; parquet written {written / MB:.1f} MB)")
    result["executors_vs_staged_ratio"] = result["s3_executors"]["p50_s"] / result["s3_staged"]["p50_s"]
    print(f"S3 executors' way / staged = {result['executors_vs_staged_ratio']:.2f}× "
          f"(executors / local = {result['s3_executors']['p50_s'] / result['local_files']['p50_s']:.2f}×)")
    print("written to", write_results("s3", result))


if __name__ == "__main__":
    main()
