"""Which way a run's S3 bytes move (docs/s3.md, "Three ways to move the bytes"). Pure.

- direct: Spark's own s3a connector is on the classpath; Spark reads and writes S3 itself.
- executors: the run's executors may be on other machines (a cluster, or any master that is not
  `local[...]`), so nothing may go through the worker's disk: the executor tasks read and write S3
  themselves with pyarrow's S3 filesystem, and the worker only lists, commits and cleans up.
- staged: the executors run inside the worker's own JVM (`local[...]`), so they share its disk:
  the worker copies the objects in and out around the run.
"""

from __future__ import annotations

DIRECT, EXECUTORS, STAGED = "direct", "executors", "staged"
WAYS = (DIRECT, EXECUTORS, STAGED)


def executors_share_disk(master: str, *, on_cluster: bool) -> bool:
    """Do the executors of a run on `master` read the worker's own disk? Only a `local[...]`
    master runs them inside the worker's JVM; a cluster's (or any other) master may place them on
    any of its hosts, so the answer is no even when they happen to be on this machine."""
    return not on_cluster and master.strip().lower().startswith("local")


def choose_way(*, s3a: bool, master: str, on_cluster: bool, override: str = "auto") -> str:
    """The way for one run: s3a when Spark has it; else what the operator set
    (STOKER_S3_WAY=staged|executors), else by where the executors run."""
    if s3a:
        return DIRECT
    if override in (STAGED, EXECUTORS):
        return override
    return STAGED if executors_share_disk(master, on_cluster=on_cluster) else EXECUTORS
