"""Chat models chosen by a ``scheme:name`` spec (see :mod:`nexod.llm.base`)."""

from __future__ import annotations

import importlib
import threading
from pathlib import Path

from langchain_core.language_models import BaseChatModel

from nexod.errors import ConfigError
from nexod.llm.base import ChatModels, Usage, add_usage, price
from nexod.settings import Settings

__all__ = ["ChatModels", "ModelFactory", "Usage", "add_usage"]


class ModelFactory:
    """:class:`ChatModels` from the settings: ``NEXOD_LLM`` is the default spec; models are
    built on first use and cached for the life of the process."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._models: dict[str, BaseChatModel] = {}
        self._lock = threading.Lock()

    @property
    def default_spec(self) -> str:
        """The spec used when an agent names no model."""
        return self._settings.llm

    def get(self, spec: str | None = None) -> BaseChatModel:
        """The model for ``spec`` (None: ``NEXOD_LLM``)."""
        spec = (spec or self._settings.llm).strip()
        with self._lock:
            if spec not in self._models:
                self._models[spec] = self._build(spec)
            return self._models[spec]

    def _build(self, spec: str) -> BaseChatModel:
        scheme, _, name = spec.partition(":")
        if not name and "/" in scheme:  # CrewAI's provider/model form
            scheme, _, name = spec.partition("/")
        s = self._settings
        if scheme == "local":
            from nexod.llm.local import LocalChatModel, default_gguf

            path = Path(name).expanduser() if name else default_gguf()
            if not path.is_file():
                raise ConfigError(f"NEXOD_LLM={spec}: model file {path} does not exist")
            return LocalChatModel(model_path=str(path), n_ctx=s.llm_context, threads=s.llm_threads,
                                  max_tokens=s.llm_max_tokens)
        if scheme == "openai":
            from nexod.llm.openai import openai_chat_model

            return openai_chat_model(name, s)
        if scheme == "python":
            module, _, attr = name.rpartition(":")
            try:
                factory = getattr(importlib.import_module(module), attr)
            except (ImportError, AttributeError, ValueError) as exc:
                raise ConfigError(f"NEXOD_LLM={spec}: cannot import {name!r}: {exc}") from exc
            model = factory()
            if not isinstance(model, BaseChatModel):
                raise ConfigError(f"NEXOD_LLM={spec}: {name} did not return a LangChain chat model")
            return model
        raise ConfigError(
            f"unknown model spec {spec!r}: expected local, local:<file.gguf>, openai:<model> or "
            "python:<module>:<factory>"
        )

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> float | None:
        """Cost from ``NEXOD_LLM_PRICES`` (per million input / output tokens), else None."""
        return price(self._settings.llm_prices, model, input_tokens, output_tokens)
