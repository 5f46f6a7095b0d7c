"""Shared fixtures: real `nexod serve` processes on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from tests.servers import RedisServer, Server, postgres_database

PG_URL = os.environ.get("NEXOD_TEST_DATABASE_URL")


def pg_admin_url() -> str:
    """The test PostgreSQL server; `make test` starts it and sets NEXOD_TEST_DATABASE_URL."""
    if not PG_URL:
        pytest.skip("NEXOD_TEST_DATABASE_URL is not set: run `make test`, which starts PostgreSQL")
    return PG_URL


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """Each API test runs once per storage backend."""
    return str(request.param)


@pytest.fixture(scope="session")
def server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server per backend for the whole session."""
    data = tmp_path_factory.mktemp(f"server-{backend}")
    if backend == "postgres":
        with postgres_database(pg_admin_url()) as url:
            srv = Server(data, database_url=url)
            srv.start()
            yield srv
            srv.stop()
    else:
        srv = Server(data)
        srv.start()
        yield srv
        srv.stop()


@pytest.fixture
async def client(server: Server) -> AsyncIterator[LangGraphClient]:
    """The official langgraph-sdk client pointed at the server under test."""
    c = get_client(url=server.url)
    yield c
    await c.http.client.aclose()


@pytest.fixture
def fresh_dir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A private redis-server for one test module (a test may stop and start it)."""
    if not RedisServer.available():
        pytest.skip("redis-server is not installed: run `make test`, which installs it")
    srv = RedisServer(tmp_path_factory.mktemp("redis"))
    srv.start()
    yield srv
    srv.stop()
