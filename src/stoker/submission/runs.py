"""Turning a request to run something into validated, queued runs (shared by every API that submits).

Validation happens here, before anything is written: a bad pipeline is refused and nothing is queued.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from stoker.catalog.paths import StorageRoots
from stoker.catalog.s3paths import has_credentials, options_problem
from stoker.catalog.submit_check import reads_local_files
from stoker.core import container_spec, spark_conf
from stoker.core import notifications as notify
from stoker.core.errors import Conflict, InvalidInput
from stoker.core.secret_refs import check_option_refs, check_refs, is_whole_ref, references
from stoker.core.secrets import split_secrets
from stoker.core.teams import DEFAULT_TEAM
from stoker.services import Services
from stoker.store.clusters import parked_reason, worker_sizes
from stoker.store.records.jobs import Job
from stoker.store.runs import NewRun, Submitted
from stoker.store.tuning import TuningStore
from stoker.tuning import policy as tuning_policy

_PARAM = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


@dataclass
class RunRequest:
    steps: list[Any] | None = None  # ad-hoc pipeline; None: the job's own steps
    params: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None
    priority: int = 0
    container: dict[str, Any] = field(default_factory=dict)  # a container job's run overrides
    conf: dict[str, Any] = field(default_factory=dict)  # the run's Spark settings (docs/spark-conf.md)
    # The team it is submitted in (the token's): its job, files, secrets and cluster are that team's.
    team: str = DEFAULT_TEAM


def substitute_params(steps: Any, params: dict[str, Any]) -> Any:
    """Fill `{{name}}` placeholders in a job's steps. A string that is exactly one placeholder takes
    the parameter's value with its type (a number stays a number); inside longer strings it is text."""
    if isinstance(steps, list):
        return [substitute_params(s, params) for s in steps]
    if isinstance(steps, dict):
        return {k: substitute_params(v, params) for k, v in steps.items()}
    if isinstance(steps, str):
        whole = _PARAM.fullmatch(steps.strip())
        if whole:
            return _param(params, whole.group(1))
        return _PARAM.sub(lambda m: str(_param(params, m.group(1))), steps)
    return steps


def _param(params: dict[str, Any], name: str) -> Any:
    if name not in params:
        raise InvalidInput(f"missing parameter {name!r}: the job's steps use {{{{{name}}}}}",
                           problems=[{"parameter": name, "message": "missing"}])
    return params[name]


class Submitter:
    def __init__(self, services: Services) -> None:
        self.services = services

    def check_job_settings(self, kind: str, steps: Any, options: dict[str, Any] | None,
                           notifications: Any, *, team: str = DEFAULT_TEAM,
                           ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """A job's `options` (what every run starts from) and `notifications`, checked before the
        job is written: options hold references to secrets, never values (a job is read by everyone
        who may read jobs, and runs unattended); every secret named, in the options, the steps or a
        destination, exists with the kind and key it needs. A 422 says what is wrong."""
        checked = notify.check(notifications)
        refs = list(notify.secret_refs(checked))
        if options:
            check_option_refs(options)
            public, secret = split_secrets(options)
            if secret:
                raise InvalidInput("a job's options hold references to secrets, never their values: create a "
                                   "secret (POST /api/v1/secrets) and name it, e.g. options.s3: "
                                   "{\"secret\": \"<name>\"}")
            if kind == "pipeline" and "secret_env" in public:
                raise InvalidInput("options.secret_env applies to container jobs")
            if kind == "container" and "s3" in public:
                raise InvalidInput("options.s3 applies to pipeline jobs; a container job takes options.secret_env")
        refs.extend(references(options, steps))
        if refs:
            check_refs(refs, self.services.secret_store.kinds((r.secret for r in refs), team=team))
        return options, checked

    def prepare(self, request: RunRequest, job: Job | None, *, check_columns: bool = True) -> NewRun:
        """Validate and shape one run; raises a 4xx error (nothing written) if it is bad.
        `check_columns=False`: a Spark pipeline over a local file is not explained here (the caller
        does it off its event loop: `check_columns`)."""
        if job is not None and job.kind == "container":
            return self.prepare_container(request, job)
        if request.container:
            raise InvalidInput("container settings apply to container jobs only")
        conf = self.conf_layers(request, job)
        if job is not None and job.kind != "pipeline":
            raise InvalidInput(f"job {job.name!r} is a {job.kind} job; only pipeline jobs run here")
        steps = request.steps
        if steps is None:
            if job is None:
                raise InvalidInput("steps are required for an ad-hoc run")
            steps = substitute_params(job.spec.get("steps", []), request.params)
        roots = self.services.roots.for_team(request.team)  # its paths name its team's files
        plan = self.services.catalog.validate(steps, roots)
        public, secret = split_secrets(self.options_of(request, job))
        if "secret_env" in secret or "secret_env" in public:
            raise InvalidInput("options.secret_env applies to container runs; a pipeline takes its S3 keys "
                               "as options.s3")
        self._check_references(public, steps, request.team)
        waiting_for = self._cluster(public, job, request.team)
        if public.get("cluster"):
            conf = self._fit_cluster(conf, public["cluster"])
        self._check_s3(steps, secret, public, roots)
        lane = self.services.catalog.route(steps).lane
        if check_columns and self._explains(lane) and reads_local_files(plan):
            self._check_columns(steps, roots)
        return NewRun(
            steps=steps, params=request.params, options=public,
            secrets=self.services.secrets.seal(secret) if secret else None,
            idempotency_key=request.idempotency_key, lane=lane,
            priority=request.priority, waiting_for=waiting_for, conf=conf, team=request.team,
        )

    def _fit_cluster(self, conf: dict[str, dict[str, str]] | None,
                     cluster: str) -> dict[str, dict[str, str]] | None:
        """The layers, if their executors fit a worker of the cluster. The user's own settings that
        fit none are refused (the run would wait for executors for ever); a tuned layer that would
        not fit is left out of this run (the loop's trial then measures no change)."""
        workers = worker_sizes(self.services.db, cluster)
        layers = conf or {}
        own = {name: layer for name, layer in layers.items() if name != "tuning"}
        problem = spark_conf.unplaceable(spark_conf.merged(own), workers)
        if problem:
            raise InvalidInput(f"cluster {cluster}: {problem}")
        if "tuning" in layers and spark_conf.unplaceable(spark_conf.merged(layers), workers):
            return own or None
        return conf

    def _explains(self, lane: str) -> bool:
        return self.services.column_check is not None and lane == "spark"

    def needs_column_check(self, new: NewRun) -> bool:
        """Whether a run prepared with `check_columns=False` has its columns to check: a Spark
        pipeline reading a local file (a look at its steps, no Spark)."""
        check = self.services.column_check
        return (check is not None and self._explains(new.lane)
                and check.applies(new.steps, self.services.roots.for_team(new.team)))

    def check_columns(self, new: NewRun) -> None:
        """Refuse the run's column typos (PipelineInvalid, 422): a blocking Spark analysis."""
        self._check_columns(new.steps, self.services.roots.for_team(new.team))

    def _check_columns(self, steps: Any, roots: StorageRoots) -> None:
        check = self.services.column_check
        if check is not None:
            check(steps, roots)

    def conf_layers(self, request: RunRequest, job: Job | None) -> dict[str, dict[str, str]] | None:
        """The run's own Spark layers (its job's, its own), checked now against this server's rules
        (the job's again: the rules may have narrowed since it was saved); settings a warm session
        cannot change are refused here when the run will get one."""
        rules = self.services.settings.conf_rules
        layers = {"job": spark_conf.check(job.conf, rules, where=f"job {job.name!r} conf")
                  if job is not None else {},
                  "run": spark_conf.check(request.conf, rules)}
        if job is not None:
            layers["tuning"] = self.tuning_layer(job, spark_conf.merged(layers))
        layers = {name: conf for name, conf in layers.items() if conf}
        if not layers:
            return None
        spark_conf.require_runtime(layers, job.mode if job is not None else "session",
                                   what=f"a run of job {job.name!r}" if job is not None else "an ad-hoc run")
        return layers

    def tuning_layer(self, job: Job, own: dict[str, str]) -> dict[str, str]:
        """What the tuning loop sets for the job's next run (docs/tuning.md): in mode auto only, and
        only keys the run's own layers leave to it (or the policy's `allow` names); a warm session
        takes only the runtime ones."""
        policy = tuning_policy.stored(job.tuning)
        if policy.mode != "auto":
            return {}
        layer, _trial = TuningStore(self.services.db).layer_for_next_run(job.id)
        keys = tuning_policy.tunable_keys(policy, own)
        return {k: v for k, v in sorted(layer.items())
                if k in keys and (job.mode != "session" or spark_conf.is_runtime(k))}

    @staticmethod
    def options_of(request: RunRequest, job: Job | None) -> dict[str, Any]:
        """The run's options: its job's (references to secrets, say) overridden key by key by its own."""
        given = request.options or {}
        check_option_refs(given)
        return {**(job.options if job is not None else {}), **given}

    def _check_references(self, options: dict[str, Any], steps: Any, team: str) -> None:
        """Every secret the run names exists in its team, with the kind and keys it needs: else 422,
        nothing queued. The values are not read: they are resolved when an attempt starts."""
        refs = references(options, steps)
        if refs:
            check_refs(refs, self.services.secret_store.kinds((r.secret for r in refs), team=team))

    @staticmethod
    def names_secrets(request: RunRequest, job: Job | None) -> bool:
        """Does this request (or its job) name a secret? Then its check reads the database."""
        steps = request.steps if request.steps is not None else job.spec.get("steps") if job is not None else None
        return bool(references({**(job.options if job is not None else {}), **(request.options or {})}, steps))

    def _check_s3(self, steps: list[Any], secret: dict[str, Any], public: dict[str, Any], roots: Any) -> None:
        """options.s3 must be usable, and a pipeline that touches S3 must have credentials that
        can apply: the run's own (given, or a named secret's), or the server's when the operator
        allows them."""
        if "s3" in secret:
            problem = options_problem(secret["s3"])
            if problem:
                raise InvalidInput(problem, problems=[{"option": "s3", "message": problem}])
        if (has_credentials(secret.get("s3")) or is_whole_ref(public.get("s3"))
                or self.services.settings.s3_allow_server_credentials):
            return
        paths = self.services.catalog.s3_paths(steps, roots)
        if paths:
            first = paths[0]
            message = (f"step {first.step} uses {first.given} but the run has no S3 credentials: give "
                       "options.s3.aws_access_key_id and aws_secret_access_key, or a secret: options.s3: "
                       "{\"secret\": \"<name>\"} (this server does not "
                       "lend its own; see STOKER_S3_ALLOW_SERVER_CREDENTIALS)")
            raise InvalidInput(message, problems=[{"step": p.step, "message": f"{p.given}: no S3 credentials"}
                                                  for p in paths])

    def prepare_container(self, request: RunRequest, job: Job) -> NewRun:
        """A run of a container job: the job's spec with the run's overrides and parameters, on the
        container lane. Refused (503) where no runtime (nor container host) is, and (409) while the
        image is not READY."""
        self.services.images.require()
        image = self.services.container_jobs.image_of(job.id)
        status = image.status if image is not None else "unknown"
        if status != "READY":
            why = f": {image.error}" if image is not None and image.error else ""
            raise Conflict(f"container job {job.name!r} cannot run yet: its image "
                           f"{job.spec.get('image')!r} is {status}{why}", status=status)
        if request.steps is not None:
            raise InvalidInput(f"job {job.name!r} is a container job: it takes no steps")
        if request.conf:
            raise InvalidInput(f"job {job.name!r} is a container job: Spark settings (conf) apply to "
                               "pipelines")
        spec = container_spec.merge(job.spec, request.container)
        spec["command"] = container_spec.parse_command(spec.get("command"))
        spec.update(substitute_params({"command": spec["command"], "env": spec.get("env")}, request.params))
        public, secret = split_secrets(self.options_of(request, job))
        if set(secret) - {"secret_env"} or "s3" in public:
            raise InvalidInput("options.s3 applies to pipelines; a container run takes its secrets as "
                               "options.secret_env")
        self._check_references(public, None, request.team)
        if secret:  # sealed at rest, redacted in every answer, handed only to the attempt that runs
            secret["secret_env"] = container_spec.check_env(secret["secret_env"], "options.secret_env")
        return NewRun(steps=None, params=request.params,
                      options={**public, "container": container_spec.check_spec(spec)},
                      secrets=self.services.secrets.seal(secret) if secret else None,
                      idempotency_key=request.idempotency_key,
                      lane=self.services.catalog.route(None, kind="container").lane,
                      priority=request.priority, team=request.team)

    def _cluster(self, options: dict[str, Any], job: Job | None, team: str) -> str | None:
        """A run on a cluster (its option, else its job's policy) records the cluster in its options;
        None when it may start now, else why it waits (its cluster is not ready yet). An unknown
        cluster is 404; a destroyed or failed one 409: the run could never execute."""
        cluster = options.get("cluster") or (job.cluster if job is not None else None)
        if cluster is None:
            return None
        if not isinstance(cluster, str):
            raise InvalidInput("options.cluster must be a cluster id (GET /api/v1/clusters)")
        options["cluster"] = cluster
        return parked_reason(self.services.db, cluster, team)  # another team's cluster: 404

    def submit(self, request: RunRequest, job_name: str | None = None) -> Submitted:
        job = self.services.runs.jobs.get(job_name, request.team) if job_name else None
        new = self.prepare(request, job)
        return self.services.runs.submit(job.id if job else None, [new])[0]

    async def submit_async(self, request: RunRequest, job_name: str | None = None) -> Submitted:
        """`submit` for an event loop, through the group commit: concurrent submits share one
        transaction, each checked and answered on its own. The job is read from a cache of a
        second (a thread reads it on a miss), and validation runs here, before anything is queued."""
        job = None
        if job_name:
            job = self.services.runs.jobs.cached(job_name, request.team)
            if job is None:
                job = await asyncio.to_thread(self.services.runs.jobs.get_cached, job_name, request.team)
        if ((job is not None and job.kind == "container") or self.names_secrets(request, job)
                or (job is not None and tuning_policy.stored(job.tuning).mode == "auto")):
            new = await asyncio.to_thread(self.prepare, request, job)  # reads the database: off the loop
        else:
            new = self.prepare(request, job, check_columns=False)
            if self.needs_column_check(new):  # a Spark analysis: off the loop
                await asyncio.to_thread(self.check_columns, new)
        return await self.services.group_commit.submit_async(job.id if job else None, new)

    def submit_batch(self, requests: list[RunRequest], job_name: str | None = None,
                     copies: int = 1) -> tuple[str, list[Submitted]]:
        """Queue all runs in one transaction; `copies` repeats each (validated once)."""
        team = requests[0].team if requests else DEFAULT_TEAM
        job = self.services.runs.jobs.get(job_name, team) if job_name else None
        new_runs = [self.prepare(r, job) for r in requests] * copies
        batch_id = str(uuid.uuid4())
        return batch_id, self.services.runs.submit(job.id if job else None, new_runs,
                                                   batch_id=batch_id)
