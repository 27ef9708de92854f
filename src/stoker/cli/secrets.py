"""`stoker secrets …`: named secrets through the API (list, show, set, delete), and the master key
ring on the server's own data dir and database (generate-key, key-status, rotate-master-key)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from stoker.cli import API_TOKEN, API_URL, DATA_DIR, _settings
from stoker.cli.remote import JSON, connect, show


@click.group()
def secrets() -> None:
    """Named secrets that jobs and runs reference (docs/secrets.md)."""


@secrets.command("list")
@JSON
@API_URL
@API_TOKEN
def list_secrets(as_json: bool, url: str | None, token: str | None) -> None:
    """Names, kinds, keys, who changed them and when, the jobs that use them (never values)."""
    with connect(url, token) as client:
        found = client.secrets.list()

    def human() -> None:
        if not found:
            click.echo("no secrets")
        for s in found:
            used = ", ".join(s["used_by"]) or "-"
            click.echo(f"{s['name']:<24} {s['kind']:<8} v{s['version']:<3} keys: {', '.join(s['keys'])}  "
                       f"updated {s['updated_at']} by {s['updated_by']}  used by: {used}")
    show(found, as_json, human)


@secrets.command("show")
@click.argument("name")
@JSON
@API_URL
@API_TOKEN
def show_secret(name: str, as_json: bool, url: str | None, token: str | None) -> None:
    """One secret, without its values."""
    with connect(url, token) as client:
        show(client.secrets.get(name), True)


@secrets.command("set")
@click.argument("name")
@click.option("--kind", type=click.Choice(["s3", "env", "generic"]), default=None,
              help="when the secret is new (default generic)")
@click.option("--value", "values", multiple=True, metavar="KEY=VALUE",
              help="a key and its value (avoid: shells keep history); KEY=@FILE reads a file, KEY=- stdin")
@click.option("--from-json", "from_json", type=click.File(), default=None,
              help="a JSON object of keys and values (- for stdin)")
@click.option("--description", default=None)
@JSON
@API_URL
@API_TOKEN
def set_secret(name: str, kind: str | None, values: tuple[str, ...], from_json: Any, description: str | None,
               as_json: bool, url: str | None, token: str | None) -> None:
    """Create a secret, or replace its values (rotate it): the next attempt of every run that names
    it uses the new values. Values never come back."""
    from stoker.client import NotFound

    given: dict[str, str] = {}
    if from_json is not None:
        loaded = json.load(from_json)
        if not isinstance(loaded, dict):
            raise click.BadParameter("the JSON must be an object of keys and string values", param_hint="--from-json")
        given.update(loaded)
    for raw in values:
        key, sep, value = raw.partition("=")
        if not sep:
            raise click.BadParameter(f"{raw.split('=')[0]!r} is not KEY=VALUE", param_hint="--value")
        if value == "-":
            value = sys.stdin.read().rstrip("\n")
        elif value.startswith("@"):
            value = Path(value[1:]).read_text().rstrip("\n")
        given[key] = value
    with connect(url, token) as client:
        try:
            client.secrets.get(name)
            exists = True
        except NotFound:
            exists = False
        if exists:
            if kind is not None:
                raise click.UsageError(f"secret {name!r} exists; its kind cannot change (delete it first)")
            done = client.secrets.update(name, values=given or None, description=description)
            show(done, as_json, lambda: click.echo(
                f"secret {name} changed: version {done['version']}, keys {', '.join(done['keys'])}"))
            return
        if not given:
            raise click.UsageError("give its values: --value KEY=VALUE (or KEY=@FILE, KEY=-) or --from-json")
        done = client.secrets.create(name, kind or "generic", given, description=description or "")
    show(done, as_json, lambda: click.echo(f"secret {name} created ({done['kind']}), keys {', '.join(done['keys'])}"))


@secrets.command("delete")
@click.argument("name")
@JSON
@API_URL
@API_TOKEN
def delete_secret(name: str, as_json: bool, url: str | None, token: str | None) -> None:
    """Delete a secret no job names."""
    with connect(url, token) as client:
        client.secrets.delete(name)
    show({"deleted": name}, as_json, lambda: click.echo(f"secret {name} deleted"))


@secrets.command("generate-key")
def generate_key() -> None:
    """Print a new master key (for STOKER_SECRET_KEY or a line of secret.key)."""
    from stoker.core.secrets import generate_key, key_id

    key = generate_key()
    click.echo(key)
    click.echo(f"(key id {key_id(key.encode())})", err=True)


@secrets.command("key-status")
@DATA_DIR
def key_status(data_dir: Path | None) -> None:
    """The master key ring here, the key new secrets are wrapped with, and how many secrets each key
    wraps: a key that wraps none any more may leave every ring."""
    services = _services(data_dir)
    store = services.secret_store
    usage = store.key_usage()
    wrapping = store.current_wrapping_key()
    for kid in dict.fromkeys([*services.secrets.key_ids, *usage]):
        here = "in this ring" if services.secrets.has(kid) else "MISSING from this ring"
        mark = " (wraps new secrets)" if kid == wrapping else ""
        click.echo(f"{kid}  {here}{mark}  wraps {usage.get(kid, 0)} secret(s)")


@secrets.command("rotate-master-key")
@click.option("--to", "to_kid", default=None, help="wrap with this key id of the ring (default: a new key in "
              "the key file, or the first key of STOKER_SECRET_KEY)")
@DATA_DIR
def rotate_master_key(to_kid: str | None, data_dir: Path | None) -> None:
    """Re-wrap every secret's data key with a new master key, without downtime.

    With the key file (the default), a new key is made and written first in `secret.key`, above the
    old one: every process that reads the file accepts both (they reread it when they meet a key id
    they lack). With STOKER_SECRET_KEY, put the new key first and keep the old one
    (`NEW,OLD`) on every replica, then run this. Either way the old key stays accepted; remove it once
    `key-status` shows it wraps nothing."""
    from stoker.core.secrets import KEY_FILE, generate_key, key_id, write_private

    settings = _settings(data_dir)
    if to_kid is None and settings.secret_key is None:
        path = settings.data_dir / KEY_FILE
        services = _services(data_dir)  # checks the ring opens this database before anything changes
        new = generate_key()
        old = path.read_text() if path.exists() else ""
        write_private(path, (new + "\n" + old).encode())
        services.secrets.reload()
        to_kid = key_id(new.encode())
        click.echo(f"new master key {to_kid} written first in {path}; the old key(s) stay accepted")
    else:
        services = _services(data_dir)
    report = services.secret_store.rotate(to_kid)
    click.echo(f"{report.rewrapped} secret(s) re-wrapped with master key {report.master_key_id}; "
               f"{report.resealed_runs} run secret(s) and {report.resealed_webhooks} webhook secret(s) resealed")
    if report.remaining:
        click.echo(f"still under other keys (changed meanwhile): {report.remaining}; run this again", err=True)
        sys.exit(1)
    click.echo("the old key(s) may leave every ring once every process has the new one")


def _services(data_dir: Path | None):  # type: ignore[no-untyped-def]
    from stoker.app.wiring import build_services
    from stoker.core.secrets import MasterKeyError

    try:
        return build_services(_settings(data_dir))
    except MasterKeyError as exc:
        raise click.ClickException(str(exc)) from exc
