"""`stoker team …`: teams and their members, on the server's own data dir and database (like
`stoker token`): what an admin does before anyone has a token of the team (docs/teams.md)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from stoker.cli import DATA_DIR, _settings
from stoker.core.teams import ROLES

if TYPE_CHECKING:
    from stoker.store.teams import TeamStore

T = TypeVar("T")


def _teams(data_dir: Path | None) -> TeamStore:
    from stoker.app.wiring import build_services

    return build_services(_settings(data_dir)).teams


def _run(action: Callable[[], T]) -> T:
    from stoker.core.errors import StokerError

    try:
        return action()
    except StokerError as exc:
        raise click.UsageError(exc.message) from None


@click.group()
def team() -> None:
    """Teams and their members (works on the database directly)."""


@team.command("create")
@click.argument("name")
@click.option("--description", default="")
@DATA_DIR
def team_create(name: str, description: str, data_dir: Path | None) -> None:
    """Make a team. NAME is short and URL-safe."""
    made = _run(lambda: _teams(data_dir).create(name, description))
    click.echo(f"team {made.id} made")


@team.command("list")
@DATA_DIR
def team_list(data_dir: Path | None) -> None:
    """Every team with its members."""
    store = _teams(data_dir)
    for t in store.all():
        members = ", ".join(f"{m.user} ({m.role})" for m in store.members(t.id)) or "no members"
        click.echo(f"{t.id:<20} {members}")


@team.command("member")
@click.argument("name")
@click.argument("user")
@click.argument("role", type=click.Choice([*ROLES, "none"]))
@DATA_DIR
def team_member(name: str, user: str, role: str, data_dir: Path | None) -> None:
    """Give USER the ROLE in team NAME (`none` removes the member)."""
    store = _teams(data_dir)
    if role == "none":
        if not _run(lambda: store.remove_member(name, user)):
            raise click.ClickException(f"{user} is not a member of {name}")
        click.echo(f"{user} left {name}")
        return
    _run(lambda: store.set_member(name, user, role))
    click.echo(f"{user} is {role} in {name}")
