"""What every client-side command shares: the --url/--token/--json options, one client per command,
and the client's errors as one-line messages (the server's own words) with exit status 1."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from stoker.client import StokerClient

F = TypeVar("F", bound=Callable[..., Any])

URL = click.option("--url", envvar="STOKER_URL", default=None,
                   help="Stoker's address (or STOKER_URL, or `stoker login`'s; default http://127.0.0.1:8000)")
TOKEN = click.option("--token", envvar="STOKER_TOKEN", default=None,
                     help="API token (or STOKER_TOKEN, or `stoker login`'s)")
JSON = click.option("--json", "as_json", is_flag=True, help="print the API's answer as JSON (for scripts)")


def remote(command: F) -> F:
    """--url and --token on a command that talks to the API."""
    return URL(TOKEN(command))


def request(url: str | None, token: str | None, method: str, path: str, **kwargs: Any) -> Any:
    """One API call of a command (the client's `request`), its error a one-line message."""
    with connect(url, token) as client:
        return client.request(method, path, **kwargs)


@contextmanager
def connect(url: str | None, token: str | None, *, timeout: float = 30.0) -> Iterator[StokerClient]:
    """A client for one command; an error of the API (or of the connection) ends the command with
    the server's message."""
    from stoker.client import StokerClient

    with api_errors(), StokerClient(url, token, timeout=timeout) as client:
        yield client


@contextmanager
def api_errors() -> Iterator[None]:
    from pydantic import ValidationError

    from stoker.client import ApiError, Unreachable

    try:
        yield
    except ApiError as exc:
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        raise click.ClickException(f"{exc.status}: {detail}") from exc
    except Unreachable as exc:
        raise click.ClickException(str(exc)) from exc
    except ValidationError as exc:  # refused before sending, by the API's own request model
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise click.UsageError(problems) from exc


def emit_json(value: Any) -> None:
    """One JSON document on stdout (pydantic models as the JSON the server sent)."""
    from pydantic import BaseModel

    def plain(v: Any) -> Any:
        if isinstance(v, BaseModel):
            return v.model_dump(mode="json")
        if isinstance(v, list | tuple):
            return [plain(x) for x in v]
        return v

    click.echo(json.dumps(plain(value), indent=2, default=str))


def show(value: Any, as_json: bool, human: Callable[[], None] | None = None) -> None:
    """--json: the JSON; otherwise the command's own lines (`human`), or the JSON when it has none."""
    if as_json or human is None:
        emit_json(value)
    else:
        human()


def parse_pairs(raw: tuple[str, ...], hint: str) -> dict[str, Any]:
    """NAME=VALUE pairs; VALUE as JSON when it parses (`n=3` is a number), else the string."""
    pairs: dict[str, Any] = {}
    for item in raw:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint=hint)
        try:
            pairs[name] = json.loads(value)
        except json.JSONDecodeError:
            pairs[name] = value
    return pairs


def json_argument(raw: str | None, hint: str) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint=hint) from exc
