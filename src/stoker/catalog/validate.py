"""Checking a pipeline against the catalog, without Spark, so bad pipelines are refused at
submit time. Every problem is collected (not just the first) and names its step."""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stoker.catalog import sqlguard
from stoker.catalog.errors import PathRefused, PipelineInvalid
from stoker.catalog.paths import StorageRoots
from stoker.catalog.readers import looks_like_table
from stoker.catalog.spec import Arg, FunctionSpec

MAX_STEPS = 1000


def endings(functions: Mapping[str, FunctionSpec]) -> str:
    """The functions a pipeline may end with, as the catalog says (plugins' included)."""
    names = sorted(name for name, spec in functions.items() if spec.ends_pipeline)
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else "".join(names)


@dataclass(frozen=True)
class BoundStep:
    """A checked step: its spec, and its arguments with every path resolved."""

    index: int
    spec: FunctionSpec
    values: tuple[Any, ...]

    def bound(self) -> list[Any]:
        return self.spec.bind(self.values)


def check_pipeline(functions: Mapping[str, FunctionSpec], steps: Any,
                   roots: StorageRoots) -> list[BoundStep]:
    """The checked plan, or PathRefused (the first path outside the roots; it wins over other
    problems, as a security refusal should never hide behind a typo) or PipelineInvalid."""
    problems: list[dict[str, Any]] = []
    refused: PathRefused | None = None

    def problem(step: int, function: str | None, message: str) -> None:
        problems.append({"step": step, "function": function, "message": message})

    if not isinstance(steps, list) or not steps:
        problem(0, None, 'steps must be a non-empty list of steps, each a list like ["filter", "age > 30"]')
        raise PipelineInvalid(problems)
    if len(steps) > MAX_STEPS:
        problem(MAX_STEPS, None, f"a pipeline has at most {MAX_STEPS} steps, this one has {len(steps)}")
        raise PipelineInvalid(problems)

    sources = ", ".join(sorted(n for n, s in functions.items() if s.kind == "source"))
    plan: list[BoundStep] = []
    has_frame: bool | None = False  # None: unknown, after a step that could not be checked
    frame_before_last: bool | None = False
    last = len(steps) - 1
    for i, step in enumerate(steps):
        if i == last:
            frame_before_last = has_frame
        if not isinstance(step, list) or not step:
            problem(i, None, 'a step must be a non-empty list like ["filter", "age > 30"], got '
                    + _short_json(step))
            has_frame = None
            continue
        name = step[0]
        if not isinstance(name, str):
            problem(i, None, f"a step starts with a function name (a string), got {_short_json(name)}")
            has_frame = None
            continue
        spec = functions.get(name)
        if spec is None:
            close = difflib.get_close_matches(name, list(functions), n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problem(i, name, f"unknown function '{name}'{hint}")
            has_frame = None
            continue

        args = list(step[1:])
        arg_messages = _arg_problems(spec, args)
        for message in arg_messages:
            problem(i, name, message)
        if not arg_messages:
            try:
                args = _resolve_paths(spec, args, roots)
            except PathRefused as exc:
                refused = refused or exc.at_step(i)

        # Where the step stands in the pipeline.
        if spec.frame == "required" and i == 0:
            problem(i, name, f"the first step must be a source ({sources}) or a utility; "
                             f"'{name}' needs a frame to work on")
        elif spec.frame == "required" and has_frame is False:
            problem(i, name, f"'{name}' needs a frame, but no step before it makes one; "
                             "start the pipeline with a source such as read_csv")
        elif spec.frame == "none" and has_frame is True:
            problem(i, name, f"'{name}' starts a new frame and would discard the one built by "
                             f"steps 0-{i - 1}")
        if spec.kind in ("action", "write") and i != last:
            problem(i, name, f"'{name}' ends a pipeline, so it can only be the last step")

        # An action or write that is not last was reported above; the steps after it are then
        # checked as if it passed the frame on, so one mistake is not reported three times.
        if spec.kind in ("source", "transform"):
            has_frame = True
        plan.append(BoundStep(i, spec, tuple(args)))

    last_spec = plan[-1].spec if plan and plan[-1].index == last else None
    if last_spec is not None and not last_spec.ends_pipeline:
        harmless = last_spec.kind == "utility" and frame_before_last is not True
        if not harmless:
            problem(last, last_spec.name, f"the last step must be an action or a write ({endings(functions)}); "
                                          f"got '{last_spec.name}'")

    if refused is not None:
        raise refused
    if problems:
        raise PipelineInvalid(problems)
    return plan


def _arg_problems(spec: FunctionSpec, args: list[Any]) -> list[str]:
    if not spec.min_args <= len(args) <= spec.max_args:
        return [f"{spec.signature()} takes {_arity(spec)}, got {len(args)}"]
    messages: list[str] = []
    for pos, value in enumerate(args):
        arg = spec.arg_for(pos)
        message = arg.type_problem(value)
        if message is None and arg.sql:
            message = _sql_problem(arg, value)
        if message:
            messages.append(message)
    if not messages and spec.check is not None:
        messages.extend(spec.check(spec.bind(args)))
    return messages


def _sql_problem(arg: Arg, value: Any) -> str | None:
    check = sqlguard.query_problem if arg.sql == "query" else sqlguard.expression_problem
    texts = value.values() if isinstance(value, dict) else [value] if isinstance(value, str) else value
    for text in texts:
        message = check(text)
        if message:
            return f"argument '{arg.name}': {message}"
    return None


def _resolve_paths(spec: FunctionSpec, args: list[Any], roots: StorageRoots) -> list[Any]:
    resolved = list(args)
    for pos, value in enumerate(args):
        arg = spec.arg_for(pos)
        if arg.path == "path":
            resolved[pos] = roots.resolve(value)
        elif arg.path == "output":
            resolved[pos] = roots.resolve_output(value)
        elif arg.path == "path_or_table" and not looks_like_table(value):
            resolved[pos] = roots.resolve(value)
    return resolved


def _arity(spec: FunctionSpec) -> str:
    low, high = spec.min_args, spec.max_args
    noun = "argument" if (high if high != math.inf else low) == 1 else "arguments"
    if high == math.inf:
        return f"at least {low} {noun}"
    if low == high:
        return "no arguments" if low == 0 else f"{low} {noun}"
    return f"{low} to {int(high)} arguments"


def _short_json(value: Any) -> str:
    import json

    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
