"""How an attempt's failure is told: error text for people (a few meaningful lines, not a JVM
stack dump) and whether a retry could help (`is_permanent`)."""

from __future__ import annotations

from stoker.catalog.errors import spark_condition

MAX_LINES = 5
MAX_CHARS = 1000
_STACK_MARKERS = ("at ", "JVM stacktrace", "Caused by", "...", "Traceback", "File \"")


def short_error(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    kept: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith(_STACK_MARKERS):
            break
        kept.append(line)
        if len(kept) == MAX_LINES:
            break
    message = "\n".join(kept) or type(exc).__name__
    name = type(exc).__name__
    if not message.startswith(name):
        message = f"{name}: {message}"
    return message[:MAX_CHARS]


# Spark analysis errors a retry cannot fix (an unknown column, a bad SQL text, a type mismatch)
# fail at once; these conditions name things that may appear later (a file still being written, a
# table another job creates), so they keep their retries.
_MAY_APPEAR_LATER = ("PATH_NOT_FOUND", "TABLE_OR_VIEW_NOT_FOUND")


def is_permanent(exc: BaseException) -> bool:
    """True when running the same attempt again would fail the same way: the pipeline or its
    inputs are wrong, not the moment. Looks through the chain of causes (StepFailed wraps Spark's)."""
    from stoker.catalog.errors import PathRefused, PipelineInvalid, ResultTooLarge

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        # An executor's own failure says whether it is permanent (SubmitFailed: the driver's
        # judgement); this module need not know every executor's exception class.
        permanent = getattr(current, "permanent", None)
        if isinstance(permanent, bool):
            return permanent
        if isinstance(current, (PipelineInvalid, PathRefused, ResultTooLarge)):
            return True
        if _is_spark_analysis_error(current):
            condition = spark_condition(current) or ""
            return not condition.startswith(_MAY_APPEAR_LATER)
        current = current.__cause__ or current.__context__
    return False


def _is_spark_analysis_error(exc: BaseException) -> bool:
    try:
        from pyspark.errors import AnalysisException
    except ImportError:  # pragma: no cover - pyspark is a dependency
        return False
    return isinstance(exc, AnalysisException)
