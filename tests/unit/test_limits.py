"""The limits table: the module, its docs and the checks agree, and free-form JSON is checked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stoker.core import limits
from stoker.core.limits import JsonTooBig, check_json

DOC = Path(__file__).resolve().parents[2] / "docs" / "limits.md"


def test_every_limit_is_in_the_docs_and_every_documented_one_exists():
    declared = {name for name in vars(limits) if re.fullmatch(r"(MAX|MIN)_[A-Z_]+", name)}
    documented = set(re.findall(r"`((?:MAX|MIN)_[A-Z_]+)`", DOC.read_text()))
    assert declared == documented


def nested(depth: int) -> list[object]:
    value: list[object] = [1]
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("value, problem", [
    ({"n": 2**63}, "integer out of range"),
    ({"n": [-(2**63) - 1]}, "integer out of range"),
    ({"s": "x" * (limits.MAX_JSON_STRING + 1)}, "string longer"),
    ({"deep": nested(limits.MAX_JSON_DEPTH)}, "nested deeper"),
    ({"s": "bad \ud800 text"}, "lone surrogate"),
    ({"bad \udfff key": 1}, "lone surrogate"),
    ({"many": list(range(limits.MAX_JSON_ITEMS + 1))}, "more than"),
])
def test_free_form_json_past_a_limit_is_refused_naming_where(value, problem):
    with pytest.raises(JsonTooBig, match=problem) as refused:
        check_json(value, "params")
    assert str(refused.value).startswith("params")


def test_free_form_json_within_limits_passes_unchanged():
    value = {"n": 2**63 - 1, "m": -(2**63), "f": 1e308, "s": "ünïcode ✓", "l": [None, True, {"a": []}]}
    assert check_json(value) is value
