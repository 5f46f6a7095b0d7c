"""The cache layers on a private Redis that is stopped mid-test: the API keeps answering from
the database (reads, writes, runs, authentication, revocation) and the cache is used again
once Redis is back."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.servers import RedisServer, Server

pytestmark = pytest.mark.skipif(not RedisServer.available(), reason="redis-server is not installed")


def _cli(tmp_path: Path, redis_url: str, *args: str) -> str:
    env = {"NEXOD_DATA_DIR": str(tmp_path), "NEXOD_REDIS_URL": redis_url, "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "nexod.cli", "keys", *args], env=env, capture_output=True,
                          text=True, check=True).stdout.strip()


def test_redis_stopped_and_back(tmp_path: Path) -> None:
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    srv = Server(tmp_path, redis_url=redis.url,
                 extra_env={"NEXOD_AUTH": "apikey", "NEXOD_POLL_INTERVAL": "0.2"})
    try:
        key = _cli(tmp_path, redis.url, "create", "--name", "outage", "--scope", "read", "--scope", "write",
                   "--scope", "run", "--scope", "administer")
        srv.start()
        c = httpx.Client(base_url=srv.url, headers={"x-api-key": key}, timeout=30)
        get = lambda: c.get("/assistants/steps")  # noqa: E731
        assert get().headers.get("x-cache") == "miss"
        assert get().headers.get("x-cache") == "hit"
        aid = get().json()["assistant_id"]
        created = c.post("/threads", json={}).json()["thread_id"]
        spare, third = (c.post("/auth/keys", json={"name": n, "scopes": ["read"]}).json() for n in ("spare", "third"))
        # A key cached in Redis (L1) stops working the moment it is revoked, even from the CLI.
        for _ in range(2):
            assert c.get("/auth/me", headers={"x-api-key": third["key"]}).status_code == 200
        _cli(tmp_path, redis.url, "revoke", third["key_id"])
        assert c.get("/auth/me", headers={"x-api-key": third["key"]}).status_code == 401
        assert c.get("/auth/me", headers={"x-api-key": spare["key"]}).status_code == 200

        redis.stop()
        started = time.monotonic()
        for _ in range(5):
            r = get()
            assert r.status_code == 200 and r.json()["assistant_id"] == aid
            assert r.headers.get("x-cache") in (None, "miss")
        assert time.monotonic() - started < 10
        assert c.get(f"/threads/{created}").status_code == 200
        r = c.post(f"/threads/{created}/runs/wait", json={"assistant_id": "steps", "input": {}})
        assert r.status_code == 200 and r.json()["done"] == ["s1", "s2", "s3", "s4", "s5"], r.text
        # Revoked while Redis is down: refused at once, and still after Redis is back.
        assert c.delete(f"/auth/keys/{spare['key_id']}").status_code == 204
        assert c.get("/auth/me", headers={"x-api-key": spare["key"]}).status_code == 401
        # Writes still invalidate nothing that could be served stale: the cache is not read.
        assert c.patch(f"/assistants/{aid}", json={"name": "renamed"}).status_code == 200
        assert get().json()["name"] == "renamed"

        redis = RedisServer(tmp_path / "redis", port=redis.port)
        redis.start()
        deadline = time.monotonic() + 20
        seen = []
        while time.monotonic() < deadline:
            seen.append(get().headers.get("x-cache"))
            if seen[-1] == "hit":
                break
            time.sleep(0.3)
        assert seen[-1] == "hit", seen
        assert c.get("/auth/me", headers={"x-api-key": spare["key"]}).status_code == 401
        assert get().json()["name"] == "renamed"
        assert c.get("/ready").json()["checks"]["redis"] == "ok"
    finally:
        srv.stop()
        redis.stop()
