"""Everything observability needs in one process, opened once by ``open_core``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from nexod.llm.base import price
from nexod.observability.alerts.base import Notifier
from nexod.observability.alerts.engine import AlertEngine
from nexod.observability.alerts.gchat import GoogleChatNotifier
from nexod.observability.alerts.store import AlertStore
from nexod.observability.alerts.webhook import LogNotifier, WebhookNotifier
from nexod.observability.base import Metrics, NullMetrics, Outcome
from nexod.observability.db import instrument_engine
from nexod.observability.models import ModelCallTimer
from nexod.observability.nodes import NodeTimer
from nexod.observability.prometheus import PrometheusMetrics, Snapshot
from nexod.observability.rules import ErrorCountRule, LatencyRule, RegressionRule
from nexod.observability.slo import History, Window
from nexod.settings import Settings

log = logging.getLogger("nexod.observability")
FAILED: frozenset[str] = frozenset({"error", "timeout"})


class Observability:
    """Metrics, the metric history behind SLOs and alerts, the alert engine, Sentry."""

    def __init__(self, settings: Settings, metrics: Metrics, alerts: AlertEngine) -> None:
        self.settings = settings
        self.metrics = metrics
        self.alerts = alerts
        self.sentry = settings.sentry_dsn is not None
        keep = settings.slo_window
        for rule in settings.alert_rules:
            if isinstance(rule, ErrorCountRule | LatencyRule):
                keep = max(keep, rule.window)
            elif isinstance(rule, RegressionRule):
                keep = max(keep, rule.window + rule.baseline)
        self.history = History(keep + 2 * settings.alert_interval)
        self._task: asyncio.Task[None] | None = None

    @property
    def prometheus(self) -> PrometheusMetrics | None:
        """The Prometheus recorder, None when metrics are off."""
        return self.metrics if isinstance(self.metrics, PrometheusMetrics) else None

    def snapshot(self) -> Snapshot | None:
        """Cumulative SLO buckets and errors now (None when metrics are off)."""
        prom = self.prometheus
        return None if prom is None else prom.snapshot()

    def window(self, seconds: float) -> Window | None:
        """What the metrics saw over the last ``seconds`` (as far as history reaches)."""
        current = self.snapshot()
        return None if current is None else self.history.window(seconds, current)

    def run_callbacks(self, graph: str) -> list[Any]:
        """Callbacks to add to a run's config (per-node time; every chat model call's latency,
        tokens and cost), none when metrics are off."""
        if not self.metrics.enabled:
            return []
        prices = self.settings.llm_prices
        return [NodeTimer(self.metrics, graph),
                ModelCallTimer(self.metrics, lambda m, i, o: price(prices, m, i, o))]

    def run_finished(
        self, *, graph: str, outcome: Outcome, seconds: float, run_id: str, thread_id: str,
        assistant_id: str, org_id: str, error: dict[str, Any] | None,
        exc: BaseException | None = None,
    ) -> None:
        """Record a finished attempt: metrics, the immediate alert, Sentry."""
        self.metrics.run_finished(graph=graph, outcome=outcome, seconds=seconds)
        if outcome in FAILED:
            self.alerts.run_failed(graph=graph, run_id=run_id, thread_id=thread_id,
                                   assistant_id=assistant_id, org_id=org_id, status=outcome,
                                   error=error)
            if self.sentry and exc is not None:
                from nexod.observability.sentry import capture_run_error

                capture_run_error(exc, run_id=run_id, thread_id=thread_id, org_id=org_id,
                                  assistant_id=assistant_id, graph_id=graph)

    def start(self) -> None:
        """Take the first snapshot and start evaluating alert rules."""
        first = self.snapshot()
        if first is not None:
            self.history.add(first)
        prom = self.prometheus
        sample = prom.snapshot if prom is not None else None
        self._task = asyncio.create_task(
            self.alerts.run(self.settings.alert_interval, sample, self.history),
            name="nexod-alerts")

    async def stop(self) -> None:
        """Stop evaluating, finish notifications, mark this process's gauges dead."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.alerts.aclose()
        prom = self.prometheus
        if prom is not None:
            prom.close()


def build_metrics(settings: Settings) -> Metrics:
    """The recorder the settings ask for."""
    if not settings.metrics:
        return NullMetrics()
    return PrometheusMetrics(multiprocess_dir=settings.metrics_dir)


def build_notifiers(settings: Settings) -> list[Notifier]:
    """The log, plus Google Chat and the generic webhook when configured."""
    out: list[Notifier] = [LogNotifier()]
    if settings.alert_google_chat_url is not None:
        out.append(GoogleChatNotifier(settings.alert_google_chat_url.get_secret_value()))
    if settings.alert_webhook_url is not None:
        out.append(WebhookNotifier(settings.alert_webhook_url.get_secret_value()))
    return out


@asynccontextmanager
async def open_observability(
    settings: Settings, engine: AsyncEngine, metrics: Metrics | None = None,
) -> AsyncIterator[Observability]:
    """Instrument ``engine``, start the alert engine; stop it all on exit."""
    metrics = metrics or build_metrics(settings)
    if metrics.enabled:
        instrument_engine(engine, metrics)
    engine_ = AlertEngine(AlertStore(engine), build_notifiers(settings), list(settings.alert_rules),
                          repeat=settings.alert_repeat, public_url=settings.public_url)
    obs = Observability(settings, metrics, engine_)
    obs.start()
    try:
        yield obs
    finally:
        await obs.stop()
