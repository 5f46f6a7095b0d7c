"""Observability through a real `nexod serve`: /metrics after real requests and runs, the
alert engine posting to a real Google Chat receiver on loopback, Sentry envelopes reaching a
real receiver scrubbed, the SLO report over HTTP and from `nexod slo`."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.identity import ClerkDouble
from tests.receiver import Received, Receiver
from tests.servers import RedisServer, Server

WINDOW = 6  # seconds of the error-count rule: short, so "resolved" comes quickly
QUIET = 3  # seconds without failure before a run-failure alert resolves
SECRETS = ("0123456789abcdef", "9f8e7d6c5b4a3210", "hunter2", "sk-req-secret-4242")
# Secrets and "document text" handed to the failing graph, which puts them in its error.
LEAKY_INPUT = {"value": "sk-live-0123456789abcdef", "trail": ["tok_9f8e7d6c5b4a3210", "hunter2"]}
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass
class Observed:
    server: Server
    chat: Receiver
    hook: Receiver
    sentry: Receiver

    def chat_thread(self, key: str) -> list[Received]:
        return self.chat.matching(lambda r: r.json().get("thread", {}).get("threadKey") == key)


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    with Receiver() as chat, Receiver() as hook, Receiver() as sentry:
        rules = [{"kind": "error_count", "threshold": 10, "window": WINDOW},
                 {"kind": "run_failed", "quiet": QUIET}]
        env = {
            "NEXOD_ALERT_RULES": json.dumps(rules),
            "NEXOD_ALERT_INTERVAL": "0.3",
            "NEXOD_ALERT_GOOGLE_CHAT_URL": f"{chat.url}/v1/spaces/AAA/messages?key=k-secret&token=t-secret",
            "NEXOD_ALERT_WEBHOOK_URL": f"{hook.url}/alerts",
            "NEXOD_SENTRY_DSN": f"http://publickey@127.0.0.1:{sentry.url.rsplit(':', 1)[1]}/42",
            "NEXOD_SENTRY_TRACES_SAMPLE_RATE": "0",
            "NEXOD_PUBLIC_URL": "https://nexod.example",
        }
        server = Server(tmp_path_factory.mktemp("observed"), extra_env=env)
        server.start()
        try:
            yield Observed(server, chat, hook, sentry)
        finally:
            server.stop()


def metrics(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Every sample of /metrics by sample name."""
    resp = httpx.get(f"{url}/metrics")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(resp.text):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def value(samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    """The sum of ``name`` over the samples whose labels include ``labels``."""
    return sum(v for lab, v in samples.get(name, []) if labels.items() <= lab.items())


def run_wait(http: httpx.Client, graph: str, inp: dict[str, object] | None = None) -> tuple[str, str, object]:
    thread_id = http.post("/threads", json={}).json()["thread_id"]
    resp = http.post(f"/threads/{thread_id}/runs/wait", json={"assistant_id": graph, "input": inp or {}})
    assert resp.status_code == 200, resp.text
    run_id = resp.headers["content-location"].rsplit("/", 1)[1]
    return thread_id, run_id, resp.json()


def test_metrics_after_real_requests_and_runs(observed: Observed) -> None:
    with httpx.Client(base_url=observed.server.url, timeout=30) as http:
        before = metrics(observed.server.url)
        run_wait(http, "steps")
        missing = http.get(f"/threads/{uuid.uuid4()}", headers={"X-Request-ID": "req-test-1"})
        assert missing.status_code == 404 and missing.headers["x-request-id"] == "req-test-1"
        assert len(http.get("/ok").headers["x-request-id"]) == 32  # generated when not sent
        bad = http.get("/ok", headers={"X-Request-ID": "no spaces allowed"})
        assert bad.headers["x-request-id"] != "no spaces allowed"
        with http.stream("POST", "/runs/stream", json={"assistant_id": "steps", "input": {}}) as s:
            assert s.status_code == 200
            s.read()
        # A run is recorded just after its output is published: poll until both are in.
        deadline = time.monotonic() + 15
        while True:
            after = metrics(observed.server.url)
            done = value(after, "nexod_run_duration_seconds_count", graph="steps", outcome="success")
            if done - value(before, "nexod_run_duration_seconds_count", graph="steps",
                            outcome="success") >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.1)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    http_s = "nexod_http_request_duration_seconds"
    assert grew(f"{http_s}_count", route="/threads/{thread_id}", method="GET", status="404") == 1
    assert grew(f"{http_s}_count", route="/threads", method="POST", status="200") == 1
    assert 0 < value(after, f"{http_s}_sum", route="/threads") < 10
    # Streams and waits are apart from API latency.
    stream = "nexod_http_stream_duration_seconds_count"
    assert grew(stream, route="/threads/{thread_id}/runs/wait", status="200") == 1
    assert grew(stream, route="/runs/stream", method="POST", status="200") == 1
    assert not any(lab.get("route", "").endswith(("/wait", "/stream")) for lab, _ in after[f"{http_s}_count"])
    # The 300 ms edge is there: the seed's API p95 target can be read off the histogram.
    assert any(lab.get("le") == "0.3" for lab, _ in after[f"{http_s}_bucket"])
    # Runs by graph and outcome, and every node of the graph.
    assert grew("nexod_run_duration_seconds_count", graph="steps", outcome="success") == 2
    assert 0 < value(after, "nexod_run_duration_seconds_sum", graph="steps") < 30
    for node in ("s1", "s2", "s3", "s4", "s5"):
        assert grew("nexod_node_duration_seconds_count", graph="steps", node=node) == 2
    # SQL, with plausible times.
    selects = value(after, "nexod_db_query_duration_seconds_count", op="SELECT")
    assert grew("nexod_db_query_duration_seconds_count", op="INSERT") >= 2
    assert 0 < value(after, "nexod_db_query_duration_seconds_sum", op="SELECT") < selects * 1.0
    # Events, queue, runs in flight.
    assert grew("nexod_events_published_total") >= 2 * 6  # each run: metadata + 5 steps
    assert value(after, "nexod_queue_runs", state="pending") == 0
    assert {lab["state"] for lab, _ in after["nexod_queue_runs"]} == {"pending", "scheduled", "running"}
    assert value(after, "nexod_runs_in_flight") == 0
    # Labels stay low-cardinality: no ids anywhere.
    for samples in after.values():
        for lab, _ in samples:
            assert not any(UUID_RE.search(v) for v in lab.values()), lab


def test_model_calls_and_cache_layers_in_metrics(redis_server: RedisServer, tmp_path: Path) -> None:
    """A crew on the scripted model reports each model call (labels, tokens, cost agreeing with
    the crew's own usage); L1 session and L3 response lookups are counted hit and miss."""
    from tests.e2e.test_crews import CONFIG, ENV

    clerk = ClerkDouble()
    prices = {"scripted-1": [1000.0, 2000.0]}  # per million tokens: large, so cost is visible
    env = {**ENV, **clerk.env(), "NEXOD_LLM_PRICES": json.dumps(prices)}
    srv = Server(tmp_path, config=CONFIG, extra_env=env, redis_url=redis_server.url)
    srv.start()
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as http:
            token = clerk.token("user_obs", "org_obs", "org:admin")
            login = http.post("/auth/sessions", headers={"Authorization": f"Bearer {token}"})
            assert login.status_code == 201, login.text
            session = {"nexod_session": login.cookies["nexod_session"]}
            http.cookies.clear()
            before = metrics(srv.url)
            kid = http.post("/crews/research/kickoff", json={"inputs": {"topic": "metrics"}},
                            cookies=session).json()["kickoff_id"]
            deadline = time.monotonic() + 30
            while (done := http.get(f"/crews/research/status/{kid}", cookies=session).json())["status"] != "completed":
                assert time.monotonic() < deadline and done["status"] == "running", done
                time.sleep(0.1)
            usage = done["result"]["usage"]
            # L3: the same read twice (a miss, then a hit); L1: every request above resolved the
            # session from Redis; after logout the cached copy is gone (a miss, then a 401).
            assert http.get("/assistants/research", cookies=session).headers["x-cache"] == "miss"
            assert http.get("/assistants/research", cookies=session).headers["x-cache"] == "hit"
            assert http.delete("/auth/sessions", cookies=session).status_code == 204
            assert http.get("/assistants/research", cookies=session).status_code == 401
            after = metrics(srv.url)
    finally:
        srv.stop()

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    model = {"provider": "scriptedchatmodel", "model": "scripted-1"}
    calls = sum(int(u["calls"]) for u in usage.values())
    inp = sum(int(u["input_tokens"]) for u in usage.values())
    out = sum(int(u["output_tokens"]) for u in usage.values())
    assert calls >= 3 and inp > 0 and out > 0
    assert grew("nexod_model_call_duration_seconds_count", **model, outcome="ok") == calls
    assert grew("nexod_model_call_duration_seconds_count", outcome="error") == 0
    assert 0 < grew("nexod_model_call_duration_seconds_sum", **model) < 30
    assert grew("nexod_model_tokens_total", **model, kind="input") == inp
    assert grew("nexod_model_tokens_total", **model, kind="output") == out
    cost = grew("nexod_model_cost_usd_total", **model)
    assert cost == pytest.approx((inp * 1000 + out * 2000) / 1e6)
    assert cost == pytest.approx(sum(float(u["cost"]) for u in usage.values()))
    cache = "nexod_cache_requests_total"
    assert grew(cache, layer="api_responses", result="miss") >= 1
    assert grew(cache, layer="api_responses", result="hit") >= 1
    assert grew(cache, layer="sessions", result="hit") >= 4  # kickoff, status polls, two reads
    assert grew(cache, layer="sessions", result="miss") >= 1  # the ended session
    for samples in after.values():
        for lab, _ in samples:
            assert not any(UUID_RE.search(v) for v in lab.values()), lab


def test_error_storm_is_one_chat_message_then_resolved(observed: Observed) -> None:
    db = observed.server.data_dir / ".nexod" / "nexod.db"
    if not db.exists():
        db = next(observed.server.data_dir.rglob("nexod.db"))
    key = "error_count"
    with sqlite3.connect(db, timeout=30) as conn:
        conn.execute("ALTER TABLE assistants RENAME TO assistants_away")
    try:
        def fail(i: int) -> int:
            # A fresh connection each: uvicorn closes the connection after a crashed request.
            return httpx.get(f"{observed.server.url}/assistants/{uuid.uuid4()}", timeout=30, headers={
                "X-Request-ID": f"storm-{i}", "Authorization": "Bearer sk-req-secret-4242"}).status_code

        with ThreadPoolExecutor(4) as pool:
            assert list(pool.map(fail, range(11))) == [500] * 11
        firing = observed.chat.wait_for(
            lambda r: r.json().get("thread", {}).get("threadKey") == key, timeout=10)
    finally:
        with sqlite3.connect(db, timeout=30) as conn:
            conn.execute("ALTER TABLE assistants_away RENAME TO assistants")
    msg = firing[0]
    assert msg.path == "/v1/spaces/AAA/messages"
    assert msg.query["key"] == ["k-secret"] and msg.query["token"] == ["t-secret"]
    assert msg.query["messageReplyOption"] == ["REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"]
    body = msg.json()
    card = body["cardsV2"][0]["card"]
    assert "FIRING" in card["header"]["subtitle"] and "11 failed requests" in card["header"]["title"]
    widgets = card["sections"][0]["widgets"]
    facts = {w["decoratedText"]["topLabel"]: w["decoratedText"]["text"] for w in widgets if "decoratedText" in w}
    assert facts["Errors"] == "11" and facts["Threshold"] == "10"
    # It clears once the window has passed: a resolved message in the same thread.
    resolved = observed.chat.wait_for(
        lambda r: r.json().get("thread", {}).get("threadKey") == key
        and "RESOLVED" in r.json()["cardsV2"][0]["card"]["header"]["subtitle"], timeout=WINDOW + 10)
    # The storm was evaluated many times while it lasted: still one message, then "resolved".
    subtitles = [r.json()["cardsV2"][0]["card"]["header"]["subtitle"].split(" ")[0]
                 for r in observed.chat_thread(key)]
    assert len(resolved) == 1 and subtitles == ["FIRING", "RESOLVED"]
    # The generic webhook saw both, as JSON.
    states = [r.json()["state"] for r in observed.hook.matching(lambda r: r.json()["key"] == key)]
    assert states == ["firing", "resolved"]
    # Stored and listed through the API.
    listed = httpx.get(f"{observed.server.url}/alerts", params={"status": "resolved"}).json()
    assert any(a["key"] == key and a["resolved_at"] for a in listed)
    # The request ids are in the logs of the failed requests.
    logs = observed.server.logs()
    assert all(f'"request_id":"storm-{i}"' in logs for i in range(11))
    # Sentry received the failures, with the bearer token filtered out.
    events = observed.sentry.wait_for(lambda r: b"OperationalError" in r.body, timeout=10)
    for r in events:
        assert not any(s.encode() in r.body for s in SECRETS), r.body[:2000]
        event = r.envelope()[2]
        assert event["tags"]["request_id"].startswith("storm-")


def test_failing_run_alerts_at_once_and_reaches_sentry_scrubbed(observed: Observed) -> None:
    key = "run_failed:leaky"
    with httpx.Client(base_url=observed.server.url, timeout=30) as http:
        thread_id, run_id, out = run_wait(http, "leaky", LEAKY_INPUT)
        assert out["__error__"]["error"] == "RuntimeError"  # type: ignore[index]
        started = time.monotonic()
        first = observed.chat.wait_for(
            lambda r: r.json().get("thread", {}).get("threadKey") == key, timeout=10)
        assert time.monotonic() - started < 5  # immediate, not after a window
        run_wait(http, "leaky", LEAKY_INPUT)  # a second failure adds to the same alert
        deadline = time.monotonic() + 10
        while True:
            firing = [a for a in http.get("/alerts", params={"status": "firing"}).json() if a["key"] == key]
            if (firing and firing[0]["count"] == 2) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert len(firing) == 1 and firing[0]["count"] == 2
        assert len(observed.chat_thread(key)) == 1  # counted, not posted again
    card = first[0].json()["cardsV2"][0]["card"]
    assert card["header"]["title"].endswith("Run failed: leaky")
    buttons = [w for w in card["sections"][0]["widgets"] if "buttonList" in w]
    link = buttons[0]["buttonList"]["buttons"][0]["onClick"]["openLink"]["url"]
    assert link == f"https://nexod.example/threads/{thread_id}/runs/{run_id}"
    hooked = observed.hook.wait_for(lambda r: r.json()["key"] == key)[0].json()
    assert hooked["state"] == "firing" and hooked["details"]["run_id"] == run_id
    assert hooked["severity"] == "critical"
    # No more failures: resolved after the quiet period, with the count.
    resolved = observed.chat.wait_for(
        lambda r: r.json().get("thread", {}).get("threadKey") == key
        and "RESOLVED" in r.json()["cardsV2"][0]["card"]["header"]["subtitle"], timeout=QUIET + 10)
    assert "2 occurrence(s)" in json.dumps(resolved[0].json())
    # Sentry: the run's error, tagged with its ids, secrets and the local key scrubbed.
    events = observed.sentry.wait_for(lambda r: run_id.encode() in r.body, timeout=10)
    raw = events[0].body
    assert b"RuntimeError" in raw
    for secret in SECRETS:
        assert secret.encode() not in raw, secret
    event = events[0].envelope()[2]
    assert event["tags"]["run_id"] == run_id and event["tags"]["thread_id"] == thread_id
    assert event["tags"]["org_id"] == "local" and event["tags"]["graph_id"] == "leaky"
    assert event["tags"]["assistant_id"]


def test_slo_report_over_http_and_cli(observed: Observed) -> None:
    url = observed.server.url
    with httpx.Client(base_url=url, timeout=30) as http:
        for _ in range(5):
            http.get("/info")
        run_wait(http, "steps")
        report = http.get("/slo", params={"window": 600}).json()
        assert http.get("/slo", params={"window": 0}).status_code == 422
        assert http.get("/slo", params={"window": "soon"}).status_code == 422
        assert http.get("/alerts", params={"status": "sleeping"}).status_code == 422
    slos = {s["name"]: s for s in report["slos"]}
    assert set(slos) == {"api", "agent", "database", "vector"}
    assert report["window_seconds"] == 600 and report["covered_seconds"] > 0
    api = slos["api"]
    assert api["target_p95_seconds"] == 0.3 and api["count"] >= 5
    assert 0 < api["p50_seconds"] <= api["p95_seconds"] < 30
    # The verdict follows the numbers (the storm test's slow 500s may well have broken it).
    for s in slos.values():
        assert s["holds"] is (None if s["p95_seconds"] is None else s["p95_seconds"] <= s["target_p95_seconds"])
    assert slos["agent"]["count"] >= 1 and slos["agent"]["target_p95_seconds"] == 5.0
    assert slos["database"]["count"] > 0
    assert slos["vector"] == {**slos["vector"], "count": 0, "p95_seconds": None, "holds": None}
    cli = [sys.executable, "-m", "nexod.cli", "slo", "--url", url]
    out = subprocess.run([*cli, "--json", "--window", "600"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert {s["name"] for s in json.loads(out.stdout)["slos"]} == set(slos)
    table = subprocess.run(cli, capture_output=True, text=True, timeout=60, env={"COLUMNS": "120", "PATH": ""})
    # Exit status 3 says a target is missed, for scripts and cron checks.
    assert table.returncode == (3 if any(s["holds"] is False for s in slos.values()) else 0), table.stderr
    assert "api" in table.stdout and "300.0 ms" in table.stdout
    down = subprocess.run([*cli[:-1], "http://127.0.0.1:9"], capture_output=True, text=True, timeout=60)
    assert down.returncode == 1 and "cannot reach" in down.stderr


def test_py_spy_recipe_on_a_live_server(observed: Observed) -> None:
    """The README's profiling recipe works on a running server."""
    py_spy = Path(sys.executable).with_name("py-spy")
    if not py_spy.exists():
        pytest.skip("py-spy is not installed (pip install 'nexod[profile]')")
    out = subprocess.run([str(py_spy), "dump", "--pid", str(observed.server.pid)],
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0 and "ermission" in out.stderr + out.stdout:
        pytest.skip(f"ptrace is not allowed here: {out.stderr.strip()[:200]}")
    assert out.returncode == 0, out.stderr
    assert "MainThread" in out.stdout and "nexod" in out.stdout


def test_metrics_off(tmp_path: Path) -> None:
    """NEXOD_METRICS=false: no series, no SLO report; request ids and alerts stay."""
    from fastapi.testclient import TestClient

    from nexod.app import create_app
    from nexod.settings import Settings
    from tests.servers import TEST_GRAPHS

    settings = Settings(data_dir=tmp_path, metrics=False, config=TEST_GRAPHS)
    with TestClient(create_app(settings)) as http:
        assert http.get("/metrics").status_code == 404
        assert http.get("/slo").json() == {"detail": "metrics are off (NEXOD_METRICS=false)"}
        assert http.get("/ok").headers["x-request-id"]
        assert http.get("/alerts").json() == []


def test_alerts_are_scoped_to_the_tenant_and_need_administer(tmp_path: Path) -> None:
    """With API keys: a tenant's admin sees its own run alerts and the platform's, never another
    tenant's; other roles get 403, no key 401. /metrics stays open to the scraper (no ids)."""
    env = {"NEXOD_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}

    def key(org: str, *scopes: str) -> str:
        args = [a for s in scopes for a in ("--scope", s)]
        return subprocess.run([sys.executable, "-m", "nexod.cli", "keys", "create", "--name", f"{org}-k",
                               "--org", org, *args], env=env, capture_output=True, text=True,
                              check=True).stdout.strip()

    a_admin = key("tenant-a", "read", "write", "run", "administer")
    b_admin = key("tenant-b", "read", "administer")
    a_reader = key("tenant-a", "read")
    server = Server(tmp_path, extra_env={"NEXOD_AUTH": "apikey", "NEXOD_ALERT_INTERVAL": "0.3"})
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=30, headers={"x-api-key": a_admin}) as http:
            _, run_id, _ = run_wait(http, "failing")
            deadline = time.monotonic() + 10
            while not (mine := http.get("/alerts").json()) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert [(a["key"], a["org_id"], a["details"]["run_id"]) for a in mine] == [
                ("run_failed:failing", "tenant-a", run_id)]
            assert http.get("/alerts", headers={"x-api-key": b_admin}).json() == []
            assert http.get("/alerts", headers={"x-api-key": a_reader}).status_code == 403
            assert http.get("/slo", headers={"x-api-key": a_reader}).status_code == 200
        assert httpx.get(f"{server.url}/alerts").status_code == 401
        assert httpx.get(f"{server.url}/slo").status_code == 401
        cli = [sys.executable, "-m", "nexod.cli", "slo", "--url", server.url, "--json"]
        assert subprocess.run(cli, capture_output=True, timeout=60).returncode == 1  # 401
        ok = subprocess.run([*cli, "--api-key", a_reader], capture_output=True, text=True, timeout=60)
        assert ok.returncode == 0 and json.loads(ok.stdout)["slos"], ok.stderr
        scraped = httpx.get(f"{server.url}/metrics")
        assert scraped.status_code == 200 and "tenant-a" not in scraped.text and run_id not in scraped.text
    finally:
        server.stop()
