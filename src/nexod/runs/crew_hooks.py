"""Deliver a crew run's webhooks: CrewAI's per-URL hooks and its event-streaming envelope.

Set per run in ``kwargs["crew_webhooks"]`` (by a kickoff or a resume):

* ``taskWebhookUrl``: each ``task_completed`` (task id, agent, output, time);
* ``stepWebhookUrl``: every crew event (task started, tool used, feedback requested…);
* ``crewWebhookUrl``: the end of the run (status, result, each task's output);
* ``humanInputWebhook``: a task waiting for a person (execution id, task id, output);
* ``webhooks``: ``{"events": [...], "url"}``: matching events in AMP's
  ``{"events": [{id, execution_id, timestamp, type, data}]}`` envelope.

Posts go out in order, one run at a time, each with 3 tries and back-off; a target that
keeps failing is logged and skipped (the run itself never waits on or fails for a webhook).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import httpx

from nexod.serde import dumps, utcnow

log = logging.getLogger("nexod.webhooks")


def _auth_headers(auth: dict[str, Any] | None) -> dict[str, str]:
    if not auth:
        return {}
    if auth.get("strategy") == "bearer" and auth.get("token"):
        return {"authorization": f"Bearer {auth['token']}"}
    if auth.get("strategy") == "basic":
        import base64

        raw = f"{auth.get('username', '')}:{auth.get('password', '')}".encode()
        return {"authorization": "Basic " + base64.b64encode(raw).decode()}
    return {}


class CrewHooks:
    """The webhook deliveries of one crew run, sent in order by one background task."""

    def __init__(self, config: dict[str, Any], *, run_id: str, timeout: float) -> None:
        self._config = config
        self._run_id = run_id
        self._kickoff_id = str(config.get("kickoff_id") or run_id)
        self._timeout = timeout
        self._queue: asyncio.Queue[tuple[str, dict[str, Any], dict[str, str]] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def for_run(cls, kwargs: dict[str, Any], *, run_id: str, timeout: float) -> CrewHooks | None:
        """Hooks for a run whose kwargs ask for any, else None."""
        config = kwargs.get("crew_webhooks")
        if not isinstance(config, dict) or not any(
            k in config for k in ("taskWebhookUrl", "stepWebhookUrl", "crewWebhookUrl",
                                  "humanInputWebhook", "webhooks")
        ):
            return None
        return cls(config, run_id=run_id, timeout=timeout)

    def _post(self, url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._deliver())
        self._queue.put_nowait((url, body, headers or {}))

    def on_event(self, name: str, data: Any) -> None:
        """Called for every event the run emits; crew events are ``custom`` ones."""
        if name != "custom" or not isinstance(data, dict) or "type" not in data:
            return
        kind = str(data["type"])
        c = self._config
        if kind == "task_completed" and c.get("taskWebhookUrl"):
            self._post(c["taskWebhookUrl"], {"kickoff_id": self._kickoff_id, **data})
        if c.get("stepWebhookUrl"):
            self._post(c["stepWebhookUrl"], {"kickoff_id": self._kickoff_id, **data})
        hi = c.get("humanInputWebhook")
        if kind == "human_feedback_requested" and isinstance(hi, dict):
            self._post(str(hi["url"]), {"kickoff_id": self._kickoff_id, "execution_id": self._kickoff_id,
                                        **data}, _auth_headers(hi.get("authentication")))
        stream = c.get("webhooks")
        if isinstance(stream, dict) and (not stream.get("events") or kind in stream["events"]):
            event = {"id": str(uuid.uuid4()), "execution_id": self._kickoff_id,
                     "timestamp": utcnow().isoformat(), "type": kind, "data": data}
            self._post(str(stream["url"]), {"events": [event]}, _auth_headers(stream.get("authentication")))

    async def finish(self, status: str, output: Any) -> None:
        """Send the crew webhook (if any) after everything queued, then stop."""
        url = self._config.get("crewWebhookUrl")
        values = output if isinstance(output, dict) else {}
        waiting = any(
            isinstance(i, dict) and isinstance(i.get("value"), dict)
            and i["value"].get("type") == "human_input"
            for i in values.get("__interrupt__") or []
        )
        if url and not waiting:
            outputs = values.get("outputs") or {}
            self._post(str(url), {
                "kickoff_id": self._kickoff_id, "run_id": self._run_id,
                "status": "completed" if status == "success" else status,
                "result": values.get("result"),
                "tasks": [{"task_id": k, "output": v.get("output"), "agent": v.get("agent")}
                          for k, v in outputs.items()],
                "usage": values.get("usage") or {},
                "error": (values.get("__error__") or {}).get("message"),
            })
        if self._task is not None:
            self._queue.put_nowait(None)
            await asyncio.shield(self._task)

    async def _deliver(self) -> None:
        async with httpx.AsyncClient(timeout=self._timeout) as client:
            while (item := await self._queue.get()) is not None:
                url, body, headers = item
                for attempt in range(3):
                    try:
                        resp = await client.post(url, content=dumps(body),
                                                 headers={"content-type": "application/json", **headers})
                        if resp.status_code < 500:
                            break
                    except httpx.HTTPError as exc:
                        log.warning("crew_webhook_failed", extra={"run_id": self._run_id, "error": repr(exc)})
                    await asyncio.sleep(0.5 * 2**attempt)
