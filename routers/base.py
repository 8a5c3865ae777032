"""The router's vocabulary: what it is asked, what it answers, and its protocol.

A ``Router`` turns a ``RouteRequest`` into a ``RouteDecision``. A decision
explains itself: which graph (``target``), who decided (``source``), how sure
(``confidence``), why (``reason``), what was extracted (``params``), what else
was considered (``candidates``) and what it cost (``latency_ms``).

``source`` is one of:

- ``rule:<id>``       a static rule from ``rules/*.yaml``
- ``semantic:<model>`` the semantic tier: the nearest example utterance
- ``dynamic:<name>``  a dynamic rule (a registered Python callable)
- ``llm:<provider>``  the LLM intent classifier, via that provider
- ``<a>+<b>``         the ``hybrid`` strategy, when a rule and the LLM agreed
- ``fallback``        nothing decided; the configured fallback target
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, get_args

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "STRATEGIES",
    "Candidate",
    "RouteDecision",
    "RouteRequest",
    "Router",
    "Strategy",
    "Turn",
]

Strategy = Literal[
    "rule_only",
    "llm_only",
    "rule_first",
    "llm_first",
    "hybrid",
    "confidence_threshold",
    "round_robin",
    "semantic_only",
]
STRATEGIES: tuple[str, ...] = get_args(Strategy)


class Candidate(BaseModel):
    """One option the router considered, scored by its confidence.

    ``example`` is set on semantic candidates: the target's example utterance
    nearest to the request (``score`` is their cosine similarity).
    """

    model_config = ConfigDict(frozen=True)

    target: str
    source: str
    score: float = Field(ge=0.0, le=1.0)
    example: str | None = None


class RouteDecision(BaseModel):
    """Where a request goes and why.

    Invariant (for decisions made by ``HybridRouter``): ``candidates[0]`` is
    the decision's own entry (``target``, ``source``, ``confidence``) and the
    rest are the runner-ups, every other option considered, by score.
    """

    target: str
    source: str
    confidence: float = Field(1.0, ge=0.0, le=1.0)
    reason: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    candidates: list[Candidate] = Field(default_factory=list)
    latency_ms: float = 0.0
    strategy: str | None = None

    def as_candidate(self) -> Candidate:
        return Candidate(target=self.target, source=self.source, score=self.confidence)

    def to_event(self) -> dict[str, Any]:
        """The body of the ``custom`` stream event the ``auto`` graph emits (see API.md)."""
        return {
            "type": "route",
            "target": self.target,
            "source": self.source,
            "confidence": self.confidence,
            "reason": self.reason,
            "params": dict(self.params),
            "candidates": [c.model_dump(exclude_none=True) for c in self.candidates],
            "latency_ms": self.latency_ms,
            "strategy": self.strategy,  # which strategy decided (README, "The router")
        }


class Turn(BaseModel):
    """One message of the conversation, reduced to what a classifier reads."""

    model_config = ConfigDict(frozen=True)

    role: str
    content: str


class RouteRequest(BaseModel):
    """What the router decides on.

    ``text`` is the message being routed (usually the last human message);
    ``messages`` the recent conversation (the LLM tier reads the last five);
    ``context`` the request context and state that rule conditions are
    evaluated over; ``tags`` free labels, also visible to conditions as
    ``tags``.
    """

    text: str
    messages: list[Turn] = Field(default_factory=list)
    context: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)


class Router(Protocol):
    """Anything that routes: ``HybridRouter``, or a stand-in a caller supplies."""

    async def route(
        self, request: RouteRequest, *, strategy: str | None = None
    ) -> RouteDecision: ...
