"""A pipeline checked before it runs (`POST /api/v1/runs/explain`): its steps applied by Spark to
frames whose schema Stoker knows without reading the data, up to (not including) the action or
write, so each step's output schema and Spark's plan come back, and a step Spark's analyser refuses
(a column typo) is named with Spark's message and suggestion. Nothing is queued, no job runs on
the data.

The schemas of the inputs, without a pass over them (catalog/readers.py `explain_schema`): the
schema cache (what a run of the same unchanged files inferred), a `schema` option, Parquet footers
(read by Spark when it lists the files), and for a CSV or JSON file not seen yet a sample of its
first MiB read with pyarrow (its names are exact, its types close to what Spark infers).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from stoker.catalog.context import PlanRun, RunContext, StepContext
from stoker.catalog.errors import CatalogError, PathRefused, PipelineInvalid, spark_condition
from stoker.catalog.execute import short_message
from stoker.catalog.paths import StorageRoots
from stoker.catalog.readers import SchemaUnknown
from stoker.catalog.tuning import Tuning
from stoker.catalog.validate import check_pipeline

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from stoker.catalog.registry import Catalog

# A session to explain on: the caller's (the worker's warm one, or one of its own), lent and returned.
SparkLease = Callable[[], AbstractContextManager["SparkSession"]]

_LOG = logging.getLogger("stoker.catalog.explain")


def explain(catalog: Catalog, steps: Any, roots: StorageRoots, base: SparkSession) -> dict[str, Any]:
    """Each step's output schema and Spark's plan of the last frame; PipelineInvalid (422) naming
    the step, and the column with Spark's suggestion, for a step Spark refuses."""
    plan = check_pipeline(catalog.functions, steps, roots)  # the catalog's own checks first
    ctx = RunContext(spark=base.newSession, roots=roots, log=_LOG, cancelled=threading.Event())
    execution = PlanRun(ctx, catalog.schema_cache, Tuning(0, False, None), explaining=True)
    frame: DataFrame | None = None
    shown: list[dict[str, Any]] = []
    for step in plan:
        name = step.spec.name
        entry: dict[str, Any] = {"step": step.index, "function": name, "kind": step.spec.kind}
        if step.spec.kind in ("action", "write") or not step.spec.needs_spark:
            entry.update(schema=None, note="runs when the run runs" if step.spec.kind in ("action", "write")
                         else "no Spark step: passes its frame on")
            shown.append(entry)
            continue
        sc = StepContext(execution, step.index, name)
        try:
            out = step.spec.run(sc, frame, *step.bound())
        except SchemaUnknown as exc:  # the steps from here on cannot be checked before it runs
            entry.update(schema=None, note=str(exc))
            shown.append(entry)
            shown += [{"step": later.index, "function": later.spec.name, "kind": later.spec.kind, "schema": None,
                       "note": "not checked: an input before it has no known schema"}
                      for later in plan if later.index > step.index]
            return {"steps": shown, "plan": None, "queued": False}
        except PathRefused as exc:
            raise (exc.at_step(step.index) if exc.step is None else exc) from exc.__cause__
        except CatalogError:
            raise
        except Exception as exc:
            raise PipelineInvalid([refusal(step.index, name, exc)]) from exc
        frame = out
        entry["schema"] = [{"name": f.name, "type": f.dataType.simpleString(), "nullable": f.nullable}
                           for f in frame.schema.fields]
        source = execution.schema_sources.pop(step.index, None)
        if source:
            entry["schema_from"] = source
        shown.append(entry)
    return {"steps": shown, "plan": plan_text(frame) if frame is not None else None, "queued": False}


def refusal(step: int, function: str, exc: BaseException) -> dict[str, Any]:
    """A step Spark refused, as a 422 problem: Spark's message, and for an unknown column its name
    and Spark's suggestion (the columns it could mean)."""
    problem: dict[str, Any] = {"step": step, "function": function, "message": short_message(exc)}
    params = _message_parameters(exc)
    if "objectName" in params:
        problem["column"] = params["objectName"].strip("`")
    if params.get("proposal"):
        problem["suggestion"] = [p.strip().strip("`") for p in params["proposal"].split(",") if p.strip()]
    condition = spark_condition(exc)
    if condition:
        problem["error_class"] = condition
    return problem


def _message_parameters(exc: BaseException) -> dict[str, str]:
    get = getattr(exc, "getMessageParameters", None)
    try:
        params = get() if get is not None else None
    except Exception:
        return {}
    return dict(params) if isinstance(params, dict) else {}


def plan_text(frame: DataFrame) -> str:
    """Spark's plan of the frame, as `DataFrame.explain("formatted")` prints it."""
    jvm = frame.sparkSession.sparkContext._jvm
    assert jvm is not None
    return str(jvm.PythonSQLUtils.explainString(frame._jdf.queryExecution(), "formatted"))
