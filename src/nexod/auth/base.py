"""Principals, permissions and the :class:`Authenticator` interface.

A :class:`Principal` is the caller of one request: an organisation, a subject (a user id,
``key:<id>`` for an API key, ``local`` in embedded mode), a role and the scopes it holds.
Every router reads the organisation from it, so a request can only ever see its own tenant.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

Role = Literal["admin", "member", "viewer"]
Permission = Literal["read", "write", "run", "approve", "administer"]
Kind = Literal["local", "apikey", "clerk", "session"]

PERMISSIONS: tuple[Permission, ...] = get_args(Permission)
ASSISTANT_PERMISSIONS: tuple[Permission, ...] = ("run", "approve", "administer")
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    "viewer": frozenset({"read"}),
    "member": frozenset({"read", "write", "run", "approve"}),
    "admin": frozenset(PERMISSIONS),
}
SESSION_COOKIE = "nexod_session"
CLERK_COOKIE = "__session"


def parse_role(value: str | None) -> Role:
    """A Clerk or stored role name as one of ours (``org:admin`` → admin; unknown → member)."""
    name = (value or "").removeprefix("org:")
    if name in ("admin", "owner"):
        return "admin"
    if name in ("viewer", "guest", "read_only"):
        return "viewer"
    return "member"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of a request."""

    org_id: str
    subject: str
    kind: Kind
    role: Role
    scopes: frozenset[Permission] = field(default_factory=lambda: frozenset(PERMISSIONS))
    credential: str | None = None
    """Which key or session authenticated the request (a key id or a session digest prefix)."""

    @property
    def permissions(self) -> frozenset[Permission]:
        """What the role allows, narrowed by the credential's scopes."""
        return ROLE_PERMISSIONS[self.role] & self.scopes

    @property
    def scope_key(self) -> str:
        """Identifies everything a cached response may depend on about the caller."""
        return f"{self.org_id}|{self.subject}|{self.role}|{','.join(sorted(self.permissions))}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON form, for sessions and caches."""
        return {"org_id": self.org_id, "subject": self.subject, "kind": self.kind, "role": self.role,
                "scopes": sorted(self.scopes), "credential": self.credential}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Principal:
        """The inverse of :meth:`to_dict`."""
        return cls(org_id=d["org_id"], subject=d["subject"], kind=d["kind"], role=d["role"],
                   scopes=frozenset(d["scopes"]), credential=d.get("credential"))


@dataclass(frozen=True)
class Credentials:
    """What a request presents: a bearer token, an ``x-api-key``, cookies."""

    bearer: str | None = None
    api_key: str | None = None
    session: str | None = None
    clerk_cookie: str | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str], cookies: Mapping[str, str]) -> Credentials:
        """Read them from a request's headers and cookies (HTTP or WebSocket)."""
        auth = headers.get("authorization") or ""
        scheme, _, token = auth.partition(" ")
        return cls(
            bearer=(token.strip() or None) if scheme.lower() == "bearer" else None,
            api_key=headers.get("x-api-key") or None,
            session=cookies.get(SESSION_COOKIE) or None,
            clerk_cookie=cookies.get(CLERK_COOKIE) or None,
        )


class Authenticator(ABC):
    """Turns a request's credentials into a :class:`Principal`."""

    @abstractmethod
    async def authenticate(self, creds: Credentials) -> Principal:
        """The caller; raises :class:`~nexod.errors.Unauthenticated` naming what was wrong.

        Must not make a network call per request, and must never log the credential.
        """
