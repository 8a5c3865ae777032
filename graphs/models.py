"""The chat models that graph nodes call.

Two kinds, both real ``BaseChatModel`` s, so LangGraph's ``messages`` stream
mode sees their tokens through the ordinary callbacks:

* :class:`OfflineChatModel` (``switchyard-offline``) answers when no endpoint
  is configured. Its reply is a pure function of the conversation and it
  streams word by word, without sleeping.
* :class:`RetryingChatOpenAI` is ``ChatOpenAI`` whose calls are retried with
  exponential backoff (tenacity) on transient errors: rate limits, timeouts,
  connection failures and 5xx. A stream is retried only until its first
  chunk arrives; after that tokens have reached the client and a retry would
  repeat them, so a mid-stream failure propagates.

``make_chat_model`` picks one from settings; ``model_label`` names it.
"""

from __future__ import annotations

import re
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Generator,
    Iterator,
    Sequence,
)
from typing import Any

import httpx
import openai
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableBinding
from langchain_openai import ChatOpenAI
from pydantic import Field, SecretStr
from tenacity import (
    AsyncRetrying,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

__all__ = [
    "DRAFT_PROMPT_PREFIX",
    "OFFLINE_MODEL_NAME",
    "TRANSIENT_ERRORS",
    "OfflineChatModel",
    "RetryingChatOpenAI",
    "make_chat_model",
    "model_label",
]

OFFLINE_MODEL_NAME = "switchyard-offline"
# The content graph asks for a draft with this prefix; the offline model
# recognises it and answers with something shaped like a short post.
DRAFT_PROMPT_PREFIX = "Write a short post about:"

TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    openai.RateLimitError,
    openai.APITimeoutError,
    openai.APIConnectionError,
    openai.InternalServerError,
)


def _words(text: str) -> list[str]:
    """Word-sized pieces that join back to exactly ``text``."""
    return re.findall(r"\s*\S+\s*|\s+", text) or [text]


class OfflineChatModel(BaseChatModel):
    """A deterministic stand-in model used when no LLM endpoint is configured.

    Contract: the reply depends only on the last human message —
    ``"[offline] You said: <text>"``, or a short post for a draft prompt
    (one starting with ``DRAFT_PROMPT_PREFIX``) — and streaming yields the
    same text split into words, so ``"".join(chunks) == invoke(...).content``.
    """

    model_name: str = OFFLINE_MODEL_NAME

    @property
    def _llm_type(self) -> str:
        return OFFLINE_MODEL_NAME

    @staticmethod
    def reply_to(messages: Sequence[BaseMessage]) -> str:
        """The full reply this model gives to ``messages``."""
        last = next((m for m in reversed(messages) if isinstance(m, HumanMessage)), None)
        said = last.text.strip() if last is not None else ""
        if said.startswith(DRAFT_PROMPT_PREFIX):
            topic = said.removeprefix(DRAFT_PROMPT_PREFIX).strip() or "something"
            tag = re.sub(r"\W+", "", topic.title()) or "Switchyard"
            return (
                f"[offline] {topic[:1].upper()}{topic[1:]}, in three lines. "
                f"Why it matters, what changed, what to try next. #{tag}"
            )
        return f"[offline] You said: {said}"

    def _chunks(self, messages: list[BaseMessage]) -> Iterator[ChatGenerationChunk]:
        for piece in _words(self.reply_to(messages)):
            yield ChatGenerationChunk(message=AIMessageChunk(content=piece))

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        message = AIMessage(
            content=self.reply_to(messages), response_metadata={"model_name": self.model_name}
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for chunk in self._chunks(messages):
            if run_manager is not None:
                run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in self._chunks(messages):
            if run_manager is not None:
                await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk


class RetryingChatOpenAI(ChatOpenAI):
    """``ChatOpenAI`` that retries transient failures with exponential backoff.

    ``retry_attempts`` retries follow the first try; the n-th waits
    ``retry_backoff_s * 2**(n-1)`` seconds, capped at ``retry_max_backoff_s``.
    The client's own retries are off (``max_retries=0``) so that one policy,
    this one, decides.
    """

    retry_attempts: int = Field(default=3, ge=0)
    retry_backoff_s: float = Field(default=0.5, ge=0)
    retry_max_backoff_s: float = Field(default=8.0, ge=0)
    # Told before each retry (the server counts them per provider).
    on_retry: Callable[[], None] | None = Field(default=None, exclude=True)

    def _policy(self) -> dict[str, Any]:
        on_retry = self.on_retry
        return {
            "stop": stop_after_attempt(self.retry_attempts + 1),
            "wait": wait_exponential(multiplier=self.retry_backoff_s, max=self.retry_max_backoff_s),
            "retry": retry_if_exception_type(TRANSIENT_ERRORS),
            "reraise": True,
            "before_sleep": (lambda _: on_retry()) if on_retry is not None else None,
        }

    def with_structured_output(self, *args: Any, **kwargs: Any) -> Runnable[Any, Any]:
        """As ``ChatOpenAI``'s, but never token-streamed.

        Half-written JSON is of no use to a client watching ``messages``, and
        the streamed ``response_format`` path of the openai client emits
        pydantic serializer warnings; a plain request avoids both.
        """
        quiet = self.model_copy(update={"streaming": False, "disable_streaming": True})
        return super(RetryingChatOpenAI, quiet).with_structured_output(*args, **kwargs)

    def _generate(self, *args: Any, **kwargs: Any) -> ChatResult:
        for attempt in Retrying(**self._policy()):
            with attempt:
                return super()._generate(*args, **kwargs)
        raise AssertionError("unreachable: tenacity reraises the last error")

    async def _agenerate(self, *args: Any, **kwargs: Any) -> ChatResult:
        async for attempt in AsyncRetrying(**self._policy()):
            with attempt:
                return await super()._agenerate(*args, **kwargs)
        raise AssertionError("unreachable: tenacity reraises the last error")

    def _stream(self, *args: Any, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        # Only opening the stream (up to its first chunk) is retried; the
        # yields happen outside tenacity's attempt so that closing the
        # generator early is never mistaken for a failed attempt.
        stream: Iterator[ChatGenerationChunk] = iter(())
        first: ChatGenerationChunk | None = None
        for attempt in Retrying(**self._policy()):
            with attempt:
                stream = super()._stream(*args, **kwargs)
                first = next(stream, None)
        if first is None:
            return
        try:
            yield first
            yield from stream
        finally:
            if isinstance(stream, Generator):
                stream.close()

    async def _astream(self, *args: Any, **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        stream: AsyncIterator[ChatGenerationChunk] | None = None
        first: ChatGenerationChunk | None = None
        async for attempt in AsyncRetrying(**self._policy()):
            with attempt:
                stream = super()._astream(*args, **kwargs)
                first = await anext(stream, None)
        if stream is None or first is None:
            return
        try:
            yield first
            async for chunk in stream:
                yield chunk
        finally:
            # A consumer that stops early (a cancelled run) must release the
            # HTTP response now, not whenever the generator is collected.
            if isinstance(stream, AsyncGenerator):
                await stream.aclose()


def make_chat_model(
    *,
    base_url: str | None,
    api_key: str | None,
    model: str,
    timeout_s: float,
    max_retries: int,
    backoff_s: float = 0.5,
    http_client: httpx.AsyncClient | None = None,
    on_retry: Callable[[], None] | None = None,
) -> BaseChatModel:
    """The model LLM nodes use: offline when ``base_url`` is None, else OpenAI-compatible.

    ``max_retries`` retries follow the first attempt on transient errors,
    waiting ``backoff_s``, ``2*backoff_s``, ... in between, each announced to
    ``on_retry``. ``http_client`` (async calls) is the server's observed one.
    """
    if base_url is None:
        return OfflineChatModel()
    return RetryingChatOpenAI(
        base_url=base_url,
        # Local servers (vLLM, Ollama) accept any key, but the client wants one.
        api_key=SecretStr(api_key or "not-needed"),
        model=model,
        timeout=timeout_s,
        max_retries=0,
        streaming=True,
        retry_attempts=max_retries,
        retry_backoff_s=backoff_s,
        http_async_client=http_client,
        on_retry=on_retry,
    )


def model_label(model: Runnable[Any, Any]) -> str:
    """A short name for a model: ``"openai:gpt-4o-mini"``, ``"switchyard-offline"``."""
    while isinstance(model, RunnableBinding):
        model = model.bound
    if isinstance(model, OfflineChatModel):
        return model.model_name
    if isinstance(model, ChatOpenAI):
        return f"openai:{model.model_name}"
    name = getattr(model, "model_name", None) or getattr(model, "model", None)
    if isinstance(model, BaseChatModel):
        kind = model._llm_type
        return f"{kind}:{name}" if name else kind
    return str(name or type(model).__name__)
