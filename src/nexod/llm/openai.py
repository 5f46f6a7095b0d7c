"""``openai:<model>``: any OpenAI-compatible chat endpoint, through ``langchain-openai``."""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel

from nexod.errors import ConfigError
from nexod.settings import Settings


def openai_chat_model(model: str, settings: Settings) -> BaseChatModel:
    """``ChatOpenAI`` at ``NEXOD_LLM_BASE_URL`` with ``NEXOD_LLM_API_KEY``, streaming usage."""
    try:
        from langchain_openai import ChatOpenAI
    except ImportError as exc:
        raise ConfigError("NEXOD_LLM=openai:… needs langchain-openai: pip install langchain-openai") from exc
    if not model:
        raise ConfigError("NEXOD_LLM=openai:<model> needs a model name, e.g. openai:gpt-4o-mini")
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    if key is None and settings.llm_base_url is None:
        raise ConfigError(
            "NEXOD_LLM=openai:… needs NEXOD_LLM_API_KEY (and NEXOD_LLM_BASE_URL for an endpoint "
            "other than OpenAI's)"
        )
    return ChatOpenAI(
        model=model, base_url=settings.llm_base_url, api_key=key or "unused",
        max_completion_tokens=settings.llm_max_tokens,
        stream_usage=True, max_retries=2, timeout=settings.llm_timeout,
    )
