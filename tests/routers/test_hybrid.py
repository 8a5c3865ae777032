"""Every strategy of HybridRouter, with the LLM tier served over real HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from routers.base import STRATEGIES, RouteDecision, RouteRequest, Strategy
from routers.errors import UnknownStrategy
from routers.hybrid import HybridRouter
from routers.llm import LLMClassifier, Provider
from routers.rulebook import RuleBook
from tests.routers.conftest import TARGETS, WriteRules
from tests.support.openai_server import OpenAIServer, Reply

RULES = """
rules:
  - {id: pub, target: content, confidence: 0.9, match: {keywords: [publish]}}
  - {id: pub-support, target: support, priority: -1, confidence: 0.5,
     match: {keywords: [publish]}}
  - {id: weak, target: support, confidence: 0.4, match: {keywords: [maybe]}}
"""


@pytest.fixture
def rule_book(write_rules: WriteRules, rules_dir: Path) -> RuleBook:
    write_rules("10.yaml", RULES)
    return RuleBook(rules_dir, TARGETS)


@asynccontextmanager
async def _router(
    rules: RuleBook,
    server: OpenAIServer | None,
    strategy: Strategy,
    providers: tuple[str, ...] = ("main",),
) -> AsyncIterator[HybridRouter]:
    llm = None
    if server is not None:
        llm = LLMClassifier(
            [Provider(name=n, base_url=server.base_url, model=f"model-{n}") for n in providers],
            TARGETS,
            max_retries=0,
        )
    router = HybridRouter(rules, TARGETS, llm=llm, strategy=strategy, threshold=0.7)
    try:
        yield router
    finally:
        await router.aclose()


def _answer(target: str, confidence: float = 0.8) -> Reply:
    body = {"target": target, "confidence": confidence, "reason": f"looks like {target}"}
    return Reply(content=json.dumps(body))


def _assert_explained(decision: RouteDecision, strategy: str) -> None:
    """Invariants every decision keeps, whatever the strategy."""
    assert decision.candidates[0] == decision.as_candidate()
    assert decision.latency_ms > 0
    assert decision.strategy == strategy
    assert decision.reason


async def test_rule_only_when_rule_matches_then_rule_decides_and_llm_is_not_asked(
    rule_book: RuleBook, openai_server: OpenAIServer
) -> None:
    async with _router(rule_book, openai_server, "rule_only") as router:
        hit = await router.route(RouteRequest(text="publish this"))
        miss = await router.route(RouteRequest(text="hello"))
    assert (hit.target, hit.source, hit.confidence) == ("content", "rule:pub", 0.9)
    assert [c.source for c in hit.candidates] == ["rule:pub", "rule:pub-support"]
    assert (miss.target, miss.source, miss.confidence) == ("chat", "fallback", 0.0)
    assert openai_server.requests == []
    _assert_explained(hit, "rule_only")
    _assert_explained(miss, "rule_only")


async def test_llm_only_when_rule_would_match_then_llm_still_decides(
    rule_book: RuleBook, openai_server: OpenAIServer
) -> None:
    openai_server.script(_answer("support"))
    async with _router(rule_book, openai_server, "llm_only") as router:
        decision = await router.route(RouteRequest(text="publish this"))
    assert (decision.target, decision.source) == ("support", "llm:main")
    assert [c.source for c in decision.candidates] == ["llm:main"]
    _assert_explained(decision, "llm_only")


async def test_rule_first_when_no_rule_matches_then_llm_decides(
    rule_book: RuleBook, openai_server: OpenAIServer
) -> None:
    openai_server.script(_answer("support"))
    async with _router(rule_book, openai_server, "rule_first") as router:
        by_rule = await router.route(RouteRequest(text="publish this"))
        assert openai_server.requests == []
        by_llm = await router.route(RouteRequest(text="my order is late"))
    assert by_rule.source == "rule:pub"
    assert (by_llm.target, by_llm.source) == ("support", "llm:main")
    _assert_explained(by_llm, "rule_first")


async def test_llm_first_when_llm_answers_outside_schema_then_rules_decide(
    rule_book: RuleBook, openai_server: OpenAIServer
) -> None:
    openai_server.script(_answer("chat"), _answer("nonsense"))
    async with _router(rule_book, openai_server, "llm_first") as router:
        by_llm = await router.route(RouteRequest(text="publish this"))
        by_rule = await router.route(RouteRequest(text="publish this"))
    assert by_llm.source == "llm:main"
    assert by_rule.source == "rule:pub"
    assert "main: answer outside the schema" in by_rule.reason
    _assert_explained(by_rule, "llm_first")


async def test_llm_first_when_llm_and_rules_both_fail_then_fallback_route(
    rule_book: RuleBook, openai_server: OpenAIServer
) -> None:
    openai_server.script(_answer("nonsense"))
    async with _router(rule_book, openai_server, "llm_first") as router:
        decision = await router.route(RouteRequest(text="hello there"))
    assert (decision.target, decision.source) == ("chat", "fallback")
    assert "answer outside the schema" in decision.reason
    _assert_explained(decision, "llm_first")


async def test_hybrid_when_rule_and_llm_agree_then_confidence_rises(
    rule_book: RuleBook, openai_server: OpenAIServer
) -> None:
    openai_server.script(_answer("content", 0.8))
    async with _router(rule_book, openai_server, "hybrid") as router:
        decision = await router.route(RouteRequest(text="publish this"))
    assert decision.target == "content"
    assert decision.source == "rule:pub+llm:main"
    assert decision.confidence == pytest.approx(0.98)  # 1 - 0.1 * 0.2
    assert {c.source for c in decision.candidates[1:]} >= {"rule:pub", "llm:main"}
    _assert_explained(decision, "hybrid")


@pytest.mark.parametrize(
    ("llm_confidence", "winner"), [(0.95, "llm:main"), (0.9, "rule:pub"), (0.6, "rule:pub")]
)
async def test_hybrid_when_rule_and_llm_disagree_then_higher_confidence_wins(
    rule_book: RuleBook, openai_server: OpenAIServer, llm_confidence: float, winner: str
) -> None:
    openai_server.script(_answer("support", llm_confidence))
    async with _router(rule_book, openai_server, "hybrid") as router:
        decision = await router.route(RouteRequest(text="publish this"))
    assert decision.source == winner
    assert "disagreement" in decision.reason
    loser = "rule:pub" if winner == "llm:main" else "llm:main"
    assert loser in [c.source for c in decision.candidates[1:]]
    _assert_explained(decision, "hybrid")


@pytest.mark.parametrize(
    ("text", "llm_confidence", "source"),
    [
        ("publish this", 0.99, "rule:pub"),  # rule 0.9 >= 0.7: LLM not needed
        ("maybe publish", 0.99, "rule:pub"),
        ("maybe later", 0.8, "llm:main"),  # rule 0.4 < 0.7, LLM 0.8 >= 0.7
        ("maybe later", 0.5, "fallback"),  # neither reaches the threshold
    ],
)
async def test_confidence_threshold_when_scores_vary_then_first_above_threshold_wins(
    rule_book: RuleBook,
    openai_server: OpenAIServer,
    text: str,
    llm_confidence: float,
    source: str,
) -> None:
    openai_server.script(_answer("chat", llm_confidence))
    async with _router(rule_book, openai_server, "confidence_threshold") as router:
        decision = await router.route(RouteRequest(text=text))
    assert decision.source == source
    assert (len(openai_server.requests) == 0) is source.startswith("rule:")
    if source == "fallback":
        assert "threshold 0.7" in decision.reason
        assert {c.source for c in decision.candidates} == {"fallback", "rule:weak", "llm:main"}
    _assert_explained(decision, "confidence_threshold")


async def test_round_robin_when_called_repeatedly_then_providers_take_turns(
    rule_book: RuleBook, openai_server: OpenAIServer
) -> None:
    async with _router(rule_book, openai_server, "round_robin", ("a", "b")) as router:
        sources = [(await router.route(RouteRequest(text="hi"))).source for _ in range(3)]
    assert sources == ["llm:a", "llm:b", "llm:a"]


@pytest.mark.parametrize("strategy", ["llm_only", "llm_first", "hybrid", "round_robin"])
async def test_llm_strategy_when_no_llm_configured_then_degrades_to_rules_and_says_so(
    rule_book: RuleBook, strategy: Strategy
) -> None:
    async with _router(rule_book, None, strategy) as router:
        ruled = await router.route(RouteRequest(text="publish this"))
        fallen = await router.route(RouteRequest(text="hello"))
    assert (ruled.target, ruled.source) == ("content", "rule:pub")
    assert (fallen.target, fallen.source) == ("chat", "fallback")
    for decision in (ruled, fallen):
        assert "LLM tier not configured" in decision.reason
        _assert_explained(decision, strategy)


async def test_route_when_strategy_overridden_per_call_then_override_is_used(
    rule_book: RuleBook, openai_server: OpenAIServer
) -> None:
    openai_server.script(_answer("support"))
    async with _router(rule_book, openai_server, "rule_only") as router:
        decision = await router.route(RouteRequest(text="publish"), strategy="llm_only")
        with pytest.raises(UnknownStrategy, match="unknown route strategy 'coin_flip'"):
            await router.route(RouteRequest(text="publish"), strategy="coin_flip")
    assert (decision.source, decision.strategy) == ("llm:main", "llm_only")


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_route_when_any_strategy_and_nothing_decides_then_fallback_target(
    rule_book: RuleBook, strategy: Strategy
) -> None:
    async with _router(rule_book, None, strategy) as router:
        decision = await router.route(RouteRequest(text="nothing matches"))
    assert (decision.target, decision.source) == ("chat", "fallback")
    _assert_explained(decision, strategy)
