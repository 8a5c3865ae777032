"""``HybridRouter``: the strategies that combine the rule, semantic and LLM tiers.

The rule tier is dynamic rules first (the first that decides wins), then the
static rule set; the semantic tier is the rule set's ``SemanticIndex`` (the
example utterances nearest to the request), which decides only when *sure*
(``semantic_threshold`` and ``semantic_margin``); the LLM tier is
``LLMClassifier``. Each later tier is consulted only when the earlier ones
did not decide. Strategies:

- ``rule_only``             rules, else fallback
- ``semantic_only``         semantic, else fallback
- ``llm_only``              LLM, else fallback
- ``rule_first``            rules -> semantic -> LLM -> fallback
- ``llm_first``             LLM -> rules -> semantic -> fallback
- ``hybrid``                rules (or, when none matched, a sure semantic decision)
                            and the LLM; same target -> confidence ``1-(1-a)(1-b)``
                            and a joint source ``rule:<id>+llm:<p>``; different
                            targets -> the higher confidence wins (a tie goes to
                            the local tier)
- ``confidence_threshold``  the rule if its confidence >= threshold, else a sure
                            semantic decision, else the LLM if its confidence >=
                            threshold, else fallback
- ``round_robin``           ``llm_first``, but each call starts at the next provider
                            (the LLM is asked on every call, so rotation spreads load)

Without an LLM configured, a strategy that needs it degrades to the local
tiers + fallback, and without a semantic model (or examples) the semantic
tier is skipped; the decision's ``reason`` says so in both cases. Every
decision carries the effective ``strategy``, ``latency_ms`` and
``candidates``: every option considered, ranked, the winner first (semantic
candidates name their nearest example).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime

from routers.base import STRATEGIES, Candidate, RouteDecision, RouteRequest, Strategy
from routers.dynamic import DynamicRule, first_dynamic_decision
from routers.errors import RouterConfigError, UnknownStrategy
from routers.llm import LLMClassifier
from routers.rulebook import ReloadResult, RuleBook

__all__ = ["HybridRouter", "require_target"]

log = logging.getLogger(__name__)

_NO_LLM = "LLM tier not configured: degraded to rules + semantic + fallback"


_StrategyFn = Callable[[RouteRequest, "_Call"], Awaitable[RouteDecision | None]]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def require_target(target: str, targets: Mapping[str, str], what: str) -> None:
    """``RouterConfigError`` unless ``target`` is one of the registered ``targets``."""
    if target not in targets:
        known = ", ".join(sorted(targets)) or "none"
        raise RouterConfigError(f"{what} {target!r} is not a registered graph (known: {known})")


class _Call:
    """What one ``route`` call gathered: candidates seen and notes for the reason."""

    def __init__(self, strategy: str) -> None:
        self.strategy = strategy
        self.started = time.perf_counter()
        self.considered: list[Candidate] = []
        self.notes: list[str] = []

    def saw(self, decision: RouteDecision | None) -> RouteDecision | None:
        if decision is not None:
            self.considered.append(decision.as_candidate())
        return decision


class HybridRouter:
    """Routes requests to one of ``targets`` (graph id -> description)."""

    def __init__(
        self,
        rules: RuleBook,
        targets: Mapping[str, str],
        *,
        llm: LLMClassifier | None = None,
        dynamic: Sequence[DynamicRule] = (),
        strategy: Strategy = "rule_first",
        threshold: float = 0.7,
        semantic_threshold: float = 0.3,
        semantic_margin: float = 0.02,
        fallback_target: str = "chat",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        require_target(fallback_target, targets, "fallback target")
        self.rules = rules
        self.targets = dict(targets)
        self.llm = llm
        self.dynamic = tuple(dynamic)
        self.strategy: Strategy = strategy
        self.threshold = threshold
        self.semantic_threshold = semantic_threshold
        self.semantic_margin = semantic_margin
        self.fallback_target = fallback_target
        self.clock = clock or _utcnow
        self._strategies: dict[str, _StrategyFn] = {
            "rule_only": self._rule_only,
            "llm_only": self._llm_only,
            "rule_first": self._rule_first,
            "llm_first": self._llm_first,
            "hybrid": self._hybrid,
            "confidence_threshold": self._confidence_threshold,
            "round_robin": self._round_robin,
            "semantic_only": self._semantic_only,
        }

    async def route(self, request: RouteRequest, *, strategy: str | None = None) -> RouteDecision:
        """Decide where ``request`` goes, with ``strategy`` overriding the configured one."""
        name = strategy or self.strategy
        run = self._strategies.get(name)
        if run is None:
            raise UnknownStrategy(
                f"unknown route strategy {name!r}; expected one of {', '.join(STRATEGIES)}"
            )
        call = _Call(name)
        return self._finish(await run(request, call), call)

    async def retarget(
        self, targets: Mapping[str, str], examples: Mapping[str, Sequence[str]] | None = None
    ) -> None:
        """Route among ``targets`` (graph id -> description) from now on, with
        ``examples`` (graph id -> utterances) added to the semantic tier's.

        Every tier follows: rules and examples of targets gone stop serving,
        the LLM's prompt and answer schema list exactly ``targets``. A
        fallback target that is gone stays the fallback (its runs fail,
        saying so) until it is registered again.
        """
        if self.fallback_target not in targets:
            log.warning("router fallback target %r is no longer registered", self.fallback_target)
        # Building the semantic index may embed new examples: a few ms of CPU each.
        await asyncio.to_thread(self.rules.retarget, targets, examples)
        if self.llm is not None:
            self.llm.retarget(targets)
        self.targets = dict(targets)

    async def reload_rules(self) -> ReloadResult:
        """Reload ``rules/`` atomically; on error the previous rules keep serving."""
        return await self.rules.reload()

    async def aclose(self) -> None:
        self.rules.stop_watch()
        if self.llm is not None:
            await self.llm.aclose()

    # -- tiers -----------------------------------------------------------------

    def _by_rules(self, request: RouteRequest, call: _Call) -> RouteDecision | None:
        chosen = call.saw(first_dynamic_decision(self.dynamic, request, self.targets))
        outcome = self.rules.current.match(
            request.text, request.context, request.tags, now=self.clock()
        )
        for found in outcome.matches:
            decision = found.decision()
            if chosen is None:
                chosen = decision
            call.saw(decision)
        return chosen

    async def _by_semantic(self, request: RouteRequest, call: _Call) -> RouteDecision | None:
        """A sure semantic decision; unsure, its neighbours are still candidates."""
        current = self.rules.current
        index = current.semantic
        if index is None:
            call.notes.append(current.semantic_note or "semantic tier unavailable")
            return None
        # Inline, not in a worker thread: embedding is a few ms of CPU either
        # way, and on a busy 2-core machine the thread hand-off alone cost more
        # (measured: p50 28 ms via asyncio.to_thread vs 16 ms inline at load 10).
        outcome = index.search(request.text)
        call.considered.extend(outcome.candidates())
        if outcome.sure(self.semantic_threshold, self.semantic_margin):
            return outcome.decision()
        call.notes.append(outcome.unsure_note(self.semantic_threshold, self.semantic_margin))
        return None

    async def _by_local(self, request: RouteRequest, call: _Call) -> RouteDecision | None:
        return self._by_rules(request, call) or await self._by_semantic(request, call)

    async def _by_llm(
        self, request: RouteRequest, call: _Call, *, rotate: bool = False
    ) -> RouteDecision | None:
        if self.llm is None:
            call.notes.append(_NO_LLM)
            return None
        outcome = await self.llm.classify(request, rotate=rotate)
        if outcome.failures:
            call.notes.append(f"LLM failures: {'; '.join(outcome.failures)}")
        return call.saw(outcome.decision)

    # -- strategies --------------------------------------------------------------

    async def _rule_only(self, request: RouteRequest, call: _Call) -> RouteDecision | None:
        return self._by_rules(request, call)

    async def _semantic_only(self, request: RouteRequest, call: _Call) -> RouteDecision | None:
        return await self._by_semantic(request, call)

    async def _llm_only(self, request: RouteRequest, call: _Call) -> RouteDecision | None:
        if self.llm is None:
            call.notes.append(_NO_LLM)
            return await self._by_local(request, call)
        return await self._by_llm(request, call)

    async def _rule_first(self, request: RouteRequest, call: _Call) -> RouteDecision | None:
        return await self._by_local(request, call) or await self._by_llm(request, call)

    async def _llm_first(
        self, request: RouteRequest, call: _Call, *, rotate: bool = False
    ) -> RouteDecision | None:
        llm = await self._by_llm(request, call, rotate=rotate)
        return llm or await self._by_local(request, call)

    async def _round_robin(self, request: RouteRequest, call: _Call) -> RouteDecision | None:
        return await self._llm_first(request, call, rotate=True)

    async def _hybrid(self, request: RouteRequest, call: _Call) -> RouteDecision | None:
        rule = await self._by_local(request, call)
        llm = await self._by_llm(request, call)
        if rule is None or llm is None:
            return rule or llm
        if rule.target == llm.target:
            joint = 1.0 - (1.0 - rule.confidence) * (1.0 - llm.confidence)
            return rule.model_copy(
                update={
                    "source": f"{rule.source}+{llm.source}",
                    "confidence": round(joint, 6),
                    "reason": f"{rule.source} and LLM agree: {rule.reason}; {llm.reason}",
                }
            )
        winner, loser = (rule, llm) if rule.confidence >= llm.confidence else (llm, rule)
        note = f"disagreement: {loser.source} chose {loser.target} at {loser.confidence:g}"
        call.notes.append(note)
        return winner

    async def _confidence_threshold(
        self, request: RouteRequest, call: _Call
    ) -> RouteDecision | None:
        rule = self._by_rules(request, call)
        if rule is not None and rule.confidence >= self.threshold:
            return rule
        semantic = await self._by_semantic(request, call)
        if semantic is not None:
            return semantic
        llm = await self._by_llm(request, call)
        if llm is not None and llm.confidence >= self.threshold:
            return llm
        if rule is not None or llm is not None:
            call.notes.append(f"no candidate reached the threshold {self.threshold:g}")
        return None

    # -- the decision -------------------------------------------------------------

    def _finish(self, chosen: RouteDecision | None, call: _Call) -> RouteDecision:
        if chosen is None:
            chosen = RouteDecision(
                target=self.fallback_target,
                source="fallback",
                confidence=0.0,
                reason="nothing decided: fallback route",
            )
        self.rules.record(chosen)
        ranked = sorted(
            (c for c in call.considered if (c.source, c.target) != (chosen.source, chosen.target)),
            key=lambda c: -c.score,
        )
        # The tier's own candidate for the winner, when it has one, carries more
        # (a semantic candidate names its example) than the decision can.
        own = next(
            (c for c in call.considered if (c.source, c.target) == (chosen.source, chosen.target)),
            chosen.as_candidate(),
        )
        reason = "; ".join([chosen.reason, *call.notes]) if call.notes else chosen.reason
        return chosen.model_copy(
            update={
                "reason": reason,
                "candidates": [own, *ranked],
                "strategy": call.strategy,
                "latency_ms": (time.perf_counter() - call.started) * 1000.0,
            }
        )
