"""Argument checks shared by several functions (beyond what Arg types express)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

# Options that would point a reader or writer at a second path, around the storage roots.
PATH_OPTIONS = frozenset({"path", "paths"})


def options_check(position: int) -> Any:
    """Check the options object at `position`: no path keys, and `schema` must be DDL text."""

    def check(values: list[Any]) -> Iterator[str]:
        options = values[position] or {}
        for key, value in options.items():
            if key.lower() in PATH_OPTIONS:
                yield f"option '{key}' is not allowed; give the path as the first argument"
            if key.lower() == "schema" and not isinstance(value, str):
                yield "option 'schema' must be a DDL string such as \"id INT, name STRING\""

    return check


def names_check(position: int, what: str = "column name") -> Any:
    """Every string at `position` (a string or a list of them) must be non-empty."""

    def check(values: list[Any]) -> Iterator[str]:
        value = values[position]
        for item in [value] if isinstance(value, str) else (value or []):
            if not item.strip():
                yield f"a {what} must not be empty"
                return

    return check
