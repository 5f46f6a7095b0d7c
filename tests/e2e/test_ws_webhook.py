"""Run events over WebSocket, and run webhooks on completion."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import pytest
import websockets
from langgraph_sdk.client import LangGraphClient

from tests.servers import Server, free_port, ws_error


async def test_websocket_streams_run_events(client: LangGraphClient, server: Server) -> None:
    t = await client.threads.create()
    run = await client.runs.create(t["thread_id"], "steps", input={}, stream_mode=["updates"],
                                   config={"configurable": {"delay": 0.05}})
    url = server.url.replace("http://", "ws://") + f"/threads/{t['thread_id']}/runs/{run['run_id']}/ws?last_event_id=-1"
    messages: list[dict[str, Any]] = []
    async with websockets.connect(url) as ws:
        async for raw in ws:
            messages.append(json.loads(raw))
    assert messages[0]["event"] == "metadata"
    assert [next(iter(m["data"])) for m in messages if m["event"] == "updates"] == ["s1", "s2", "s3", "s4", "s5"]
    assert [m["id"] for m in messages] == sorted(m["id"] for m in messages)


async def test_websocket_unknown_run_closes_with_error(client: LangGraphClient, server: Server) -> None:
    t = await client.threads.create()
    url = server.url.replace("http://", "ws://") + f"/threads/{t['thread_id']}/runs/00000000-0000-0000-0000-000000000000/ws"
    message, code = await ws_error(url)
    assert "not found" in message and code == 4404


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        _Receiver.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    port = free_port()
    httpd = HTTPServer(("127.0.0.1", port), _Receiver)
    _Receiver.received = []
    th = threading.Thread(target=httpd.serve_forever, daemon=True)
    th.start()
    yield f"http://127.0.0.1:{port}/hook", _Receiver.received
    httpd.shutdown()


async def test_webhook_called_on_completion(client: LangGraphClient, receiver: tuple[str, list[dict[str, Any]]]) -> None:
    url, received = receiver
    t = await client.threads.create()
    run = await client.runs.create(t["thread_id"], "greeter", input={"value": "hook"}, webhook=url)
    await client.runs.join(t["thread_id"], run["run_id"])
    for _ in range(100):
        if received:
            break
        await asyncio.sleep(0.05)
    assert len(received) == 1
    body = received[0]
    assert body["run_id"] == run["run_id"] and body["status"] == "success"
    assert body["values"] == {"value": "hello hook"}
    assert body["thread_id"] == t["thread_id"]
