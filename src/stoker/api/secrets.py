"""`/api/v1/secrets`: named secrets that jobs and runs reference (docs/secrets.md).

Values are write-only: no answer ever carries one. Reads show a secret's name, kind, key names,
version, who made and last changed it and when, and which jobs name it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response

from stoker.api.auth import require
from stoker.api.deps import SecretStoreDep
from stoker.api.schemas import SecretCreate, SecretUpdate
from stoker.core.times import iso
from stoker.store.secrets import SecretRecord
from stoker.store.tokens import Principal

router = APIRouter(prefix="/api/v1/secrets", tags=["secrets"])

def secret_view(record: SecretRecord, used_by: list[str]) -> dict[str, Any]:
    return {"name": record.name, "kind": record.kind, "keys": record.keys, "description": record.description,
            "version": record.version, "master_key_id": record.master_key_id,
            "created_at": iso(record.created_at), "created_by": record.created_by,
            "updated_at": iso(record.updated_at), "updated_by": record.updated_by, "used_by": used_by,
            "links": {"self": f"/api/v1/secrets/{record.name}"}}


@router.post("", status_code=201, summary="Create a named secret (its values are never shown back)",
             responses={409: {"description": "a secret with this name exists"},
                        422: {"description": "a bad name, kind, key or value (nothing is stored)"}})
def create_secret(body: SecretCreate, store: SecretStoreDep,
                  principal: Principal = Depends(require("edit"))) -> dict[str, Any]:
    record = store.create(body.name, body.kind, body.values, description=body.description, by=principal.owner,
                          team=principal.team)
    return secret_view(record, [])


@router.get("", summary="List the team's secrets: names, kinds, key names, who changed them and when, the "
                        "jobs that use them; never values")
def list_secrets(store: SecretStoreDep, principal: Principal = Depends(require("read"))) -> dict[str, Any]:
    users = store.users(team=principal.team)
    return {"secrets": [secret_view(r, users.get(r.name, [])) for r in store.list(team=principal.team)]}


@router.get("/{name}", summary="One secret, without its values",
            responses={404: {"description": "no such secret"}})
def get_secret(name: str, store: SecretStoreDep, principal: Principal = Depends(require("read"))) -> dict[str, Any]:
    return secret_view(store.get(name, team=principal.team), store.users(team=principal.team).get(name, []))


@router.put("/{name}", summary="Change a secret's values (rotate it) or description; runs use the new "
                               "values from their next attempt on",
            responses={404: {"description": "no such secret"}, 422: {"description": "bad values (nothing changes)"}})
def update_secret(name: str, body: SecretUpdate, store: SecretStoreDep,
                  principal: Principal = Depends(require("edit"))) -> dict[str, Any]:
    record = store.update(name, values=body.values, description=body.description, by=principal.owner,
                          team=principal.team)
    return secret_view(record, store.users(team=principal.team).get(name, []))


@router.delete("/{name}", status_code=204, summary="Delete a secret no job names",
               responses={404: {"description": "no such secret"},
                          409: {"description": "jobs name it (listed in `used_by`): change them first"}})
def delete_secret(name: str, store: SecretStoreDep, principal: Principal = Depends(require("edit"))) -> Response:
    store.delete(name, team=principal.team)
    return Response(status_code=204)
