"""``/auth``: who am I, API keys, browser sessions; ``/assistants/{id}/permissions`` grants."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Cookie, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from nexod.api.assistants import administer
from nexod.api.deps import ADMINISTER, READ, CoreDep, OrgDep, PrincipalDep, json_response
from nexod.auth.base import SESSION_COOKIE, Credentials, Permission
from nexod.auth.keys import key_dict
from nexod.errors import InvalidInput

router = APIRouter(tags=["auth"])


class KeyCreate(BaseModel):
    """A new API key: a name, its scopes and how long it lives."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=255)
    scopes: list[Permission] | None = Field(
        None, description="read, write, run, approve, administer (default: all but administer)")
    expires_in_days: float | None = Field(None, gt=0, le=3650)


class Grant(BaseModel):
    """One user's permissions on one assistant (an empty list removes them)."""

    model_config = ConfigDict(extra="forbid")
    user_id: str = Field(min_length=1, max_length=64)
    permissions: list[Permission]


@router.get("/auth/me", summary="The caller: organisation, role, permissions")
async def me(who: PrincipalDep) -> dict[str, object]:
    """Who the server thinks you are."""
    return {"org_id": who.org_id, "subject": who.subject, "kind": who.kind, "role": who.role,
            "permissions": sorted(who.permissions)}


@router.post("/auth/keys", summary="Create an API key (shown once)", dependencies=[ADMINISTER])
async def create_key(body: KeyCreate, core: CoreDep, who: PrincipalDep) -> Response:
    if body.scopes is not None and not set(body.scopes) <= who.scopes:
        raise InvalidInput("a key cannot hold scopes its creator does not hold", field="scopes")
    new = await core.auth.keys.create(
        who.org_id, name=body.name, scopes=body.scopes, created_by=who.subject,
        expires_in=timedelta(days=body.expires_in_days) if body.expires_in_days else None,
    )
    return json_response({**key_dict(new.row), "key": new.secret}, status_code=201)


@router.get("/auth/keys", summary="List the organisation's API keys", dependencies=[ADMINISTER])
async def list_keys(core: CoreDep, org: OrgDep) -> Response:
    return json_response([key_dict(r) for r in await core.auth.keys.list(org)])


@router.delete("/auth/keys/{key_id}", status_code=204, summary="Revoke an API key at once",
               dependencies=[ADMINISTER])
async def revoke_key(key_id: str, core: CoreDep, org: OrgDep) -> Response:
    await core.auth.revoke_key(org, key_id)
    return Response(status_code=204)


@router.post("/auth/sessions", summary="Open a browser session (sets an HTTP-only cookie)")
async def login(request: Request, core: CoreDep) -> Response:
    """Trade an API key or a Clerk token (header, or Clerk's ``__session`` cookie) for a
    session cookie. An existing Nexod session does not open another one."""
    cookies = {k: v for k, v in request.cookies.items() if k != SESSION_COOKIE}
    creds = Credentials.from_headers(request.headers, cookies)
    who = await core.auth.authenticate(creds)
    token = await core.auth.sessions.create(who)
    resp = json_response({"org_id": who.org_id, "subject": who.subject, "role": who.role,
                          "expires_in": core.auth.sessions.ttl}, status_code=201)
    resp.set_cookie(SESSION_COOKIE, token, max_age=core.auth.sessions.ttl, httponly=True,
                    secure=core.settings.cookie_secure, samesite="lax", path="/")
    return resp


@router.delete("/auth/sessions", status_code=204, summary="Log out: the session ends at once")
async def logout(
    core: CoreDep, session: Annotated[str | None, Cookie(alias=SESSION_COOKIE)] = None
) -> Response:
    if session:
        await core.auth.sessions.end(session)
    resp = Response(status_code=204)
    resp.delete_cookie(SESSION_COOKIE, path="/", httponly=True, secure=core.settings.cookie_secure,
                       samesite="lax")
    return resp


@router.get("/assistants/{assistant_id}/permissions", summary="Grants on an assistant",
            dependencies=[READ])
async def list_grants(assistant_id: str, core: CoreDep, org: OrgDep) -> Response:
    row = await core.assistants.get(org, assistant_id)
    return json_response(await core.auth.permissions.grants(row.assistant_id))


@router.put("/assistants/{assistant_id}/permissions", summary="Set a user's grants on an assistant")
async def set_grant(assistant_id: str, body: Grant, core: CoreDep, who: PrincipalDep) -> Response:
    aid = await administer(core, who, assistant_id)
    granted = await core.auth.permissions.set_user(who.org_id, aid, body.user_id, body.permissions)
    return json_response({"user_id": body.user_id, "permissions": granted})
