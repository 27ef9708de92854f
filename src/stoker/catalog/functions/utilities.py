"""Utilities: steps that need no Spark, for trying the platform itself (queues, cancelling,
failures) without paying for a session."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

from stoker.catalog.errors import StepFailed
from stoker.catalog.spec import Arg, function

if TYPE_CHECKING:
    from stoker.catalog.context import StepContext

MAX_SLEEP_SECONDS = 24 * 3600


@function(kind="utility", ends_pipeline=True, instant=True, example=[["noop"]])
def noop(sc: StepContext, frame: Any) -> Any:
    """Do nothing; as the last step the result is {"type": "noop"}."""
    return frame


def _sleep_check(values: list[Any]) -> list[str]:
    return [f"sleep is at most {MAX_SLEEP_SECONDS} seconds"] if values[0] > MAX_SLEEP_SECONDS else []


@function(kind="utility", args=[Arg("seconds", "number", minimum=0)], check=_sleep_check,
          example=[["sleep", 0.5], ["noop"]])
def sleep(sc: StepContext, frame: Any, seconds: float) -> Any:
    """Wait this many seconds (cancellable), passing the frame through."""
    sc.wait(seconds)
    return frame


@function(kind="utility", ends_pipeline=True, instant=True, args=[Arg("message", "string")],
          example=[["fail", "boom"]])
def fail(sc: StepContext, frame: Any, message: str) -> NoReturn:
    """Fail the run on purpose with this message."""
    raise StepFailed(sc.step, "fail", message)
