"""Where a worker gets its attempts and reports them: the database, or the API over HTTP.

The worker loop (loop.py) is the same for both. `DatabaseBackend` is for workers inside the
deployment (`stoker serve`, `stoker worker` with the database URL); `HttpBackend` (remote.py) is for
workers that hold only an API token and talk the lease protocol of `/api/v1/worker`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from stoker.core.attempts import Claimed
from stoker.core.secret_refs import Resolved
from stoker.services import Services
from stoker.store.queue import Ending, Lease


class LeaseBackend(Protocol):
    def claim(self, worker_id: str, *, lane_limits: Mapping[str, int], lease_seconds: float,
              executor_by_lane: Mapping[str, str], own_runtime: bool = True) -> list[Claimed]:
        """Start attempts; may wait briefly for work (then `idle_seconds` is 0). `own_runtime`:
        whether this worker has a container runtime of its own (else it gets only container runs
        placed on a registered host)."""

    def heartbeat(self, attempt_ids: Sequence[str], *, lease_seconds: float) -> dict[str, Lease]:
        """Renew leases; an attempt missing from the answer lost its lease."""

    def finish(self, ending: Ending) -> str:
        """Report one attempt's end; raises Fenced if its lease is gone."""

    def finish_many(self, endings: Sequence[Ending]) -> dict[str, str]:
        """Report several ends at once; fenced ones are missing from the answer."""

    def annotate(self, attempt_id: str, **fields: Any) -> None:
        """Record what an attempt runs on (its Spark app, job group, executor) and its effective
        Spark configuration (`conf`)."""

    def cancel_requested(self, run_ids: Sequence[str]) -> set[str]:
        """Which of these runs someone asked to cancel."""

    def secrets_of(self, claimed: Claimed) -> Resolved:
        """The attempt's secrets, resolved as it starts (core/secret_refs.py): its S3 credentials
        and secret environment, its steps with `{{secrets/…}}` filled in, the values to redact.
        Raises SecretUnavailable when a secret it names is gone."""

    def idle_seconds(self) -> float:
        """How long the claim loop waits (or until woken) after a claim found nothing."""

    def close(self) -> None:
        """Release what the backend holds (connections), once the worker has stopped."""


IDLE_POLL_SECONDS = 1.0  # only bounds the wait when no wake-up can reach us (SQLite, other process)


class DatabaseBackend:
    def __init__(self, services: Services) -> None:
        self.services = services

    def claim(self, worker_id: str, *, lane_limits: Mapping[str, int], lease_seconds: float,
              executor_by_lane: Mapping[str, str], own_runtime: bool = True) -> list[Claimed]:
        return self.services.queue.claim(worker_id, lane_limits=lane_limits,
                                         lease_seconds=lease_seconds,
                                         executor_by_lane=executor_by_lane, own_runtime=own_runtime)

    def heartbeat(self, attempt_ids: Sequence[str], *, lease_seconds: float) -> dict[str, Lease]:
        return self.services.queue.heartbeat(attempt_ids, lease_seconds=lease_seconds)

    def finish(self, ending: Ending) -> str:
        return self.services.queue.finish(ending)

    def finish_many(self, endings: Sequence[Ending]) -> dict[str, str]:
        return self.services.queue.finish_many(endings)

    def annotate(self, attempt_id: str, **fields: Any) -> None:
        self.services.queue.annotate(attempt_id, **fields)

    def cancel_requested(self, run_ids: Sequence[str]) -> set[str]:
        return self.services.runs.cancel_requested(list(run_ids))

    def secrets_of(self, claimed: Claimed) -> Resolved:
        return self.services.secret_store.resolve(claimed)  # read now, from the store: never earlier

    def idle_seconds(self) -> float:
        next_at = self.services.queue.next_available_at()
        if next_at is None:
            return IDLE_POLL_SECONDS
        return max(0.0, min(IDLE_POLL_SECONDS, next_at - time.time()))

    def close(self) -> None:
        pass  # the services belong to the process, not to the worker
