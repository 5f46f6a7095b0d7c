"""Clerk session tokens, verified offline with PyJWT.

The key is the PEM from ``CLERK_JWT_KEY`` (no network at all), or Clerk's JWKS fetched once
and cached (fetched again only when a token names a key id not seen yet: key rotation).
Checks: RS256 signature, ``exp``/``nbf`` with a small leeway, ``iss``, ``azp`` against the
allowlist, ``sts != pending``. The organisation comes from v2's ``o`` claim (or v1's
``org_id``/``org_role``); a user with no active organisation acts in a personal one.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

import jwt
from jwt import PyJWKClient

from nexod.auth.apikey import ApiKeyAuthenticator
from nexod.auth.base import Credentials, Principal, parse_role
from nexod.auth.directory import REMOVED, Directory
from nexod.auth.keys import PREFIX, ApiKeys
from nexod.auth.sessions import Sessions
from nexod.errors import Unauthenticated
from nexod.settings import Settings

log = logging.getLogger("nexod.auth")

_REASONS: list[tuple[type[Exception], str]] = [
    (jwt.ExpiredSignatureError, "the token expired"),
    (jwt.ImmatureSignatureError, "the token is not valid yet (nbf/iat in the future)"),
    (jwt.InvalidIssuerError, "the token's issuer (iss) is not this Clerk instance"),
    (jwt.InvalidSignatureError, "the token's signature does not verify"),
    (jwt.MissingRequiredClaimError, "the token lacks a required claim"),
    (jwt.DecodeError, "the token is malformed"),
]


def personal_org(user_id: str) -> str:
    """The organisation of a user who has no active Clerk organisation."""
    return f"personal:{user_id}"[:64]


def org_claims(claims: dict[str, Any]) -> tuple[str | None, str | None, list[str]]:
    """(org id, role, permissions) from a v2 ``o`` claim or v1 top-level claims."""
    o = claims.get("o")
    if isinstance(o, dict) and o.get("id"):
        return str(o["id"]), o.get("rol"), decode_permissions(claims)
    if claims.get("org_id"):
        perms = claims.get("org_permissions") or []
        return str(claims["org_id"]), claims.get("org_role"), [str(p) for p in perms]
    return None, None, []


def decode_permissions(claims: dict[str, Any]) -> list[str]:
    """Decode v2's feature/permission bitmasks (``fea``, ``o.per``, ``o.fpm``) to
    ``org:<feature>:<permission>`` names, as Clerk's own SDK does."""
    o = claims.get("o") or {}
    fea, per, fpm = claims.get("fea"), o.get("per"), o.get("fpm")
    if not (fea and per and fpm):
        return []
    feats, perms, out = str(fea).split(","), str(per).split(","), []
    for i, mask in enumerate(str(fpm).split(",")):
        if i >= len(feats) or ":" not in feats[i]:
            continue
        scope, feat = feats[i].split(":", 1)
        if "o" not in scope or not mask.isdigit():
            continue
        for bit, flag in enumerate(bin(int(mask))[2:][::-1]):
            if flag == "1" and bit < len(perms):
                out.append(f"org:{feat}:{perms[bit]}")
    return out


class ClerkVerifier:
    """Verifies Clerk session tokens without a network call per request."""

    def __init__(self, settings: Settings) -> None:
        self._pem = settings.clerk_jwt_key.get_secret_value() if settings.clerk_jwt_key else None
        self._issuer = settings.clerk_issuer.rstrip("/") if settings.clerk_issuer else None
        self._parties = settings.authorized_parties
        self._leeway = settings.clerk_leeway
        jwks_url = settings.clerk_jwks_url or (
            f"{self._issuer}/.well-known/jwks.json" if self._issuer else None)
        self._jwks = None if self._pem or not jwks_url else PyJWKClient(
            jwks_url, cache_keys=True, cache_jwk_set=True, lifespan=24 * 3600, timeout=5)

    async def _key(self, token: str) -> Any:
        if self._pem is not None:
            return self._pem
        assert self._jwks is not None
        try:  # the first call (and an unknown kid) fetch the JWKS: off the event loop
            return (await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)).key
        except jwt.PyJWKClientError as exc:
            raise Unauthenticated(f"no Clerk signing key for this token ({exc})") from None

    async def verify(self, token: str) -> dict[str, Any]:
        """The token's claims; Unauthenticated naming the first check that failed."""
        key = await self._key(token)
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=["RS256"], leeway=self._leeway, issuer=self._issuer,
                options={"require": ["exp", "iat", "sub"], "verify_aud": False,
                         "verify_iss": self._issuer is not None},
            )
        except jwt.PyJWTError as exc:
            reason = next((why for cls, why in _REASONS if isinstance(exc, cls)), "invalid token")
            raise Unauthenticated(reason) from None
        azp = claims.get("azp")
        if azp is not None and str(azp).rstrip("/") not in self._parties:
            raise Unauthenticated(f"the token's authorised party (azp) {azp!r} is not allowed")
        if azp is None and self._parties:
            raise Unauthenticated("the token has no authorised party (azp)")
        if claims.get("sts") == "pending":
            raise Unauthenticated("the session is pending (the user has a task to finish in Clerk)")
        return claims

    async def principal(self, token: str) -> Principal:
        """The caller a verified token stands for."""
        claims = await self.verify(token)
        user = str(claims["sub"])
        org, role, _ = org_claims(claims)
        if org is None:
            return Principal(org_id=personal_org(user), subject=user, kind="clerk", role="admin",
                             credential=str(claims.get("sid") or "")[:64] or None)
        return Principal(org_id=org, subject=user, kind="clerk", role=parse_role(role),
                         credential=str(claims.get("sid") or "")[:64] or None)


class ClerkAuthenticator(ApiKeyAuthenticator):
    """Clerk session tokens (``Authorization`` header or ``__session`` cookie), plus API keys
    and browser sessions."""

    def __init__(self, verifier: ClerkVerifier, keys: ApiKeys, sessions: Sessions,
                 directory: Directory) -> None:
        super().__init__(keys, sessions)
        self.verifier = verifier
        self.directory = directory

    async def authenticate(self, creds: Credentials) -> Principal:
        """An API key or session as in apikey mode, else a Clerk token."""
        token = creds.bearer if creds.bearer and not creds.bearer.startswith(PREFIX) else None
        if token is None and creds.api_key is None and creds.session is None:
            token = creds.clerk_cookie
        if token is None:
            try:
                return await super().authenticate(creds)
            except Unauthenticated as exc:
                if "x-api-key" not in exc.reason:
                    raise
                raise Unauthenticated("send a Clerk session token (Authorization: Bearer or the "
                                      "__session cookie) or an API key") from None
        who = await self.verifier.principal(token)
        if not who.org_id.startswith("personal:"):
            # The webhook mirror is newer than a token up to a minute old: a role changed
            # there wins.
            mirrored = await self.directory.role_of(who.org_id, who.subject)
            if mirrored == REMOVED:  # its token predates the removal: refused at once
                raise Unauthenticated(f"the user was removed from organisation '{who.org_id}'")
            if mirrored is not None:
                who = replace(who, role=mirrored)
        return who
