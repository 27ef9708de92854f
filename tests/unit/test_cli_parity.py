"""The CLI covers the native API: every operation of the OpenAPI document has a command
(src/stoker/cli/operations.py), every command named there exists, and each takes --json."""

from __future__ import annotations

import click
import pytest

from conftest import make_services
from stoker.cli import main
from stoker.cli.operations import COMMAND_OF, NO_JSON, PENDING, is_native


@pytest.fixture(scope="module")
def operations(tmp_path_factory):
    from stoker.app import create_app

    services = make_services(tmp_path_factory.mktemp("parity") / "data")
    try:
        doc = create_app(services).openapi()
    finally:
        services.close()
    return {op["operationId"]: f"{method.upper()} {path}" for path, ops in doc["paths"].items()
            for method, op in ops.items() if is_native(path)}


def command(path: str) -> click.Command | None:
    found: click.Command | None = main
    for name in path.split():
        if not isinstance(found, click.Group):
            return None
        found = found.commands.get(name)
    return found


def test_every_operation_has_a_command(operations):
    missing = {op: route for op, route in operations.items() if op not in COMMAND_OF and op not in PENDING}
    assert not missing, f"operations without a CLI command (add one, and its line to cli/operations.py): {missing}"


def test_every_mapped_operation_exists(operations):
    stale = sorted(set(COMMAND_OF) - set(operations))
    assert not stale, f"cli/operations.py names operations the API no longer has: {stale}"


def test_every_mapped_command_exists_and_takes_json():
    absent = sorted({c for c in COMMAND_OF.values() if command(c) is None})
    assert not absent, f"cli/operations.py names commands the CLI lacks: {absent}"
    without = sorted({c for c in COMMAND_OF.values() if c not in NO_JSON
                      and "as_json" not in {p.name for p in command(c).params}})  # type: ignore[union-attr]
    assert not without, f"commands without --json: {without}"


def test_every_client_side_command_takes_json():
    """Beyond the mapping: any command with --url (it talks to the API) has --json."""
    def walk(group: click.Group, prefix: str):  # type: ignore[no-untyped-def]
        for name, cmd in group.commands.items():
            if isinstance(cmd, click.Group):
                yield from walk(cmd, f"{prefix}{name} ")
            else:
                yield f"{prefix}{name}", cmd
    lacking = [name for name, cmd in walk(main, "") if name not in NO_JSON and name != "login"
               and {"url", "token"} <= {p.name for p in cmd.params} and "as_json" not in {p.name for p in cmd.params}]
    assert not lacking, f"client-side commands without --json: {lacking}"


def test_the_pending_list_only_shrinks(operations):
    stale = sorted(op for op in PENDING if op in COMMAND_OF or op not in operations)
    assert not stale, f"remove these from PENDING in cli/operations.py (mapped, or gone): {stale}"
