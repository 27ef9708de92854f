"""The function catalog on a real SparkSession: many functions end to end on small files,
with values checked against what Python computes from the same data."""

from __future__ import annotations

import csv
import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from stoker.catalog import Catalog, ResultTooLarge, RunContext, StepFailed, StorageRoots, load_catalog
from stoker.catalog.sqlguard import jvm_statement_problem

pytestmark = pytest.mark.spark

CITIES = ["Paris", "Lyon", "Nice", "Lille"]
PEOPLE = ["read_csv", "people.csv", {"header": True, "inferSchema": True}]


def people_rows() -> list[dict[str, Any]]:
    return [{"id": i, "name": f"p{i}", "age": 18 + (i * 7) % 60, "city": CITIES[i % 4]}
            for i in range(200)]


@pytest.fixture
def files(tmp_path: Path) -> Path:
    root = tmp_path / "files"
    root.mkdir()
    with open(root / "people.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, ["id", "name", "age", "city"])
        writer.writeheader()
        writer.writerows(people_rows())
    with open(root / "cities.csv", "w", newline="") as f:
        f.write("city,country\nParis,FR\nLyon,FR\nNice,FR\n")  # no Lille: tests the left join
    return root


def run(catalog: Catalog, spark: Any, root: Path, steps: list[Any], **limits: Any) -> dict[str, Any]:
    ctx = RunContext(spark=lambda: spark.newSession(), roots=StorageRoots(root), **limits)
    catalog.validate(steps, ctx.roots)
    result = catalog.execute(steps, ctx)
    json.dumps(result, allow_nan=False)  # every result is strict JSON
    return result


def test_pipelines_end_to_end(spark: Any, files: Path) -> None:
    catalog = load_catalog([])
    people = people_rows()

    # read_csv → filter → with_column → group_by → sort → collect
    result = run(catalog, spark, files, [
        PEOPLE, ["filter", "age > 30"], ["with_column", "age2", "age * 2"],
        ["group_by", ["city"], {"n": "count(*)", "avg_age": "avg(age)", "max2": "max(age2)"}],
        ["sort", "-n", "city"], ["collect"]])
    groups: dict[str, list[int]] = defaultdict(list)
    for p in people:
        if p["age"] > 30:
            groups[p["city"]].append(p["age"])
    expected = sorted(([c, len(a), sum(a) / len(a), 2 * max(a)] for c, a in groups.items()),
                      key=lambda r: (-r[1], r[0]))
    assert result["type"] == "rows" and result["row_count"] == len(expected)
    assert result["columns"] == [{"name": "city", "type": "string"}, {"name": "n", "type": "bigint"},
                                 {"name": "avg_age", "type": "double"}, {"name": "max2", "type": "int"}]
    assert [[*r[:2], round(r[2], 6), *r[3:]] for r in result["rows"]] == \
        [[*r[:2], round(r[2], 6), *r[3:]] for r in expected]

    # select (names and expressions) → rename → drop → distinct → sort → limit; collect(max_rows)
    result = run(catalog, spark, files, [
        PEOPLE, ["select", "city", "upper(city) AS big", "age"], ["rename", "big", "shout"],
        ["drop", "age"], ["distinct"], ["sort", "city"], ["limit", 3], ["collect", 3]])
    assert result["rows"] == [[c, c.upper()] for c in sorted(CITIES)[:3]]

    # write_parquet (rows counted as written) → read_parquet → left join a CSV → union → count
    written = run(catalog, spark, files, [PEOPLE, ["filter", "age >= 50"], ["write_parquet", "out/old.parquet"]])
    old = [p for p in people if p["age"] >= 50]
    assert written == {"type": "write", "format": "parquet", "rows": len(old),
                       "path": str(files.resolve() / "out" / "old.parquet")}
    result = run(catalog, spark, files, [
        ["read_parquet", "out/old.parquet"], ["join", "cities.csv", "city", "left"],
        ["group_by", ["country"], {"n": "count(*)"}], ["sort", "country"], ["collect"]])
    lille = sum(1 for p in old if p["city"] == "Lille")
    assert result["rows"] == [[None, lille], ["FR", len(old) - lille]]
    assert run(catalog, spark, files, [PEOPLE, ["union", "out/old.parquet"], ["count"]]) == \
        {"type": "count", "count": len(people) + len(old)}

    # write_csv / write_json with modes, read back; sql() with and without a frame
    first = run(catalog, spark, files, [PEOPLE, ["limit", 10], ["write_csv", "out/ten.csv"]])
    assert first["rows"] == 10 and os.path.isdir(first["path"])
    again = run(catalog, spark, files, [PEOPLE, ["write_csv", "out/ten.csv", "ignore"]])
    assert again["rows"] == 0  # ignore: the existing output stays
    with pytest.raises(StepFailed) as info:  # errorifexists is the default
        run(catalog, spark, files, [PEOPLE, ["write_csv", "out/ten.csv"]])
    assert info.value.step == 1 and "already exists" in info.value.message.lower()
    assert run(catalog, spark, files, [["read_csv", "out/ten.csv", {"header": True}], ["count"]])["count"] == 10
    run(catalog, spark, files, [PEOPLE, ["filter", "city = 'Nice'"], ["write_json", "out/nice.json", "overwrite"]])
    result = run(catalog, spark, files, [
        ["read_json", "out/nice.json"], ["sql", "SELECT count(*) AS n, min(age) AS a FROM input"], ["collect"]])
    nice = [p["age"] for p in people if p["city"] == "Nice"]
    assert result["rows"] == [[len(nice), min(nice)]]
    result = run(catalog, spark, files, [["sql", "SELECT id FROM range(4) WHERE id % 2 = 1"], ["collect"]])
    assert result["rows"] == [[1], [3]]
    assert run(catalog, spark, files, [["range", 1234], ["count"]]) == {"type": "count", "count": 1234}

    # Spark's own errors come back naming the step, without the Java stack
    with pytest.raises(StepFailed) as info:
        run(catalog, spark, files, [PEOPLE, ["filter", "agee > 1"], ["count"]])
    assert info.value.step == 1 and "agee" in info.value.message and "\tat " not in info.value.message


def test_results_are_capped_and_json_safe(spark: Any, files: Path) -> None:
    catalog = load_catalog([])
    with pytest.raises(ResultTooLarge, match=r"more than 10 rows.*limit"):
        run(catalog, spark, files, [["range", 50], ["collect"]], max_rows=10)
    assert run(catalog, spark, files, [["range", 10], ["collect"]], max_rows=10)["row_count"] == 10
    with pytest.raises(ResultTooLarge, match="more than 5 rows"):
        run(catalog, spark, files, [["range", 10], ["collect", 5]])
    with pytest.raises(ResultTooLarge, match="bytes of JSON"):
        run(catalog, spark, files, [["range", 100], ["collect"]], max_bytes=50)

    result = run(catalog, spark, files, [["sql", """
        SELECT DATE'2024-02-29' AS d, TIMESTAMP_NTZ'2024-02-29 12:30:00' AS t,
               CAST(1.25 AS DECIMAL(10, 2)) AS small_dec, CAST(1.25 AS DECIMAL(30, 2)) AS big_dec,
               X'00FF' AS b, double('NaN') AS nan, array(1, 2) AS arr, map('k', DATE'2024-01-01') AS m,
               named_struct('x', 1, 'y', 'z') AS s, CAST(NULL AS STRING) AS nothing"""], ["collect"]])
    assert result["rows"] == [["2024-02-29", "2024-02-29T12:30:00", 1.25, "1.25", "AP8=", "NaN", [1, 2],
                               {"k": "2024-01-01"}, {"x": 1, "y": "z"}, None]]
    types = {c["name"]: c["type"] for c in result["columns"]}
    assert types["big_dec"] == "decimal(30,2)" and types["arr"] == "array<int>"


def test_schema_cache_skips_inference_on_repeat_reads(spark: Any, files: Path) -> None:
    catalog = load_catalog([])
    steps = [PEOPLE, ["group_by", [], {"total": "sum(age)"}], ["collect"]]
    first = run(catalog, spark, files, steps)
    assert (catalog.schema_cache.hits, catalog.schema_cache.misses) == (0, 1)
    assert run(catalog, spark, files, steps) == first
    assert catalog.schema_cache.hits == 1

    # Changing the file (size, mtime) misses, and the new schema is inferred afresh.
    (files / "people.csv").write_text("id,name,age,city\n1,a,1.5,Paris\n")
    result = run(catalog, spark, files, [PEOPLE, ["collect"]])
    assert catalog.schema_cache.misses == 2
    assert [c["type"] for c in result["columns"]] == ["int", "string", "double", "string"]
    assert result["rows"] == [[1, "a", 1.5, "Paris"]]


def test_session_guards_against_reading_around_the_roots(spark: Any, files: Path) -> None:
    catalog = load_catalog([])
    (files.parent / "secret.csv").write_text("s\n42\n")
    with pytest.raises(StepFailed) as info:  # SQL on files is off, so this is just an unknown table
        run(catalog, spark, files, [["sql", f"SELECT * FROM csv.`{files.parent / 'secret.csv'}`"], ["collect"]])
    assert info.value.step == 0 and "TABLE_OR_VIEW_NOT_FOUND" in info.value.message
    # ${...} is text, not a lookup into the session's conf (which may hold S3 keys).
    result = run(catalog, spark, files, [["range", 1], ["select", "'${spark.app.name}' AS v"], ["collect"]])
    assert result["rows"] == [["${spark.app.name}"]]


def test_spark_parser_backs_up_the_sql_guard(spark: Any) -> None:
    assert jvm_statement_problem(spark, "SELECT 1 AS x") is None
    assert jvm_statement_problem(spark, "WITH x AS (SELECT 1) SELECT * FROM x") is None
    for statement in ("WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x", "CREATE TABLE t AS SELECT 1",
                      "INSERT OVERWRITE DIRECTORY '/tmp/x' SELECT 1", "SET a = b"):
        assert jvm_statement_problem(spark, statement), statement


def test_cache_and_zscore(spark: Any, files: Path) -> None:
    catalog = load_catalog([])
    people = people_rows()
    cache_manager = spark._jsparkSession.sharedState().cacheManager()

    # a cached frame read twice by one query; released when the run ends (a warm session's later
    # runs share the SparkContext), and also when a later step fails
    result = run(catalog, spark, files, [
        PEOPLE, ["cache", "MEMORY_ONLY"],
        ["sql", "SELECT a.city, count(*) AS pairs FROM input a JOIN input b ON a.city = b.city "
                "GROUP BY a.city ORDER BY a.city"], ["collect"]])
    per_city = {c: sum(1 for p in people if p["city"] == c) for c in CITIES}
    assert result["rows"] == [[c, per_city[c] ** 2] for c in sorted(CITIES)]
    assert cache_manager.isEmpty()
    with pytest.raises(StepFailed):
        run(catalog, spark, files, [PEOPLE, ["cache"], ["filter", "nope > 1"], ["count"]])
    assert cache_manager.isEmpty()

    # zscore: (age − the city's mean) ÷ the city's standard deviation, by a grouped pandas function
    result = run(catalog, spark, files, [PEOPLE, ["zscore", "age", "city"], ["sort", "id"], ["collect", 1000]])
    assert [c["name"] for c in result["columns"]] == ["id", "name", "age", "city", "age_z"]
    for city in CITIES:
        ages = [p["age"] for p in people if p["city"] == city]
        mean = sum(ages) / len(ages)
        std = (sum((a - mean) ** 2 for a in ages) / len(ages)) ** 0.5
        got = {row[0]: row[4] for row in result["rows"] if row[3] == city}
        assert all(abs(got[p["id"]] - (p["age"] - mean) / std) < 1e-9 for p in people if p["city"] == city)
    # a constant group has no spread: every value is its mean
    result = run(catalog, spark, files, [PEOPLE, ["with_column", "one", "1"], ["zscore", "one", "city"],
                                         ["group_by", [], {"m": "max(abs(one_z))"}], ["collect"]])
    assert result["rows"] == [[0.0]]
    with pytest.raises(StepFailed) as info:
        run(catalog, spark, files, [PEOPLE, ["zscore", "name", "city"], ["count"]])
    assert info.value.step == 1 and "'name' is string, not a number" in info.value.message
    with pytest.raises(StepFailed) as info:
        run(catalog, spark, files, [PEOPLE, ["zscore", "age", "town"], ["count"]])
    assert "no group column 'town'" in info.value.message
