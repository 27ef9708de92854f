"""Spark configuration from users: which keys a job or run may set, their values as Spark writes
them, what applies where, and the effective configuration of an attempt (docs/spark-conf.md).

Pure rules, no Spark: the API answers at submit time, so a bad key or value is a 422 and never a
FAILED run. The rules (in order, the first that decides wins):

1. a key locked by Stoker (its listener, the master, the app's name) is refused, always;
2. a key matching the admin's deny patterns (`STOKER_SPARK_CONF_DENY`) is refused;
3. a key matching the admin's allow patterns (`STOKER_SPARK_CONF_ALLOW`) is allowed (widening);
4. a key of the built-in deny list, or one whose name says it holds a class, jar, path, script,
   executable, environment variable, address, listener, plugin or provider, is refused;
5. a key of the built-in allow list is allowed; anything else is refused.

An allowed key's value is then checked: for a known key, by the type Spark parses it as (sizes like
`4g`, integers, fractions, booleans, durations, one of Spark's own choices); for any other key, it
must not look like a class name, a path, a URL or an address.
"""

from __future__ import annotations

import math
import re
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from stoker.core.errors import InvalidInput

# The layers of a run's configuration, lowest first; each overrides the ones before. `tuning` is the
# tuning loop's (docs/tuning.md): it holds only keys the job's own layers leave to it.
LAYERS = ("default", "server", "cluster", "job", "run", "tuning")

LOCKED = ("spark.stoker.*", "spark.master", "spark.app.name", "spark.submit.deployMode")

# Refused unless an admin allows them: each names code, a file, an address or Stoker's own plumbing.
DENY: tuple[str, ...] = (
    # code on the classpath, loaded by name, or started as a process
    "spark.jars", "spark.jars.*", "*.extraClassPath", "*.extraJavaOptions", "*.defaultJavaOptions",
    "*.extraLibraryPath", "spark.plugins", "spark.*.plugins", "spark.extraListeners",
    "spark.sql.extensions", "spark.sql.extensions.*", "spark.sql.catalog", "spark.sql.catalog.*",
    "spark.sql.defaultCatalog", "spark.sql.catalogImplementation", "spark.sql.queryExecutionListeners",
    "spark.sql.streaming.streamingQueryListeners", "spark.sql.hive.metastore.*", "spark.sql.warehouse.dir",
    "spark.sql.cache.serializer", "spark.sql.sources.default", "spark.sql.reflect.allowList",
    "spark.sql.udt.allowedDynamicUDTClasses", "spark.sql.extendedExplainProviders",
    "spark.executorEnv.*", "spark.pyspark.*", "spark.python.*", "*.pyspark.python", "*.pyspark.driver.python",
    "*.discoveryScript", "spark.shuffle.manager", "spark.kryo.registrator", "spark.kryo.classesToRegister",
    "spark.hadoop.*", "spark.files", "spark.archives", "spark.pyFiles", "spark.submit.*",
    # addresses and what secures or records the application
    "spark.driver.host", "spark.driver.port", "spark.driver.bindAddress", "spark.eventLog.*", "spark.ui.*",
    "spark.authenticate", "spark.authenticate.*", "spark.ssl.*", "spark.redaction.*", "spark.sql.redaction.*",
    # Stoker's SQL guard (catalog/sqlguard.py): the `sql` step stays read-only over tables it was given
    "spark.sql.runSQLOnFiles", "spark.sql.variable.substitute", "spark.sql.legacy.setCommandRejectsSparkCoreConfs",
)

# Words in a key's name (split at dots and camelCase) that say its value names code, a file or an
# address: such a key is refused even under an allowed prefix.
SUSPECT_WORDS = frozenset({
    "class", "classes", "classpath", "jar", "jars", "path", "dir", "directory", "script", "executable",
    "env", "host", "hostname", "address", "port", "url", "uri", "location", "listener", "listeners",
    "plugin", "plugins", "provider", "providers", "extension", "extensions", "factory", "impl",
    "registrator", "manager", "committer",
})

# What users may set: SQL settings, resources, memory and shuffle tuning, parallelism,
# speculation, locality.
ALLOW: tuple[str, ...] = (
    "spark.sql.*",
    "spark.executor.memory", "spark.executor.memoryOverhead", "spark.executor.memoryOverheadFactor",
    "spark.executor.pyspark.memory", "spark.executor.cores", "spark.executor.instances",
    "spark.executor.heartbeatInterval", "spark.executor.resource.*.amount",
    "spark.driver.memory", "spark.driver.memoryOverhead", "spark.driver.memoryOverheadFactor",
    "spark.driver.cores", "spark.driver.maxResultSize",
    "spark.cores.max", "spark.task.cpus", "spark.task.maxFailures", "spark.task.resource.*.amount",
    "spark.dynamicAllocation.*", "spark.memory.*", "spark.shuffle.*", "spark.reducer.*",
    "spark.io.compression.*", "spark.rdd.compress", "spark.broadcast.compress", "spark.broadcast.blockSize",
    "spark.checkpoint.compress", "spark.serializer", "spark.kryoserializer.buffer",
    "spark.kryoserializer.buffer.max", "spark.kryo.referenceTracking", "spark.kryo.registrationRequired",
    "spark.kryo.unsafe", "spark.default.parallelism", "spark.speculation", "spark.speculation.*",
    "spark.locality.wait", "spark.locality.wait.*", "spark.network.timeout",
)

# Static SQL settings (Spark 4's StaticSQLConf and the internal ones): fixed when the application
# starts, so like the core settings they need one of their own. Every other `spark.sql.*` key is
# one `spark.conf.isModifiable` answers true for (tests/integration/test_spark_conf.py asks Spark).
STATIC_SQL = frozenset({
    "spark.sql.cache.serializer", "spark.sql.catalog.spark_catalog.defaultDatabase",
    "spark.sql.event.truncate.length", "spark.sql.extensions", "spark.sql.hive.metastore.barrierPrefixes",
    "spark.sql.hive.metastore.jars", "spark.sql.hive.metastore.jars.path",
    "spark.sql.hive.metastore.sharedPrefixes", "spark.sql.hive.metastore.version",
    "spark.sql.hive.thriftServer.singleSession", "spark.sql.hive.version", "spark.sql.metadataCacheTTLSeconds",
    "spark.sql.queryExecutionListeners", "spark.sql.reflect.allowList",
    "spark.sql.sources.disabledJdbcConnProviderList", "spark.sql.streaming.streamingQueryListeners",
    "spark.sql.streaming.ui.enabled", "spark.sql.streaming.ui.retainedProgressUpdates",
    "spark.sql.streaming.ui.retainedQueries", "spark.sql.ui.retainedExecutions", "spark.sql.warehouse.dir",
    "spark.sql.catalogImplementation", "spark.sql.globalTempDatabase", "spark.sql.broadcastExchange.maxThreadThreshold",
    "spark.sql.subquery.maxThreadThreshold", "spark.sql.codegen.cache.maxEntries",
    "spark.sql.filesourceTableRelationCacheSize", "spark.sql.sources.schemaStringLengthThreshold",
    "spark.sql.legacy.sessionInitWithConfigDefaults", "spark.sql.defaultUrlStreamHandlerFactory.enabled",
    "spark.sql.debug", "spark.sql.streaming.ui.enabledCustomMetricList",
})

# Types of known keys, as Spark parses them.
BOOL, INT, DOUBLE, MEMORY, BYTES, TIME, ZONE = "boolean", "integer", "number", "size", "size", "duration", "time zone"
TYPES: dict[str, str] = {
    **dict.fromkeys(("spark.speculation", "spark.shuffle.compress", "spark.shuffle.spill.compress",
                     "spark.rdd.compress", "spark.broadcast.compress", "spark.checkpoint.compress",
                     "spark.kryo.referenceTracking", "spark.kryo.registrationRequired", "spark.kryo.unsafe",
                     "spark.sql.caseSensitive"), BOOL),
    **dict.fromkeys(("spark.executor.cores", "spark.driver.cores", "spark.executor.instances", "spark.cores.max",
                     "spark.task.cpus", "spark.task.maxFailures", "spark.default.parallelism",
                     "spark.sql.shuffle.partitions", "spark.dynamicAllocation.minExecutors",
                     "spark.dynamicAllocation.maxExecutors", "spark.dynamicAllocation.initialExecutors",
                     "spark.sql.files.maxRecordsPerFile", "spark.sql.files.minPartitionNum",
                     "spark.sql.files.maxPartitionNum", "spark.sql.adaptive.coalescePartitions.minPartitionNum",
                     "spark.sql.adaptive.coalescePartitions.initialPartitionNum",
                     "spark.sql.execution.arrow.maxRecordsPerBatch", "spark.sql.maxPlanStringLength"), INT),
    **dict.fromkeys(("spark.memory.fraction", "spark.memory.storageFraction", "spark.speculation.multiplier",
                     "spark.speculation.quantile", "spark.dynamicAllocation.executorAllocationRatio",
                     "spark.executor.memoryOverheadFactor", "spark.driver.memoryOverheadFactor",
                     "spark.sql.adaptive.skewJoin.skewedPartitionFactor"), DOUBLE),
    **dict.fromkeys(("spark.executor.memory", "spark.driver.memory", "spark.executor.memoryOverhead",
                     "spark.driver.memoryOverhead", "spark.executor.pyspark.memory", "spark.driver.maxResultSize",
                     "spark.memory.offHeap.size", "spark.reducer.maxSizeInFlight", "spark.shuffle.file.buffer",
                     "spark.kryoserializer.buffer", "spark.kryoserializer.buffer.max", "spark.broadcast.blockSize",
                     "spark.io.compression.lz4.blockSize", "spark.io.compression.snappy.blockSize"), MEMORY),
    **dict.fromkeys(("spark.sql.autoBroadcastJoinThreshold", "spark.sql.adaptive.autoBroadcastJoinThreshold",
                     "spark.sql.files.maxPartitionBytes", "spark.sql.files.openCostInBytes",
                     "spark.sql.adaptive.advisoryPartitionSizeInBytes",
                     "spark.sql.adaptive.skewJoin.skewedPartitionThresholdInBytes",
                     "spark.sql.adaptive.maxShuffledHashJoinLocalMapThreshold",
                     "spark.sql.execution.arrow.localRelationThreshold"), "sql size"),
    **dict.fromkeys(("spark.locality.wait", "spark.locality.wait.node", "spark.locality.wait.process",
                     "spark.locality.wait.rack", "spark.network.timeout", "spark.executor.heartbeatInterval",
                     "spark.dynamicAllocation.executorIdleTimeout",
                     "spark.dynamicAllocation.cachedExecutorIdleTimeout",
                     "spark.dynamicAllocation.schedulerBacklogTimeout",
                     "spark.dynamicAllocation.sustainedSchedulerBacklogTimeout", "spark.speculation.interval",
                     "spark.sql.broadcastTimeout"), TIME),
    "spark.sql.session.timeZone": ZONE,
}

# Spark's own choices: the only values these keys take (case-insensitive where Spark lowercases).
CHOICES: dict[str, tuple[str, ...]] = {
    "spark.serializer": ("org.apache.spark.serializer.JavaSerializer", "org.apache.spark.serializer.KryoSerializer"),
    "spark.io.compression.codec": ("lz4", "lzf", "snappy", "zstd", "org.apache.spark.io.LZ4CompressionCodec",
                                   "org.apache.spark.io.LZFCompressionCodec",
                                   "org.apache.spark.io.SnappyCompressionCodec",
                                   "org.apache.spark.io.ZStdCompressionCodec"),
    "spark.sql.parquet.compression.codec": ("none", "uncompressed", "snappy", "gzip", "lzo", "brotli", "lz4",
                                            "lz4_raw", "zstd"),
    "spark.sql.orc.compression.codec": ("none", "uncompressed", "snappy", "zlib", "lzo", "zstd", "lz4", "brotli"),
    "spark.sql.avro.compression.codec": ("uncompressed", "deflate", "snappy", "bzip2", "xz", "zstandard"),
    "spark.sql.execution.arrow.compression.codec": ("none", "zstd", "lz4"),
    "spark.sql.sources.partitionOverwriteMode": ("static", "dynamic"),
    "spark.sql.shuffle.checksum.algorithm": ("adler32", "crc32", "crc32c"),
    "spark.shuffle.checksum.algorithm": ("adler32", "crc32", "crc32c"),
}

# Spark's default spark.redaction.regex: values of matching keys (or matching values) are hidden.
REDACTION = re.compile(r"(?i)secret|password|token|access[.]?key")
REDACTED = "*********(redacted)"

_BYTE_UNITS = "b|k|kb|m|mb|g|gb|t|tb|p|pb"
_SIZE = re.compile(rf"^[0-9]+({_BYTE_UNITS})?$")
_SQL_SIZE = re.compile(rf"^-?[0-9]+({_BYTE_UNITS})?$")
_TIME = re.compile(r"^-?[0-9]+(us|ms|s|m|min|h|d)?$")
_INT = re.compile(r"^-?[0-9]+$")
_OFFSET = re.compile(r"^((UTC|GMT|UT)?[+-]\d{1,2}(:?\d{2})?(:\d{2})?|Z)$")
_CLASS_NAME = re.compile(r"^([A-Za-z_$][\w$]*\.)+[A-Z][\w$]*$")
_KEY = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
_CAMEL = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


@dataclass(frozen=True)
class ConfRules:
    """The rules in force: the built-in lists with the admin's widening and narrowing, and limits."""

    allow: tuple[str, ...] = ()  # the admin's additions (widen): beat the built-in deny list
    deny: tuple[str, ...] = ()  # the admin's refusals (narrow): beat everything but LOCKED
    max_keys: int = 64
    max_value_chars: int = 1000


def _matches(key: str, patterns: Iterable[str]) -> bool:
    return any(fnmatchcase(key, p) for p in patterns)


def words(key: str) -> set[str]:
    return {w.lower() for part in key.split(".") for w in _CAMEL.findall(part)}


def refusal(key: str, rules: ConfRules) -> str | None:
    """Why `key` may not be set by a job or run, or None when it may."""
    if _matches(key, LOCKED):
        return "Stoker sets it itself"
    if _matches(key, rules.deny):
        return "this server refuses it (STOKER_SPARK_CONF_DENY)"
    if _matches(key, rules.allow):
        return None
    if not key.startswith("spark."):
        return "only Spark settings (spark.*) may be given"
    if _matches(key, DENY):
        return "it names code, a file, an address or what secures the application: not allowed in a job or run"
    suspect = words(key) & SUSPECT_WORDS
    if suspect and key not in CHOICES:
        return (f"its name says it holds a {sorted(suspect)[0]}: settings naming code, files or addresses "
                "are not allowed in a job or run")
    if _matches(key, ALLOW):
        return None
    return "not on this server's list of settings jobs and runs may change (docs/spark-conf.md)"


def as_spark_value(value: Any) -> str:
    """A JSON value as Spark writes it: booleans lowercase, whole numbers without a fraction."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("not a finite number")
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return value
    raise ValueError("must be a string, number or boolean")


def value_problem(key: str, value: str) -> str | None:
    """Why Spark would refuse `value` for `key` (or why it looks like code), or None."""
    text = value.strip().lower()
    if key in CHOICES:
        if text not in {c.lower() for c in CHOICES[key]}:
            return f"must be one of {', '.join(CHOICES[key])}"
        return None
    kind = TYPES.get(key) or (BOOL if key.endswith(".enabled") else None)
    if kind == BOOL:
        return None if text in ("true", "false") else "must be true or false"
    if kind == INT:
        return None if _INT.match(text) and -2**31 <= int(text) < 2**31 else "must be a whole number"
    if kind == DOUBLE:
        try:
            return None if math.isfinite(float(text)) else "must be a finite number"
        except ValueError:
            return "must be a number"
    if kind == MEMORY:
        if not _SIZE.match(text):
            return "must be a size such as 512m, 4g (b, k, m, g, t, p)"
        if key in MIN_HEAP and _mib(text) < MIN_HEAP_MIB:
            return f"is below the {MIN_HEAP_MIB}m Spark needs for a driver's or executor's heap"
        return None
    if kind == "sql size":
        return None if _SQL_SIZE.match(text) else "must be a size such as 10m, 1g, or -1"
    if kind == TIME:
        return None if _TIME.match(text) else "must be a duration such as 500ms, 30s, 5min, 1h"
    if kind == ZONE:
        return None if _zone_ok(value.strip()) else "must be a time zone such as UTC, Europe/Madrid or +01:00"
    if "://" in value or value.startswith(("/", "\\", "~", "file:", "hdfs:")):
        return "looks like a path, URL or substitution: settings naming files or addresses are not allowed"
    if _CLASS_NAME.match(value.strip()):
        return "looks like a class name: settings naming code are not allowed"
    return None


# Spark refuses a driver or executor heap under 1.5 × its 300 MB reserve (UnifiedMemoryManager).
MIN_HEAP = ("spark.executor.memory", "spark.driver.memory")
MIN_HEAP_MIB = 450
_UNITS_MIB = {"b": 1 / 2**20, "k": 1 / 1024, "kb": 1 / 1024, "m": 1, "mb": 1, "g": 1024, "gb": 1024,
              "t": 2**20, "tb": 2**20, "p": 2**30, "pb": 2**30}


def _mib(size: str) -> float:
    """A memory size in MiB (no unit: MiB, as Spark reads these keys)."""
    digits = size.rstrip("bkmgtp")
    return int(digits) * _UNITS_MIB[size[len(digits):] or "m"]


def unplaceable(conf: Mapping[str, str], workers: Sequence[tuple[int, int]]) -> str | None:
    """Why no executor of `conf` can ever start on these workers ((cores, memory MiB) each; a
    standalone master never places an executor on a worker smaller than it asks), or None. Such a
    run would wait for executors for ever."""
    if not workers:
        return None  # not known (an external cluster)
    try:
        memory = _mib(conf["spark.executor.memory"].lower()) if "spark.executor.memory" in conf else 0.0
        cores = int(conf.get("spark.executor.cores", "1"))
    except (ValueError, KeyError):
        return None  # check() refuses a malformed value
    if any(cpu >= cores and mem >= memory for cpu, mem in workers):
        return None
    largest = max(workers, key=lambda w: (w[1], w[0]))
    return (f"spark.executor.memory {conf.get('spark.executor.memory', '(default)')} and spark.executor.cores "
            f"{cores} fit no worker of the cluster (the largest has {largest[0]} cores and {largest[1]} MiB): "
            "its executors would never start; ask for less, or launch larger workers")


def _zone_ok(zone: str) -> bool:
    if _OFFSET.match(zone):
        return True
    try:
        zoneinfo.ZoneInfo(zone)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        return False
    return True


def is_runtime(key: str) -> bool:
    """Can a running application's session change it (`spark.conf.isModifiable`)? Only the SQL
    settings that are not static; everything else needs an application of its own."""
    return key.startswith("spark.sql.") and key not in STATIC_SQL


def check(conf: Mapping[str, Any] | None, rules: ConfRules, *, where: str = "conf") -> dict[str, str]:
    """A user's conf, checked: every refusal at once in a 422 naming each key; else the values as
    Spark writes them, in key order."""
    if conf is None:
        return {}
    if not isinstance(conf, Mapping):
        raise InvalidInput(f"{where} must be an object of Spark settings")
    problems: list[dict[str, str]] = []
    out: dict[str, str] = {}
    if len(conf) > rules.max_keys:
        raise InvalidInput(f"{where} has {len(conf)} settings; at most {rules.max_keys} are allowed",
                           problems=[{"field": where, "message": "too many settings"}])
    for key, raw in conf.items():
        if not isinstance(key, str) or len(key) > 200 or not _KEY.match(key):
            problems.append({"key": str(key)[:200], "message": "not a setting's name"})
            continue
        try:
            value = as_spark_value(raw)
        except ValueError as exc:
            problems.append({"key": key, "message": str(exc)})
            continue
        why = refusal(key, rules)
        if why is None and len(value) > rules.max_value_chars:
            why = f"its value is longer than {rules.max_value_chars} characters"
        if why is None and ("\n" in value or "\r" in value or "\x00" in value):
            why = "its value holds a line break or NUL"
        if why is None and "${" in value:  # Spark would substitute ${env:…}, ${system:…} into it
            why = "its value holds a ${…} substitution, which would read the server's environment"
        if why is None:
            trusted = _matches(key, rules.allow)  # the admin's own widening: values are theirs to judge
            problem = value_problem(key, value) if not trusted or key in TYPES or key in CHOICES else None
            if problem:
                why = f"{value!r} {problem}"
        if why is not None:
            problems.append({"key": key, "message": why})
        else:
            out[key] = value
    if problems:
        message = "; ".join(f"{p['key']}: {p['message']}" for p in problems)
        raise InvalidInput(f"{where}: {message}", problems=problems)
    return dict(sorted(out.items()))


def require_runtime(layers: Mapping[str, Mapping[str, str]], mode: str, *, what: str = "this run") -> None:
    """A warm session (mode session) can change only runtime settings: refuse the others at submit,
    naming each key and what would honour it."""
    if mode != "session":
        return
    static = sorted({k for conf in layers.values() for k in conf if not is_runtime(k)})
    if static:
        raise InvalidInput(
            f"{what} runs in a warm SparkSession (mode session), which cannot change "
            f"{', '.join(static)}: these need a Spark application of their own. Give the job "
            "\"mode\": \"submit\" (one spark-submit per attempt, on the worker's master or the job's "
            "cluster), or leave them to the server's or the cluster's settings",
            problems=[{"key": k, "message": "needs its own Spark application: mode submit honours it"}
                      for k in static])


def merged(layers: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """The layers' settings, each layer overriding the ones before (LAYERS order)."""
    out: dict[str, str] = {}
    for name in LAYERS:
        out.update(layers.get(name) or {})
    return out


def redact(key: str, value: str) -> str:
    return REDACTED if REDACTION.search(key) or REDACTION.search(value) else value


def effective(layers: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    """Every key the layers set, with its value (redacted as Spark would) and the layer it came
    from, in key order."""
    out: dict[str, dict[str, str]] = {}
    for name in LAYERS:
        for key, value in (layers.get(name) or {}).items():
            out[key] = {"value": redact(key, value), "source": name}
    return dict(sorted(out.items()))


def shown(layers: Mapping[str, Mapping[str, str]] | None) -> dict[str, dict[str, str]]:
    """A run's own layers (job, run) as the API shows them."""
    return effective(layers or {})
