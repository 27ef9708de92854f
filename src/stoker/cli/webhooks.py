"""`stoker webhooks list|create|show|delete`, through the client (admin tokens)."""

from __future__ import annotations

import click

from stoker.cli.remote import JSON, connect, remote, show


@click.group()
def webhooks() -> None:
    """Webhooks: one signed POST per run, cluster or schedule event."""


@webhooks.command("list")
@JSON
@remote
def list_webhooks(as_json: bool, url: str | None, token: str | None) -> None:
    """Webhooks and their delivery state (secrets are never shown)."""
    with connect(url, token) as client:
        found = client.webhooks.list()

    def human() -> None:
        for h in found:
            click.echo(f"{h['id']}  {h['url']}  events: {', '.join(h.get('events') or ['all'])}")
    show(found, as_json, human)


@webhooks.command("create")
@click.argument("target_url")
@click.option("--event", "events", multiple=True, help="an event to send (repeatable; default: all)")
@click.option("--secret", default=None, help="HMAC key for X-Stoker-Signature (default: generated, shown once)")
@click.option("--description", default=None)
@JSON
@remote
def create_webhook(target_url: str, events: tuple[str, ...], secret: str | None, description: str | None,
                   as_json: bool, url: str | None, token: str | None) -> None:
    """Register TARGET_URL; the answer shows its secret, once."""
    with connect(url, token) as client:
        hook = client.webhooks.create(target_url, events=list(events) or None, secret=secret, description=description)
    show(hook, as_json, lambda: click.echo(f"webhook {hook['id']}  secret {hook.get('secret', '')} (shown once)"))


@webhooks.command("show")
@click.argument("webhook_id")
@JSON
@remote
def show_webhook(webhook_id: str, as_json: bool, url: str | None, token: str | None) -> None:
    """One webhook and its delivery state."""
    with connect(url, token) as client:
        found = client.webhooks.get(webhook_id)
    show(found, as_json)


@webhooks.command("delete")
@click.argument("webhook_id")
@JSON
@remote
def delete_webhook(webhook_id: str, as_json: bool, url: str | None, token: str | None) -> None:
    """Delete a webhook; its deliveries stop."""
    with connect(url, token) as client:
        client.webhooks.delete(webhook_id)
    show({"deleted": webhook_id}, as_json, lambda: click.echo(f"webhook {webhook_id} deleted"))
