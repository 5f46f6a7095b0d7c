"""``POST /webhooks/clerk``: Clerk's Svix-signed events (public: the signature is the auth)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from nexod.api.deps import CoreDep
from nexod.auth.webhooks import WebhookRefused

router = APIRouter(tags=["webhooks"])


@router.post("/webhooks/clerk", summary="Clerk webhook (Svix-signed)",
             responses={400: {"description": "bad signature, stale timestamp or missing headers"}})
async def clerk(request: Request, core: CoreDep) -> JSONResponse:
    """Verify, then apply once per ``svix-id``; a redelivery answers 200 and changes nothing."""
    body = await request.body()
    try:
        event = core.auth.webhooks.verify(body, request.headers)
    except WebhookRefused as exc:
        return JSONResponse({"detail": exc.message}, status_code=400)
    applied = await core.auth.webhooks.apply(request.headers["svix-id"], event)
    return JSONResponse({"ok": True, "duplicate": not applied})
