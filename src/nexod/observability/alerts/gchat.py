"""Google Chat incoming-webhook notifier: one card per message, threaded by alert key.

Messages about one alert (firing, reminders, resolved) land in one thread: the body carries
``thread.threadKey`` and the URL ``messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD``.
The webhook URL holds the space's key and token: it is a secret and never logged.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from nexod.observability.alerts.base import AlertMessage, Notifier
from nexod.observability.alerts.webhook import post_json
from nexod.serde import dumps

ICONS = {"firing": "🔴", "repeat": "🟠", "resolved": "✅"}
STATES = {"firing": "FIRING", "repeat": "STILL FIRING", "resolved": "RESOLVED"}


def thread_url(url: str) -> str:
    """``url`` with ``messageReplyOption`` set so messages join their thread."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "messageReplyOption"]
    query.append(("messageReplyOption", "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"))
    return urlunsplit(parts._replace(query=urlencode(query)))


def card(message: AlertMessage) -> dict[str, Any]:
    """The Chat message body: a ``cardsV2`` card and the thread key."""
    widgets: list[dict[str, Any]] = [{"textParagraph": {"text": message.summary}}]
    facts = {"Severity": message.severity, "Count": str(message.count),
             "Since": message.started_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
             **{k.replace("_", " ").capitalize(): str(v) for k, v in message.details.items()}}
    widgets += [{"decoratedText": {"topLabel": k, "text": v[:500]}} for k, v in facts.items()]
    if message.link:
        widgets.append({"buttonList": {"buttons": [
            {"text": "Open", "onClick": {"openLink": {"url": message.link}}}]}})
    digest = hashlib.sha1(f"{message.key}:{message.state}:{message.count}".encode()).hexdigest()[:12]
    return {
        "text": f"{ICONS[message.state]} *{STATES[message.state]}* {message.title}",
        "cardsV2": [{"cardId": f"alert-{digest}", "card": {
            "header": {"title": f"{ICONS[message.state]} {message.title}",
                       "subtitle": f"{STATES[message.state]} · {message.rule} · {message.severity}"},
            "sections": [{"header": "Details", "widgets": widgets}]}}],
        "thread": {"threadKey": message.key},
    }


class GoogleChatNotifier(Notifier):
    """Posts cards to a Google Chat space's incoming webhook."""

    name = "google_chat"

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self._url = thread_url(url)
        self._client = httpx.AsyncClient(timeout=timeout)

    async def send(self, message: AlertMessage) -> None:
        """See :meth:`Notifier.send`."""
        await post_json(self._client, self._url, dumps(card(message)), what=self.name,
                        key=message.key)

    async def aclose(self) -> None:
        """See :meth:`Notifier.aclose`."""
        await self._client.aclose()
