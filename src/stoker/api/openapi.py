"""The error answers every operation can give, written into the OpenAPI document in one place.

The app answers these the same way on every route (auth, the limits, the database's state), so
they are documented from the same facts the server acts on: a route's scope (from `require`), its
path parameters, the body guard. Routes add their own (404 of an unknown id, 409 of a rule) in
their `responses=`; what they declare is kept.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from stoker.api.auth import SECURITY_SCHEMES, route_scopes

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "description": "`detail` says what is wrong (the native API); the seed APIs answer in their own "
                   "words: `message` (Sate, Stevedore), `status` (Speedy Gonzales), "
                   "`status`/`error`/`message` (the PaaS).",
    "properties": {
        "detail": {"type": "string"},
        "message": {"type": "string"},
        "status": {"type": ["string", "integer"]},
        "error": {"type": "string"},
        "problems": {"type": "array", "items": {"type": "object"}},
    },
    "additionalProperties": True,
}

_ALWAYS = {
    "400": "malformed request (e.g. a Content-Length that is not a number)",
    "413": "request body larger than the limit (docs/limits.md)",
    "422": "the request breaks its schema or a limit; `detail` and `problems` say where",
    "503": "the database is unavailable; nothing was written, retry after `Retry-After` seconds",
    "507": "the server's disk is full; nothing was written",
}
_GUARDED = {
    "401": "missing, invalid or revoked token",
    "403": "the token lacks the scope this operation needs",
}
# Submit refuses (409) a run that could never start: its named cluster has ended, or a container
# job's image is still being imported (or failed to). Every submit route declares it.
CANNOT_START = {"description": "the run cannot start: its cluster is gone, or its container job's image is not ready"}
_METHODS = ("get", "put", "post", "delete", "patch", "options", "head")


def install_error_docs(app: FastAPI) -> None:
    """Wrap app.openapi so the generated document carries the shared error answers."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        add_error_docs(app, schema)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def add_error_docs(app: FastAPI, schema: dict[str, Any]) -> None:
    schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    schema["components"]["securitySchemes"] = SECURITY_SCHEMES
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    guarded = {path for path, _methods, scopes in route_scopes(app.routes) if scopes}
    secured = {(path, method.lower()) for path, methods, scopes in route_scopes(app.routes) if scopes
               for method in methods}
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in _METHODS:
                continue
            responses = operation.setdefault("responses", {})
            codes = dict(_ALWAYS)
            if path in guarded:
                codes.update(_GUARDED)
            if (path, method) in secured:  # any one of the ways to send the token will do
                operation["security"] = [{name: []} for name in SECURITY_SCHEMES]
            if "{" in path:
                codes.setdefault("404", "no such resource")
            for code, description in codes.items():
                responses.setdefault(code, {"description": description})
            # Every error answer has the one error shape (FastAPI's default 422 schema included,
            # which describes its own validation body, not the one Stoker sends).
            for code, response in responses.items():
                if code[:1] in ("4", "5"):
                    response["content"] = error
