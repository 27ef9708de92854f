"""The sinks' HTTP surface, as one router for the app: the event stream and webhook registration."""

from __future__ import annotations

from fastapi import APIRouter

from stoker.sinks import stream, webhooks_api

router = APIRouter()
router.include_router(stream.router)
router.include_router(webhooks_api.router)
