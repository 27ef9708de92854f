"""Webhooks: registration (the secret sealed at rest, shown once) and signed delivery.

A delivery is one POST per event, in outbox order, the body being the event document. Receivers
verify `X-Stoker-Signature: sha256=<hex>`, the HMAC-SHA256 of the raw body under the webhook's
secret, and dedupe on `X-Stoker-Delivery` (the event seq): delivery is at least once.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import secrets as pysecrets
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import msgspec

from stoker.core.errors import InvalidInput
from stoker.core.secrets import SecretBox
from stoker.sinks.events import EVENT_NAMES, Event
from stoker.store.db import Database
from stoker.store.records.operations import CursorState
from stoker.store.webhooks import WebhookRow, WebhookRows

SIGNATURE_HEADER = "X-Stoker-Signature"
TIMESTAMP_HEADER = "X-Stoker-Timestamp"


def cursor_name(webhook_id: str) -> str:
    return f"webhook:{webhook_id}"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    """What a receiver does; constant-time."""
    return hmac.compare_digest(sign(secret, body), signature)


@dataclass(frozen=True)
class Webhook:
    id: str
    url: str
    events: frozenset[str] | None
    secret: str
    team: str = "default"

    def wants(self, event: Event) -> bool:
        """Its team's events (of the names it chose): never another team's."""
        return event.team == self.team and (self.events is None or event.event in self.events)


class WebhookStore:
    def __init__(self, db: Database, box: SecretBox, clock: Callable[[], float] = time.time) -> None:
        self.rows = WebhookRows(db)
        self.box = box
        self.clock = clock

    def create(self, url: str, events: Sequence[str] | None = None, secret: str | None = None,
               description: str = "", *, team: str = "default") -> dict[str, Any]:
        """Register a webhook; the answer is the only place its secret ever appears."""
        _check_url(url)
        if events is not None:
            unknown = sorted(set(events) - set(EVENT_NAMES))
            if unknown or not events:
                raise InvalidInput(f"unknown event name(s) {unknown}; choose from {list(EVENT_NAMES)}"
                                   if unknown else "events must name at least one event, or be left out")
        secret = secret or "whsec_" + pysecrets.token_urlsafe(32)
        row = WebhookRow(id=str(uuid.uuid4()), url=url, events=sorted(set(events)) if events else None,
                         secret=self.box.seal({"secret": secret}), description=description,
                         created_at=self.clock(), team=team)
        self.rows.create(row, cursor_name(row.id))
        return {**self._view(row, None), "secret": secret}

    def list(self, *, team: str | None = None) -> list[dict[str, Any]]:
        """Every webhook (of `team`; None: every team's)."""
        return [self._view(row, delivery) for row, delivery in self.rows.list(cursor_name, team=team)]

    def get(self, webhook_id: str, *, team: str | None = None) -> dict[str, Any]:
        return self._view(*self.rows.get(webhook_id, cursor_name(webhook_id), team=team))

    def delete(self, webhook_id: str, *, team: str | None = None) -> None:
        self.rows.delete(webhook_id, cursor_name(webhook_id), team=team)

    def active(self) -> builtins.list[Webhook]:
        """Every registered webhook with its secret opened: for the publisher only."""
        return [Webhook(r.id, r.url, frozenset(r.events) if r.events is not None else None,
                        self.box.open(r.secret)["secret"], r.team) for r in self.rows.all()]

    @staticmethod
    def _view(row: WebhookRow, delivery: CursorState | None) -> dict[str, Any]:
        return {"id": row.id, "url": row.url, "events": row.events, "description": row.description,
                "team": row.team, "created_at": row.created_at,
                "delivery": msgspec.structs.asdict(delivery) if delivery is not None else None}


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"webhook url must be an absolute http(s) URL, got {url!r}")


class DeliveryFailed(Exception):
    pass


class WebhookSink:
    """Delivers events to one webhook, one POST at a time; any non-2xx answer is a failure."""

    def __init__(self, webhook: Webhook, timeout: float) -> None:
        self.webhook = webhook
        self.name = cursor_name(webhook.id)
        self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False,
                                         headers={"User-Agent": "stoker-webhooks"})

    def wants(self, event: Event) -> bool:
        return self.webhook.wants(event)

    async def deliver(self, event: Event) -> None:
        body = event.body()
        headers = {"Content-Type": "application/json", "X-Stoker-Event": event.event,
                   "X-Stoker-Delivery": str(event.seq), TIMESTAMP_HEADER: str(int(time.time())),
                   SIGNATURE_HEADER: sign(self.webhook.secret, body)}
        try:
            response = await self._client.post(self.webhook.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"POST {self.webhook.url}: {type(exc).__name__}: {exc}") from exc
        if not 200 <= response.status_code < 300:
            raise DeliveryFailed(f"POST {self.webhook.url}: HTTP {response.status_code}")

    async def close(self) -> None:
        await self._client.aclose()
