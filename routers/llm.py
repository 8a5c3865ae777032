"""The LLM tier: an intent classifier over OpenAI-compatible endpoints.

Each provider is a real ``ChatOpenAI`` wrapped by ``with_structured_output``
with a schema built at construction whose ``target`` admits only the
registered graph ids (a ``Literal``), so the model's answer is validated by
pydantic before the router ever sees it. The prompt lists every target with
its description, the last five messages and the request context.

Failure handling, per call:

1. Providers are tried in order; with ``rotate=True`` the starting provider
   advances on every call (round robin). The fallback provider, if any, is
   tried last.
2. Each attempt is bounded by ``timeout_s``. Transient failures (429, 5xx,
   timeouts, connection errors) are retried with tenacity, exponential
   backoff with jitter, up to ``max_retries`` times, on the same provider.
3. Anything else (output outside the schema, a 4xx) moves on to the next
   provider at once.
4. When every provider failed, ``LLMOutcome.decision`` is None and
   ``failures`` says why; the router then takes its fallback route.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import openai
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import Runnable
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, create_model
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt
from tenacity import wait_exponential_jitter as backoff

from routers.base import RouteDecision, RouteRequest

__all__ = ["TRANSIENT_ERRORS", "LLMClassifier", "LLMOutcome", "Provider", "route_choice_schema"]

HISTORY_MESSAGES = 5

# Worth another attempt on the same provider; anything else is not.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    openai.RateLimitError,
    openai.InternalServerError,
    openai.APITimeoutError,
    openai.APIConnectionError,
    TimeoutError,
)

_INSTRUCTIONS = """\
You are a router. Pick the one graph that should handle the user's request.

Graphs:
{targets}

Reply with `target` (one of the graph ids above, exactly), `confidence` \
(0 to 1: how sure you are) and `reason` (one short sentence)."""


class Provider(BaseModel):
    """One OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, LM Studio, ...)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="Appears in decisions as llm:<name>.")
    base_url: str
    model: str
    # Local servers ignore the key, but the OpenAI client insists on one.
    api_key: SecretStr = SecretStr("unused")
    temperature: float = 0.0


@dataclass(frozen=True, slots=True)
class LLMOutcome:
    """The classifier's decision, or None with every provider's failure."""

    decision: RouteDecision | None
    failures: list[str] = field(default_factory=list)


def route_choice_schema(targets: Sequence[str]) -> type[BaseModel]:
    """A pydantic model whose ``target`` admits exactly ``targets``."""
    if not targets:
        raise ValueError("the LLM classifier needs at least one target")
    # Literal built from runtime values: the point is the JSON-schema enum.
    target_type: Any = Literal.__getitem__(tuple(targets))
    schema: type[BaseModel] = create_model(
        "RouteChoice",
        __doc__="The graph that should handle the request.",
        target=(target_type, Field(description="Id of the chosen graph.")),
        confidence=(float, Field(ge=0.0, le=1.0, description="How sure, 0 to 1.")),
        reason=(str, Field(description="One short sentence: why this graph.")),
    )
    return schema


@dataclass(frozen=True, slots=True)
class _Slot:
    name: str
    runnable: Runnable[Any, Any]


class LLMClassifier:
    """Classifies a request into one of ``targets`` (graph id -> description)."""

    def __init__(
        self,
        providers: Sequence[Provider],
        targets: Mapping[str, str],
        *,
        fallback: Provider | None = None,
        timeout_s: float = 10.0,
        max_retries: int = 2,
        backoff_s: float = 0.5,
        backoff_max_s: float = 8.0,
        http_client: httpx.AsyncClient | None = None,
        on_retry: Callable[[str], None] | None = None,
    ) -> None:
        if not providers and fallback is None:
            raise ValueError("the LLM classifier needs at least one provider")
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self._backoff = (backoff_s, backoff_max_s)
        self._providers = list(providers)
        self._fallback_provider = fallback
        # One connection pool for every provider, closed by ``aclose`` (a
        # client given here is owned from now on: the server's is observed).
        self._http = http_client or httpx.AsyncClient(timeout=timeout_s)
        self._on_retry = on_retry  # told the provider's name before each retry
        self._turn = itertools.count()
        self.retarget(targets)

    def retarget(self, targets: Mapping[str, str]) -> None:
        """Classify into ``targets`` from the next request on (the prompt lists
        them with their descriptions; the answer's schema admits only them)."""
        self.targets = dict(targets)
        self._schema = route_choice_schema(list(self.targets))
        self._system = _INSTRUCTIONS.format(
            targets="\n".join(f"- {gid}: {desc or gid}" for gid, desc in self.targets.items())
        )
        # Built before being swapped in: a request sees the old slots or the new ones.
        slots = [self._slot(p) for p in self._providers]
        fallback = self._slot(self._fallback_provider) if self._fallback_provider else None
        self._slots, self._fallback = slots, fallback

    @property
    def provider_names(self) -> list[str]:
        names = [s.name for s in self._slots]
        return names + ([self._fallback.name] if self._fallback else [])

    def _slot(self, provider: Provider) -> _Slot:
        model = ChatOpenAI(
            model=provider.model,
            base_url=provider.base_url,
            api_key=provider.api_key,
            temperature=provider.temperature,
            timeout=self.timeout_s,
            max_retries=0,  # tenacity retries, so that the policy is ours and visible
            http_async_client=self._http,
        )
        structured = model.with_structured_output(self._schema, method="json_schema")
        return _Slot(provider.name, structured)

    def prompt(self, request: RouteRequest) -> list[BaseMessage]:
        """The messages sent to every provider for ``request``."""
        history = "\n".join(
            f"{turn.role}: {turn.content}" for turn in request.messages[-HISTORY_MESSAGES:]
        )
        context = json.dumps(request.context, ensure_ascii=False, sort_keys=True, default=str)
        parts = [
            f"Context: {context}",
            f"Tags: {', '.join(request.tags) or '(none)'}",
            f"Recent conversation:\n{history or '(none)'}",
            f"Request to route:\n{request.text}",
        ]
        return [SystemMessage(self._system), HumanMessage("\n\n".join(parts))]

    def _order(self, rotate: bool) -> list[_Slot]:
        slots = self._slots
        if rotate and slots:
            start = next(self._turn) % len(slots)
            slots = slots[start:] + slots[:start]
        return slots + ([self._fallback] if self._fallback else [])

    async def classify(self, request: RouteRequest, *, rotate: bool = False) -> LLMOutcome:
        """Ask providers in turn until one gives a valid answer."""
        messages = self.prompt(request)
        failures: list[str] = []
        for slot in self._order(rotate):
            try:
                choice = await self._ask(slot, messages)
            except _ProviderFailed as failed:
                failures.append(f"{slot.name}: {failed}")
                continue
            decision = RouteDecision(
                target=choice.target,
                source=f"llm:{slot.name}",
                confidence=choice.confidence,
                reason=f"LLM {slot.name}: {choice.reason}",
            )
            return LLMOutcome(decision, failures)
        return LLMOutcome(None, failures)

    async def _ask(self, slot: _Slot, messages: list[BaseMessage]) -> Any:
        initial, most = self._backoff
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(TRANSIENT_ERRORS),
            stop=stop_after_attempt(self.max_retries + 1),
            wait=backoff(multiplier=initial, max=most, jitter=initial),
            reraise=True,
            before_sleep=self._retry_hook(slot.name),
        )
        try:
            async for attempt in retrying:
                with attempt:
                    async with asyncio.timeout(self.timeout_s):
                        return await slot.runnable.ainvoke(messages)
        except Exception as exc:  # any provider failure means: try the next one
            attempts = retrying.statistics.get("attempt_number", 1)
            raise _ProviderFailed(f"{_describe(exc)} after {attempts} attempt(s)") from exc
        raise AssertionError("unreachable: tenacity either returns or re-raises")

    def _retry_hook(self, provider: str) -> Callable[[Any], None] | None:
        on_retry = self._on_retry
        if on_retry is None:
            return None
        return lambda _: on_retry(provider)

    async def aclose(self) -> None:
        """Close the HTTP connections of every provider."""
        await self._http.aclose()


class _ProviderFailed(Exception):
    """One provider gave no usable answer; the message says why."""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        return "answer outside the schema"
    if isinstance(exc, TimeoutError | openai.APITimeoutError):
        return f"timed out ({type(exc).__name__})"
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code} ({type(exc).__name__})"
    return type(exc).__name__
