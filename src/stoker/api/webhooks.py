"""`/api/v1/webhooks`: register, list and delete a team's webhooks (owners; admins every team's)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from stoker.api.auth import require
from stoker.api.deps import WebhookStoreDep
from stoker.api.schemas import WebhookCreate
from stoker.store.tokens import Principal

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])
Owner = Annotated[Principal, Depends(require("manage"))]


def _team(principal: Principal) -> str | None:
    """Whose webhooks a request sees: its team's; an admin's, every team's."""
    return None if principal.admin else principal.team


@router.post("", status_code=201, summary="Register a webhook; the answer shows its secret, once")
def create_webhook(body: WebhookCreate, store: WebhookStoreDep, principal: Owner) -> dict[str, Any]:
    """It hears the events of the token's team (runs, schedules, clusters), no other team's."""
    return store.create(body.url, body.events, body.secret, body.description, team=principal.team)


@router.get("", summary="List webhooks and their delivery state (secrets are never shown)")
def list_webhooks(store: WebhookStoreDep, principal: Owner) -> dict[str, Any]:
    return {"webhooks": store.list(team=_team(principal))}


@router.get("/{webhook_id}", summary="One webhook and its delivery state")
def get_webhook(webhook_id: str, store: WebhookStoreDep, principal: Owner) -> dict[str, Any]:
    return store.get(webhook_id, team=_team(principal))


@router.delete("/{webhook_id}", status_code=204, summary="Delete a webhook; its deliveries stop")
def delete_webhook(webhook_id: str, store: WebhookStoreDep, principal: Owner) -> Response:
    store.delete(webhook_id, team=_team(principal))
    return Response(status_code=204)
