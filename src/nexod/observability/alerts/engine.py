"""The alert engine: evaluates the rules, keeps alerts in the database, sends notifications.

* ``run_failed`` alerts are raised the moment a run fails (:meth:`AlertEngine.run_failed`),
  one alert per graph; more failures add to its count; it resolves after ``quiet`` seconds
  without another.
* ``error_count``, ``latency`` and ``regression`` are evaluated every ``NEXOD_ALERT_INTERVAL``
  seconds over windows of the metrics (``slo.History``): firing while the condition holds,
  resolved at the first evaluation where it does not.

A storm is one message: while an alert fires, further occurrences only add to its count, and
a reminder with the count so far goes out at most every ``NEXOD_ALERT_REPEAT`` seconds. Every
message about one alert carries its key, so Google Chat threads them together.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from nexod.db.models import Alert
from nexod.observability.alerts.base import AlertMessage, Notifier, State
from nexod.observability.alerts.store import AlertStore, Raise, now_utc
from nexod.observability.prometheus import Snapshot
from nexod.observability.rules import (
    ErrorCountRule,
    LatencyRule,
    RegressionRule,
    Rule,
    RunFailedRule,
)
from nexod.observability.slo import History
from nexod.serde import as_utc

log = logging.getLogger("nexod.alerts")


class AlertEngine:
    """Raises and resolves alerts; one per process, all sharing the ``alerts`` table."""

    def __init__(
        self, store: AlertStore, notifiers: list[Notifier], rules: list[Rule], *,
        repeat: float, public_url: str | None = None,
    ) -> None:
        self._store = store
        self._notifiers = notifiers
        self._rules = rules
        self._repeat = repeat
        self._public_url = public_url.rstrip("/") if public_url else None
        self._pending: set[asyncio.Task[None]] = set()
        self._failed_rule = next((r for r in rules if isinstance(r, RunFailedRule)), None)

    @property
    def store(self) -> AlertStore:
        """Where alerts are kept (the API lists them from here)."""
        return self._store

    # --- immediate: run failures ------------------------------------------------------------

    def run_failed(self, *, graph: str, run_id: str, thread_id: str, assistant_id: str,
                   org_id: str, status: str, error: dict[str, Any] | None) -> None:
        """A run ended in error or timeout: raise (or bump) its graph's alert, in the background."""
        rule = self._failed_rule
        if rule is None:
            return
        err = error or {}
        link = f"{self._public_url}/threads/{thread_id}/runs/{run_id}" if self._public_url else None
        r = Raise(
            key=f"{rule.title}:{graph}", rule=rule.title, severity=rule.severity,
            title=f"Run failed: {graph}",
            summary=f"<b>{err.get('error', status)}</b>: {str(err.get('message', ''))[:300]}",
            details={"graph": graph, "status": status, "run_id": run_id, "thread_id": thread_id,
                     "assistant_id": assistant_id, "org_id": org_id},
            link=link, org_id=org_id)
        self._background(self.raise_alert(r))

    # --- periodic: windows over the metrics ---------------------------------------------------

    async def evaluate(self, history: History | None, current: Snapshot | None) -> None:
        """One evaluation of every rule (called every ``NEXOD_ALERT_INTERVAL`` seconds)."""
        for rule in self._rules:
            try:
                if isinstance(rule, RunFailedRule):
                    for key in await self._store.firing_keys(rule.title):
                        await self._resolve(key, idle_for=rule.quiet)
                elif history is not None and current is not None:
                    await self._evaluate_window(rule, history, current)
            except Exception:
                log.exception("alert_rule_failed", extra={"rule": rule.title})

    async def _evaluate_window(
        self, rule: ErrorCountRule | LatencyRule | RegressionRule, history: History,
        current: Snapshot,
    ) -> None:
        key = rule.title
        found: Raise | None = None
        if isinstance(rule, ErrorCountRule):
            w = history.window(rule.window, current)
            if w.errors > rule.threshold:
                found = Raise(
                    key=key, rule=key, severity=rule.severity, increment=0,
                    title=f"{int(w.errors)} failed requests in {rule.window:g} s",
                    summary=f"More than {rule.threshold} HTTP 5xx responses within "
                            f"{rule.window:g} s.",
                    details={"errors": int(w.errors), "threshold": rule.threshold,
                             "window_seconds": rule.window})
        elif isinstance(rule, LatencyRule):
            w = history.window(rule.window, current)
            p95 = w.p(0.95, rule.slo)
            if p95 is not None and w.count(rule.slo) >= rule.min_count and p95 > rule.threshold:
                found = Raise(
                    key=key, rule=key, severity=rule.severity, increment=0,
                    title=f"{rule.slo} p95 {p95 * 1000:.0f} ms over {rule.threshold * 1000:g} ms",
                    summary=f"The p95 of {rule.slo} over {rule.window:g} s is above its alert "
                            "threshold.",
                    details={"p95_seconds": round(p95, 4), "threshold_seconds": rule.threshold,
                             "count": w.count(rule.slo), "window_seconds": rule.window})
        else:
            w = history.window(rule.window, current)
            base = history.window(rule.baseline, current, end_ago=rule.window)
            p95, b95 = w.p(0.95, rule.slo), base.p(0.95, rule.slo)
            if (p95 is not None and b95 and w.count(rule.slo) >= rule.min_count
                    and base.count(rule.slo) >= rule.min_count and p95 > rule.factor * b95):
                found = Raise(
                    key=key, rule=key, severity=rule.severity, increment=0,
                    title=f"{rule.slo} p95 regressed to {p95 / b95:.1f}x its baseline",
                    summary=f"p95 of {rule.slo} over the last {rule.window:g} s is "
                            f"{p95 * 1000:.0f} ms, against {b95 * 1000:.0f} ms over the "
                            f"{rule.baseline:g} s before.",
                    details={"p95_seconds": round(p95, 4), "baseline_p95_seconds": round(b95, 4),
                             "factor": rule.factor})
        if found is not None:
            await self.raise_alert(found)
        else:
            await self._resolve(key)

    # --- transitions --------------------------------------------------------------------------

    async def raise_alert(self, r: Raise) -> None:
        """Open the alert (notify), or add to it (remind, rate-limited)."""
        now = now_utc()
        opened = await self._store.open(r, now)
        if opened is not None:
            await self._notify(opened, "firing")
            return
        alert = await self._store.bump(r, now)
        if alert is not None and await self._store.claim_reminder(alert, now, self._repeat):
            await self._notify(alert, "repeat")

    async def _resolve(self, key: str, idle_for: float | None = None) -> None:
        alert = await self._store.resolve(key, now_utc(), idle_for=idle_for)
        if alert is not None:
            await self._notify(alert, "resolved")

    async def _notify(self, alert: Alert, state: State) -> None:
        started = as_utc(alert.started_at)
        assert started is not None
        summary = alert.summary
        if state == "resolved":
            summary = f"Cleared. {alert.count} occurrence(s) in all. Last: {summary}"
        elif state == "repeat":
            summary = f"Still firing: {alert.count} occurrence(s) so far. Last: {summary}"
        msg = AlertMessage(
            alert_id=alert.alert_id, key=alert.key, rule=alert.rule, severity=alert.severity,
            state=state, title=alert.title, summary=summary, count=alert.count,
            started_at=started, details=dict(alert.details), link=alert.link)
        await asyncio.gather(*(self._send(n, msg) for n in self._notifiers))

    @staticmethod
    async def _send(notifier: Notifier, msg: AlertMessage) -> None:
        try:
            await notifier.send(msg)
        except Exception:
            log.exception("alert_notifier_failed", extra={"notifier": notifier.name, "key": msg.key})

    # --- lifecycle ----------------------------------------------------------------------------

    def _background(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(self._guard(coro))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    @staticmethod
    async def _guard(coro: Any) -> None:
        try:
            await coro
        except Exception:
            log.exception("alert_failed")

    async def run(self, interval: float, sample: Callable[[], Snapshot] | None,
                  history: History | None) -> None:
        """Evaluate every ``interval`` seconds until cancelled, feeding ``history``."""
        while True:
            await asyncio.sleep(interval)
            current = None
            if sample is not None and history is not None:
                current = sample()
                history.add(current)
            await self.evaluate(history, current)

    async def aclose(self) -> None:
        """Let notifications in flight finish (briefly), then close the notifiers."""
        if self._pending:
            with contextlib.suppress(Exception):
                await asyncio.wait(set(self._pending), timeout=5)
        for n in self._notifiers:
            await n.aclose()
