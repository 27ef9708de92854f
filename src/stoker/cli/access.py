"""Who may do what, through the API (docs/teams.md): `stoker me`, `stoker teams …`, `stoker tokens …`
and `stoker audit`. (`stoker team …` and `stoker token create` work on a server's own database
instead, for the first admin before any token exists.)"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import click

from stoker.cli.remote import JSON, emit_json, remote, show
from stoker.cli.remote import request as _call


def _lines(lines: Iterable[str]) -> None:
    for line in lines:
        click.echo(line)


@click.command("me")
@JSON
@remote
def me(as_json: bool, url: str | None, token: str | None) -> None:
    """Who this token acts for: user, team, role, scopes, and the user's teams."""
    found = _call(url, token, "GET", "/api/v1/me")
    role = "admin" if found["admin"] else found["role"]
    show(found, as_json, lambda: click.echo(f"{found['user']} in team {found['team']} as {role} "
                                            f"(scopes: {', '.join(found['scopes'])})"))


@click.group()
def teams() -> None:
    """Teams, their quotas and members (through the API)."""


@teams.command("list")
@JSON
@remote
def list_teams(as_json: bool, url: str | None, token: str | None) -> None:
    """The teams this token's user belongs to (an admin's: every team)."""
    found = _call(url, token, "GET", "/api/v1/teams")["teams"]
    show(found, as_json, lambda: _lines(f"{t['id']:<24} {t.get('description') or ''}" for t in found))


@teams.command("show")
@click.argument("team")
@JSON
@remote
def show_team(team: str, as_json: bool, url: str | None, token: str | None) -> None:
    """A team, its quotas and members."""
    show(_call(url, token, "GET", f"/api/v1/teams/{team}"), True)


@teams.command("create")
@click.argument("name")
@click.option("--description", default="")
@JSON
@remote
def create_team(name: str, description: str, as_json: bool, url: str | None, token: str | None) -> None:
    """Make a team (admins)."""
    made = _call(url, token, "POST", "/api/v1/teams", json={"name": name, "description": description})
    show(made, as_json, lambda: click.echo(f"team {made['id']} made"))


@teams.command("quotas")
@click.argument("team")
@click.option("--max-running-runs", type=int, default=None, help="RUNNING runs at once (omit: no limit)")
@click.option("--max-cores", type=int, default=None, help="cores across its clusters and container tasks")
@click.option("--max-memory-mb", type=int, default=None, help="memory (MiB) likewise")
@JSON
@remote
def set_quotas(team: str, max_running_runs: int | None, max_cores: int | None, max_memory_mb: int | None,
               as_json: bool, url: str | None, token: str | None) -> None:
    """Set a team's quotas (admins); a limit left out is no limit."""
    body = {"max_running_runs": max_running_runs, "max_cores": max_cores, "max_memory_mb": max_memory_mb}
    show(_call(url, token, "PUT", f"/api/v1/teams/{team}/quotas", json=body), True)


@teams.command("members")
@click.argument("team")
@JSON
@remote
def list_members(team: str, as_json: bool, url: str | None, token: str | None) -> None:
    """A team's members and their roles."""
    found = _call(url, token, "GET", f"/api/v1/teams/{team}/members")["members"]
    show(found, as_json, lambda: _lines(f"{m['user']:<24} {m['role']}" for m in found))


@teams.command("set-member")
@click.argument("team")
@click.argument("user")
@click.argument("role", type=click.Choice(["viewer", "runner", "editor", "owner"]))
@JSON
@remote
def set_member(team: str, user: str, role: str, as_json: bool, url: str | None, token: str | None) -> None:
    """Add a member, or change a member's role (owners)."""
    show(_call(url, token, "PUT", f"/api/v1/teams/{team}/members/{user}", json={"role": role}), True)


@teams.command("remove-member")
@click.argument("team")
@click.argument("user")
@JSON
@remote
def remove_member(team: str, user: str, as_json: bool, url: str | None, token: str | None) -> None:
    """Remove a member (owners)."""
    _call(url, token, "DELETE", f"/api/v1/teams/{team}/members/{user}")
    show({"team": team, "user": user, "removed": True}, as_json, lambda: click.echo(f"{user} left {team}"))


@click.group()
def tokens() -> None:
    """The tokens of this token's team (owners), through the API."""


@tokens.command("list")
@JSON
@remote
def list_tokens(as_json: bool, url: str | None, token: str | None) -> None:
    """The team's tokens (never a token itself)."""
    found = _call(url, token, "GET", "/api/v1/tokens")["tokens"]
    show(found, as_json, lambda: _lines(f"{t['id']}  {t['user']:<16} {','.join(t['scopes']):<20} {t['name']}"
                                        for t in found))


@tokens.command("create")
@click.argument("name")
@click.option("--user", required=True, help="the member it acts for (a new one joins the team)")
@click.option("--scope", "scopes", multiple=True, default=("read",), show_default=True,
              help="read or submit (owners); worker, ingest, admin (admins); repeatable")
@click.option("--role", default=None, type=click.Choice(["viewer", "runner", "editor", "owner"]),
              help="the user's role when they join the team")
@JSON
@remote
def create_token(name: str, user: str, scopes: tuple[str, ...], role: str | None, as_json: bool, url: str | None,
                 token: str | None) -> None:
    """Make a token for a member of the team; it is shown once."""
    body: dict[str, Any] = {"name": name, "user": user, "scopes": list(scopes)}
    if role is not None:
        body["role"] = role
    made = _call(url, token, "POST", "/api/v1/tokens", json=body)
    show(made, as_json, lambda: click.echo(made["token"]))


@tokens.command("revoke")
@click.argument("token_id")
@JSON
@remote
def revoke_token(token_id: str, as_json: bool, url: str | None, token: str | None) -> None:
    """Revoke a token of the team."""
    _call(url, token, "DELETE", f"/api/v1/tokens/{token_id}")
    show({"id": token_id, "revoked": True}, as_json, lambda: click.echo(f"token {token_id} revoked"))


@click.command("audit")
@click.option("--actor", default=None, help="only this user's acts")
@click.option("--action", default=None, help="only this action")
@click.option("--team", default=None, help="admins: only this team's")
@click.option("--limit", default=50, show_default=True)
@JSON
@remote
def audit(actor: str | None, action: str | None, team: str | None, limit: int, as_json: bool, url: str | None,
          token: str | None) -> None:
    """The audit log: who did what, when, from where (owners: their team's; admins: all)."""
    params = {k: v for k, v in {"actor": actor, "action": action, "team": team, "limit": limit}.items()
              if v is not None}
    found = _call(url, token, "GET", "/api/v1/audit", params=params)
    if as_json:
        emit_json(found)
        return
    for entry in found["entries"]:
        click.echo(f"{entry['seq']:>8}  {entry['at']}  {entry['actor']:<16} {entry['action']:<40} "
                   f"{entry.get('status') or ''}")
