"""Clerk webhooks (delivered by Svix): verified with the ``svix`` library, applied at most once.

The signature covers ``svix-id``, ``svix-timestamp`` and the raw body; a timestamp more than
five minutes away is refused (replays). The delivery id is written in the same transaction as
the changes it makes, so a redelivery is a no-op and a failed one leaves nothing behind.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from svix.webhooks import Webhook, WebhookVerificationError

from nexod.auth.directory import Directory
from nexod.auth.permissions import Permissions
from nexod.auth.sessions import Sessions
from nexod.db.models import WebhookDelivery
from nexod.errors import InvalidInput, NexodError
from nexod.serde import utcnow
from nexod.settings import LOCAL_ORG

log = logging.getLogger("nexod.auth")


class WebhookRefused(NexodError):
    """The delivery's signature or timestamp does not verify (HTTP 400)."""


class ClerkWebhooks:
    """Verifies and applies ``user.*``, ``organization.*`` and ``organizationMembership.*``."""

    def __init__(self, db: async_sessionmaker[AsyncSession], secret: str | None, directory: Directory,
                 permissions: Permissions, sessions: Sessions,
                 on_org_deleted: Callable[[str], Awaitable[object]] | None = None) -> None:
        self._db = db
        self._on_org_deleted = on_org_deleted
        self._webhook = Webhook(secret) if secret else None
        self._directory = directory
        self._permissions = permissions
        self._sessions = sessions

    def verify(self, body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
        """The event, once the signature and timestamp check out; WebhookRefused otherwise."""
        if self._webhook is None:
            raise WebhookRefused("Clerk webhooks are not configured (set NEXOD_CLERK_WEBHOOK_SECRET)")
        wanted = {k: headers[k] for k in ("svix-id", "svix-timestamp", "svix-signature") if k in headers}
        try:  # signature over id.timestamp.body, and the timestamp within 5 minutes
            self._webhook.verify(body, wanted)
        except WebhookVerificationError as exc:
            raise WebhookRefused(f"webhook refused: {exc}") from None
        try:
            event: Any = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise InvalidInput("the body is not JSON", field="body") from None
        if not isinstance(event, dict) or not isinstance(event.get("type"), str) \
                or not isinstance(event.get("data"), dict):
            raise InvalidInput("a Clerk event has a string `type` and an object `data`", field="body")
        return event

    async def apply(self, svix_id: str, event: dict[str, Any]) -> bool:
        """Apply a verified event once; False when this delivery was applied before."""
        kind, data = str(event["type"]), event["data"]
        after: list[tuple[str, str, bool, bool]] = []  # (org, user, end sessions, drop grants)
        async with self._db() as s:
            s.add(WebhookDelivery(svix_id=svix_id[:255], event_type=kind[:128], received_at=utcnow()))
            try:
                await s.flush()
            except IntegrityError:
                return False
            try:
                after = await self._apply(s, kind, data)
            except (KeyError, TypeError, ValueError) as exc:
                raise InvalidInput(f"malformed {kind} event: {exc!r}", field="data") from None
            await s.commit()
        if kind == "organization.deleted":
            await self._org_deleted(str(data["id"]))
        for org_id, user_id, end_sessions, drop_grants in after:
            if end_sessions:  # a role changed or the user left: log in again
                await self._sessions.end_where(org_id if org_id != "*" else None, subject=user_id)
            if org_id != "*":
                await self._directory.forget_role(org_id, user_id)
            if drop_grants and org_id != "*":
                await self._permissions.remove_user(org_id, user_id)
        log.info("clerk_webhook_applied", extra={"type": kind})
        return True

    async def _org_deleted(self, org_id: str) -> None:
        """The tombstone is committed (the organisation's callers are refused): end its
        sessions here at once, then purge its data. A purge that fails here is finished by
        the janitor's next sweep, so the delivery still succeeds."""
        self._directory.forget_org(org_id)
        await self._sessions.end_where(org_id)
        if self._on_org_deleted is None:
            return
        try:
            await self._on_org_deleted(org_id)
        except Exception:
            log.exception("org_purge_failed", extra={"org_id": org_id})

    async def _apply(self, s: AsyncSession, kind: str, data: dict[str, Any]) -> list[tuple[str, str, bool, bool]]:
        d = self._directory
        if kind in ("user.created", "user.updated"):
            await d.upsert_user(s, data)
        elif kind == "user.deleted":
            user = str(data["id"])
            orgs = await d.remove_user(s, user)
            return [("*", user, True, False), *((o, user, False, True) for o in orgs)]
        elif kind in ("organization.created", "organization.updated"):
            await d.upsert_org(s, data)
        elif kind == "organization.deleted":
            org = str(data["id"])
            if org == LOCAL_ORG:
                raise ValueError("the local (operator) organisation cannot be deleted by a webhook")
            users = await d.tombstone(s, org)
            return [(org, user, False, False) for user in users]  # cached roles go
        elif kind in ("organizationMembership.created", "organizationMembership.updated"):
            org = await d.upsert_org(s, data["organization"])
            user = await d.upsert_user(s, data["public_user_data"])
            await d.set_membership(s, org, user, data.get("role"))
            return [(org, user, kind.endswith("updated"), False)]
        elif kind == "organizationMembership.deleted":
            org = await d.upsert_org(s, data["organization"])
            user = await d.upsert_user(s, data["public_user_data"])
            await d.remove_membership(s, org, user)
            return [(org, user, True, True)]
        return []
