"""Errors the catalog raises. Each maps to one answer of the API, so callers can tell them apart
without reading messages: PipelineInvalid → 422, PathRefused → 400, the rest fail the attempt."""

from __future__ import annotations

from typing import Any


class CatalogError(Exception):
    """Base of every error raised on purpose by the catalog."""


class PipelineInvalid(CatalogError):
    """The steps do not form a valid pipeline. Carries every problem found, not just the first,
    so a client can fix a pipeline in one round trip."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        self.problems = problems
        super().__init__(_summarise(problems))


class PathRefused(CatalogError):
    """A path points outside the storage roots or uses a scheme Stoker does not read."""

    def __init__(self, step: int | None, path: str, message: str) -> None:
        self.step = step
        self.path = path
        self.message = message
        where = f"step {step}: " if step is not None else ""
        super().__init__(f"{where}{message}")

    def at_step(self, step: int) -> PathRefused:
        """The same refusal, naming the step it came from (resolve() does not know it)."""
        return PathRefused(step, self.path, self.message)


class ResultTooLarge(CatalogError):
    """A collected result is larger than the run may return inline."""


class Cancelled(CatalogError):
    """The attempt was cancelled while the pipeline ran."""


class StepFailed(CatalogError):
    """A step raised: either `fail(message)` on purpose, or an error from Spark while the step ran.
    The message names the step; the original error stays in __cause__."""

    def __init__(self, step: int, function: str, message: str) -> None:
        self.step = step
        self.function = function
        self.message = message
        super().__init__(f"step {step} ({function}): {message}")


def _summarise(problems: list[dict[str, Any]]) -> str:
    if not problems:
        return "invalid pipeline"
    head = "; ".join(f"step {p['step']}: {p['message']}" for p in problems[:5])
    more = len(problems) - 5
    return head + (f"; and {more} more" if more > 0 else "")


def spark_condition(exc: BaseException) -> str | None:
    """A Spark error's condition (error class: UNRESOLVED_COLUMN.WITH_SUGGESTION …), or None."""
    for name in ("getCondition", "getErrorClass"):
        method = getattr(exc, name, None)
        if method is not None:
            try:
                condition = method()
                return None if condition is None else str(condition)
            except Exception:  # an error built without a condition
                return None
    return None
