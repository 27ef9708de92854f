"""The rules of a job's or run's Spark settings (core/spark_conf.py): allow-list, deny rules, the
admin's widening and narrowing, limits, value types, what a warm session can change, layers."""

from __future__ import annotations

import pytest

from stoker.core import spark_conf
from stoker.core.errors import InvalidInput
from stoker.core.spark_conf import ConfRules, check

RULES = ConfRules()

# Every key the issue lists as code-loading or rewiring (one of each pattern), refused by name.
REFUSED = [
    "spark.jars", "spark.jars.packages", "spark.jars.repositories", "spark.driver.extraClassPath",
    "spark.executor.extraClassPath", "spark.driver.extraJavaOptions", "spark.executor.extraJavaOptions",
    "spark.driver.extraLibraryPath", "spark.executor.extraLibraryPath", "spark.plugins", "spark.sql.plugins",
    "spark.extraListeners", "spark.sql.extensions", "spark.sql.catalog.evil", "spark.sql.catalog.evil.uri",
    "spark.sql.queryExecutionListeners", "spark.sql.streaming.streamingQueryListeners",
    "spark.sql.hive.metastore.jars", "spark.sql.warehouse.dir", "spark.executorEnv.PATH", "spark.pyspark.python",
    "spark.pyspark.driver.python", "spark.python.worker.reuse", "spark.executor.resource.gpu.discoveryScript",
    "spark.shuffle.manager", "spark.hadoop.fs.s3a.endpoint", "spark.master", "spark.submit.deployMode",
    "spark.driver.host", "spark.driver.port", "spark.driver.bindAddress", "spark.eventLog.dir",
    "spark.eventLog.enabled", "spark.ui.enabled", "spark.ui.port", "spark.authenticate",
    "spark.authenticate.secret", "spark.ssl.enabled", "spark.redaction.regex", "spark.files", "spark.archives",
    "spark.pyFiles", "hadoop.fs.defaultFS", "fs.s3a.access.key", "spark.stoker.token",
    # found by name: a class, a path, a location, a provider, a plugin class, a port
    "spark.sql.sources.commitProtocolClass", "spark.sql.streaming.checkpointLocation",
    "spark.sql.streaming.stateStore.providerClass", "spark.sql.parquet.output.committer.class",
    "spark.shuffle.sort.io.plugin.class", "spark.shuffle.service.port", "spark.sql.cache.serializer",
    "spark.sql.sources.default", "spark.kryo.registrator",
    # Stoker's SQL guard
    "spark.sql.runSQLOnFiles", "spark.sql.variable.substitute",
    # not on the list at all
    "spark.yarn.queue", "spark.kubernetes.container.image", "spark.scheduler.allocation.file",
]


@pytest.mark.parametrize("key", REFUSED)
def test_every_code_loading_or_rewiring_key_is_refused_naming_it(key):
    with pytest.raises(InvalidInput) as caught:
        check({key: "x"}, RULES)
    assert key in caught.value.message
    assert caught.value.details["problems"][0]["key"] == key


ALLOWED = {
    "spark.sql.shuffle.partitions": 8, "spark.sql.session.timeZone": "Europe/Madrid",
    "spark.sql.autoBroadcastJoinThreshold": "-1", "spark.sql.adaptive.enabled": True,
    "spark.executor.memory": "4g", "spark.executor.cores": 2, "spark.executor.instances": "3",
    "spark.driver.memory": "1g", "spark.driver.maxResultSize": "512m", "spark.dynamicAllocation.enabled": False,
    "spark.dynamicAllocation.maxExecutors": 10, "spark.memory.fraction": 0.6, "spark.shuffle.compress": "true",
    "spark.default.parallelism": 4, "spark.speculation": True, "spark.speculation.multiplier": 1.5,
    "spark.locality.wait": "0s", "spark.serializer": "org.apache.spark.serializer.KryoSerializer",
    "spark.io.compression.codec": "zstd", "spark.sql.parquet.compression.codec": "ZSTD",
    "spark.sql.ansi.enabled": "false", "spark.network.timeout": "300s",
    "spark.sql.files.maxPartitionBytes": "64m", "spark.sql.legacy.timeParserPolicy": "CORRECTED",
}


def test_the_allow_list_takes_sql_resources_tuning_parallelism_speculation_locality():
    out = check(ALLOWED, RULES)
    assert set(out) == set(ALLOWED)
    # numbers and booleans as Spark writes them
    assert out["spark.sql.shuffle.partitions"] == "8"
    assert out["spark.sql.adaptive.enabled"] == "true"
    assert out["spark.dynamicAllocation.enabled"] == "false"
    assert out["spark.memory.fraction"] == "0.6"
    assert check({"spark.executor.cores": 2.0}, RULES) == {"spark.executor.cores": "2"}
    assert check({"spark.executor.memory": "450m", "spark.driver.memory": 512}, RULES) == {
        "spark.driver.memory": "512", "spark.executor.memory": "450m"}


@pytest.mark.parametrize(("key", "value"), [
    ("spark.executor.memory", "4gb!"), ("spark.executor.memory", "384m"), ("spark.driver.memory", "400"),
    ("spark.driver.memory", "1024k"), ("spark.executor.memory", "4.5g"), ("spark.executor.memory", "-1g"),
    ("spark.sql.shuffle.partitions", "eight"), ("spark.sql.shuffle.partitions", 1.5),
    ("spark.sql.shuffle.partitions", "99999999999"), ("spark.sql.adaptive.enabled", "yes"),
    ("spark.speculation", 1), ("spark.memory.fraction", "most"), ("spark.locality.wait", "3 seconds"),
    ("spark.sql.session.timeZone", "Mars/Olympus"), ("spark.serializer", "com.evil.Serializer"),
    ("spark.io.compression.codec", "org.evil.Codec"), ("spark.sql.autoBroadcastJoinThreshold", "10x"),
])
def test_a_typo_in_a_value_is_a_422_naming_the_key(key, value):
    with pytest.raises(InvalidInput) as caught:
        check({key: value}, RULES)
    assert key in caught.value.message


@pytest.mark.parametrize("value", ["org.evil.Payload", "/etc/passwd", "file:///tmp/x", "http://evil:80/",
                                   "${env:AWS_SECRET_ACCESS_KEY}", "a\nspark.jars=/x"])
def test_a_value_that_names_code_a_file_an_address_or_the_environment_is_refused(value):
    with pytest.raises(InvalidInput, match=r"spark\.sql\.some\.setting"):
        check({"spark.sql.some.setting": value}, RULES)


def test_keys_must_be_plain_names_and_values_plain_json():
    for key in ("spark.sql.a b", "spark.sql.x=y", " spark.sql.x", "spark.sql..x", ""):
        with pytest.raises(InvalidInput):
            check({key: "1"}, RULES)
    for value in (None, [1], {"a": 1}, float("nan")):
        with pytest.raises(InvalidInput):
            check({"spark.sql.shuffle.partitions": value}, RULES)


def test_every_problem_is_named_at_once():
    with pytest.raises(InvalidInput) as caught:
        check({"spark.jars": "x.jar", "spark.executor.memory": "lots", "spark.sql.shuffle.partitions": 4}, RULES)
    assert [p["key"] for p in caught.value.details["problems"]] == ["spark.jars", "spark.executor.memory"]


def test_limits_on_key_count_and_value_size():
    rules = ConfRules(max_keys=2, max_value_chars=10)
    with pytest.raises(InvalidInput, match="at most 2"):
        check({f"spark.sql.k{i}": "1" for i in range(3)}, rules)
    with pytest.raises(InvalidInput, match="longer than 10"):
        check({"spark.sql.k": "x" * 11}, rules)


def test_an_admin_widens_and_narrows_the_list():
    widened = ConfRules(allow=("spark.hadoop.fs.s3a.connection.*",))
    assert check({"spark.hadoop.fs.s3a.connection.maximum": 200}, widened) == {
        "spark.hadoop.fs.s3a.connection.maximum": "200"}
    with pytest.raises(InvalidInput):
        check({"spark.hadoop.fs.s3a.endpoint": "x"}, widened)
    narrowed = ConfRules(deny=("spark.executor.*",))
    with pytest.raises(InvalidInput, match="STOKER_SPARK_CONF_DENY"):
        check({"spark.executor.memory": "1g"}, narrowed)
    # Stoker's own keys stay locked whatever the admin allows
    with pytest.raises(InvalidInput, match="Stoker sets it"):
        check({"spark.stoker.url": "x"}, ConfRules(allow=("spark.*",)))


def test_a_warm_session_takes_only_runtime_settings():
    assert spark_conf.is_runtime("spark.sql.shuffle.partitions")
    assert not spark_conf.is_runtime("spark.executor.memory")
    assert not spark_conf.is_runtime("spark.sql.ui.retainedExecutions")  # a static SQL setting
    spark_conf.require_runtime({"run": {"spark.sql.shuffle.partitions": "8"}}, "session")
    spark_conf.require_runtime({"run": {"spark.executor.memory": "2g"}}, "submit")
    with pytest.raises(InvalidInput) as caught:
        spark_conf.require_runtime({"job": {"spark.executor.memory": "2g"},
                                    "run": {"spark.dynamicAllocation.enabled": "true"}}, "session")
    assert "spark.executor.memory" in caught.value.message
    assert "spark.dynamicAllocation.enabled" in caught.value.message
    assert "mode" in caught.value.message and "submit" in caught.value.message


def test_layers_override_in_order_and_say_where_each_key_came_from():
    layers = {"run": {"a": "4"}, "default": {"a": "1", "b": "1"}, "server": {"b": "2"},
              "cluster": {"c": "3"}, "job": {"a": "3", "spark.x.password": "hunter2"}}
    assert spark_conf.merged(layers) == {"a": "4", "b": "2", "c": "3", "spark.x.password": "hunter2"}
    assert spark_conf.effective(layers) == {
        "a": {"value": "4", "source": "run"}, "b": {"value": "2", "source": "server"},
        "c": {"value": "3", "source": "cluster"},
        "spark.x.password": {"value": spark_conf.REDACTED, "source": "job"}}


@pytest.mark.parametrize(("conf", "fits"), [
    ({}, True), ({"spark.executor.memory": "512m"}, True), ({"spark.executor.memory": "2g"}, True),
    ({"spark.executor.memory": "2049m"}, False), ({"spark.executor.memory": "3G"}, False),
    ({"spark.executor.cores": "2"}, True), ({"spark.executor.cores": "2", "spark.executor.memory": "1g"}, False),
    ({"spark.executor.cores": "4"}, False)])
def test_executors_that_fit_no_worker_are_named(conf, fits):
    workers = [(2, 512), (1, 2048)]  # (cores, MiB): the big-memory worker has one core
    problem = spark_conf.unplaceable(conf, workers)
    assert (problem is None) == fits, problem
    if not fits:
        assert "never start" in problem and "1 cores and 2048 MiB" in problem
    assert spark_conf.unplaceable({"spark.executor.memory": "64g"}, []) is None  # workers not known
