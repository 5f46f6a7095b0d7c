"""A real HTTP server on loopback that records what is posted to it: Google Chat webhooks,
generic webhooks and Sentry envelopes all arrive here in the tests."""

from __future__ import annotations

import gzip
import json
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Received:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def envelope(self) -> list[Any]:
        """A Sentry envelope: the header, then each item's header and payload, as JSON."""
        return [json.loads(line) for line in self.body.splitlines() if line.strip()]


class Receiver:
    """Answers 200 to every POST and keeps it; ``url`` is where to point a client."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                encoding = (self.headers.get("content-encoding") or "").lower()
                if encoding == "gzip":
                    raw = gzip.decompress(raw)
                elif encoding == "deflate":
                    raw = zlib.decompress(raw)
                parts = urlsplit(self.path)
                with outer._lock:
                    outer.requests.append(Received(parts.path, parse_qs(parts.query),
                                                   {k.lower(): v for k, v in self.headers.items()}, raw))
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def matching(self, pred: Callable[[Received], bool]) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if pred(r)]

    def wait_for(self, pred: Callable[[Received], bool], count: int = 1, timeout: float = 15) -> list[Received]:
        """Wait until ``count`` requests match ``pred``; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.matching(pred)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"{len(self.matching(pred))} of {count} expected requests arrived "
                             f"in {timeout} s; got {[(r.path, r.body[:200]) for r in self.requests]}")
