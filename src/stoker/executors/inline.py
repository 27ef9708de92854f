"""Pipelines that need no Spark (noop, sleep, fail) run in the worker's own thread."""

from __future__ import annotations

from typing import Any

from stoker.core.routing import INLINE
from stoker.executors.base import Execution


class InlineExecutor:
    name = INLINE

    def __init__(self, catalog: Any, roots: Any) -> None:
        self.catalog = catalog
        self.roots = roots

    def execute(self, execution: Execution) -> Any:
        from stoker.catalog import RunContext

        def no_spark() -> Any:
            raise RuntimeError("this pipeline was routed to the inline executor but needs Spark")

        ctx = RunContext(spark=no_spark, roots=self.roots.for_team(execution.claimed.team), log=execution.log,
                         cancelled=execution.control.cancelled)
        return self.catalog.execute(execution.claimed.steps or [], ctx)
