"""Start and stop real `nexod serve` processes for tests and benchmarks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
TEST_GRAPHS = ROOT / "tests" / "graphs" / "langgraph.json"
# The local embedding model's ONNX export, shared by every test server (built once, ~1 s).
MODEL_CACHE = Path(tempfile.gettempdir()) / "nexod-test-models"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A `nexod serve` subprocess; can be killed and started again on the same data."""

    def __init__(self, data_dir: Path, *, database_url: str | None = None, config: Path = TEST_GRAPHS,
                 extra_env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.config = config
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_env = extra_env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / f"server-{self.port}.log"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEXOD_")}
        env.update(NEXOD_DATA_DIR=str(self.data_dir), NEXOD_HEARTBEAT_INTERVAL="1", NEXOD_LOG_LEVEL="info",
                   NEXOD_MODEL_CACHE=str(MODEL_CACHE))
        env.update(self.extra_env)
        if self.database_url:
            env["NEXOD_DATABASE_URL"] = self.database_url
        return env

    def start(self, timeout: float = 60) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "nexod.cli", "serve", "--port", str(self.port), "--config", str(self.config)],
            env=self.env(), stdout=log, stderr=subprocess.STDOUT, cwd=str(self.data_dir),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/ok", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not start:\n{self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def logs(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A fresh, empty database on the test PostgreSQL server; dropped afterwards."""
    import psycopg

    name = f"nexod_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def ws_error(url: str) -> tuple[str, int | None]:
    """Connect to a WebSocket that should refuse: the error message sent, and the close code."""
    import json

    import websockets

    async with websockets.connect(url) as ws:
        first = json.loads(await ws.recv())
        assert first["event"] == "error", first
        try:
            await ws.recv()
        except websockets.ConnectionClosed as closed:
            return str(first["data"]["message"]), closed.rcvd.code if closed.rcvd else None
    raise AssertionError("the socket stayed open after the error")
