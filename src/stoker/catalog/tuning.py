"""Session settings sized from the input, decided before the first Spark call of an attempt.

Spark's defaults suit big data: a shuffle into many partitions, and a sampling job before a
global sort. For inputs of a few MB those cost more than the work itself. When every input is a
local file and the total is tiny (under `small_input_bytes`, 4 MB by default: Spark's own
`spark.sql.files.openCostInBytes`, the bytes it reckons a file open is worth), each source frame is
coalesced to one partition: its output partitioning is then SinglePartition, which already
satisfies the distribution that group_by, distinct, sort and join need, so Spark plans no exchange
at all and the whole pipeline is one stage and one task.

Anything larger is read the way Spark splits files, at least one split per core, and shuffles into
partitions in proportion to its size but never fewer than the session's cores (rounded up to a
whole number of waves), with AQE coalescing what turns out small. One partition for a medium input
(the rule was "under 64 MB") left every core but one idle for the whole run.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass

from stoker.catalog.paths import has_glob, is_remote

MB = 1024 * 1024
# Past this many directory entries the input is called "large" rather than walked to the end.
MAX_WALKED_FILES = 10_000
SMALL_INPUT_BYTES = 4 * MB
PARTITION_BYTES = 64 * MB
MAX_PARTITIONS = 1000


@dataclass(frozen=True)
class Tuning:
    input_bytes: int | None  # None when some input's size is unknown (S3, a table)
    small: bool  # coalesce sources to one partition, one shuffle partition
    shuffle_partitions: int | None  # by size alone; None: leave the session's setting alone

    def session_conf(self, cores: int = 1) -> dict[str, str]:
        """The settings for a session whose executors have `cores` cores in all."""
        if self.shuffle_partitions is None:
            return {}
        if self.small:
            return {"spark.sql.shuffle.partitions": "1"}
        cores = max(1, cores)
        waves = math.ceil(max(self.shuffle_partitions, cores) / cores)
        return {"spark.sql.shuffle.partitions": str(waves * cores)}


def plan_tuning(inputs: Iterable[int | None], *, small_input_bytes: int = SMALL_INPUT_BYTES,
                partition_bytes: int = PARTITION_BYTES, max_partitions: int = MAX_PARTITIONS) -> Tuning:
    """Decide from input sizes (bytes; None = unknown)."""
    total = 0
    for size in inputs:
        if size is None:
            return Tuning(None, False, None)
        total += size
    if total < small_input_bytes:
        return Tuning(total, True, 1)
    partitions = max(1, min(max_partitions, math.ceil(total / partition_bytes)))
    return Tuning(total, False, partitions)


def local_size(resolved: str, limit: int) -> int | None:
    """Bytes under a resolved local path (a file, a directory, or a glob); None if unknown.
    Stops walking once past `limit`, the size past which the settings no longer change."""
    if is_remote(resolved):
        return None
    if has_glob(resolved):
        import glob

        paths = glob.glob(resolved)
    else:
        paths = [resolved]
    total, seen = 0, 0
    for path in paths:
        if os.path.isdir(path):
            for dirpath, _dirs, files in os.walk(path):
                for name in files:
                    seen += 1
                    try:
                        total += os.stat(os.path.join(dirpath, name)).st_size
                    except OSError:
                        continue
                    if total >= limit or seen > MAX_WALKED_FILES:
                        return max(total, limit)
        else:
            try:
                total += os.stat(path).st_size
            except OSError:
                continue  # missing: the read itself will say so
        if total >= limit:
            return total
    return total
