"""Observability: Prometheus metrics, Sentry, the SLO report and the alert engine.

Layout::

    base.py        Metrics: the one small recording interface (NullMetrics when metrics are off)
    prometheus.py  PrometheusMetrics: every series, multiprocess-safe exposition, snapshots
    http.py        ASGI middleware: request ids, HTTP latency by route template and status
    db.py          SQLAlchemy events: database query time
    nodes.py       LangChain callback: time per graph node
    models.py      LangChain callback: every chat model call's latency, tokens and cost
    context.py     the request id context variable and its logging filter
    sentry.py      sentry-sdk set-up, sampling and scrubbing
    slo.py         windows over metric snapshots: quantiles, the SLO report
    rules.py       alert rules (settings)
    alerts/        the alert engine, its database store and notifiers
    hub.py         Observability: everything above, opened once per process

Other capabilities record through :class:`nexod.observability.base.Metrics` (``core.obs.metrics``):
``model_call``, ``vector_search`` and ``cache_lookup``.
"""
