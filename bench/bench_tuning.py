"""The tuning loop's proof (docs/tuning.md): recurring jobs on seeded data, run for several "days"
in tuning mode `auto` on a Stoker `spark-standalone` cluster (2 workers × 1 core), each beside its
twin as written (the same steps and conf, tuning `advise`: measured, never changed), A/B runs
interleaved day by day, in the same run.

    .venv/bin/python bench/bench_tuning.py [--quick] [--days 6] [--jobs q1,over_partitioned,...]
        [--no-baselines | --baseline-days 2,3,5]

Jobs (each written with the configuration such a user would pick):
  q1                TPC-H-shaped q1: a scan of lineitem and an aggregation by flag and status
  q3                TPC-H-shaped q3: lineitem ⋈ orders ⋈ customer, revenue per order, top 10
  q18               TPC-H-shaped q18: big orders (sum of quantity per order), joined back to orders
  ds_q3             TPC-DS-shaped q3: store_sales ⋈ item, the broadcast threshold off as a user left it
  zipf_join         a join on a Zipf-skewed key, AQE off
  over_partitioned  an aggregation with 400 shuffle partitions, AQE off
  spill_sort        a global sort on small executors (512m)
  ds_q19            TPC-DS-shaped q19: store_sales ⋈ date_dim ⋈ item ⋈ customer ⋈ address ⋈ store, revenue per
                    brand and manufacturer where the customer's zip is not the store's (AQE off)
  ds_q55            TPC-DS-shaped q55: store_sales ⋈ date_dim ⋈ item, one manager's revenue per brand in a month
  cached_gc         six tagged copies of each line cached MEMORY_ONLY on small executors (512m), read
                    three times by one query of collect_set (on-heap objects: the GC's work); run it
                    with --worker-mem 1024, since on 512 MiB workers no executor can have more heap
  pandas_udf        a grouped pandas function (`zscore` per ship date), then the outliers counted
  driver_bound      a small query after driver-side work (a sleep step)

Days: the input changes ±30% from day to day (seeded), and one day (the 4th) is skewed 3× (another
input-size bucket). Per job and day: the twin runs, then the tuned job (alternating which goes
first), so both see the same machine. Reported per job: exploratory runs (trials), rollbacks,
core-seconds, CPU-seconds and duration (median, and a bootstrap 90% interval) of the twin's runs and
of the tuned job's runs after its first (baseline) day, their ratios, and the prediction error of
each trial (predicted vs measured core-seconds). `--quick`: q1, over_partitioned and driver_bound
for 3 days (about 10-15 minutes here).

Baselines in the same run, interleaved with the two above (`--no-baselines` leaves them out):
  Spark defaults + AQE  the same steps with none of the owner's conf, AQE on
  Sparklens-style       the as-written conf plus the executor count the replayed task timeline of the
                        as-written job's first day gave (tuning/replay.py), applied once
  Dr. Elephant-style    the as-written conf plus every setting the rules (tuning/diagnosis.py, recommend.py)
                        gave after that day, applied once, never re-measured nor rolled back
The baselines run on --baseline-days (days 2, 3 and 5 by default: not the 3x day; the whole bench
takes about 85 minutes here, about 50 with --no-baselines; `all` for every day; --quick runs them
every day). Each is one row of the table per job, its ratios against the medians of the as-written
job's runs on the same days.
"""

from __future__ import annotations

import argparse
import os
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
    # TPC-DS-shaped: store_sales and its dimensions, joined on shared key names (item_sk, date_sk, ...)
    customers, stores = 5000, 20
    write_parquet(root / day / "store_sales.parquet", {
        "item_sk": [rng.randrange(2000) for _ in range(n)],
        "date_sk": [rng.randrange(365) for _ in range(n)],
        "customer_sk": [rng.randrange(customers) for _ in range(n)],
        "store_sk": [rng.randrange(stores) for _ in range(n)],
        "ss_ext_sales_price": [rng.random() * 100 for _ in range(n)]})
    write_parquet(root / day / "item.parquet", {
        "item_sk": list(range(2000)), "i_brand_id": [rng.randrange(50) for _ in range(2000)],
        "i_brand": [f"brand#{rng.randrange(50)}" for _ in range(2000)],
        "i_manufact_id": [rng.randrange(100) for _ in range(2000)],
        "i_manufact": [f"manufact#{rng.randrange(100)}" for _ in range(2000)],
        "i_manager_id": [rng.randrange(30) for _ in range(2000)]})
    write_parquet(root / day / "date_dim.parquet", {
        "date_sk": list(range(365)), "d_year": [1999] * 365, "d_moy": [min(12, d // 30 + 1) for d in range(365)]})
    write_parquet(root / day / "ds_customer.parquet", {
        "customer_sk": list(range(customers)), "addr_sk": [rng.randrange(customers) for _ in range(customers)]})
    write_parquet(root / day / "customer_address.parquet", {
        "addr_sk": list(range(customers)), "ca_zip": [f"{rng.randrange(100):05d}" for _ in range(customers)]})
    write_parquet(root / day / "store.parquet", {
        "store_sk": list(range(stores)), "s_zip": [f"{rng.randrange(100):05d}" for _ in range(stores)]})
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
    "ds_q19": ([["read_parquet", f"{D}/store_sales.parquet"], ["join", f"{D}/date_dim.parquet", "date_sk"],
                ["filter", "d_moy = 11 AND d_year = 1999"], ["join", f"{D}/item.parquet", "item_sk"],
                ["filter", "i_manager_id = 8"], ["join", f"{D}/ds_customer.parquet", "customer_sk"],
                ["join", f"{D}/customer_address.parquet", "addr_sk"], ["join", f"{D}/store.parquet", "store_sk"],
                ["filter", "substr(ca_zip, 1, 5) <> substr(s_zip, 1, 5)"],
                ["group_by", ["i_brand_id", "i_brand", "i_manufact_id", "i_manufact"],
                 {"ext_price": "sum(ss_ext_sales_price)"}],
                ["sort", "-ext_price", "i_brand", "i_brand_id", "i_manufact_id", "i_manufact"], ["limit", 100],
                ["collect"]], {"spark.sql.adaptive.enabled": "false"}),
    "ds_q55": ([["read_parquet", f"{D}/store_sales.parquet"], ["join", f"{D}/date_dim.parquet", "date_sk"],
                ["filter", "d_moy = 11 AND d_year = 1999"], ["join", f"{D}/item.parquet", "item_sk"],
                ["filter", "i_manager_id = 28"],
                ["group_by", ["i_brand_id", "i_brand"], {"ext_price": "sum(ss_ext_sales_price)"}],
                ["sort", "-ext_price", "i_brand_id"], ["limit", 100], ["collect"]], {}),
    "cached_gc": ([["read_parquet", f"{D}/lineitem.parquet"],
                   # six tagged copies of each line, kept as objects the aggregations below hash
                   ["sql", "SELECT l_returnflag, l_linestatus, l_quantity, concat(l_returnflag, l_linestatus, '-', "
                           "cast(orderkey AS string), '-', cast(i AS string)) AS tag "
                           "FROM input LATERAL VIEW explode(sequence(1, 6)) t AS i"],
                   ["cache", "MEMORY_ONLY"],
                   ["sql", "SELECT 'flag' AS what, l_returnflag AS k, size(collect_set(tag)) AS n FROM input "
                           "GROUP BY l_returnflag UNION ALL "
                           "SELECT 'status', l_linestatus, size(collect_set(tag)) FROM input GROUP BY l_linestatus "
                           "UNION ALL SELECT 'big', cast(l_quantity > 25 AS string), size(collect_set(tag)) "
                           "FROM input GROUP BY l_quantity > 25"], ["collect"]],
                  {"spark.executor.memory": "512m"}),
    "pandas_udf": ([["read_parquet", f"{D}/lineitem.parquet"], ["zscore", "l_extendedprice", "l_shipdate"],
                    ["filter", "abs(l_extendedprice_z) > 1.6"], ["count"]], {}),
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


class RefusedError(RuntimeError):
    """The server would not take a run of the job."""


def run_day(client: Any, job: str, day: str) -> dict[str, Any]:
    answer = client.post(f"/api/v1/jobs/{job}/runs", json={"params": {"day": day}})
    if answer.status_code != 201:
        raise RefusedError(f"{job} {day}: the submit was refused: {answer.status_code} {answer.text}")
    run_id = answer.json()["id"]
    run = wait(client, lambda: (r := client.get(f"/api/v1/runs/{run_id}", params={"wait_seconds": 10}).json())
               ["state"] in ("SUCCEEDED", "FAILED") and r, 900, f"run {run_id}")
    # the loop reads it before the next day's run is submitted (its layer depends on it)
    wait(client, lambda: any(r["run_id"] == run_id for r in client.get(f"/api/v1/jobs/{job}/tuning").json()["runs"]),
         300, f"the loop to read run {run_id}")
    time.sleep(1)  # the run is listed once read; its verdict and the next layer follow within a round (0.5 s)
    return dict(run)


def figures(runs: list[dict[str, Any]], key: str) -> list[float]:
    return [r[key] for r in runs if r[key] is not None]


# How each configuration beside Stoker's `auto` is made (docs/tuning.md, "the proof"); all are
# measured with tuning `advise` (profiled, never changed).
AS_WRITTEN, DEFAULTS, SPARKLENS, ELEPHANT, AUTO = "as written", "Spark defaults + AQE", "Sparklens-style", \
    "Dr. Elephant-style", "Stoker auto"
SUFFIX = {AS_WRITTEN: "-as-written", DEFAULTS: "-defaults", SPARKLENS: "-sparklens", ELEPHANT: "-elephant", AUTO: ""}
EXECUTOR_COUNT = ("spark.cores.max", "spark.executor.instances")


def rules_applied_once(advised: dict[str, Any] | None) -> dict[str, dict[str, str]]:
    """The rule-based baselines, from what the loop advised after the as-written job's first run
    (tuning/diagnosis.py's findings, tuning/recommend.py's settings, tuning/replay.py's executor
    count), applied once and never re-measured nor rolled back: Dr. Elephant-style takes every
    setting the rules gave, Sparklens-style only the executor count from the replayed task timeline.
    A baseline whose rules changed nothing is the as-written configuration (not run again)."""
    settings = dict(advised["conf"]) if advised else {}
    count = {k: v for k, v in settings.items() if k in EXECUTOR_COUNT}
    return {name: found for name, found in ((SPARKLENS, count), (ELEPHANT, settings)) if found}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--days", type=int, default=6)
    parser.add_argument("--jobs", default=None, help=f"comma-separated, of: {', '.join(JOBS)}")
    parser.add_argument("--no-baselines", action="store_true",
                        help="only the as-written twin beside auto (no defaults, Sparklens-, Dr. Elephant-style)")
    parser.add_argument("--worker-mem", type=int, default=512,
                        help="MB of each of the cluster's 2 workers (what a tuned executor may grow to)")
    parser.add_argument("--baseline-days", default="2,3,5",
                        help="the days (1-based) the baselines run on; 'all' for every day (the bench then "
                             "takes about half as long again)")
    args = parser.parse_args()
    names = args.jobs.split(",") if args.jobs else list(QUICK if args.quick else JOBS)
    unknown = [n for n in names if n not in JOBS]
    if unknown:
        parser.error(f"unknown job {', '.join(unknown)}; the jobs are {', '.join(JOBS)}")
    days = 3 if args.quick and args.days == 6 else args.days
    baseline_days = set(range(days)) if args.baseline_days == "all" or args.quick else \
        {int(d) - 1 for d in args.baseline_days.split(",") if 0 < int(d) <= days}
    rng = random.Random(2026)
    factors = [1.0] + [1.0 + rng.uniform(-0.3, 0.3) for _ in range(days - 1)]
    if days >= 4:
        factors[3] = 3.0  # the skewed day: another input-size bucket
    rows: list[list[object]] = []
    result: dict[str, Any] = {"days": days, "factors": factors, "jobs": {}, "load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="stoker-bench-tuning-") as tmp:
        data = Path(tmp) / "data"
        files = data / "files"
        for i, factor in enumerate(factors):
            make_day(files, f"day{i + 1}", factor, seed=100 + i)
        try:
            run_jobs(data, names, days, set() if args.no_baselines else baseline_days, rows, result,
                     args.worker_mem)
        finally:
            kill_every_node(data)  # the cluster's JVMs outlive the server by design
    result["load_after"] = os.getloadavg()
    headers = ["job", "configuration", "runs", "exploratory", "rollbacks", "core-s", "ratio", "CPU-s", "ratio",
               "duration s", "ratio", "pred. err core-s", "worst day"]
    print_table(headers, rows)
    print("load average before / after:", " / ".join(" ".join(f"{x:.1f}" for x in result[k])
                                                       for k in ("load_before", "load_after")))
    result["table"] = {"headers": headers, "rows": rows}
    print("written to", write_results("tuning", result))


def make_job(client: Any, job: str, steps: list[Any], cluster: str, conf: dict[str, str], mode: str,
             allow: list[str]) -> None:
    made = client.post("/api/v1/jobs", json={"name": job, "steps": steps, "mode": "submit", "cluster": cluster,
                                             "conf": conf, "max_attempts": 1,
                                             "tuning": {"mode": mode, "allow": allow}})
    assert made.status_code == 201, made.text


def run_jobs(data: Path, names: list[str], days: int, baseline_days: set[int], rows: list[list[object]],
             result: dict[str, Any], worker_mem: int = 512) -> None:
    """Each job in its configurations, day by day; the baselines (Spark defaults, the rules applied
    once) only on baseline_days (the 3x day is costly: the bench takes about 85 minutes here as it is). Each
    row's ratios are against the as-written runs of the same days."""
    baselines = bool(baseline_days)
    with stoker_server(data, extra_env={"STOKER_CLUSTER_CAPACITY": "cores=3",
                                        "STOKER_TUNING_INTERVAL_SECONDS": "0.5"}) as client:
        cluster = client.post(f"{P}/products/spark-standalone/4.3",
                              json={"size": 2, "worker.mem": worker_mem}).json()["id"]
        wait(client, lambda: client.get(f"/api/v1/clusters/{cluster}").json()["status"] == "ready", 300,
             "the cluster")
        for name in names:
            steps, conf = JOBS[name]
            # the owner lets tuning change what they wrote (the job's own conf wins otherwise)
            allow = [k for k in conf if k in TUNABLE]
            make_job(client, name, steps, cluster, conf, "auto", allow)
            make_job(client, name + SUFFIX[AS_WRITTEN], steps, cluster, conf, "advise", allow)
            variants = [AS_WRITTEN, AUTO]
            if baselines:
                # Spark's defaults: none of the owner's conf, AQE on (Spark 4's default, said explicitly)
                make_job(client, name + SUFFIX[DEFAULTS], steps, cluster, {"spark.sql.adaptive.enabled": "true"},
                         "advise", [])
                variants.append(DEFAULTS)
            applied: dict[str, dict[str, str]] = {}
            day_of: dict[str, int] = {}  # run id -> day
            refusals: dict[str, str] = {}
            for day in range(days):
                if day == 1 and baselines:  # the rules read the as-written job's first day
                    advised = next((t for t in client.get(f"/api/v1/jobs/{name}{SUFFIX[AS_WRITTEN]}/tuning")
                                    .json()["trials"] if t["status"] == "advised"), None)
                    applied = rules_applied_once(advised)
                    for variant, settings in applied.items():
                        make_job(client, name + SUFFIX[variant], steps, cluster, {**conf, **settings}, "advise", [])
                        variants.append(variant)
                # interleaved: each day starts with another configuration, so all see the same machine
                shift = day % len(variants)
                for variant in variants[shift:] + variants[:shift]:
                    if variant not in (AS_WRITTEN, AUTO) and day not in baseline_days:
                        continue
                    try:
                        run = run_day(client, name + SUFFIX[variant], f"day{day + 1}")
                    except RefusedError as refused:  # a rule-made conf this cluster cannot run
                        if variant in (AS_WRITTEN, AUTO):
                            raise
                        print(refused, flush=True)
                        variants.remove(variant)
                        refusals[variant] = str(refused)
                        continue
                    day_of[run["id"]] = day
                    print(f"{name} ({variant}) day{day + 1}: {run['state']}", flush=True)
            views = {v: client.get(f"/api/v1/jobs/{name}{SUFFIX[v]}/tuning").json() for v in variants}
            result["jobs"][name] = {"views": views, "rules_applied_once": applied, "day_of": day_of}
            for variant in (AS_WRITTEN, DEFAULTS, SPARKLENS, ELEPHANT, AUTO):
                if variant in views:
                    rows.append(summarise(name, variant, views[variant], views[AS_WRITTEN], day_of))
                elif variant in refusals:
                    rows.append([name, variant, f"refused: {refusals[variant]}"] + [""] * 10)
                elif variant in (SPARKLENS, ELEPHANT) and baselines:
                    rows.append([name, variant, "= as written (no rule fired)"] + [""] * 10)
                else:
                    continue
                print("  ".join(str(x) for x in rows[-1]), flush=True)


def interval(values: list[float]) -> str:
    lo, hi = bootstrap(values)
    return f"{statistics.median(values):.1f} [{lo:.1f}-{hi:.1f}]"


def summarise(name: str, variant: str, view: dict[str, Any], written: dict[str, Any],
              day_of: dict[str, int]) -> list[object]:
    """One row: this configuration's runs (Stoker auto's after its first, baseline, day) against the
    as-written job's runs of the same days (so a baseline that skipped the 3x day is not flattered)."""
    runs = view["runs"][1:] if variant == AUTO else view["runs"]
    days = {day_of.get(r["run_id"]) for r in runs}
    same_days = [r for r in written["runs"] if day_of.get(r["run_id"]) in days]
    tried = [t for t in view["trials"] if t["status"] != "advised"]
    row: list[object] = [name, variant, len(runs), sum(b["exploratory_runs"] for b in view["buckets"])
                         if variant == AUTO else "-",
                         len([t for t in tried if t["status"] == "rolled_back"]) if variant == AUTO else "-"]
    for key in ("core_s", "cpu_s", "duration_s"):
        mine, theirs = figures(runs, key), figures(same_days, key)
        if not mine:
            row += ["-", "-"]
            continue
        row += [interval(mine), f"{statistics.median(mine) / statistics.median(theirs):.2f}" if theirs else "-"]
    errors = [abs(t["prediction"]["core_ms"]["expected"] - t["measured"]["core_ms"]["trial"])
              / t["measured"]["core_ms"]["trial"] for t in tried
              if t["measured"] and t["measured"]["core_ms"]["trial"]]
    row.append(f"{statistics.median(errors):.0%}" if errors else "-")
    # the slowest day against the as-written run of that day (the goal: none more than 10% slower)
    written_on = {day_of.get(r["run_id"]): r["duration_s"] for r in written["runs"] if r["duration_s"]}
    per_day = [r["duration_s"] / written_on[d] for r in runs
               if r["duration_s"] and (d := day_of.get(r["run_id"])) in written_on]
    row.append(f"{max(per_day):.2f}" if per_day and variant != AS_WRITTEN else "-")
    return row


if __name__ == "__main__":
    main()
