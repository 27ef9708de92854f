"""Sate's built-in processor (seed-apis.md §5), as its original did: every execution succeeds with
outputs {"message": "pong"}, whatever the payload (its force_error, when truthy, makes the Sate
adapter run `fail` instead). A payload that names Stoker `steps` or a `job` runs those instead."""

from __future__ import annotations

from typing import Any

from stoker.catalog.spec import function

PONG = {"message": "pong"}


@function(kind="action", frame="none", needs_spark=False, example=[["sate_ping"]])
def sate_ping(sc: Any, frame: Any) -> dict[str, Any]:
    """Sate's ping processor: outputs {"message": "pong"}."""
    return {"type": "outputs", "outputs": dict(PONG)}
