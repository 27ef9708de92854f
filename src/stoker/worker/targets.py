"""Which Spark master an attempt runs on: the worker's own, or its run's cluster (`options.cluster`),
read from the cluster records at the start of each attempt."""

from __future__ import annotations

from stoker.core.attempts import Claimed
from stoker.core.errors import NotFound
from stoker.executors.base import ClusterUnavailable, SparkTarget
from stoker.store.clusters import GONE, SERVING, spark_target
from stoker.store.db import Database


def cluster_of(claimed: Claimed) -> str | None:
    cluster = (claimed.options or {}).get("cluster")
    return str(cluster) if cluster else None


class ClusterTargets:
    """For workers with database access (embedded and `stoker worker`)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def __call__(self, claimed: Claimed) -> SparkTarget | None:
        cluster_id = cluster_of(claimed)
        if cluster_id is None:
            return None
        try:
            found = spark_target(self.db, cluster_id)
        except NotFound:
            raise ClusterUnavailable(f"cluster {cluster_id} does not exist", permanent=True) from None
        if found["status"] in GONE:
            raise ClusterUnavailable(f"cluster {cluster_id} is {found['status']}: the run cannot execute on it",
                                     permanent=True)
        if found["status"] not in SERVING or not found["master_url"]:
            raise ClusterUnavailable(f"cluster {cluster_id} is {found['status']}, not ready", permanent=False)
        return SparkTarget(found["master_url"], found["conf"], cluster_id)


def no_clusters(claimed: Claimed) -> SparkTarget | None:
    """For remote workers: they hold no database access to read a cluster's master."""
    if cluster_of(claimed) is None:
        return None
    raise ClusterUnavailable("runs on a cluster need a worker with database access (`stoker serve` or "
                             "`stoker worker`), not a remote one", permanent=False)
