"""Running a checked plan: one step after another, each with its own StepContext."""

from __future__ import annotations

import re
import time
from typing import Any

from stoker.catalog.context import PlanRun, StepContext
from stoker.catalog.errors import Cancelled, CatalogError, PathRefused, StepFailed
from stoker.catalog.paths import StorageRoots
from stoker.catalog.readers import looks_like_table
from stoker.catalog.tuning import local_size
from stoker.catalog.validate import BoundStep

MAX_MESSAGE = 2000


def run_plan(plan: list[BoundStep], execution: PlanRun) -> dict[str, Any]:
    try:
        return _run_steps(plan, execution)
    finally:
        execution.release()


def _run_steps(plan: list[BoundStep], execution: PlanRun) -> dict[str, Any]:
    ctx = execution.ctx
    frame: Any = None
    result: dict[str, Any] | None = None
    for step in plan:
        name = step.spec.name
        sc = StepContext(execution, step.index, name)
        sc.check_cancelled()
        started = time.perf_counter()
        try:
            out = step.spec.run(sc, frame, *step.bound())
        except PathRefused as exc:
            raise (exc.at_step(step.index) if exc.step is None else exc) from exc.__cause__
        except CatalogError:
            raise
        except Exception as exc:
            if ctx.is_cancelled():
                raise Cancelled(f"cancelled at step {step.index} ({name})") from exc
            raise StepFailed(step.index, name, short_message(exc)) from exc
        # Actions and writes return the result; so may a plugin's utility (frames are never dicts).
        if step.spec.kind in ("action", "write") or isinstance(out, dict):
            result, frame = out, None
        else:
            frame = out
        ctx.logger.debug("step %d (%s) took %.1f ms", step.index, name,
                         (time.perf_counter() - started) * 1000)
    return result if result is not None else {"type": "noop"}


def input_sizes(plan: list[BoundStep], roots: StorageRoots, limit: int) -> list[int | None]:
    """Bytes each input of the plan reads (None: unknown), for tuning.plan_tuning()."""
    sizes: list[int | None] = []
    for step in plan:
        spec = step.spec
        if spec.name == "range":  # builtins cannot be replaced, so the name is enough
            sizes.append(step.values[0] * 8)
            continue
        path_args = [(a, v) for a, v in zip(_args(step), step.values, strict=False)
                     if a.path in ("path", "path_or_table")]
        if spec.kind == "source" and not path_args:
            sizes.append(None)  # sql() may read any table, of any size
        for arg, value in path_args:
            if arg.path == "path_or_table" and looks_like_table(value):
                candidate = roots.storage_root / value
                sizes.append(local_size(str(candidate), limit) if candidate.exists() else None)
            else:
                sizes.append(local_size(value, limit))
    return sizes


def short_message(exc: BaseException) -> str:
    """The first useful part of an error: Spark's Java stack traces stay in the logs."""
    text = str(exc) or type(exc).__name__
    cut = text.find("\n\tat ")
    if cut > 0:
        text = text[:cut]
    text = text.split("\n\nJVM stacktrace:")[0].strip()
    # Spark's analysis errors go on to print the whole logical plan after the SQLSTATE.
    state = re.search(r"SQLSTATE: \w+", text)
    if state:
        text = text[:state.end()]
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE - 3] + "..."


def _args(step: BoundStep) -> list[Any]:
    return [step.spec.arg_for(i) for i in range(len(step.values))]
