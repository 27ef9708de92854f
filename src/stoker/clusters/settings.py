"""Settings of the cluster duties, read from the environment once and passed explicitly."""

from __future__ import annotations

import os
from dataclasses import dataclass

import psutil

from stoker.core.errors import InvalidInput

MEMORY_RESERVE_MB = 2048  # left to Stoker itself, its drivers and the system
CORE_OVERCOMMIT = 4  # a node's cores are a limit, not a reservation


@dataclass(frozen=True)
class Capacity:
    cores: int
    mem: int  # MB

    @classmethod
    def of_this_host(cls) -> Capacity:
        total_mb = psutil.virtual_memory().total // (1024 * 1024)
        return cls(cores=(os.cpu_count() or 1) * CORE_OVERCOMMIT, mem=max(0, total_mb - MEMORY_RESERVE_MB))

    @classmethod
    def parse(cls, text: str) -> Capacity:
        """`cores=8,mem=8192` (mem in MB); a missing part keeps this host's figure."""
        host = cls.of_this_host()
        values = {"cores": host.cores, "mem": host.mem}
        for part in text.replace(" ", "").split(","):
            if not part:
                continue
            key, _, raw = part.partition("=")
            if key not in values or not raw.isdigit():
                raise InvalidInput(f"STOKER_CLUSTER_CAPACITY: {part!r} is not cores=N or mem=MB")
            values[key] = int(raw)
        return cls(**values)


@dataclass(frozen=True)
class ClusterSettings:
    capacity: Capacity
    launch_timeout_seconds: float = 120.0  # start of the processes → every worker ALIVE
    reconcile_seconds: float = 2.0  # how often recorded nodes are compared with reality
    # The leader lease of the cluster duties (one replica runs them): renewed every third of this;
    # another replica takes over this long after the holder died.
    lease_seconds: float = 15.0

    @classmethod
    def from_env(cls) -> ClusterSettings:
        env = os.environ
        raw = env.get("STOKER_CLUSTER_CAPACITY")
        return cls(capacity=Capacity.parse(raw) if raw else Capacity.of_this_host(),
                   launch_timeout_seconds=float(env.get("STOKER_CLUSTER_LAUNCH_TIMEOUT_SECONDS") or 120),
                   reconcile_seconds=float(env.get("STOKER_CLUSTER_RECONCILE_SECONDS") or 2),
                   lease_seconds=float(env.get("STOKER_CLUSTER_LEASE_SECONDS") or 15))
