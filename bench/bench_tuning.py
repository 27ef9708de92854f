"""The tuning loop's proof (docs/tuning.md): recurring jobs on seeded data, run for several "days"
in tuning mode `auto` on a Stoker `spark-standalone` cluster (2 workers × 1 core), each beside its
twin as written (the same steps and conf, tuning `advise`: measured, never changed), A/B runs
interleaved day by day, in the same run.

    .venv/bin/python bench/bench_tuning.py [--quick] [--days 6] [--jobs q1,over_partitioned,...]

Jobs (each written with the configuration such a user would pick):
  q1                TPC-H-shaped q1: a scan of lineitem and an aggregation by flag and status
  q3                TPC-H-shaped q3: lineitem ⋈ orders ⋈ customer, revenue per order, top 10
  q18               TPC-H-shaped q18: big orders (sum of quantity per order), joined back to orders
  ds_q3             TPC-DS-shaped q3: store_sales ⋈ item, the broadcast threshold off as a user left it
  zipf_join         a join on a Zipf-skewed key, AQE off
  over_partitioned  an aggregation with 400 shuffle partitions, AQE off
  spill_sort        a global sort on small executors (512m)
  driver_bound      a small query after driver-side work (a sleep step)
(not here: TPC-DS q19/q55, and the issue's cached-RDD and pandas-UDF jobs, which need functions the
catalog does not have)

Days: the input changes ±30% from day to day (seeded), and one day (the 4th) is skewed 3× (another
input-size bucket). Per job and day: the twin runs, then the tuned job (alternating which goes
first), so both see the same machine. Reported per job: exploratory runs (trials), rollbacks,
core-seconds, CPU-seconds and duration (median, and a bootstrap 90% interval) of the twin's runs and
of the tuned job's runs after its first (baseline) day, their ratios, and the prediction error of
each trial (predicted vs measured core-seconds). `--quick`: q1, over_partitioned and driver_bound
for 3 days (about 10-15 minutes here).

Not run here (the issue's other baselines): Spark defaults with AQE, and Sparklens- and Dr.
Elephant-style rules applied once.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _server import print_table, stoker_server, write_results
from harness import kill_every_node
from stoker.tuning.policy import TUNABLE

P = "/bigdata/api/v1"
ROWS = 300_000  # lineitem rows on a 1.0 day


def write_parquet(path: Path, columns: dict[str, list[Any]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)


def make_day(root: Path, day: str, factor: float, seed: int) -> None:
    """One day's tables under files/<day>/: lineitem, orders, customer, store_sales, item, a Zipf fact."""
    rng = random.Random(seed)
    n = int(ROWS * factor)
    orders = max(1, n // 4)
    write_parquet(root / day / "lineitem.parquet", {
        "orderkey": [rng.randrange(orders) for _ in range(n)],
        "l_quantity": [rng.randint(1, 50) for _ in range(n)],
        "l_extendedprice": [rng.random() * 1000 for _ in range(n)],
        "l_discount": [rng.random() * 0.1 for _ in range(n)],
        "l_tax": [rng.random() * 0.08 for _ in range(n)],
        "l_returnflag": [rng.choice("ANR") for _ in range(n)],
        "l_linestatus": [rng.choice("FO") for _ in range(n)],
        "l_shipdate": [rng.randrange(19000, 20000) for _ in range(n)]})
    write_parquet(root / day / "orders.parquet", {
        "orderkey": list(range(orders)), "custkey": [rng.randrange(orders // 10 + 1) for _ in range(orders)],
        "o_orderdate": [rng.randrange(19000, 20000) for _ in range(orders)]})
    write_parquet(root / day / "customer.parquet", {
        "custkey": list(range(orders // 10 + 1)), "c_mktsegment": [rng.choice(["BUILDING", "MACHINERY", "AUTO"])
                                                                  for _ in range(orders // 10 + 1)]})
    write_parquet(root / day / "store_sales.parquet", {
        "item_sk": [rng.randrange(2000) for _ in range(n)],
        "ss_sold_date_sk": [rng.randrange(365) for _ in range(n)],
        "ss_ext_sales_price": [rng.random() * 100 for _ in range(n)]})
    write_parquet(root / day / "item.parquet", {
        "item_sk": list(range(2000)), "i_brand_id": [rng.randrange(50) for _ in range(2000)],
        "i_manager_id": [rng.randrange(30) for _ in range(2000)]})
    weights = [1 / (k + 1) ** 1.2 for k in range(5000)]
    write_parquet(root / day / "zipf.parquet", {"k": rng.choices(range(5000), weights, k=n),
                                                "v": [rng.random() for _ in range(n)]})
    write_parquet(root / day / "keys.parquet", {"k": list(range(5000)), "w": [rng.random() for _ in range(5000)]})


D = "{{day}}"
JOBS: dict[str, tuple[list[Any], dict[str, Any]]] = {
    "q1": ([["read_parquet", f"{D}/lineitem.parquet"],
            ["sql", "SELECT l_returnflag, l_linestatus, sum(l_quantity) AS qty, "
                    "sum(l_extendedprice * (1 - l_discount)) AS revenue, avg(l_discount) AS disc, count(*) AS n "
                    "FROM input WHERE l_shipdate <= 19900 "
                    "GROUP BY l_returnflag, l_linestatus ORDER BY l_returnflag, l_linestatus"], ["collect"]], {}),
    "q3": ([["read_parquet", f"{D}/lineitem.parquet"], ["join", f"{D}/orders.parquet", "orderkey", "inner"],
            ["join", f"{D}/customer.parquet", "custkey", "inner"]], {}),
    "q18": ([["read_parquet", f"{D}/lineitem.parquet"],
             ["sql", "SELECT orderkey, sum(l_quantity) AS q FROM input GROUP BY orderkey "
                     "HAVING sum(l_quantity) > 100"], ["join", f"{D}/orders.parquet", "orderkey", "inner"],
             ["sort", "-q"], ["limit", 100], ["collect"]], {}),
    "ds_q3": ([["read_parquet", f"{D}/store_sales.parquet"], ["join", f"{D}/item.parquet", "item_sk", "inner"]],
              {"spark.sql.autoBroadcastJoinThreshold": "-1"}),
    "zipf_join": ([["read_parquet", f"{D}/zipf.parquet"], ["join", f"{D}/keys.parquet", "k", "inner"],
                   ["group_by", ["k"], {"s": "sum(v * w)"}], ["count"]],
                  {"spark.sql.adaptive.enabled": "false", "spark.sql.autoBroadcastJoinThreshold": "-1"}),
    "over_partitioned": ([["read_parquet", f"{D}/lineitem.parquet"],
                          ["group_by", ["orderkey"], {"qty": "sum(l_quantity)"}], ["count"]],
                         {"spark.sql.adaptive.enabled": "false", "spark.sql.shuffle.partitions": "400"}),
    "spill_sort": ([["read_parquet", f"{D}/lineitem.parquet"], ["sort", "l_extendedprice"], ["limit", 10],
                    ["collect"]], {"spark.executor.memory": "512m"}),
    "driver_bound": ([["sleep", 8], ["read_parquet", f"{D}/item.parquet"], ["count"]], {}),
}
# The joins' steps above end in a frame: finish them with a count.
for _name in ("q3", "ds_q3"):
    JOBS[_name][0].append(["count"])
QUICK = ("q1", "over_partitioned", "driver_bound")


def bootstrap(values: list[float], rounds: int = 2000, seed: int = 7) -> tuple[float, float]:
    """A 90% interval of the median, resampling the runs."""
    if len(values) < 2:
        return (values[0], values[0]) if values else (float("nan"), float("nan"))
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(rounds))
    return medians[int(0.05 * rounds)], medians[int(0.95 * rounds) - 1]


def wait(client: Any, test: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = test()
        if found:
            return found
        time.sleep(0.5)
    raise TimeoutError(what)


def run_day(client: Any, job: str, day: str) -> dict[str, Any]:
    run_id = client.post(f"/api/v1/jobs/{job}/runs", json={"params": {"day": day}}).json()["id"]
    run = wait(client, lambda: (r := client.get(f"/api/v1/runs/{run_id}", params={"wait_seconds": 10}).json())
               ["state"] in ("SUCCEEDED", "FAILED") and r, 900, f"run {run_id}")
    # the loop reads it before the next day's run is submitted (its layer depends on it)
    wait(client, lambda: any(r["run_id"] == run_id for r in client.get(f"/api/v1/jobs/{job}/tuning").json()["runs"]),
         300, f"the loop to read run {run_id}")
    time.sleep(2)  # the run is listed once read; its verdict and the next layer follow within a round
    return dict(run)


def figures(runs: list[dict[str, Any]], key: str) -> list[float]:
    return [r[key] for r in runs if r[key] is not None]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--days", type=int, default=6)
    parser.add_argument("--jobs", default=None)
    args = parser.parse_args()
    names = args.jobs.split(",") if args.jobs else list(QUICK if args.quick else JOBS)
    days = 3 if args.quick and args.days == 6 else args.days
    rng = random.Random(2026)
    factors = [1.0] + [1.0 + rng.uniform(-0.3, 0.3) for _ in range(days - 1)]
    if days >= 4:
        factors[3] = 3.0  # the skewed day: another input-size bucket
    rows: list[list[object]] = []
    result: dict[str, Any] = {"days": days, "factors": factors, "jobs": {}}
    with tempfile.TemporaryDirectory(prefix="stoker-bench-tuning-") as tmp:
        data = Path(tmp) / "data"
        files = data / "files"
        for i, factor in enumerate(factors):
            make_day(files, f"day{i + 1}", factor, seed=100 + i)
        try:
            run_jobs(data, names, days, rows, result)
        finally:
            kill_every_node(data)  # the cluster's JVMs outlive the server by design
    headers = ["job", "trials", "rollbacks", "core-s before", "core-s after", "ratio", "CPU-s before", "CPU-s after",
               "ratio", "s before", "s after", "ratio", "pred. err core-s"]
    print_table(headers, rows)
    result["table"] = {"headers": headers, "rows": rows}
    print("written to", write_results("tuning", result))


def run_jobs(data: Path, names: list[str], days: int, rows: list[list[object]], result: dict[str, Any]) -> None:
    with stoker_server(data, extra_env={"STOKER_CLUSTER_CAPACITY": "cores=3",
                                        "STOKER_TUNING_INTERVAL_SECONDS": "0.5"}) as client:
        cluster = client.post(f"{P}/products/spark-standalone/4.3", json={"size": 2}).json()["id"]
        wait(client, lambda: client.get(f"/api/v1/clusters/{cluster}").json()["status"] == "ready", 300,
             "the cluster")
        for name in names:
            steps, conf = JOBS[name]
            for job, mode in ((name, "auto"), (f"{name}-as-written", "advise")):
                # the owner lets tuning change what they wrote (the job's own conf wins otherwise)
                allow = [k for k in conf if k in TUNABLE]
                made = client.post("/api/v1/jobs", json={"name": job, "steps": steps, "mode": "submit",
                                                         "cluster": cluster, "conf": conf, "max_attempts": 1,
                                                         "tuning": {"mode": mode, "allow": allow}})
                assert made.status_code == 201, made.text
            for day in range(days):
                order = [name, f"{name}-as-written"] if day % 2 else [f"{name}-as-written", name]
                for job in order:
                    run = run_day(client, job, f"day{day + 1}")
                    print(f"{job} day{day + 1}: {run['state']}", flush=True)
            tuned = client.get(f"/api/v1/jobs/{name}/tuning").json()
            written = client.get(f"/api/v1/jobs/{name}-as-written/tuning").json()
            result["jobs"][name] = {"tuned": tuned, "as_written": written}
            rows.append(summarise(name, tuned, written))
            print("  ".join(str(x) for x in rows[-1]), flush=True)


def summarise(name: str, tuned: dict[str, Any], written: dict[str, Any]) -> list[object]:
    after = tuned["runs"][1:]  # the tuned job's first run is its baseline
    before = written["runs"]
    row: list[object] = [name, len([t for t in tuned["trials"] if t["status"] != "advised"]),
                         len([t for t in tuned["trials"] if t["status"] == "rolled_back"])]
    for key in ("core_s", "cpu_s", "duration_s"):
        b, a = figures(before, key), figures(after, key)
        if not b or not a:
            row += ["-", "-", "-"]
            continue
        (blo, bhi), (alo, ahi) = bootstrap(b), bootstrap(a)
        mb, ma = statistics.median(b), statistics.median(a)
        row += [f"{mb:.1f} [{blo:.1f}-{bhi:.1f}]", f"{ma:.1f} [{alo:.1f}-{ahi:.1f}]", f"{ma / mb:.2f}"]
    errors = [abs(t["prediction"]["core_ms"]["expected"] - t["measured"]["core_ms"]["trial"])
              / t["measured"]["core_ms"]["trial"] for t in tuned["trials"]
              if t["measured"] and t["measured"]["core_ms"]["trial"]]
    row.append(f"{statistics.median(errors):.0%}" if errors else "-")
    return row


if __name__ == "__main__":
    main()
