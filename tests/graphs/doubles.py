"""Deterministic chat model double for tests: replies "Echo: <last human message>" token by token."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult


class EchoChatModel(BaseChatModel):
    """Streams its reply one word at a time, with an optional pause between tokens."""

    token_delay: float = 0.0

    @property
    def _llm_type(self) -> str:
        return "echo-test-double"

    def _reply(self, messages: list[BaseMessage]) -> list[str]:
        last = next((m for m in reversed(messages) if m.type == "human"), None)
        text = f"Echo: {last.content if last else ''}"
        words = text.split(" ")
        return [w if i == 0 else " " + w for i, w in enumerate(words)]

    def _generate(
        self, messages: list[BaseMessage], stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content="".join(self._reply(messages))))])

    def _stream(
        self, messages: list[BaseMessage], stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for tok in self._reply(messages):
            yield ChatGenerationChunk(message=AIMessageChunk(content=tok))

    async def _astream(
        self, messages: list[BaseMessage], stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None, **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for tok in self._reply(messages):
            if self.token_delay:
                await asyncio.sleep(self.token_delay)
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=tok))
            if run_manager:
                await run_manager.on_llm_new_token(tok, chunk=chunk)
            yield chunk
