"""How a function declares itself: its name, kind, typed arguments, doc and example.

A FunctionSpec is plain data plus the callable that runs it, so the same object serves
validation at submit time (no Spark), `GET /api/v1/functions`, and execution on a worker.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["source", "transform", "action", "write", "utility"]
FrameUse = Literal["none", "required", "optional"]
ArgType = Literal["string", "integer", "number", "boolean", "string[]", "object", "string|string[]"]
PathUse = Literal["", "path", "output", "path_or_table"]
SqlUse = Literal["", "expression", "query"]
ObjectValues = Literal["", "scalar", "string"]

KINDS: tuple[str, ...] = ("source", "transform", "action", "write", "utility")
ARG_TYPES: tuple[str, ...] = ("string", "integer", "number", "boolean", "string[]", "object",
                              "string|string[]")

# An implementation is called as impl(step_context, frame, *bound_args) and returns the next
# frame (sources, transforms, pass-through utilities) or a result dict (actions, writes).
Impl = Callable[..., Any]
Check = Callable[[list[Any]], Iterable[str]]


@dataclass(frozen=True)
class Arg:
    """One positional argument. Validation uses every field, so a function's body can trust its
    arguments: types, allowed words, minimums, paths inside the storage roots, guarded SQL."""

    name: str
    type: ArgType
    required: bool = True
    variadic: bool = False  # the last argument may repeat; required=True means "at least one"
    default: Any = None  # what the implementation receives when an optional argument is absent
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    # "path": read through the storage roots; "output": written there (never a root itself, no
    # globs); "path_or_table": a path, or a bare table name when it looks like one.
    path: PathUse = ""
    sql: SqlUse = ""  # SQL text that the sql guard checks (in strings, string lists, object values)
    values: ObjectValues = ""  # for objects: what their values must be

    def __post_init__(self) -> None:
        if self.type not in ARG_TYPES:
            raise ValueError(f"argument {self.name!r}: unknown type {self.type!r}")

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "required": self.required,
                "variadic": self.variadic}

    def type_problem(self, value: Any) -> str | None:
        """Why `value` does not fit this argument, or None if it does."""
        if not _is_type(self.type, value):
            return f"argument '{self.name}' must be {_article(self.type)}, got {_json_type(value)}"
        if self.choices is not None and value not in self.choices:
            return f"argument '{self.name}' must be one of {', '.join(self.choices)}; got {value!r}"
        if self.minimum is not None and value < self.minimum:
            return f"argument '{self.name}' must be at least {_num(self.minimum)}, got {value!r}"
        if self.type == "object" and self.values:
            for key, item in value.items():
                if self.values == "string" and not isinstance(item, str):
                    return (f"argument '{self.name}': value of {key!r} must be a string, "
                            f"got {_json_type(item)}")
                if self.values == "scalar" and not _is_scalar(item):
                    return (f"argument '{self.name}': value of {key!r} must be a string, number or "
                            f"boolean, got {_json_type(item)}")
        return None


@dataclass(frozen=True, eq=False)  # compared by identity: examples hold dicts, so no field hash
class FunctionSpec:
    """A server-side function that a pipeline step can name."""

    name: str
    kind: Kind
    run: Impl
    args: tuple[Arg, ...] = ()
    doc: str = ""
    example: Sequence[Sequence[Any]] = ()
    needs_spark: bool | None = None  # default: every kind but "utility"
    # Done at once, without Spark or waiting (noop, fail): runs of only these take the instant lane.
    instant: bool = False
    frame: FrameUse | None = None  # default: sources none, utilities optional, the rest required
    ends_pipeline: bool | None = None  # may it be the last step? default: actions and writes
    # Extra checks beyond the declared types; gets the bound values (see bind()) and yields
    # messages. Runs only when every argument has the declared type.
    check: Check | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"function {self.name!r}: unknown kind {self.kind!r}")
        if not self.name.isidentifier():
            raise ValueError(f"function name {self.name!r} must be an identifier")
        seen_optional = False
        for i, arg in enumerate(self.args):
            if arg.variadic and i != len(self.args) - 1:
                raise ValueError(f"function {self.name!r}: only the last argument may be variadic")
            if arg.required and seen_optional:
                raise ValueError(f"function {self.name!r}: required argument {arg.name!r} "
                                 "follows an optional one")
            seen_optional = seen_optional or not arg.required
        # Fill the defaults that follow from the kind (frozen: set through object.__setattr__).
        if self.needs_spark is None:
            object.__setattr__(self, "needs_spark", self.kind != "utility")
        if self.instant and self.needs_spark:
            raise ValueError(f"function {self.name!r}: an instant function cannot need Spark")
        if self.frame is None:
            default_frame = {"source": "none", "utility": "optional"}.get(self.kind, "required")
            object.__setattr__(self, "frame", default_frame)
        if self.ends_pipeline is None:
            object.__setattr__(self, "ends_pipeline", self.kind in ("action", "write"))

    @property
    def min_args(self) -> int:
        return sum(1 for a in self.args if a.required)

    @property
    def max_args(self) -> float:
        if self.args and self.args[-1].variadic:
            return math.inf
        return len(self.args)

    def arg_for(self, position: int) -> Arg:
        """The declared argument at a position (positions past a variadic repeat it)."""
        return self.args[min(position, len(self.args) - 1)]

    def bind(self, values: Sequence[Any]) -> list[Any]:
        """Positional values as the implementation receives them: defaults for absent optional
        arguments, and the repeats of a variadic argument gathered into one list."""
        bound: list[Any] = []
        for i, arg in enumerate(self.args):
            if arg.variadic:
                bound.append(list(values[i:]))
            else:
                bound.append(values[i] if i < len(values) else arg.default)
        return bound

    def signature(self) -> str:
        parts: list[str] = []
        optional_depth = 0
        for i, arg in enumerate(self.args):
            text = f"{arg.name}: {arg.type}" + (", ..." if arg.variadic else "")
            sep = ", " if i else ""
            if arg.required:
                parts.append(sep + text)
            else:
                parts.append(f"[{sep}{text}")
                optional_depth += 1
        return f"{self.name}({''.join(parts)}{']' * optional_depth})"

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "signature": self.signature(),
            "kind": self.kind,
            "needs_spark": bool(self.needs_spark),
            "doc": self.doc,
            "example": copy.deepcopy([list(step) for step in self.example]),
            "args": [a.describe() for a in self.args],
        }


def function(name: str | None = None, *, kind: Kind, args: Sequence[Arg] = (),
             doc: str | None = None, example: Sequence[Sequence[Any]] = (),
             needs_spark: bool | None = None, instant: bool = False, frame: FrameUse | None = None,
             ends_pipeline: bool | None = None,
             check: Check | None = None) -> Callable[[Impl], FunctionSpec]:
    """Decorator turning an implementation into a FunctionSpec.

    The name defaults to the Python name without a trailing underscore (so `filter_` is
    `filter`), and the doc to the first line of the docstring. Plugins use it the same way:

        @function(kind="transform", args=[Arg("factor", "number")], example=[...])
        def scale(sc, frame, factor): ...
    """

    def wrap(impl: Impl) -> FunctionSpec:
        fn_name = name or impl.__name__.rstrip("_")
        fn_doc = doc if doc is not None else (impl.__doc__ or "").strip().split("\n")[0]
        return FunctionSpec(name=fn_name, kind=kind, run=impl, args=tuple(args), doc=fn_doc,
                            example=tuple(tuple(s) for s in example), needs_spark=needs_spark,
                            instant=instant, frame=frame, ends_pipeline=ends_pipeline, check=check)

    return wrap


def _is_type(type_: str, value: Any) -> bool:
    # bool is an int in Python but never an integer or number in JSON.
    if type_ == "string":
        return isinstance(value, str)
    if type_ == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if type_ == "number":
        return (isinstance(value, (int, float)) and not isinstance(value, bool)
                and math.isfinite(value))
    if type_ == "boolean":
        return isinstance(value, bool)
    if type_ == "string[]":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if type_ == "object":
        return isinstance(value, dict) and all(isinstance(k, str) for k in value)
    if type_ == "string|string[]":
        return _is_type("string", value) or (_is_type("string[]", value) and bool(value))
    return False


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, bool)) or _is_type("number", value)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _article(type_: str) -> str:
    return {
        "string": "a string", "integer": "an integer", "number": "a number",
        "boolean": "a boolean", "string[]": "an array of strings", "object": "an object",
        "string|string[]": "a string or a non-empty array of strings",
    }[type_]


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
