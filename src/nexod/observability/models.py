"""Model calls (latency, tokens, cost) from LangChain's callback events.

Every chat model a run calls reports ``on_chat_model_start`` and then ``on_llm_end`` or
``on_llm_error``: on ``invoke``, ``ainvoke``, ``stream`` and ``astream`` alike, whichever
backend it is (``local:`` GGUF, ``openai:``, a ``python:`` factory or a graph's own model).
So one handler in the run's config measures them all, with no code in each backend.

Labels are the model's LangSmith parameters (``ls_provider``, ``ls_model_name``): the provider
and the configured model name, both bounded by the deployment's configuration.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.outputs import ChatGeneration, LLMResult

from nexod.observability.base import Metrics

Pricer = Callable[[str, int, int], float | None]
"""(model name, input tokens, output tokens) → cost, None when the model has no price."""
MAX_LABEL = 100
"""Longest provider or model label kept (a model path, say, is cut)."""


def _label(value: Any, default: str) -> str:
    text = str(value) if value else default
    return text[:MAX_LABEL]


def call_usage(response: LLMResult | None) -> tuple[int, int, str | None]:
    """Input and output tokens of a call, and the model name the provider answered with."""
    inp = out = 0
    answered: str | None = None
    for batch in (response.generations if response is not None else []):
        for gen in batch:
            if not isinstance(gen, ChatGeneration):
                continue
            usage = getattr(gen.message, "usage_metadata", None) or {}
            inp += int(usage.get("input_tokens") or 0)
            out += int(usage.get("output_tokens") or 0)
            meta = gen.message.response_metadata or {}
            answered = answered or meta.get("model_name") or meta.get("model")
    return inp, out, answered


class ModelCallTimer(BaseCallbackHandler):
    """Records :meth:`Metrics.model_call` for every chat model call of one run."""

    run_inline = True  # called in the model's own task: no thread hop per event
    raise_error = False

    def __init__(self, metrics: Metrics, price: Pricer | None = None) -> None:
        self._metrics = metrics
        self._price = price
        self._calls: dict[UUID, tuple[str, str, float]] = {}

    def on_chat_model_start(
        self, serialized: dict[str, Any] | None, messages: list[list[Any]], *, run_id: UUID,
        metadata: dict[str, Any] | None = None, **kwargs: Any,
    ) -> None:
        """A chat model call starts: remember its labels and the time."""
        meta = metadata or {}
        self._calls[run_id] = (_label(meta.get("ls_provider"), "unknown"),
                               _label(meta.get("ls_model_name"), "unknown"), time.perf_counter())

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        """The call answered (streamed calls end here too, with their merged usage)."""
        self._done(run_id, response, ok=True)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """The call failed; a cancelled one (the run was stopped) is not a model error."""
        if isinstance(error, asyncio.CancelledError | GeneratorExit | KeyboardInterrupt):
            self._calls.pop(run_id, None)
            return
        self._done(run_id, kwargs.get("response"), ok=False)

    def _done(self, run_id: UUID, response: LLMResult | None, *, ok: bool) -> None:
        started = self._calls.pop(run_id, None)
        if started is None:
            return
        provider, model, t0 = started
        inp, out, answered = call_usage(response)
        cost = None
        if self._price is not None and (inp or out):
            cost = self._price(str(answered), inp, out) if answered else None
            if cost is None:
                cost = self._price(model, inp, out)
        self._metrics.model_call(provider=provider, model=model, seconds=time.perf_counter() - t0,
                                 input_tokens=inp, output_tokens=out, cost_usd=cost or 0.0, ok=ok)
