"""A product's options: `required`, `optional` and `advanced` (values are defaults) and `descriptions`.

A launch merges the defaults with the options it names. A required option whose default is null
must be given; an option the product does not declare, or a value whose type differs from the
default's, is refused naming the option. `size` stands for the product's node-count option.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, ValidationError

from stoker.core.errors import InvalidInput

MAX_NODES = 1000


class ProductOptions(BaseModel):
    required: dict[str, Any] = Field(default_factory=dict)
    optional: dict[str, Any] = Field(default_factory=dict)
    advanced: dict[str, Any] = Field(default_factory=dict)
    descriptions: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def parse(cls, body: Any) -> ProductOptions:
        if not isinstance(body, dict):
            raise InvalidInput('options must be an object: {"required": {...}, "optional": {...}, '
                               '"advanced": {...}, "descriptions": {...}}')
        unknown = sorted(set(body) - {"required", "optional", "advanced", "descriptions"})
        if unknown:
            raise InvalidInput(f"unknown options section(s) {unknown}; the sections are required, "
                               "optional, advanced and descriptions")
        try:
            options = cls.model_validate(body)
        except ValidationError as exc:
            where = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            raise InvalidInput(f"invalid options: {where}") from None
        options.check_names()
        return options

    def check_names(self) -> None:
        seen: dict[str, str] = {}
        for section in ("required", "optional", "advanced"):
            for name in getattr(self, section):
                if name in seen:
                    raise InvalidInput(f"option {name!r} is declared both in {seen[name]} and in {section}")
                seen[name] = section
        undescribed = sorted(set(self.descriptions) - set(seen))
        if undescribed:
            raise InvalidInput(f"descriptions of undeclared option(s) {undescribed}")

    def defaults(self) -> dict[str, Any]:
        return {**self.advanced, **self.optional, **self.required}

    def size_option(self) -> str | None:
        """The node-count option `size` stands for: `size` itself, else the one `….number` option."""
        names = self.defaults()
        if "size" in names:
            return "size"
        counts = [n for n in names if n.endswith(".number")]
        return counts[0] if len(counts) == 1 else None

    def complete(self) -> bool:
        """Whether options were declared and their defaults alone make a full set (then a template
        is rendered when it is put; the seed puts the template before the options)."""
        declared = bool(self.required or self.optional or self.advanced)
        return declared and all(v is not None for v in self.required.values())

    def merge(self, given: dict[str, Any]) -> dict[str, Any]:
        """The launch's options: defaults overlaid with `given`, checked name by name."""
        declared = self.defaults()
        merged = dict(declared)
        for name, value in given.items():
            target = name
            if name == "size" and "size" not in declared:
                target = self.size_option() or name
            if target not in declared:
                raise InvalidInput(f"unknown option {name!r}; this product's options are "
                                   f"{sorted(declared) or 'none'}", option=name)
            _check_type(name, declared[target], value)
            if target == self.size_option() and not (type(value) is int and 1 <= value <= MAX_NODES):
                raise InvalidInput(f"option {name!r} (the node count) must be an integer from 1 to {MAX_NODES}, "
                                   f"not {value!r}", option=name)
            merged[target] = value
        missing = [n for n, v in merged.items() if v is None and n in self.required]
        if missing:
            raise InvalidInput(f"missing required option(s) {missing}", option=missing[0])
        return merged


def _check_type(name: str, default: Any, value: Any) -> None:
    if default is None:
        return
    expected: tuple[type, ...]
    if isinstance(default, bool):
        expected = (bool,)
    elif isinstance(default, int):
        expected = (int,)
    elif isinstance(default, float):
        expected = (int, float)
    else:
        expected = (type(default),)
    ok = isinstance(value, expected) and not (isinstance(value, bool) and bool not in expected)
    if not ok:
        raise InvalidInput(f"option {name!r} must be {_kind(default)}, not {_kind(value)} ({value!r})",
                           option=name)


def _kind(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "an object", type(None): "null"}.get(type(value), type(value).__name__)
