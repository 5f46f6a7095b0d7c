"""Production mode: an API process (`--no-worker`) and a `nexod worker` share NEXOD_METRICS_DIR,
and the API's /metrics reports the runs the worker executed (prometheus multiprocess mode)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import pg_admin_url
from tests.servers import RedisServer, Server, WorkerProcess, postgres_database

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def samples(url: str, name: str) -> list[tuple[dict[str, str], float]]:
    text = httpx.get(f"{url}/metrics", timeout=30).text
    return [(s.labels, s.value) for f in text_string_to_metric_families(text) for s in f.samples
            if s.name == name]


def test_api_reports_the_workers_runs(tmp_path: Path) -> None:
    if not RedisServer.available():
        pytest.skip("redis-server is not installed: run `make test`, which installs it")
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    shared = tmp_path / "metrics"
    env = {"NEXOD_METRICS_DIR": str(shared)}
    try:
        with postgres_database(pg_admin_url()) as url:
            api = Server(tmp_path / "api", database_url=url, redis_url=redis.url, no_worker=True,
                         extra_env=env)
            worker = WorkerProcess(tmp_path / "worker", database_url=url, redis_url=redis.url,
                                   extra_env=env)
            api.start()
            worker.start()
            try:
                with httpx.Client(base_url=api.url, timeout=60) as http:
                    for graph in ("steps", "failing"):
                        thread = http.post("/threads", json={}).json()["thread_id"]
                        resp = http.post(f"/threads/{thread}/runs/wait",
                                         json={"assistant_id": graph, "input": {}})
                        assert resp.status_code == 200
                # The worker records a run just after publishing its output: poll briefly.
                deadline = time.monotonic() + 15
                while len(samples(api.url, "nexod_run_duration_seconds_count")) < 2:
                    assert time.monotonic() < deadline, "the worker's runs never showed up"
                    time.sleep(0.1)
                runs = samples(api.url, "nexod_run_duration_seconds_count")
                assert ({"graph": "steps", "outcome": "success"}, 1.0) in runs
                assert ({"graph": "failing", "outcome": "error"}, 1.0) in runs
                nodes = samples(api.url, "nexod_node_duration_seconds_count")
                assert ({"graph": "steps", "node": "s3"}, 1.0) in nodes
                # Both processes' SQL and the API's requests are in the one exposition.
                assert sum(v for _, v in samples(api.url, "nexod_db_query_duration_seconds_count")) > 10
                api_reqs = samples(api.url, "nexod_http_request_duration_seconds_count")
                assert any(lab["route"] == "/threads" for lab, _ in api_reqs)
                assert sorted(p.name.split("_")[-1] for p in shared.glob("histogram_*.db")) == sorted(
                    [f"{api.pid}.db", f"{worker.pid}.db"])
                # The worker's L2 agent-state cache (Redis) counted its lookups.
                cache = samples(api.url, "nexod_cache_requests_total")
                assert {lab["layer"] for lab, _ in cache} == {"agent_state"}
                assert sum(v for _, v in cache) >= 2
                # A live gauge: summed over live processes, the worker's gone when it exits.
                assert samples(api.url, "nexod_runs_in_flight") == [({}, 0.0)]
                assert worker.stop() == 0
                time.sleep(0.2)
                runs_after = samples(api.url, "nexod_run_duration_seconds_count")
                assert ({"graph": "steps", "outcome": "success"}, 1.0) in runs_after  # kept
            finally:
                worker.stop()
                api.stop()
    finally:
        redis.stop()
