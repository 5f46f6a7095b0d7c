"""The pure parts of observability: quantiles over windows, scrubbing, alert rule settings."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig

from nexod.errors import ConfigError
from nexod.llm.base import price
from nexod.observability.alerts.gchat import thread_url
from nexod.observability.base import Metrics
from nexod.observability.db import statement_op
from nexod.observability.models import ModelCallTimer
from nexod.observability.prometheus import Snapshot
from nexod.observability.rules import LatencyRule, RunFailedRule
from nexod.observability.sentry import scrub_text
from nexod.observability.slo import History, quantile
from nexod.settings import load_settings
from tests.graphs.scripted import ScriptedChatModel

INF = float("inf")


def snap(api: list[tuple[float, float]], errors: float = 0) -> Snapshot:
    s = Snapshot()
    s["buckets"] = {"api": api}
    s["errors"] = errors
    return s


def test_quantile_interpolates_like_prometheus() -> None:
    buckets = [(0.1, 50.0), (0.3, 90.0), (0.5, 100.0), (INF, 100.0)]
    assert quantile(0.5, buckets) == pytest.approx(0.1)
    assert quantile(0.95, buckets) == pytest.approx(0.4)  # halfway through the 0.3-0.5 bucket
    assert quantile(0.25, buckets) == pytest.approx(0.05)
    assert quantile(0.99, [(0.1, 1.0), (INF, 100.0)]) == 0.1  # beyond the last edge
    assert quantile(0.5, [(0.1, 0.0), (INF, 0.0)]) is None


def test_history_windows_are_differences() -> None:
    h = History(keep=100)
    h.add(snap([(0.1, 0), (INF, 0)]), now=0)
    h.add(snap([(0.1, 10), (INF, 10)], errors=2), now=10)
    h.add(snap([(0.1, 10), (INF, 30)], errors=5), now=20)
    now = snap([(0.1, 10), (INF, 40)], errors=12)
    w = h.window(10, now, now=30)  # from the snapshot at 20
    assert w.seconds == 10 and w.count("api") == 10 and w.errors == 7
    assert w.p(0.5, "api") == 0.1  # all ten beyond 0.1 s
    before = h.window(10, now, end_ago=10, now=30)  # 10 -> 20
    assert before.count("api") == 20 and before.errors == 3
    whole = h.window(1000, now, now=30)  # no older history: from the first snapshot
    assert whole.seconds == 30 and whole.count("api") == 40


def test_scrubbing() -> None:
    text = ("Bearer abcdef123456 token xyz987654321 sk-live-0123456789abcdef "
            "postgresql://app:hunter2@db:5432/x https://chat/x?key=AIza123&token=t0k&ok=1")
    out = scrub_text(text)
    for secret in ("abcdef123456", "xyz987654321", "0123456789abcdef", "hunter2", "AIza123", "t0k"):
        assert secret not in out
    assert "postgresql://app:[Filtered]@db:5432/x" in out and "ok=1" in out


def test_chat_url_threads_replies() -> None:
    url = thread_url("https://chat.googleapis.com/v1/spaces/A/messages?key=k&token=t")
    assert url.endswith("key=k&token=t&messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD")


def test_statement_labels_are_bounded() -> None:
    assert statement_op("  select 1") == "SELECT"
    assert statement_op("INSERT INTO x") == "INSERT"
    assert statement_op("PRAGMA foo") == "OTHER"
    assert statement_op("") == "OTHER"


def test_alert_rules_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEXOD_ALERT_RULES", '[{"kind": "latency", "slo": "api", "threshold": 0.4},'
                                            ' {"kind": "run_failed", "quiet": 60}]')
    rules = load_settings().alert_rules
    assert rules == [LatencyRule(kind="latency", slo="api", threshold=0.4),
                     RunFailedRule(kind="run_failed", quiet=60)]
    assert rules[0].title == "latency_api"
    monkeypatch.setenv("NEXOD_ALERT_RULES", "not json")
    with pytest.raises(ConfigError, match="NEXOD_ALERT_RULES: expected JSON"):
        load_settings()
    monkeypatch.setenv("NEXOD_ALERT_RULES", '[{"kind": "latency", "slo": "disk", "threshold": 1}]')
    with pytest.raises(ConfigError, match="NEXOD_ALERT_RULES"):
        load_settings()


def test_helper_api_for_models_vectors_and_caches() -> None:
    """What the knowledge, llm and cache capabilities call, as /metrics shows it."""
    from prometheus_client.parser import text_string_to_metric_families

    from nexod.observability.base import NullMetrics
    from nexod.observability.prometheus import PrometheusMetrics

    m = PrometheusMetrics()
    m.model_call(provider="openai", model="gpt-x", seconds=0.8, input_tokens=120, output_tokens=30,
                 cost_usd=0.0021)
    m.model_call(provider="openai", model="gpt-x", seconds=2.0, ok=False)
    m.vector_search(backend="pgvector", seconds=0.04)
    m.cache_lookup(layer="api_responses", hit=True)
    m.cache_lookup(layer="api_responses", hit=False)
    m.cache_lookup(layer="api_responses", hit=True)
    body, content_type = m.render()
    assert content_type.startswith("text/plain")
    got = {(s.name, tuple(sorted(s.labels.items()))): s.value
           for f in text_string_to_metric_families(body.decode()) for s in f.samples}
    model = (("model", "gpt-x"), ("outcome", "ok"), ("provider", "openai"))
    assert got["nexod_model_call_duration_seconds_count", model] == 1
    assert got["nexod_model_call_duration_seconds_bucket", (("le", "1.0"), *model)] == 1
    assert got["nexod_model_tokens_total", (("kind", "input"), ("model", "gpt-x"), ("provider", "openai"))] == 120
    assert got["nexod_model_tokens_total", (("kind", "output"), ("model", "gpt-x"), ("provider", "openai"))] == 30
    assert got["nexod_model_cost_usd_total", (("model", "gpt-x"), ("provider", "openai"))] == pytest.approx(0.0021)
    assert got["nexod_vector_search_duration_seconds_sum", (("backend", "pgvector"), ("op", "query"))] == 0.04
    assert got["nexod_cache_requests_total", (("layer", "api_responses"), ("result", "hit"))] == 2
    assert got["nexod_cache_requests_total", (("layer", "api_responses"), ("result", "miss"))] == 1
    window = m.snapshot()["buckets"]["vector"]
    assert window[-1] == (INF, 1.0)
    NullMetrics().model_call(provider="x", model="y", seconds=1)  # metrics off: a no-op


class _Recorded(Metrics):
    """Keeps every model call it is told about."""

    def __init__(self) -> None:
        self.calls: list[dict[str, object]] = []

    def model_call(self, **kw: object) -> None:  # type: ignore[override]
        self.calls.append(kw)


class _Broken(ScriptedChatModel):
    def reply(self, messages: list[Any]) -> str:
        raise RuntimeError("upstream down")


async def test_model_call_timer_on_every_call_path() -> None:
    rec = _Recorded()
    timer = ModelCallTimer(rec, lambda m, i, o: price({"scripted-1": (1.0, 2.0)}, m, i, o))
    cfg: RunnableConfig = {"callbacks": [timer]}
    model = ScriptedChatModel()
    model.invoke("hello there", cfg)
    await model.ainvoke("hello there", cfg)
    list(model.stream("hello there", cfg))
    [c async for c in model.astream("hello there", cfg)]
    assert len(rec.calls) == 4
    for call in rec.calls:
        assert call["provider"] == "scriptedchatmodel" and call["model"] == "scripted-1"
        assert call["ok"] is True and 0 <= float(call["seconds"]) < 5  # type: ignore[arg-type]
        assert call["input_tokens"] == 2 and int(call["output_tokens"]) > 0  # type: ignore[call-overload]
        assert call["cost_usd"] == pytest.approx((2 * 1.0 + int(call["output_tokens"]) * 2.0) / 1e6)  # type: ignore[call-overload]
    with pytest.raises(RuntimeError):
        await _Broken().ainvoke("x", cfg)
    assert rec.calls[-1]["ok"] is False and rec.calls[-1]["input_tokens"] == 0
    assert len(rec.calls) == 5
