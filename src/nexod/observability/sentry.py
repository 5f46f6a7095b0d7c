"""Error tracking with sentry-sdk when ``NEXOD_SENTRY_DSN`` is set.

Nothing personal or secret leaves the process: no request bodies and no local variables
(they carry documents, prompts and run state), no cookies or auth headers, headers and extras
pass through sentry's denylist scrubber, and every string in the event is scrubbed of bearer tokens, API keys,
URL credentials and ``key=`` / ``token=`` query values. Health, metrics and streaming
endpoints are never traced.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from nexod import __version__
from nexod.settings import Settings

FILTERED = "[Filtered]"
_PATTERNS = (
    (re.compile(r"(?i)\b(bearer|basic|token)(\s+)[A-Za-z0-9._~+/=-]{6,}"), rf"\1\2{FILTERED}"),
    (re.compile(r"\b(sk|pk|rk|ak)[-_][A-Za-z0-9_-]{8,}"), FILTERED),
    (re.compile(r"(?i)([?&;](?:key|token|api_key|apikey|access_token|secret|signature|sig)=)[^&\s\"']+"),
     rf"\1{FILTERED}"),
    (re.compile(r"(://[^:/@\s]+:)[^@\s/]+@"), rf"\1{FILTERED}@"),
)
# Keys whose values are dropped wherever they appear (headers, locals, extras, contexts).
DENYLIST = [
    "dsn", "database_url", "redis_url", "alert_google_chat_url", "alert_webhook_url", "webhook",
    "document", "documents", "page_content", "content", "text", "prompt", "messages", "input",
    "x-api-key", "x_api_key", "svix-signature", "clerk_secret", "pinecone_api_key",
]
UNTRACED_PATHS = frozenset({"/ok", "/ready", "/metrics", "/slo"})
UNTRACED_SUFFIXES = ("/stream", "/wait", "/join", "/ws")


def scrub_text(value: str) -> str:
    """``value`` with tokens, keys and URL credentials replaced by ``[Filtered]``."""
    for pattern, repl in _PATTERNS:
        value = pattern.sub(repl, value)
    return value


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def scrub_event(event: Any, _hint: Any) -> Any:
    """``before_send``: drop request bodies and cookies, scrub every string."""
    request = event.get("request")
    if isinstance(request, dict):
        request.pop("data", None)
        request.pop("cookies", None)
    return _scrub(event)


def make_sampler(rate: float) -> Callable[[dict[str, Any]], float]:
    """A ``traces_sampler``: ``rate`` of requests, never probes, metrics or streams."""

    def sampler(ctx: dict[str, Any]) -> float:
        path = str((ctx.get("asgi_scope") or {}).get("path", ""))
        if path in UNTRACED_PATHS or path.endswith(UNTRACED_SUFFIXES):
            return 0.0
        parent = ctx.get("parent_sampled")
        return rate if parent is None else float(parent)

    return sampler


def init_sentry(settings: Settings) -> bool:
    """Start sentry-sdk when a DSN is set (before the app is built); True when it is on."""
    if settings.sentry_dsn is None or not settings.sentry_dsn.get_secret_value():
        return False
    import sentry_sdk
    from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber

    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        release=f"nexod@{__version__}",
        environment=settings.sentry_environment,
        traces_sample_rate=settings.sentry_traces_sample_rate,
        traces_sampler=make_sampler(settings.sentry_traces_sample_rate),
        send_default_pii=False,
        max_request_body_size="never",
        # Frames' locals hold run state: documents, prompts, user data. Never sent.
        include_local_variables=False,
        event_scrubber=EventScrubber(denylist=[*DEFAULT_DENYLIST, *DENYLIST], recursive=True),
        before_send=scrub_event,
        before_breadcrumb=lambda crumb, _hint: _scrub(crumb),
    )
    return True


def capture_run_error(exc: BaseException, *, run_id: str, thread_id: str, org_id: str,
                      assistant_id: str, graph_id: str) -> None:
    """Report a run's failure, tagged with its ids (a no-op unless Sentry is on)."""
    import sentry_sdk

    with sentry_sdk.new_scope() as scope:
        scope.set_tag("run_id", run_id)
        scope.set_tag("thread_id", thread_id)
        scope.set_tag("org_id", org_id)
        scope.set_tag("assistant_id", assistant_id)
        scope.set_tag("graph_id", graph_id)
        sentry_sdk.capture_exception(exc)
