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
                 extra_env: dict[str, str] | None = None, redis_url: str | None = None,
                 no_worker: bool = False) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.redis_url = redis_url
        self.no_worker = no_worker
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
        if self.redis_url:
            env["NEXOD_REDIS_URL"] = self.redis_url
        return env

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "nexod.cli", "serve", "--port", str(self.port), "--config", str(self.config)]
        return [*cmd, "--no-worker"] if self.no_worker else cmd

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/ok", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def start(self, timeout: float = 60) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self.command(), env=self.env(), stdout=log, stderr=subprocess.STDOUT, cwd=str(self.data_dir),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_path.read_text()[-3000:]}")
            if self.ready():
                return
            time.sleep(0.1)
        raise RuntimeError(f"server did not start:\n{self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 20) -> int | None:
        """SIGTERM, wait for the exit; the exit code (None when it had to be killed)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return None
        return self.proc.returncode if self.proc else None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def logs(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


class WorkerProcess(Server):
    """A `nexod worker` subprocess (no HTTP): ready once it logs that it started."""

    _started_before = 0

    def command(self) -> list[str]:
        return [sys.executable, "-m", "nexod.cli", "worker", "--config", str(self.config)]

    def start(self, timeout: float = 60) -> None:
        self._started_before = self.logs().count("nexod worker ready")
        super().start(timeout)

    def ready(self) -> bool:
        return self.logs().count("nexod worker ready") > self._started_before


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


class RedisServer:
    """A private `redis-server` (no persistence) that a test may stop and start again."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        import shutil

        return shutil.which("redis-server") is not None

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.data_dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


class PgBouncer:
    """A private PgBouncer in *transaction* pooling mode in front of the test PostgreSQL:
    a server connection is lent per transaction, so prepared statements or session state
    that outlive a transaction break, as on Supabase's or Neon's poolers."""

    BINARY = "/usr/sbin/pgbouncer"

    def __init__(self, upstream_url: str) -> None:
        import tempfile
        from urllib.parse import urlsplit

        up = urlsplit(upstream_url)
        # Its own folder under /tmp: run as root, pgbouncer drops to `postgres`, which cannot
        # enter pytest's private temporary folders.
        self.work_dir = Path(tempfile.mkdtemp(prefix="nexod-pgbouncer-"))
        self.port = free_port()
        self.user = up.username or "postgres"
        self.upstream = (up.hostname or "127.0.0.1", up.port or 5432)
        self.proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def available(cls) -> bool:
        return Path(cls.BINARY).exists()

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        self.work_dir.chmod(0o777)
        (self.work_dir / "users.txt").write_text(f'"{self.user}" ""\n')
        host, port = self.upstream
        ini = self.work_dir / "pgbouncer.ini"
        ini.write_text(
            "[databases]\n"
            f"* = host={host} port={port}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\n"
            f"unix_socket_dir =\nauth_type = trust\nauth_file = {self.work_dir / 'users.txt'}\n"
            "pool_mode = transaction\nmax_client_conn = 500\ndefault_pool_size = 10\n"
            f"logfile = {self.work_dir / 'pgbouncer.log'}\n"
            "ignore_startup_parameters = extra_float_digits,options\n"
        )
        for f in self.work_dir.iterdir():
            f.chmod(0o666)
        cmd = [self.BINARY, str(ini)]
        if os.geteuid() == 0:
            cmd = [self.BINARY, "-u", "postgres", str(ini)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = self.work_dir / "pgbouncer.log"
                raise RuntimeError(f"pgbouncer exited: {log.read_text() if log.exists() else ''}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("pgbouncer did not start")

    def stop(self) -> None:
        import shutil

        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        shutil.rmtree(self.work_dir, ignore_errors=True)
