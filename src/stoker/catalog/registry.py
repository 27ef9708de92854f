"""The Catalog: the functions a Stoker instance offers, and the one door to validate, describe
and execute pipelines. Built from the builtins plus installed plugins (entry-point group
"stoker.functions"); it owns its schema cache, so two catalogs never share state."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from importlib import metadata
from importlib.metadata import EntryPoint
from types import MappingProxyType
from typing import Any

from stoker.catalog.context import PlanRun, RunContext
from stoker.catalog.execute import input_sizes, run_plan
from stoker.catalog.functions import builtin_functions
from stoker.catalog.paths import StorageRoots, is_remote
from stoker.catalog.s3paths import S3Path, parse_s3_url
from stoker.catalog.schema_cache import SchemaCache
from stoker.catalog.spec import FunctionSpec
from stoker.catalog.tuning import MAX_PARTITIONS, PARTITION_BYTES, SMALL_INPUT_BYTES, Tuning, plan_tuning
from stoker.catalog.validate import BoundStep, check_pipeline
from stoker.core.routing import Route, route

ENTRY_POINT_GROUP = "stoker.functions"
_LOG = logging.getLogger("stoker.catalog")


class Catalog:
    def __init__(self, functions: Iterable[FunctionSpec], *, schema_cache_size: int = 256,
                 small_input_bytes: int = SMALL_INPUT_BYTES, partition_bytes: int = PARTITION_BYTES,
                 load_errors: Iterable[str] = ()) -> None:
        table: dict[str, FunctionSpec] = {}
        for spec in functions:
            if spec.name in table:
                raise ValueError(f"function {spec.name!r} is defined twice")
            table[spec.name] = spec
        self._functions = table
        self.schema_cache = SchemaCache(schema_cache_size)
        self.small_input_bytes = small_input_bytes
        self.partition_bytes = partition_bytes
        self.load_errors: tuple[str, ...] = tuple(load_errors)

    @property
    def functions(self) -> Mapping[str, FunctionSpec]:
        return MappingProxyType(self._functions)

    def get(self, name: str) -> FunctionSpec | None:
        return self._functions.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._functions

    def describe(self) -> list[dict[str, Any]]:
        """Every function, for GET /api/v1/functions."""
        return [spec.describe() for spec in self._functions.values()]

    def validate(self, steps: Any, roots: StorageRoots) -> list[BoundStep]:
        """Raise PipelineInvalid (422) or PathRefused (400); return the checked plan when steps are valid."""
        return check_pipeline(self._functions, steps, roots)

    def s3_paths(self, steps: Any, roots: StorageRoots) -> list[S3Path]:
        """Every S3 URL the (valid) pipeline reads or writes, in step order."""
        found: list[S3Path] = []
        for step in check_pipeline(self._functions, steps, roots):
            names = [step.spec.arg_for(pos).name for pos in range(len(step.values))]
            bound = dict(zip(names, step.values, strict=True))
            for pos, value in enumerate(step.values):
                arg = step.spec.arg_for(pos)
                if not (arg.path and isinstance(value, str) and is_remote(value)):
                    continue
                url = parse_s3_url(value)
                assert url is not None  # is_remote() said so
                writes = arg.path == "output"
                mode = str(bound.get("mode", "errorifexists")) if writes else None
                found.append(S3Path(step.index, pos, writes, url, steps[step.index][pos + 1], mode))
        return found

    def needs_spark(self, steps: Any) -> bool:
        """Does running these steps need a SparkSession? Unknown or malformed steps say yes, so
        a caller never skips Spark for a pipeline it has not validated."""
        if not isinstance(steps, list) or not steps:
            return True
        for step in steps:
            name = step[0] if isinstance(step, list) and step else None
            spec = self._functions.get(name) if isinstance(name, str) else None
            if spec is None or spec.needs_spark:
                return True
        return False

    def is_instant(self, steps: Any) -> bool:
        """Are these steps all instant functions (noop, fail: no Spark, no waiting)? Such runs are
        executed in batches inside the worker's claim loop. Unknown or malformed steps say no."""
        if not isinstance(steps, list) or not steps:
            return False
        for step in steps:
            name = step[0] if isinstance(step, list) and step else None
            spec = self._functions.get(name) if isinstance(name, str) else None
            if spec is None or not spec.instant:
                return False
        return True

    def route(self, steps: Any, *, kind: str = "pipeline", mode: str = "session") -> Route:
        """(lane, executor) of a run of these steps (or of a job of this kind and mode): routing.py."""
        return route(steps, kind=kind, mode=mode, instant=self.is_instant, needs_spark=self.needs_spark)

    def tuning(self, steps: Any, roots: StorageRoots) -> Tuning:
        """The session settings a run of these (valid) steps gets from its inputs' sizes."""
        return self._tuning(check_pipeline(self._functions, steps, roots), roots)

    def _tuning(self, plan: list[BoundStep], roots: StorageRoots) -> Tuning:
        if not any(step.spec.needs_spark for step in plan):
            return Tuning(0, True, None)
        # Count each input's bytes as far as they can change the shuffle's partitions.
        limit = max(self.small_input_bytes, self.partition_bytes * MAX_PARTITIONS)
        return plan_tuning(input_sizes(plan, roots, limit=limit), small_input_bytes=self.small_input_bytes,
                           partition_bytes=self.partition_bytes, max_partitions=MAX_PARTITIONS)

    def execute(self, steps: Any, ctx: RunContext) -> dict[str, Any]:
        """Run a pipeline; returns its JSON-serialisable result. Validates again first, since
        the roots (or the catalog) may differ from those at submit time."""
        plan = check_pipeline(self._functions, steps, ctx.roots)
        tuning = self._tuning(plan, ctx.roots)
        ctx.logger.debug("pipeline of %d steps; inputs %s bytes; tuning %s", len(plan),
                         tuning.input_bytes, tuning)
        return run_plan(plan, PlanRun(ctx, self.schema_cache, tuning))


def load_catalog(entry_points: Iterable[EntryPoint] | None = None, *, strict: bool = False,
                 group: str = ENTRY_POINT_GROUP, **catalog_options: Any) -> Catalog:
    """The builtins plus every function that installed packages declare in the entry-point
    group "stoker.functions" (each entry point loads a FunctionSpec or a list of them).

    Pass `entry_points` to choose the entry points (tests do). A plugin that fails to load, or
    names a function that already exists, is skipped and logged, and its problem is kept in
    `catalog.load_errors`; with strict=True it raises instead. Builtins are never replaced: a
    plugin cannot change what `filter` means.
    """
    if entry_points is None:
        entry_points = metadata.entry_points(group=group)
    specs: list[FunctionSpec] = list(builtin_functions())
    origin: dict[str, str] = {spec.name: "builtin" for spec in specs}
    errors: list[str] = []
    for ep in entry_points:
        label = f"entry point {ep.name!r} ({ep.value})"
        try:
            loaded = ep.load()
        except Exception as exc:  # a broken plugin must not take the server down with it
            errors.append(f"{label}: cannot load: {type(exc).__name__}: {exc}")
            continue
        items = list(loaded) if isinstance(loaded, (list, tuple)) else [loaded]
        for item in items:
            if not isinstance(item, FunctionSpec):
                errors.append(f"{label}: expected a FunctionSpec or a list of them, "
                              f"got {type(item).__name__}")
                continue
            if item.name in origin:
                errors.append(f"{label}: function {item.name!r} is already defined by {origin[item.name]}")
                continue
            origin[item.name] = label
            specs.append(item)
    if errors and strict:
        raise RuntimeError("; ".join(errors))
    for error in errors:
        _LOG.error("stoker.functions plugin skipped: %s", error)
    return Catalog(specs, load_errors=errors, **catalog_options)
