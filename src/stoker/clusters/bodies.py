"""Request bodies of the cluster routes as curl sends them, shared by the native router
(clusters/api.py) and the PaaS adapter (compat/paas.py): a template as UTF-8 text, and JSON that
arrives without a JSON content type."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from stoker.core.errors import InvalidInput


async def template_text(request: Request) -> str:
    raw = await request.body()
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise InvalidInput("the template must be UTF-8 text") from None


async def orchestrator_choice(request: Request) -> Any:
    """The body as a JSON object when it is one (whatever content type curl -d gave it); anything
    else (an uploaded script, a form) as None, which put_orchestrator refuses with the list of
    installed orchestrators."""
    return lenient_json(await request.body())


def lenient_json(body: Any) -> Any:
    """A JSON body sent without a JSON content type (curl -d) arrives as bytes: parse it."""
    if isinstance(body, (bytes, bytearray)):
        try:
            return json.loads(body) if body.strip().startswith(b"{") else None
        except ValueError:
            return None
    return body
