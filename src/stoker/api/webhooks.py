"""`/api/v1/webhooks`: register, list and delete webhooks (admin scope)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response

from stoker.api.auth import require
from stoker.api.deps import WebhookStoreDep
from stoker.api.schemas import WebhookCreate

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"], dependencies=[Depends(require("admin"))])


@router.post("", status_code=201, summary="Register a webhook; the answer shows its secret, once")
def create_webhook(body: WebhookCreate, store: WebhookStoreDep) -> dict[str, Any]:
    return store.create(body.url, body.events, body.secret, body.description)


@router.get("", summary="List webhooks and their delivery state (secrets are never shown)")
def list_webhooks(store: WebhookStoreDep) -> dict[str, Any]:
    return {"webhooks": store.list()}


@router.get("/{webhook_id}", summary="One webhook and its delivery state")
def get_webhook(webhook_id: str, store: WebhookStoreDep) -> dict[str, Any]:
    return store.get(webhook_id)


@router.delete("/{webhook_id}", status_code=204, summary="Delete a webhook; its deliveries stop")
def delete_webhook(webhook_id: str, store: WebhookStoreDep) -> Response:
    store.delete(webhook_id)
    return Response(status_code=204)
