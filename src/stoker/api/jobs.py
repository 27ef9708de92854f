from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header, Response
from pydantic import ValidationError

from stoker.api.auth import Editor, Reader, Runner, authorize
from stoker.api.deps import (
    ContainerStoreDep,
    JobStoreDep,
    NotificationStoreDep,
    RunStoreDep,
    ScheduleServiceDep,
    ServicesDep,
)
from stoker.api.fastpath import QuickRequest
from stoker.api.models import CONTAINER_FIELDS, JobCreate, JobRunCreate, JobUpdate
from stoker.api.openapi import CANNOT_START
from stoker.api.paging import Cursor, PageSize
from stoker.api.runs import created_response, list_runs_page
from stoker.api.views import job_view
from stoker.catalog import Catalog, StorageRoots
from stoker.config import Settings
from stoker.core import container_spec, spark_conf
from stoker.core.errors import InvalidInput
from stoker.core.states import RunState
from stoker.core.times import iso
from stoker.schedules.service import ScheduleService
from stoker.services import Services
from stoker.store.containers import ContainerStore
from stoker.store.jobs import JobStore
from stoker.store.notifications import Delivery
from stoker.submission.runs import RunRequest, Submitter
from stoker.tuning import policy as tuning_policy

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])


def validate_job_steps(catalog: Catalog, roots: StorageRoots, steps: list[Any]) -> None:
    """Steps with {{placeholders}} are checked when a run fills them in; the rest are checked now."""
    if "{{" not in repr(steps):
        catalog.validate(steps, roots)


def checked_conf(settings: Settings, conf: dict[str, Any], mode: str, name: str) -> dict[str, str]:
    """A job's Spark settings, checked as a run's are (docs/spark-conf.md); a warm session's job
    may hold only settings a session can change."""
    checked = spark_conf.check(conf, settings.conf_rules)
    spark_conf.require_runtime({"job": checked}, mode, what=f"job {name!r}")
    return checked


@router.post("", status_code=201, summary="Create a job: a named pipeline or container, plus its run policy",
             responses={409: {"description": "a job with this name exists"},
                        503: {"description": "a container job where no container runtime is"}})
def create_job(body: JobCreate, services: ServicesDep, schedules: ScheduleServiceDep,
               principal: Editor) -> dict[str, Any]:
    """A container job's image is imported (pulled) in the background: its runs are refused (409)
    until `image_status` is READY. A `schedule` is checked before anything is made."""
    container = body.model_dump(include=set(CONTAINER_FIELDS), exclude_none=True)
    policy = body.model_dump(exclude={"name", "steps", "kind", "schedule", "tuning", *CONTAINER_FIELDS},
                             exclude_none=True)
    if body.schedule is not None:
        schedules.parse(body.schedule, body.name)
    policy["options"], policy["notifications"] = Submitter(services).check_job_settings(
        body.kind, body.steps, body.options, body.notifications, team=principal.team)
    if body.kind == "container":
        if body.steps is not None:
            raise InvalidInput("a container job takes `image` and `command`, not `steps`")
        if body.conf:
            raise InvalidInput("a container job takes no Spark settings (conf)")
        if body.tuning is not None and tuning_policy.check(body.tuning, {}).on:
            raise InvalidInput("a container job has no Spark settings to tune (tuning applies to pipelines)")
        services.images.require()
        job_id = services.images.register(body.name, container_spec.check_spec(container), team=principal.team,
                                          **policy).id
    else:
        if body.steps is None or container:
            raise InvalidInput("a pipeline job takes `steps` (give kind: container for an image)")
        validate_job_steps(services.catalog, services.roots.for_team(principal.team), body.steps)
        if body.conf is not None:
            policy["conf"] = checked_conf(services.settings, body.conf, body.mode or "session", body.name)
        if body.tuning is not None:
            policy["tuning"] = tuning_policy.check(body.tuning, policy.get("conf") or {}).as_dict()
        job_id = services.runs.jobs.create(body.name, "pipeline", {"steps": body.steps}, team=principal.team,
                                           **policy).id
    if body.schedule is not None:
        schedules.set(services.runs.jobs.get(job_id), body.schedule)
    return _job(job_id, services.runs.jobs, services.container_jobs, schedules)


@router.get("", summary="List the team's jobs")
def list_jobs(jobs: JobStoreDep, schedules: ScheduleServiceDep, principal: Reader) -> dict[str, Any]:
    found = jobs.list(principal.sees)
    scheduled = schedules.store.get_many([j.id for j in found])
    return {"jobs": [_with_schedule(job_view(j), scheduled.get(j.id), schedules, ticks=0) for j in found]}


@router.get("/{job}", summary="Get a job by name or id: its steps, policy and schedule (in words, its next "
            "five ticks, its last ones)")
def get_job(job: str, jobs: JobStoreDep, container_jobs: ContainerStoreDep, schedules: ScheduleServiceDep,
            notifications: NotificationStoreDep, principal: Reader) -> dict[str, Any]:
    view = _job(job, jobs, container_jobs, schedules, principal.sees)
    if view.get("notifications"):  # failures to deliver show on the job itself
        view["notification_deliveries"] = notifications.status(view["id"])
    return view


@router.get("/{job}/notifications", summary="A job's notifications and their delivery history, newest first: "
            "each message's event, run, destination, state (pending, delivered, failed), tries and last error")
def job_notifications(job: str, jobs: JobStoreDep, notifications: NotificationStoreDep, principal: Reader,
                      limit: PageSize = 50) -> dict[str, Any]:
    found = jobs.get(job, principal.sees)
    return {"job": found.name, "notifications": found.notifications,
            "status": notifications.status(found.id),
            "deliveries": [delivery_view(d) for d in notifications.history(found.id, limit)]}


def delivery_view(d: Delivery) -> dict[str, Any]:
    return {"id": d.id, "event": d.event, "run_id": d.run_id, "attempt": d.attempt, "kind": d.kind,
            "target": d.target, "state": d.state, "tries": d.tries, "last_error": d.last_error,
            "created_at": iso(d.created_at), "delivered_at": iso(d.delivered_at),
            "next_try_at": iso(d.next_at) if d.state == "pending" else None,
            "links": {"run": f"/api/v1/runs/{d.run_id}"}}


def _job(job: str, jobs: JobStore, container_jobs: ContainerStore, schedules: ScheduleService,
         team: str | None = None) -> dict[str, Any]:
    found = jobs.get(job, team)
    view = job_view(found)
    if found.kind == "container":  # with its image's import status (a Stevedore task's status)
        image = container_jobs.get(found.id)
        view = {**view, "image_status": image.status, "image_error": image.error,
                "image_digest": image.image_digest,
                "links": {**view["links"], "stevedore_task": f"/task/{found.id}/"}}
    return _with_schedule(view, schedules.store.get(found.id), schedules)


def _with_schedule(view: dict[str, Any], record: Any, schedules: ScheduleService, ticks: int = 10) -> dict[str, Any]:
    view["schedule"] = schedules.view(record, ticks=ticks) if record is not None else None
    return view


@router.patch("/{job}", summary="Change a job's steps, policy, Spark settings, schedule, options or notifications")
def update_job(job: str, body: JobUpdate, services: ServicesDep, schedules: ScheduleServiceDep,
               principal: Editor) -> dict[str, Any]:
    """`conf` replaces the job's Spark settings ({} removes them); runs already queued keep theirs.
    `tuning` replaces the job's tuning policy (null: off); its `allow` must name keys of the job's conf."""
    jobs = services.runs.jobs
    changes = body.model_dump(exclude_none=True, exclude={"schedule", "tuning"})
    found = jobs.get(job, principal.sees)  # another team's job: 404, nothing changes
    if "conf" in changes and found.kind != "pipeline" and changes["conf"]:
        raise InvalidInput(f"job {job!r} is a container job: it takes no Spark settings (conf)")
    if "conf" in changes or ("mode" in changes and found.conf):
        changes["conf"] = checked_conf(services.settings, changes.get("conf", found.conf),
                                       changes.get("mode", found.mode), found.name)
    if "steps" in changes and found.kind != "pipeline":
        raise InvalidInput(f"job {job!r} is a container job: it has no steps")
    if "tuning" in body.model_fields_set or "conf" in changes:  # a narrowed conf must still hold what allow names
        raw = body.tuning if "tuning" in body.model_fields_set else found.tuning
        checked = tuning_policy.check(raw, changes.get("conf", found.conf))
        if checked.on and found.kind != "pipeline":
            raise InvalidInput(f"job {job!r} is a container job: it has no Spark settings to tune")
        changes["tuning"] = checked.as_dict()
    if "steps" in changes:
        validate_job_steps(services.catalog, services.roots.for_team(found.team_id), changes["steps"])
        changes["spec"] = {"steps": changes.pop("steps")}
    for field in ("options", "notifications"):  # null removes them
        if field in body.model_fields_set:
            changes[field] = getattr(body, field)
    if {"options", "notifications", "spec"} & set(changes):  # every secret they name exists
        options, notifications = Submitter(services).check_job_settings(
            found.kind, changes.get("spec", found.spec).get("steps"),
            changes.get("options", found.options), changes.get("notifications", found.notifications),
            team=found.team_id)
        if "options" in changes:
            changes["options"] = options
        if "notifications" in changes:
            changes["notifications"] = notifications
    if "schedule" in body.model_fields_set and body.schedule is not None:
        schedules.parse(body.schedule, found.name)  # checked before anything changes
    updated = jobs.update(found.id, **changes)
    if "schedule" in body.model_fields_set:  # null removes it
        schedules.set(updated, body.schedule)
    return _job(updated.id, jobs, services.container_jobs, schedules)


@router.post("/{job}/runs", status_code=201, summary="Submit a run of a job",
             response_model=dict[str, Any],
             responses={200: {"description": "a run with this idempotency key exists already: that run, unchanged"},
                        404: {"description": "no such job"}, 409: CANNOT_START})
async def submit_job_run(job: str, body: JobRunCreate, services: ServicesDep, principal: Runner,
                         idempotency_key: str | None = Header(None, alias="Idempotency-Key")) -> Response:
    """The job's steps with these params, checked as `POST /api/v1/runs` checks a pipeline: a 422
    names the step (and, for an unknown column of a local file, the `column` and Spark's
    `suggestion`), and nothing is queued."""
    return await _submit_job_run(services, job, body, idempotency_key, principal.team)


async def quick_submit_job_run(request: QuickRequest) -> Response | None:
    """POST /api/v1/jobs/{job}/runs with a plain JSON body (see api/fastpath.py); the route answers
    the rest. The order is FastAPI's: a body that is no JSON is refused before the token is checked,
    the token before the body is validated."""
    if request.scope["query_string"]:
        return None
    data = await request.json_body()
    if data is None:
        return None
    services = request.services
    principal = await authorize(services, request.headers, "run")
    try:
        body = JobRunCreate.model_validate(data)
    except ValidationError:
        return None
    return await _submit_job_run(services, request.path_params["job"], body, request.headers.get("idempotency-key"),
                                 principal.team)


async def _submit_job_run(services: Services, job: str, body: JobRunCreate, idempotency_key: str | None,
                          team: str) -> Response:
    """A run of the team's job of this name (another team's job is not found)."""
    submitted = await Submitter(services).submit_async(
        RunRequest(params=body.params, options=body.options, priority=body.priority, container=body.container,
                   conf=body.conf or {}, idempotency_key=idempotency_key or body.idempotency_key, team=team),
        job_name=job)
    return await created_response(services, submitted, team)


@router.get("/{job}/runs", summary="List a job's runs, newest first")
def list_job_runs(job: str, runs: RunStoreDep, principal: Reader, state: RunState | None = None,
                  limit: PageSize = 50, cursor: Cursor = None) -> dict[str, Any]:
    found = runs.jobs.get(job, principal.sees)  # 404 for an unknown job, or another team's
    return list_runs_page(runs, job=found.id, state=state, limit=limit, cursor=cursor, team=principal.sees)
