"""Which Spark master an attempt runs on: the worker's own, or its run's cluster (`options.cluster`),
read from the cluster records at the start of each attempt (by the worker itself when it has
database access; a remote worker gets the record with the attempt it claims)."""

from __future__ import annotations

from stoker.core.attempts import Claimed
from stoker.executors.base import ClusterUnavailable, SparkTarget
from stoker.store.clusters import GONE, SERVING, cluster_record
from stoker.store.db import Database
from stoker.store.records.clusters import SparkPlacement


def cluster_of(claimed: Claimed) -> str | None:
    cluster = (claimed.options or {}).get("cluster")
    return str(cluster) if cluster else None


def target_of(cluster_id: str, found: SparkPlacement | None) -> SparkTarget:
    """The master a run on `cluster_id` uses, given the cluster's record as `spark_target` reads it
    (None: no such cluster); ClusterUnavailable when it cannot take the run now, or ever."""
    if found is None:
        raise ClusterUnavailable(f"cluster {cluster_id} does not exist", permanent=True)
    if found.status in GONE:
        raise ClusterUnavailable(f"cluster {cluster_id} is {found.status}: the run cannot execute on it",
                                 permanent=True)
    if found.status not in SERVING or not found.master_url:
        raise ClusterUnavailable(f"cluster {cluster_id} is {found.status}, not ready", permanent=False)
    return SparkTarget(found.master_url, found.conf, cluster_id)


class ClusterTargets:
    """For workers with database access (embedded and `stoker worker`)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def __call__(self, claimed: Claimed) -> SparkTarget | None:
        cluster_id = cluster_of(claimed)
        if cluster_id is None:
            return None
        return target_of(cluster_id, cluster_record(self.db, cluster_id))


def no_clusters(claimed: Claimed) -> SparkTarget | None:
    """For a worker built with no way to read cluster records (tests, tools): a run on a cluster
    fails its attempt saying so, and is retried on policy."""
    if cluster_of(claimed) is None:
        return None
    raise ClusterUnavailable("this worker has no way to read cluster records", permanent=False)
