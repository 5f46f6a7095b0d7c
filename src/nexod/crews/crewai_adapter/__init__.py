"""Real CrewAI crews (``pip install nexod[crewai]``) run as Nexod graphs.

A ``crewai.Crew`` written in Python (custom tools and all) is registered in ``nexod.json``
as ``"crews": {"mycrew": "./crew.py:crew"}``: the attribute may be a ``Crew``, a callable
returning one, or a ``@CrewBase`` class. Each run kicks off a copy of it inside one LangGraph
node (:mod:`.graph`), so it gets threads, runs, checkpoints and streaming like any graph:

* every agent's model calls go to Nexod's configured model through :class:`.llm.NexodLLM`
  (a CrewAI ``BaseLLM`` over a LangChain chat model);
* CrewAI's events (crew, task, agent, tool, LLM call) and each agent step are written to
  the LangGraph ``custom`` stream (:mod:`.events`);
* CrewAI's telemetry and tracing are turned off before it is first imported.

``crewai`` is imported lazily: Nexod works without the extra, and naming a CrewAI crew
without it is a ConfigError that says what to install.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

from nexod.errors import ConfigError

INSTALL_HINT = "pip install 'nexod[crewai]'"

# CrewAI reads these when it is imported and when a crew runs; set them first, never
# overriding an explicit choice. OTEL_SDK_DISABLED only affects OpenTelemetry SDK providers
# that nobody configured: Nexod's own metrics are Prometheus, not OTel.
_TELEMETRY_OFF = {
    "CREWAI_DISABLE_TELEMETRY": "true",
    "CREWAI_DISABLE_TRACKING": "true",
    "CREWAI_TRACING_ENABLED": "false",
    "OTEL_SDK_DISABLED": "true",
}


def require_crewai(what: str) -> Any:
    """Import ``crewai`` with its telemetry off; ConfigError naming the extra when missing."""
    for key, value in _TELEMETRY_OFF.items():
        os.environ.setdefault(key, value)
    try:
        with warnings.catch_warnings():
            # Its import machinery warns about its own lazy modules (crewai.rag.embeddings):
            # nothing a user can act on.
            warnings.simplefilter("ignore", ImportWarning)
            import crewai
    except ImportError as exc:
        raise ConfigError(
            f"{what} is a CrewAI crew, which needs the optional extra: {INSTALL_HINT} "
            f"({exc.msg})"
        ) from exc
    return crewai


__all__ = ["INSTALL_HINT", "require_crewai"]
