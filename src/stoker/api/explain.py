"""`POST /api/v1/runs/explain`: a pipeline checked before it runs (catalog/explain.py); nothing is
queued."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field

from stoker.api.auth import Runner
from stoker.api.deps import CatalogDep, ExplainSparkDep, JobStoreDep, StorageRootsDep
from stoker.api.models import STEPS_EXAMPLE, Body, JsonList, JsonObject
from stoker.catalog.explain import explain
from stoker.core.errors import InvalidInput
from stoker.submission.runs import substitute_params

router = APIRouter(prefix="/api/v1", tags=["runs"])


class ExplainBody(Body):
    steps: JsonList | None = Field(None, description="an ad-hoc pipeline (omit when `job` is given)",
                                   examples=[STEPS_EXAMPLE])
    job: str | None = Field(None, description="explain this job's steps instead (name or id)")
    params: JsonObject = Field(default_factory=dict, description="values for the job's {{placeholders}}")


@router.post("/runs/explain", summary="Check a pipeline before it runs: each step's output schema and Spark's plan",
             responses={404: {"description": "no such job"},
                        422: {"description": "a step the catalog or Spark's analyser refuses: `problems` names "
                                             "the step and, for an unknown column, the `column` and Spark's "
                                             "`suggestion`"}})
def explain_run(body: ExplainBody, catalog: CatalogDep, roots: StorageRootsDep, jobs: JobStoreDep,
                spark: ExplainSparkDep, principal: Runner) -> dict[str, Any]:
    """The steps are applied by Spark to frames whose schema is known without reading the data
    (the schema cache, a `schema` option, Parquet footers, a sample of a CSV or JSON file), up to
    the action or write, which is not run. Answers each step's output `schema` (and `schema_from`
    for a read) and Spark's formatted `plan`. Nothing is queued. An S3 input no run has read yet
    has no known schema: the steps from it on are listed unchecked."""
    if (body.steps is None) == (body.job is None):
        raise InvalidInput("give either `steps` (an ad-hoc pipeline) or `job` (a job's name), not both")
    steps: Any = body.steps
    if steps is None:
        job = jobs.get(body.job or "", principal.sees)
        if job.kind != "pipeline":
            raise InvalidInput(f"job {job.name!r} is a {job.kind} job; only pipelines are explained")
        steps = substitute_params(job.spec.get("steps", []), body.params)
    with spark() as session:
        # The team's own file roots: what a run of the team could read (docs/teams.md).
        return explain(catalog, steps, roots.for_team(principal.team), session)
