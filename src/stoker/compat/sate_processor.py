"""Sate's built-in processor as a catalog function, registered through the `stoker.functions`
entry point like any plugin (see pyproject.toml)."""

from __future__ import annotations

from typing import Any

from stoker.catalog import Arg, StepFailed, function


@function(kind="action", frame="none", needs_spark=False, args=[Arg("payload", "object")],
          example=[["sate_ping", {"message": "ping"}]])
def sate_ping(sc: Any, frame: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """Sate's ping processor: answers {"message": "pong"} to {"message": "ping"}."""
    if payload.get("message") == "ping":
        return {"type": "outputs", "outputs": {"message": "pong"}}
    raise StepFailed(sc.step, "sate_ping", "the built-in processor only answers {\"message\": \"ping\"}; "
                     "send `steps` or a registered `job` in the payload for anything else")


FUNCTIONS = [sate_ping]
