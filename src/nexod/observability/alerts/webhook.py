"""The generic webhook notifier (the message as JSON) and the log notifier."""

from __future__ import annotations

import asyncio
import logging

import httpx

from nexod.observability.alerts.base import AlertMessage, Notifier
from nexod.serde import dumps

log = logging.getLogger("nexod.alerts")


async def post_json(client: httpx.AsyncClient, url: str, body: bytes, *, what: str,
                    key: str, tries: int = 3) -> None:
    """POST ``body``; retry on 429, 5xx and connection errors with back-off; log a failure."""
    for attempt in range(tries):
        try:
            resp = await client.post(url, content=body,
                                     headers={"content-type": "application/json; charset=UTF-8"})
            if resp.status_code < 300:
                return
            if resp.status_code != 429 and resp.status_code < 500:
                log.warning("alert_delivery_refused", extra={
                    "notifier": what, "key": key, "status": resp.status_code,
                    "reason": resp.text[:200]})
                return
        except httpx.HTTPError as exc:
            if attempt == tries - 1:
                log.warning("alert_delivery_failed", extra={"notifier": what, "key": key,
                                                            "error": type(exc).__name__})
                return
        await asyncio.sleep(0.5 * 2**attempt)
    log.warning("alert_delivery_failed", extra={"notifier": what, "key": key})


class WebhookNotifier(Notifier):
    """POSTs :meth:`AlertMessage.as_dict` as JSON to a URL."""

    name = "webhook"

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self._url = url
        self._client = httpx.AsyncClient(timeout=timeout)

    async def send(self, message: AlertMessage) -> None:
        """See :meth:`Notifier.send`."""
        await post_json(self._client, self._url, dumps(message.as_dict()), what=self.name,
                        key=message.key)

    async def aclose(self) -> None:
        """See :meth:`Notifier.aclose`."""
        await self._client.aclose()


class LogNotifier(Notifier):
    """Writes each message to the ``nexod.alerts`` log (always on)."""

    name = "log"

    async def send(self, message: AlertMessage) -> None:
        """See :meth:`Notifier.send`."""
        level = logging.INFO if message.state == "resolved" else logging.WARNING
        log.log(level, f"alert_{message.state}", extra={
            "alert_id": message.alert_id, "key": message.key, "rule": message.rule,
            "severity": message.severity, "title": message.title, "count": message.count,
            "summary": message.summary, **{f"detail_{k}": v for k, v in message.details.items()}})
