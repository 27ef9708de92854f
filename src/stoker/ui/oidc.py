"""Sign-in for people through an OpenID Connect provider (docs/teams.md): the Authorization Code
flow with PKCE (S256), through Authlib's OAuth 2 client; the ID token checked with joserfc against
the provider's published keys (issuer, audience, expiry, nonce).

`/ui/oidc/start` sends the browser to the provider with a fresh state, nonce and code verifier,
kept in a short-lived cookie sealed with the server's key (so any replica can finish the flow);
`/ui/oidc/callback` takes the code back, exchanges it with the verifier, checks the ID token, reads
the person's groups (STOKER_OIDC_GROUPS_CLAIM, from the user info when the ID token lacks it), maps
them to teams (STOKER_OIDC_GROUPS), brings the user's memberships up to date and opens a UI session.

The session acts through a token made for it (never shown, revoked at sign-out), in the team where
the person's role is highest (ties: the first by name).
"""

from __future__ import annotations

import hmac
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.integrations.httpx_client import AsyncOAuth2Client
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from starlette.concurrency import run_in_threadpool

from stoker.api.audit import source_of, writer_of
from stoker.api.deps import services_of
from stoker.config import Settings, secret
from stoker.core.errors import InvalidInput
from stoker.core.secrets import MasterKeyError
from stoker.core.teams import parse_group_map, rank
from stoker.store.audit import AuditEntry
from stoker.store.tokens import check_user_name, user_slug
from stoker.ui.session import COOKIE, session_store

router = APIRouter(prefix="/ui/oidc", include_in_schema=False)

FLOW_COOKIE = "stoker_oidc"
FLOW_SECONDS = 600  # a sign-in left at the provider longer than this starts again
SESSION_TOKEN_NAME = "UI sign-in (OpenID Connect)"  # revoked at sign-out (ui/actions.py)
SESSION_SCOPES = ["read", "submit"]  # what a person may do is their role's business, not the token's


@dataclass(frozen=True)
class Provider:
    """What discovery says of the provider (fetched once per app)."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str | None
    jwks: KeySet


async def _provider(request: Request, settings: Settings) -> Provider:
    cached: Provider | None = getattr(request.app.state, "oidc_provider", None)
    if cached is not None:
        return cached
    issuer = (settings.oidc_issuer or "").rstrip("/")
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            meta = (await client.get(f"{issuer}/.well-known/openid-configuration")).raise_for_status().json()
            keys = (await client.get(meta["jwks_uri"])).raise_for_status().json()
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        raise HTTPException(502, f"the sign-in provider {issuer} did not answer its discovery: {exc}") from None
    if meta.get("issuer", "").rstrip("/") != issuer:
        raise HTTPException(502, f"the sign-in provider calls itself {meta.get('issuer')!r}, not {issuer!r}")
    found = Provider(issuer, meta["authorization_endpoint"], meta["token_endpoint"], meta.get("userinfo_endpoint"),
                     KeySet.import_key_set(keys))
    request.app.state.oidc_provider = found
    return found


def _client(request: Request, settings: Settings) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(settings.oidc_client_id, secret(settings.oidc_client_secret), scope=settings.oidc_scopes,
                             redirect_uri=_callback_url(request, settings), code_challenge_method="S256",
                             timeout=10)


def _callback_url(request: Request, settings: Settings) -> str:
    """Where the provider sends the browser back: under STOKER_PUBLIC_URL when set (a proxy in
    front), else under the address this request came to."""
    base = settings.public_url or str(request.base_url)
    return base.rstrip("/") + "/ui/oidc/callback"


def _settings(request: Request) -> Settings:
    settings = services_of(request.app).settings
    if not settings.oidc_issuer:
        raise HTTPException(404, "sign-in through an OpenID Connect provider is not set up (STOKER_OIDC_ISSUER)")
    return settings


def _safe_next(target: str) -> str:
    return target if target.startswith("/ui/") and not target.startswith("//") else "/ui/"


@router.get("/start")
async def oidc_start(request: Request, next: str = "/ui/") -> Response:
    settings = _settings(request)
    provider = await _provider(request, settings)
    state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
    async with _client(request, settings) as client:
        url, _ = client.create_authorization_url(provider.authorization_endpoint, state=state, nonce=nonce,
                                                 code_verifier=verifier)
    flow = services_of(request.app).secrets.seal(
        {"state": state, "nonce": nonce, "verifier": verifier, "next": _safe_next(next), "at": time.time()})
    response = RedirectResponse(url, status_code=303)
    # Lax, not Strict: the provider's redirect back is a top-level navigation from its site.
    response.set_cookie(FLOW_COOKIE, flow, max_age=FLOW_SECONDS, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https", path="/ui/oidc")
    return response


def _refused(message: str) -> HTTPException:
    return HTTPException(403, f"sign-in refused: {message}")


@router.get("/callback")
async def oidc_callback(request: Request, code: str | None = None, state: str | None = None,
                        error: str | None = None, error_description: str | None = None) -> Response:
    settings = _settings(request)
    services = services_of(request.app)
    if error:
        raise _refused(f"the provider answered {error}: {error_description or ''}".strip())
    try:
        flow = services.secrets.open(request.cookies.get(FLOW_COOKIE, ""))
    except (MasterKeyError, ValueError):
        flow = {}
    if not flow or time.time() - float(flow.get("at", 0)) > FLOW_SECONDS:
        raise InvalidInput("this sign-in was not started here, or too long ago: start again")
    if not code or not state or not hmac.compare_digest(state, str(flow["state"])):
        raise InvalidInput("the provider's answer does not belong to this sign-in (state): start again")
    provider = await _provider(request, settings)
    async with _client(request, settings) as client:
        try:
            token = await client.fetch_token(provider.token_endpoint, code=code, code_verifier=flow["verifier"],
                                             grant_type="authorization_code")
        except Exception as exc:  # Authlib raises OAuthError, httpx its own: either way, no session
            raise _refused(f"the provider did not exchange the code ({exc})") from None
        claims = _check_id_token(str(token.get("id_token", "")), provider, settings.oidc_client_id, str(flow["nonce"]))
        if settings.oidc_groups_claim not in claims and provider.userinfo_endpoint:
            info = (await client.get(provider.userinfo_endpoint)).json()
            if info.get("sub") != claims["sub"]:
                raise _refused("the user info is of another subject than the ID token")
            claims = {**info, **claims}
    user, grants, admin = _who(claims, settings)
    await run_in_threadpool(services.teams.sync_from_provider, user, grants)
    team = sorted(grants, key=lambda t: (-rank(grants[t]), t))[0] if grants else "default"
    scopes = SESSION_SCOPES + (["admin"] if admin else [])
    audit = AuditEntry(actor=user, team=team, action="sign-in", source=source_of(request.scope),
                       detail={"via": "oidc", "issuer": provider.issuer, "teams": grants, "admin": admin})
    made = await run_in_threadpool(lambda: services.tokens.create(
        SESSION_TOKEN_NAME, scopes, user=user, team=team, shared=True, by=audit))
    principal = await run_in_threadpool(services.tokens.lookup, made)
    assert principal is not None
    writer_of(request.app).add(audit)
    session_id, session = await run_in_threadpool(session_store(request).open, principal)
    response = RedirectResponse(str(flow["next"]), status_code=303)
    response.delete_cookie(FLOW_COOKIE, path="/ui/oidc")
    response.set_cookie(COOKIE, session_id, max_age=int(session.expires_at - session_store(request).clock()),
                        httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/ui")
    return response


def _check_id_token(id_token: str, provider: Provider, client_id: str, nonce: str) -> dict[str, Any]:
    try:
        decoded = jwt.decode(id_token, provider.jwks)
        jwt.JWTClaimsRegistry(iss={"essential": True, "value": provider.issuer},
                              aud={"essential": True, "value": client_id},
                              sub={"essential": True}, exp={"essential": True},
                              nonce={"essential": True, "value": nonce}).validate(decoded.claims)
    except (JoseError, ValueError) as exc:
        raise _refused(f"the ID token does not hold ({exc})") from None
    return dict(decoded.claims)


def _who(claims: dict[str, Any], settings: Settings) -> tuple[str, dict[str, str], bool]:
    """(user name, {team: role}, server admin) of a person, from their claims and the group map."""
    named = str(claims.get("preferred_username") or str(claims.get("email", "")).split("@")[0] or claims["sub"])
    user = check_user_name(user_slug(re.sub(r"\s+", "-", named)))
    groups = claims.get(settings.oidc_groups_claim) or []
    if isinstance(groups, str):
        groups = groups.split()
    grants: dict[str, str] = {}
    admin = False
    for group, (team, role) in parse_group_map(settings.oidc_groups).items():
        if group not in groups:
            continue
        if team == "*":
            admin = True
        elif rank(role) > rank(grants.get(team)):
            grants[team] = role
    if not grants and not admin:
        raise _refused(f"none of {user!r}'s groups at the provider is given a team here (STOKER_OIDC_GROUPS)")
    return user, grants, admin
