"""The function catalog without Spark: validation, paths, describe(), plugins, utilities."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import types
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

from stoker.catalog import (
    Arg,
    Cancelled,
    Catalog,
    FunctionSpec,
    PathRefused,
    PipelineInvalid,
    RunContext,
    StepFailed,
    StorageRoots,
    builtin_functions,
    function,
    load_catalog,
)
from stoker.catalog.schema_cache import SchemaCache, cache_key
from stoker.catalog.sqlguard import expression_problem, query_problem
from stoker.catalog.tuning import MB, plan_tuning

PEOPLE = ["read_csv", "people.csv", {"header": True, "inferSchema": True}]
GOOD = [PEOPLE, ["filter", "age > 30"],
        ["group_by", ["city"], {"n": "count(*)", "avg_age": "avg(age)"}], ["collect"]]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog([])


@pytest.fixture
def roots(tmp_path: Path) -> StorageRoots:
    (tmp_path / "files").mkdir()
    return StorageRoots(tmp_path / "files")


def problems(catalog: Catalog, steps: Any, roots: StorageRoots) -> list[dict[str, Any]]:
    with pytest.raises(PipelineInvalid) as info:
        catalog.validate(steps, roots)
    return info.value.problems


def one_problem(catalog: Catalog, steps: Any, roots: StorageRoots) -> dict[str, Any]:
    found = problems(catalog, steps, roots)
    assert len(found) == 1, found
    return found[0]


def no_spark() -> Any:
    pytest.fail("a utility-only pipeline asked for Spark")


# --- validation -------------------------------------------------------------------------------

def test_valid_pipeline_passes(catalog: Catalog, roots: StorageRoots) -> None:
    # valid: the checked plan, a bound step per step
    assert [step.spec.name for step in catalog.validate(GOOD, roots)] == [step[0] for step in GOOD]


@pytest.mark.parametrize("steps", [None, {}, [], "read_csv", 3])
def test_steps_must_be_a_non_empty_list(catalog: Catalog, roots: StorageRoots, steps: Any) -> None:
    problem = one_problem(catalog, steps, roots)
    assert problem["step"] == 0 and problem["function"] is None
    assert "non-empty list" in problem["message"]


def test_malformed_steps_are_named(catalog: Catalog, roots: StorageRoots) -> None:
    found = problems(catalog, [PEOPLE, [], "filter", [42, "x"], ["collect"]], roots)
    assert [(p["step"], p["function"]) for p in found] == [(1, None), (2, None), (3, None)]
    assert "non-empty list" in found[0]["message"] and "function name" in found[2]["message"]


def test_unknown_function_suggests_the_closest(catalog: Catalog, roots: StorageRoots) -> None:
    problem = one_problem(catalog, [PEOPLE, ["fitler", "age > 30"], ["collect"]], roots)
    assert problem == {"step": 1, "function": "fitler",
                       "message": "unknown function 'fitler' (did you mean 'filter'?)"}
    assert "did you mean" not in one_problem(catalog, [PEOPLE, ["zzzzzz"], ["collect"]], roots)["message"]


@pytest.mark.parametrize("step, expected", [
    (["filter"], "filter(condition: string) takes 1 argument, got 0"),
    (["filter", "a", "b"], "takes 1 argument, got 2"),
    (["select"], "select(col: string, ...) takes at least 1 argument, got 0"),
    (["distinct", 1], "takes no arguments, got 1"),
    (["join", "x.csv"], "takes 2 to 3 arguments, got 1"),
])
def test_wrong_arity(catalog: Catalog, roots: StorageRoots, step: list[Any], expected: str) -> None:
    problem = one_problem(catalog, [PEOPLE, step, ["collect"]], roots)
    assert problem["step"] == 1 and expected in problem["message"]


@pytest.mark.parametrize("step, expected", [
    (["filter", 30], "argument 'condition' must be a string, got integer"),
    (["limit", "10"], "argument 'n' must be an integer, got string"),
    (["limit", 1.5], "argument 'n' must be an integer, got number"),
    (["limit", True], "argument 'n' must be an integer, got boolean"),
    (["limit", -1], "argument 'n' must be at least 0"),
    (["sleep", "1"], "argument 'seconds' must be a number, got string"),
    (["group_by", "city", {"n": "count(*)"}], "argument 'cols' must be an array of strings"),
    (["group_by", ["city", 1], {"n": "count(*)"}], "argument 'cols' must be an array of strings"),
    (["group_by", ["city"], ["count(*)"]], "argument 'aggs' must be an object, got array"),
    (["group_by", ["city"], {"n": 1}], "value of 'n' must be a string"),
    (["group_by", ["city"], {}], "at least one aggregate"),
    (["join", "c.csv", 5], "must be a string or a non-empty array of strings"),
    (["join", "c.csv", [], "inner"], "must be a string or a non-empty array of strings"),
    (["join", "c.csv", "id", "sideways"], "argument 'how' must be one of inner, left"),
    (["sort", "-"], "sort column '-' is empty"),
    (["cache", "MEMORY_ONLY_2"], "argument 'level' must be one of MEMORY_AND_DISK, MEMORY_AND_DISK_DESER"),
    (["cache", 1], "argument 'level' must be a string, got integer"),
    (["zscore", "age"], "takes at least 2 arguments, got 1"),
    (["zscore", "age", ""], "a group column must not be empty"),
    (["zscore", "", "city"], "a column name must not be empty"),
    (["zscore", "age", "city", "age"], "cannot be both the one standardised and a group column"),
])
def test_wrong_argument_types(catalog: Catalog, roots: StorageRoots, step: list[Any], expected: str) -> None:
    problem = one_problem(catalog, [PEOPLE, step, ["collect"]], roots)
    assert problem["step"] == 1 and expected in problem["message"], problem


def test_boolean_and_option_types(catalog: Catalog, roots: StorageRoots) -> None:
    problem = one_problem(catalog, [["read_csv", "p.csv", {"header": [True]}], ["count"]], roots)
    assert "value of 'header' must be a string, number or boolean" in problem["message"]
    problem = one_problem(catalog, [["read_csv", "p.csv", {"path": "/etc/passwd"}], ["count"]], roots)
    assert "option 'path' is not allowed" in problem["message"]
    problem = one_problem(catalog, [["range", 3], ["write_csv", "o", "overwrite", {"x": None}]], roots)
    assert "value of 'x' must be a string, number or boolean, got null" in problem["message"]
    problem = one_problem(catalog, [["range", 3], ["write_csv", "o", "replace"]], roots)
    assert "argument 'mode' must be one of errorifexists, overwrite, append, ignore" in problem["message"]


def test_first_step_must_be_a_source(catalog: Catalog, roots: StorageRoots) -> None:
    problem = one_problem(catalog, [["filter", "a > 1"], ["collect"]], roots)
    assert problem["step"] == 0 and "first step must be a source" in problem["message"]
    assert "read_csv" in problem["message"]
    for first in (["range", 3], ["sql", "SELECT 1 AS x"], ["noop"]):
        steps = [first, ["collect"]] if first[0] != "noop" else [first]
        catalog.validate(steps, roots)


def test_transform_without_a_frame(catalog: Catalog, roots: StorageRoots) -> None:
    problem = one_problem(catalog, [["noop"], ["filter", "a > 1"], ["count"]], roots)
    assert problem["step"] == 1 and "needs a frame, but no step before it makes one" in problem["message"]


def test_second_source_would_discard_the_frame(catalog: Catalog, roots: StorageRoots) -> None:
    problem = one_problem(catalog, [PEOPLE, ["filter", "a > 1"], ["range", 3], ["count"]], roots)
    assert problem["step"] == 2 and "discard the one built by steps 0-1" in problem["message"]
    # sql() may follow: the frame so far becomes its view `input`.
    catalog.validate([PEOPLE, ["sql", "SELECT count(*) AS n FROM input"], ["collect"]], roots)


def test_actions_only_last_and_last_must_end(catalog: Catalog, roots: StorageRoots) -> None:
    found = problems(catalog, [PEOPLE, ["count"], ["collect"]], roots)
    assert found[0]["step"] == 1 and "can only be the last step" in found[0]["message"]
    found = problems(catalog, [PEOPLE, ["write_csv", "o"], ["filter", "a > 1"]], roots)
    assert [p["step"] for p in found] == [1, 2]  # no cascade: step 2 is not "without a frame"
    assert "the last step must be an action or a write" in found[1]["message"]
    problem = one_problem(catalog, [PEOPLE, ["filter", "a > 1"]], roots)
    assert problem["step"] == 1 and "got 'filter'" in problem["message"]
    problem = one_problem(catalog, [PEOPLE, ["sleep", 1]], roots)
    assert problem["step"] == 1
    for ok in ([PEOPLE, ["noop"]], [PEOPLE, ["fail", "x"]], [["sleep", 1]], [["fail", "x"]],
               [["noop"], ["sleep", 0]], [PEOPLE, ["write_parquet", "o.parquet"]]):
        catalog.validate(ok, roots)


def test_all_problems_are_collected_and_named(catalog: Catalog, roots: StorageRoots) -> None:
    steps = [["filtr", "x"], ["limit", "ten"], ["count"], ["sort"]]
    with pytest.raises(PipelineInvalid) as info:
        catalog.validate(steps, roots)
    found = info.value.problems
    assert [p["step"] for p in found] == [0, 1, 2, 3, 3]
    assert all(set(p) == {"step", "function", "message"} for p in found)
    assert "step 0: unknown function 'filtr'" in str(info.value)
    json.dumps(found)


@pytest.mark.parametrize("bad, expected", [
    (["filter", "reflect('java.lang.System', 'exit', 0) IS NULL"], "'reflect' is not allowed"),
    (["filter", "`java_method`('java.lang.System', 'exit', 0) IS NULL"], "'java_method' is not allowed"),
    (["filter", "TRY_REFLECT /* hi */ ('a', 'b') IS NULL"], "'try_reflect' is not allowed"),
    (["with_column", "x", "system.builtin.reflect('a', 'b')"], "'reflect' is not allowed"),
    (["group_by", [], {"n": "max(identifier('ref' || 'lect')('a', 'b'))"}], "'identifier' is not allowed"),
    (["select", "a", "reflect('a','b')"], "'reflect' is not allowed"),
    (["filter", "name = 'unterminated"], "unterminated string"),
    (["sql", "INSERT INTO t SELECT * FROM input"], "only queries are allowed"),
    (["sql", "WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x"], "found INSERT"),
    (["sql", "FROM input INSERT OVERWRITE DIRECTORY '/tmp/x' SELECT *"], "found INSERT"),
    (["sql", "SET spark.hadoop.fs.s3a.secret.key"], "got 'SET'"),
    (["sql", "SELECT 1; DROP TABLE t"], "only one statement"),
    (["sql", "WITH x AS (SELECT r'\\') MERGE INTO t USING x ON 1 = 1 -- '"], "found MERGE"),
    (["sql", "  -- comment\n  "], "the query is empty"),
])
def test_sql_is_guarded(catalog: Catalog, roots: StorageRoots, bad: list[Any], expected: str) -> None:
    problem = one_problem(catalog, [PEOPLE, bad, ["collect"]], roots)
    assert problem["step"] == 1 and expected in problem["message"], problem


def test_sql_guard_allows_ordinary_sql() -> None:
    for text in ("name = 'insert into t'", "`insert` > 1", "coalesce(a, 'reflect(')", "a -- reflect(\n > 1"):
        assert expression_problem(text) is None, text
    for query in ("SELECT * FROM input WHERE `update` > 1", "with x as (select 1 as a) select a from x",
                  "(SELECT 1) UNION (SELECT 2);", "VALUES (1), (2)", "FROM input SELECT city",
                  "SELECT 'it''s' AS s, \"a;b\" AS t /* nested /* comment */ ok */"):
        assert query_problem(query) is None, query


# --- paths ------------------------------------------------------------------------------------

def test_relative_paths_resolve_inside_the_storage_root(roots: StorageRoots) -> None:
    root = roots.storage_root
    assert roots.resolve("people.csv") == str(root / "people.csv")
    assert roots.resolve("a/./b/../c.csv") == str(root / "a" / "c.csv")
    assert roots.resolve(str(root / "x.parquet")) == str(root / "x.parquet")
    assert roots.resolve("logs/*.csv") == str(root / "logs" / "*.csv")


@pytest.mark.parametrize("path", ["../secret.csv", "a/../../secret.csv", "/etc/passwd", "/",
                                  "file:///etc/passwd", "hdfs://nn/x", "http://example.com/x.csv",
                                  "{..,x}/y.csv", "", "  ", "a\x00b", "s3:///nobucket", "s3a:key"])
def test_paths_outside_are_refused(roots: StorageRoots, path: str) -> None:
    with pytest.raises(PathRefused) as info:
        roots.resolve(path)
    assert info.value.path == path and info.value.step is None


def test_symlinks_cannot_escape(tmp_path: Path, roots: StorageRoots) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_text("a\n1\n")
    (roots.storage_root / "link").symlink_to(outside)
    (roots.storage_root / "link.csv").symlink_to(outside / "secret.csv")
    inside = roots.storage_root / "data"
    inside.mkdir()
    (roots.storage_root / "alias").symlink_to(inside)
    for path in ("link/secret.csv", "link.csv", "link/*.csv"):
        with pytest.raises(PathRefused):
            roots.resolve(path)
    assert roots.resolve("alias/x.csv") == str(inside / "x.csv")  # a link that stays inside is fine
    # A glob's matches are checked too: the match itself may be a link out.
    with pytest.raises(PathRefused):
        roots.expand(roots.resolve("*.csv"))
    (inside / "ok.csv").write_text("a\n1\n")
    assert roots.expand(roots.resolve("alias/*.csv")) == [str(inside / "ok.csv")]


def test_extra_roots_and_s3(tmp_path: Path) -> None:
    extra = tmp_path / "shared"
    extra.mkdir()
    roots = StorageRoots(tmp_path / "files", extra_roots=[extra])
    assert roots.resolve(str(extra / "x.csv")) == str(extra / "x.csv")
    with pytest.raises(PathRefused):
        roots.resolve(str(tmp_path / "elsewhere.csv"))
    assert roots.resolve("s3://bucket/key/x.csv") == "s3a://bucket/key/x.csv"
    assert roots.resolve("S3A://bucket/x.parquet") == "s3a://bucket/x.parquet"


def test_outputs_never_replace_a_root(roots: StorageRoots) -> None:
    for path in (".", str(roots.storage_root), "out/*.csv", "s3://bucket", "s3://bucket/"):
        with pytest.raises(PathRefused):
            roots.resolve_output(path)
    assert roots.resolve_output("out/x.parquet") == str(roots.storage_root / "out" / "x.parquet")


def test_validate_refuses_paths_naming_the_step(catalog: Catalog, roots: StorageRoots) -> None:
    cases = [
        ([["read_csv", "../x.csv"], ["count"]], 0, "../x.csv"),
        ([PEOPLE, ["join", "/etc/passwd.csv", "id"], ["count"]], 1, "/etc/passwd.csv"),
        ([PEOPLE, ["union", "../other.parquet"], ["count"]], 1, "../other.parquet"),
        ([PEOPLE, ["write_parquet", "hdfs://nn/out"]], 1, "hdfs://nn/out"),
        # a path refusal wins over other problems in the same pipeline
        ([["read_csv", "/etc/x.csv"], ["fitler", "x"], ["count"]], 0, "/etc/x.csv"),
    ]
    for steps, step, path in cases:
        with pytest.raises(PathRefused) as info:
            catalog.validate(steps, roots)
        assert (info.value.step, info.value.path) == (step, path)
        assert str(info.value).startswith(f"step {step}: ")


def test_join_accepts_table_names(catalog: Catalog, roots: StorageRoots) -> None:
    catalog.validate([PEOPLE, ["join", "cities", "city"], ["count"]], roots)
    catalog.validate([PEOPLE, ["join", "db.cities", ["city"], "left"], ["count"]], roots)


# --- describe, needs_spark, execution without Spark ------------------------------------------

def test_describe_shape(catalog: Catalog, roots: StorageRoots) -> None:
    described = catalog.describe()
    json.dumps(described)
    by_name = {d["name"]: d for d in described}
    expected = {"range", "read_csv", "read_json", "read_parquet", "select", "filter", "with_column",
                "drop", "rename", "distinct", "sort", "limit", "group_by", "join", "union", "cache", "zscore", "sql",
                "count", "collect", "write_csv", "write_json", "write_parquet", "noop", "sleep", "fail",
                "sate_ping"}
    assert set(by_name) == expected
    assert by_name["read_csv"]["signature"] == "read_csv(path: string[, options: object])"
    assert by_name["write_csv"]["signature"] == "write_csv(path: string[, mode: string[, options: object]])"
    assert by_name["select"]["signature"] == "select(col: string, ...)"
    assert by_name["collect"]["signature"] == "collect([max_rows: integer])"
    assert by_name["cache"]["signature"] == "cache([level: string])"
    assert by_name["zscore"]["signature"] == "zscore(col: string, by: string, ...)"
    assert by_name["read_csv"]["args"] == [
        {"name": "path", "type": "string", "required": True, "variadic": False},
        {"name": "options", "type": "object", "required": False, "variadic": False}]
    assert by_name["sleep"]["needs_spark"] is False and by_name["filter"]["needs_spark"] is True
    assert {d["kind"] for d in described} == {"source", "transform", "action", "write", "utility"}
    for entry in described:
        assert set(entry) == {"name", "signature", "kind", "needs_spark", "doc", "example", "args"}
        assert entry["doc"] and "\n" not in entry["doc"]
        assert any(step[0] == entry["name"] for step in entry["example"]), entry["name"]
        catalog.validate(entry["example"], roots)  # every example is a valid pipeline


def test_needs_spark(catalog: Catalog) -> None:
    assert catalog.needs_spark([["noop"]]) is False
    assert catalog.needs_spark([["sleep", 1], ["fail", "x"]]) is False
    assert catalog.needs_spark(GOOD) is True
    assert catalog.needs_spark([["noop"], ["nosuch"]]) is True
    assert catalog.needs_spark("junk") is True


def test_utilities_run_without_spark(catalog: Catalog, roots: StorageRoots) -> None:
    ctx = RunContext(spark=no_spark, roots=roots)
    assert catalog.execute([["noop"]], ctx) == {"type": "noop"}
    assert catalog.execute([["sleep", 0.01], ["noop"]], ctx) == {"type": "noop"}
    with pytest.raises(StepFailed) as info:
        catalog.execute([["sleep", 0], ["fail", "boom"]], ctx)
    assert (info.value.step, info.value.function, info.value.message) == (1, "fail", "boom")
    with pytest.raises(PipelineInvalid):
        catalog.execute([["filter", "x"]], ctx)


def test_sleep_is_cancellable(catalog: Catalog, roots: StorageRoots) -> None:
    cancelled = threading.Event()
    ctx = RunContext(spark=no_spark, roots=roots, cancelled=cancelled)
    timer = threading.Timer(0.05, cancelled.set)
    timer.start()
    try:
        with pytest.raises(Cancelled):
            catalog.execute([["sleep", 30], ["noop"]], ctx)
    finally:
        timer.cancel()
    with pytest.raises(Cancelled):  # already cancelled: not even the first step runs
        catalog.execute([["noop"]], ctx)


# --- plugins ----------------------------------------------------------------------------------

@function(kind="utility", args=[Arg("text", "string")], ends_pipeline=True,
          example=[["shout", "hi"]])
def shout(sc: Any, frame: Any, text: str) -> dict[str, Any]:
    """Return the text in capitals."""
    return {"type": "shout", "text": text.upper()}


def _plugin_module(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("stoker_test_plugin")
    module.shout = shout  # type: ignore[attr-defined]
    module.many = [  # type: ignore[attr-defined]
        FunctionSpec("whisper", "utility", run=lambda sc, frame: frame, doc="Do nothing quietly.",
                     example=[["whisper"], ["noop"]]),
        FunctionSpec("double_ids", "transform", run=lambda sc, frame: frame,
                     example=[["range", 3], ["double_ids"], ["count"]]),
    ]
    module.clash = FunctionSpec("filter", "utility", run=lambda sc, frame: frame)  # type: ignore[attr-defined]
    module.junk = 42  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "stoker_test_plugin", module)


def ep(name: str, attr: str, module: str = "stoker_test_plugin") -> EntryPoint:
    return EntryPoint(name=name, value=f"{module}:{attr}", group="stoker.functions")


def test_entry_points_add_functions(monkeypatch: pytest.MonkeyPatch, roots: StorageRoots) -> None:
    _plugin_module(monkeypatch)
    catalog = load_catalog([ep("shout", "shout"), ep("many", "many")])
    assert catalog.load_errors == ()
    names = [d["name"] for d in catalog.describe()]
    assert names[:len(builtin_functions())] == [s.name for s in builtin_functions()]
    assert names[-3:] == ["shout", "whisper", "double_ids"]
    assert catalog.get("double_ids") is not None and catalog.get("double_ids").needs_spark  # type: ignore[union-attr]
    assert catalog.needs_spark([["whisper"], ["shout", "x"]]) is False
    ctx = RunContext(spark=no_spark, roots=roots)
    assert catalog.execute([["whisper"], ["shout", "hi"]], ctx) == {"type": "shout", "text": "HI"}
    with pytest.raises(PipelineInvalid):
        catalog.validate([["shout", 1]], roots)


def test_broken_plugins_are_skipped_and_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    _plugin_module(monkeypatch)
    eps = [ep("gone", "x", module="no_such_module_for_stoker"), ep("clash", "clash"),
           ep("junk", "junk"), ep("shout", "shout")]
    catalog = load_catalog(eps)
    assert "shout" in catalog
    assert catalog.get("filter") is next(s for s in builtin_functions() if s.name == "filter")
    errors = catalog.load_errors
    assert len(errors) == 3
    assert "cannot load" in errors[0] and "already defined by builtin" in errors[1]
    assert "expected a FunctionSpec" in errors[2]
    with pytest.raises(RuntimeError):
        load_catalog(eps, strict=True)


def test_default_discovery_and_bad_specs() -> None:
    assert "filter" in load_catalog()  # whatever is installed, the builtins are there
    with pytest.raises(ValueError):
        FunctionSpec("bad", "transform", run=print, args=(Arg("a", "string", required=False), Arg("b", "string")))
    with pytest.raises(ValueError):
        FunctionSpec("bad", "magic", run=print)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Catalog([builtin_functions()[0], builtin_functions()[0]])


# --- small pieces -----------------------------------------------------------------------------

def test_schema_cache_is_a_bounded_lru(tmp_path: Path) -> None:
    cache = SchemaCache(max_entries=2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now the most recent
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3
    assert (cache.hits, cache.misses, len(cache)) == (3, 1, 2)


def test_cache_key_follows_the_file(tmp_path: Path) -> None:
    f = tmp_path / "p.csv"
    f.write_text("a,b\n1,2\n")
    key = cache_key("csv", [str(f)], {"header": True})
    assert key == cache_key("csv", [str(f)], {"header": True})
    assert key != cache_key("csv", [str(f)], {"header": False})
    assert key != cache_key("json", [str(f)], {"header": True})
    f.write_text("a,b\n1,2\n3,4\n")
    assert key != cache_key("csv", [str(f)], {"header": True})
    d = tmp_path / "dir"
    d.mkdir()
    (d / "part-0.csv").write_text("x\n")
    dkey = cache_key("csv", [str(d)], {})
    (d / "part-1.csv").write_text("y\n")
    assert dkey is not None and dkey != cache_key("csv", [str(d)], {})
    assert cache_key("csv", ["s3a://bucket/p.csv"], {}) is None
    assert cache_key("csv", [str(tmp_path / "missing.csv")], {}) is None


def test_tuning_from_input_sizes() -> None:
    small = plan_tuning([400_000, 1_000])
    assert small.small and small.session_conf(cores=8) == {"spark.sql.shuffle.partitions": "1"}
    big = plan_tuning([640 * MB])
    assert not big.small and big.shuffle_partitions == 10
    assert big.session_conf(cores=2) == {"spark.sql.shuffle.partitions": "10"}
    assert big.session_conf(cores=4) == {"spark.sql.shuffle.partitions": "12"}  # whole waves
    unknown = plan_tuning([1_000, None])
    assert not unknown.small and unknown.session_conf(cores=2) == {}


def test_medium_inputs_use_every_core() -> None:
    """Only tiny inputs are read as one partition: a 10 MB or 50 MB input is split across the
    cores and shuffles into at least one partition per core (one partition left cores idle)."""
    assert plan_tuning([3 * MB]).small
    for size in (10 * MB, 50 * MB, 63 * MB):
        tuning = plan_tuning([size])
        assert not tuning.small
        assert tuning.session_conf(cores=2) == {"spark.sql.shuffle.partitions": "2"}
        assert tuning.session_conf(cores=8) == {"spark.sql.shuffle.partitions": "8"}


def test_shuffle_partitions_follow_the_whole_input(catalog: Catalog, roots: StorageRoots) -> None:
    """A directory of part files counts to its last file: 10 parts of 100 MB shuffle into 16
    partitions, not the cores' 2 that its first part alone would give."""
    parts = roots.storage_root / "big.parquet"
    parts.mkdir()
    for i in range(10):
        with open(parts / f"part-{i:05d}.parquet", "wb") as f:
            f.truncate(100 * MB)  # sparse: the size is all the tuning reads
    steps = [["read_parquet", "big.parquet"], ["group_by", ["city"], {"n": "count(*)"}],
             ["write_parquet", "out.parquet"]]
    tuning = catalog.tuning(steps, roots)
    assert tuning.input_bytes == 1000 * MB
    assert tuning.session_conf(cores=2) == {"spark.sql.shuffle.partitions": "16"}
    assert catalog.tuning([["range", 5], ["collect"]], roots).small


def test_schema_cache_knows_staged_copies_by_their_source(tmp_path: Path) -> None:
    """Two attempts stage the same S3 object to different local paths: one key. Another ETag:
    another key."""
    first, second = tmp_path / "a" / "people.csv", tmp_path / "b" / "people.csv"
    for path in (first, second):
        path.parent.mkdir()
        path.write_text("x\n1\n")
    same = ("s3", "bucket", "in/people.csv", (("in/people.csv", '"etag-1"', 4),))
    other = ("s3", "bucket", "in/people.csv", (("in/people.csv", '"etag-2"', 4),))
    key = cache_key("csv", [str(first)], {"header": True}, {str(first): same})
    assert key is not None
    assert key == cache_key("csv", [str(second)], {"header": True}, {str(second): same})
    assert key != cache_key("csv", [str(second)], {"header": True}, {str(second): other})
    assert key != cache_key("csv", [str(first)], {"header": True})  # without a source: by path


def test_json_safe_values() -> None:
    import datetime as dt
    import decimal

    from stoker.catalog.results import json_safe

    value = {"d": dt.date(2024, 1, 2), "t": dt.datetime(2024, 1, 2, 3, 4, 5), "x": decimal.Decimal("1.50"),
             "b": b"\x00\xff", "n": float("nan"), "i": float("-inf"), "l": [dt.timedelta(seconds=90)], 1: "k"}
    assert json_safe(value) == {"d": "2024-01-02", "t": "2024-01-02T03:04:05", "x": "1.50", "b": "AP8=",
                                "n": "NaN", "i": "-Infinity", "l": [90.0], "1": "k"}


def test_importing_the_catalog_starts_no_spark() -> None:
    code = "import sys, stoker.catalog; sys.exit('pyspark' in sys.modules or 'py4j' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    assert subprocess.run([sys.executable, "-c", code], env=env).returncode == 0
