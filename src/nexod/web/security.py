"""Browser protections: a cross-origin check for cookie-authenticated requests, and strict
security headers on the dashboard's pages.

The session cookie is ``SameSite=Lax``, which stops cross-*site* form posts but not requests
from another origin on the same site (another port on ``localhost``, a sibling subdomain).
So an unsafe request (POST, PUT, PATCH, DELETE) or a WebSocket handshake that is authenticated
by a cookie alone is refused when its ``Origin`` (or, lacking one, its ``Referer``) names
another origin. Requests with an ``Authorization`` or ``x-api-key`` header are API clients: a
browser never adds those on its own, so they pass untouched, as do requests with no cookie or
no origin information at all (command-line clients, the SDK).

With ``NEXOD_AUTH=local`` there is no credential at all: any page open in the user's browser
could reach the server on loopback and act (or read) as its one user. So in that mode every
request, reads included, that carries a foreign ``Origin`` is refused, whatever its headers.
Browsers send ``Origin`` on every cross-origin ``fetch``, so this closes both; a same-origin
page, a top-level navigation, and a client outside a browser send none and pass. Trusted
origins pass in both modes; in local mode LangGraph Studio's (:data:`STUDIO_ORIGIN`) is trusted
by default, as ``langgraph dev`` does.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from urllib.parse import urlsplit

import orjson
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nexod.auth.base import CLERK_COOKIE, SESSION_COOKIE

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
COOKIE_NAMES = (SESSION_COOKIE, CLERK_COOKIE)
DASHBOARD_PREFIX = "/ui"

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
"""The dashboard's Content-Security-Policy: this origin only, no inline script or style."""

PAGE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
STUDIO_ORIGIN = "https://smith.langchain.com"
"""LangGraph Studio, a browser client of the LangGraph API: trusted in local mode."""


def normalise_origin(value: str) -> str | None:
    """``scheme://host[:port]`` in lower case with the default port dropped; None when
    ``value`` is not an absolute http(s) URL (``null`` included)."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def own_origin(scope: Scope, headers: Headers) -> str | None:
    """The origin this request was sent to, from its scheme and ``Host`` header (only its
    host and port are compared: see :func:`cross_origin_reason`)."""
    scheme = {"ws": "http", "wss": "https"}.get(scope.get("scheme", "http"), scope.get("scheme", "http"))
    host = headers.get("host")
    if not host:
        server = scope.get("server")
        if not server:
            return None
        host = f"{server[0]}:{server[1]}"
    return normalise_origin(f"{scheme}://{host}")


def _netloc(origin: str | None) -> str | None:
    # Host and port only: behind a TLS-terminating proxy the server may see http while the
    # browser's Origin says https for the very same host.
    return None if origin is None else origin.split("://", 1)[1]


def cross_origin_reason(scope: Scope, trusted: Collection[str] = (), *, local: bool = False) -> str | None:
    """Why this request must be refused as cross-origin, or None when it may go on.

    Only requests authenticated by a cookie alone are judged, or with ``local`` (no
    credentials at all) every request that sends an ``Origin`` (see the module docstring).
    The origin sent must name this server's host and port (the ``Host`` header), or be trusted.
    """
    headers = Headers(scope=scope)
    if local:
        sent, label = headers.get("origin"), "Origin"
        why = ("With NEXOD_AUTH=local there are no credentials, so any web page could act as "
               "you; list the origin in NEXOD_TRUSTED_ORIGINS if you trust it.")
    else:
        if headers.get("authorization") or headers.get("x-api-key"):
            return None
        cookie = headers.get("cookie") or ""
        names = {part.split("=", 1)[0].strip() for part in cookie.split(";")}
        if not names.intersection(COOKIE_NAMES):
            return None
        sent, label = headers.get("origin"), "Origin"
        if sent is None:
            sent, label = headers.get("referer"), "Referer"
        why = ("The request is authenticated only by a browser cookie: send it from the "
               "dashboard itself, or authenticate with an Authorization or x-api-key header.")
    if sent is None:
        return None
    origin = normalise_origin(sent)
    if origin is not None and (origin in trusted or _netloc(origin) == _netloc(own_origin(scope, headers))):
        return None
    return f"cross-origin request refused: the {label} header names {sent[:200]!r}, not this server. {why}"


class BrowserGuard:
    """Pure ASGI middleware: refuses cross-origin cookie-only requests with 403 (WebSocket
    handshakes too; with ``local``, every cross-origin request), and adds the dashboard's
    security headers to every ``/ui`` response."""

    def __init__(self, app: ASGIApp, trusted_origins: Iterable[str] = (), *, local: bool = False) -> None:
        self.app = app
        self.local = local
        trusted = [*trusted_origins, *([STUDIO_ORIGIN] if local else [])]
        self.trusted = tuple(o for o in (normalise_origin(t) for t in trusted) if o)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the request, then serve it (adding headers on dashboard paths)."""
        kind = scope["type"]
        if kind == "websocket":
            if cross_origin_reason(scope, self.trusted, local=self.local) is not None:
                await send({"type": "websocket.close", "code": 4403})  # before accept: HTTP 403
                return
            await self.app(scope, receive, send)
            return
        if kind != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] in UNSAFE_METHODS or (self.local and scope["method"] != "OPTIONS"):
            reason = cross_origin_reason(scope, self.trusted, local=self.local)
            if reason is not None:
                await _refuse(send, reason)
                return
        path: str = scope.get("path", "")
        if path != DASHBOARD_PREFIX and not path.startswith(DASHBOARD_PREFIX + "/"):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                have = {name.lower() for name, _ in message.get("headers", ())}
                extra = [h for h in PAGE_HEADERS if h[0] not in have]
                message = {**message, "headers": [*message.get("headers", ()), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)


async def _refuse(send: Send, reason: str) -> None:
    body = orjson.dumps({"detail": reason})
    await send({"type": "http.response.start", "status": 403,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
