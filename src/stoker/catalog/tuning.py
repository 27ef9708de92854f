"""Session settings sized from the input, decided before the first Spark call of an attempt.

Spark's defaults suit big data: a shuffle into many partitions, and a sampling job before a
global sort. For inputs of a few MB those cost more than the work itself. When every input is a
local file and the total is small, each source frame is coalesced to one partition: its output
partitioning is then SinglePartition, which already satisfies the distribution that group_by,
distinct, sort and join need, so Spark plans no exchange at all and the whole pipeline is one
stage and one task. Larger inputs get shuffle partitions in proportion to their size.
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


@dataclass(frozen=True)
class Tuning:
    input_bytes: int | None  # None when some input's size is unknown (S3, a table)
    small: bool  # coalesce sources to one partition, one shuffle partition
    shuffle_partitions: int | None  # None: leave the session's setting alone

    def session_conf(self) -> dict[str, str]:
        if self.shuffle_partitions is None:
            return {}
        return {"spark.sql.shuffle.partitions": str(self.shuffle_partitions)}


def plan_tuning(inputs: Iterable[int | None], *, small_input_bytes: int = 64 * MB,
                partition_bytes: int = 64 * MB, max_partitions: int = 1000) -> Tuning:
    """Decide from input sizes (bytes; None = unknown)."""
    total = 0
    for size in inputs:
        if size is None:
            return Tuning(None, False, None)
        total += size
    if total < small_input_bytes:
        return Tuning(total, True, 1)
    partitions = max(2, min(max_partitions, math.ceil(total / partition_bytes)))
    return Tuning(total, False, partitions)


def local_size(resolved: str, limit: int) -> int | None:
    """Bytes under a resolved local path (a file, a directory, or a glob); None if unknown.
    Stops walking once past `limit`, since only "small or not" matters then."""
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
