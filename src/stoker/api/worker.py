"""The worker lease protocol over HTTP: claim, heartbeat, finish. Remote workers use it so they
never hold database credentials; GET /jobs/pop is the same claim in the Speedy Gonzales shape."""

from __future__ import annotations

from typing import Any

import msgspec
from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from stoker.api.auth import require
from stoker.api.deps import QueueDep, ServicesDep, SettingsDep, WakeupDep
from stoker.api.models import Annotate, Claim, Finish, FinishMany, Heartbeat
from stoker.api.views import claimed_view
from stoker.core.attempts import Claimed
from stoker.core.errors import Fenced
from stoker.core.routing import EXECUTOR_BY_LANE
from stoker.core.secret_refs import SecretUnavailable
from stoker.core.states import Outcome
from stoker.core.times import iso
from stoker.services import Services
from stoker.store.clusters import cluster_record
from stoker.store.queue import Ending

router = APIRouter(prefix="/api/v1", tags=["worker protocol"])


def attempt_view(services: Services, claimed: Claimed) -> dict[str, Any] | None:
    """The claim answer for one attempt, its secrets resolved now (from the store: a remote worker
    never reads them elsewhere). An attempt whose secret is gone fails at once (permanently: no
    retry can bring it back) and is left out of the answer."""
    try:
        resolved = services.secret_store.resolve(claimed)
    except SecretUnavailable as exc:
        fail_unresolvable(services, claimed, exc)
        return None
    view = claimed_view(claimed, resolved)
    cluster_id = (claimed.options or {}).get("cluster")
    if cluster_id:  # a remote worker has no database to read its run's cluster from: it comes along
        found = cluster_record(services.db, str(cluster_id))
        view["cluster"] = msgspec.structs.asdict(found) if found is not None else None
    return view


async def claim_waiting(services: Services, worker_id: str, *, limit: int, lease_seconds: float,
                        wait_seconds: float, lanes: dict[str, int] | None = None,
                        own_runtime: bool = True) -> list[Claimed]:
    """Claim now; if nothing is there, wait (woken by new work, holding no thread) until
    `wait_seconds` pass."""
    executors = EXECUTOR_BY_LANE if lanes else None

    async def claim_now() -> list[Claimed]:
        claimed: list[Claimed] = await run_in_threadpool(
            lambda: services.queue.claim(worker_id, limit=limit, lease_seconds=lease_seconds,
                                         lane_limits=lanes, executor_by_lane=executors,
                                         own_runtime=own_runtime))
        return claimed

    return await services.wakeup.poll_async(claim_now, bool, seconds=wait_seconds, recheck=1.0)


@router.post("/worker/claim", summary="Claim up to `limit` attempts (or so many per lane) under a "
                                      "lease; long-poll with wait_seconds",
             dependencies=[Depends(require("worker"))])
async def claim(body: Claim, services: ServicesDep) -> dict[str, Any]:
    claimed = await claim_waiting(services, body.worker_id, limit=body.limit,
                            lease_seconds=body.lease_seconds or services.settings.lease_seconds,
                            wait_seconds=body.wait_seconds,
                            lanes={str(k): v for k, v in body.lanes.items()} if body.lanes is not None else None,
                            own_runtime=body.own_runtime)
    views = await run_in_threadpool(lambda: [attempt_view(services, c) for c in claimed])
    return {"attempts": [v for v in views if v is not None]}


def fail_unresolvable(services: Services, claimed: Claimed, exc: SecretUnavailable) -> None:
    try:
        services.queue.finish(Ending(claimed.attempt_id, Outcome.FAILED, error=str(exc), permanent=True))
    except Fenced:
        pass
    services.wakeup.notify()


@router.post("/worker/finish", summary="Report several attempts' ends in one transaction; fenced "
                                       "ones are listed apart and change nothing",
             dependencies=[Depends(require("worker"))])
def finish_many(body: FinishMany, queue: QueueDep, wakeup: WakeupDep) -> dict[str, Any]:
    states = queue.finish_many([_ending(e.attempt_id, e) for e in body.endings])
    wakeup.notify()
    return {"run_states": states,
            "fenced": [e.attempt_id for e in body.endings if e.attempt_id not in states]}


@router.post("/attempts/{attempt_id}/annotate", status_code=204,
             summary="Record what an attempt runs on (its Spark app id, job group, executor)",
             dependencies=[Depends(require("worker"))])
def annotate(attempt_id: str, body: Annotate, queue: QueueDep) -> None:
    queue.annotate(attempt_id, **body.model_dump(exclude_none=True))


@router.post("/attempts/{attempt_id}/heartbeat",
             summary="Renew an attempt's lease; 409 if it no longer holds it",
             dependencies=[Depends(require("worker"))],
             responses={409: {"description": "the attempt no longer holds its lease (it ended or was reaped)"}})
def heartbeat(attempt_id: str, queue: QueueDep, settings: SettingsDep,
              body: Heartbeat | None = None) -> dict[str, Any]:
    # No body (or no lease_seconds): the server's one lease setting (STOKER_LEASE_SECONDS).
    lease = queue.heartbeat_one(
        attempt_id, lease_seconds=(body.lease_seconds if body and body.lease_seconds
                                   else settings.lease_seconds))
    return {"attempt_id": attempt_id, "lease_expires_at": iso(lease.lease_expires_at),
            "cancel_requested": lease.cancel_requested}


@router.post("/attempts/{attempt_id}/finish",
             summary="Report how an attempt ended; 409 (nothing changes) if it no longer holds the lease",
             dependencies=[Depends(require("worker"))],
             responses={409: {"description": "the attempt no longer holds its lease: its outcome is discarded"}})
def finish(attempt_id: str, body: Finish, queue: QueueDep, wakeup: WakeupDep) -> dict[str, Any]:
    state = queue.finish(_ending(attempt_id, body))
    wakeup.notify()
    return {"attempt_id": attempt_id, "run_state": state}


def _ending(attempt_id: str, body: Finish) -> Ending:
    return Ending(attempt_id, Outcome(body.outcome), result=body.result, error=body.error,
                  log=body.log, permanent=body.permanent)
