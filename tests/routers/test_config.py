"""build_router from RouterSettings: validation, dynamic rules, reload, the route event."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from routers.base import Candidate, RouteDecision, RouteRequest
from routers.config import RouterSettings, build_router
from routers.errors import RouterConfigError, RuleLoadError
from tests.routers.conftest import TARGETS, WriteRules
from tests.support.openai_server import OpenAIServer


def vip_rule(text: str, context: Mapping[str, Any]) -> RouteDecision | None:
    """A dynamic rule: VIPs asking anything go to support."""
    if "vip" in context["tags"]:
        return RouteDecision(target="support", source="ignored", confidence=0.99, reason="VIP")
    return None


def broken_rule(text: str, context: Mapping[str, Any]) -> RouteDecision | None:
    raise RuntimeError("bug in a plug-in")


def unknown_target_rule(text: str, context: Mapping[str, Any]) -> RouteDecision | None:
    return RouteDecision(target="billing", source="x")


async def test_build_router_when_defaults_then_publishing_goes_to_content_else_chat() -> None:
    router = build_router(RouterSettings(watch_rules=False), TARGETS)
    english = await router.route(RouteRequest(text="Could you publish this to LinkedIn?"))
    chinese = await router.route(RouteRequest(text="请帮我发表这篇文章"))
    paraphrase = await router.route(RouteRequest(text="a few words on our new menu for my fans"))
    other = await router.route(RouteRequest(text="What's the weather like?"))
    gibberish = await router.route(RouteRequest(text="x7 k9 q2"))
    assert (english.target, english.source) == ("content", "rule:publish-channel")
    assert english.params == {"channel": "LinkedIn"}
    assert (chinese.target, chinese.source) == ("content", "rule:publish-zh")
    # The shipped examples (rules/*.yaml) decide what no keyword names.
    assert (paraphrase.target, paraphrase.source) == ("content", "semantic:use-multilingual")
    assert (other.target, other.source) == ("chat", "semantic:use-multilingual")
    assert (gibberish.target, gibberish.source) == ("chat", "fallback")
    assert router.llm is None
    # rule_first with no LLM: only the request no earlier tier decided says so.
    assert "semantic tier unsure" in gibberish.reason
    assert "LLM tier not configured" in gibberish.reason
    assert "LLM tier not configured" not in english.reason
    assert "LLM tier not configured" not in other.reason


def test_build_router_when_fallback_target_unknown_then_config_error() -> None:
    with pytest.raises(RouterConfigError, match="fallback target 'nowhere' is not a registered"):
        build_router(RouterSettings(fallback_target="nowhere"), TARGETS)


def test_build_router_when_rule_targets_unregistered_graph_then_rule_load_error() -> None:
    with pytest.raises(RuleLoadError, match="rule 'publish-en': target 'content' is not"):
        build_router(RouterSettings(), {"chat": "General conversation."})


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("no_colon", "expected 'module:function'"),
        ("tests.routers.nope:f", "cannot import tests.routers.nope"),
        ("tests.routers.test_config:missing", "has no missing"),
        ("tests.routers.test_config:TARGETS", "is not callable"),
    ],
)
def test_build_router_when_dynamic_spec_is_bad_then_config_error(spec: str, problem: str) -> None:
    with pytest.raises(RouterConfigError, match=problem):
        build_router(RouterSettings(dynamic_rules=[spec]), TARGETS)


def test_settings_when_provider_names_repeat_then_rejected() -> None:
    provider = {"name": "p", "base_url": "http://127.0.0.1:1/v1", "model": "m"}
    with pytest.raises(ValueError, match="provider names must be distinct"):
        RouterSettings.model_validate({"providers": [provider], "fallback_provider": provider})


async def test_dynamic_rule_when_it_decides_then_it_beats_static_rules() -> None:
    specs = [f"tests.routers.test_config:{name}" for name in ("broken_rule", "vip_rule")]
    router = build_router(RouterSettings(dynamic_rules=specs), TARGETS)
    vip = await router.route(RouteRequest(text="publish this", tags=["vip"]))
    regular = await router.route(RouteRequest(text="publish this"))
    assert (vip.target, vip.source, vip.confidence) == ("support", "dynamic:vip_rule", 0.99)
    assert "rule:publish-en" in [c.source for c in vip.candidates]
    assert regular.source == "rule:publish-en"


async def test_dynamic_rule_when_it_names_unknown_target_then_it_is_skipped() -> None:
    settings = RouterSettings(dynamic_rules=["tests.routers.test_config:unknown_target_rule"])
    decision = await build_router(settings, TARGETS).route(RouteRequest(text="hi"))
    assert decision.source == "fallback"


async def test_router_when_clock_injected_then_time_windows_follow_it(
    write_rules: WriteRules, rules_dir: Path
) -> None:
    write_rules(
        "t.yaml",
        "rules: [{id: night, target: support, match: {time_window: {hours: '22:00-06:00'}}}]",
    )
    now = [datetime(2025, 1, 6, 23, 0, tzinfo=UTC)]
    router = build_router(RouterSettings(rules_dir=rules_dir), TARGETS, clock=lambda: now[0])
    assert (await router.route(RouteRequest(text="hi"))).source == "rule:night"
    now[0] = datetime(2025, 1, 6, 12, 0, tzinfo=UTC)
    assert (await router.route(RouteRequest(text="hi"))).source == "fallback"


async def test_reload_rules_when_bad_then_reported_and_old_rules_route(
    write_rules: WriteRules, rules_dir: Path
) -> None:
    write_rules("10.yaml", "rules: [{id: a, target: support, match: {keywords: [order]}}]")
    router = build_router(RouterSettings(rules_dir=rules_dir), TARGETS)
    write_rules("10.yaml", "rules: [{id: a, target: support, match: {keywords: order}}]")
    result = await router.reload_rules()
    assert not result.ok
    assert result.error is not None
    assert "10.yaml: rule 'a': match.keywords" in result.error
    assert (await router.route(RouteRequest(text="my order"))).source == "rule:a"

    write_rules("10.yaml", "rules: [{id: b, target: content, match: {keywords: [order]}}]")
    result = await router.reload_rules()
    assert result.ok
    assert result.version == 2
    assert (await router.route(RouteRequest(text="my order"))).source == "rule:b"


async def test_build_router_when_providers_configured_then_llm_tier_is_used(
    openai_server: OpenAIServer, write_rules: WriteRules, rules_dir: Path
) -> None:
    settings = RouterSettings.model_validate(
        {
            "strategy": "llm_only",
            "rules_dir": str(rules_dir),
            "providers": [{"name": "local", "base_url": openai_server.base_url, "model": "m"}],
        }
    )
    router = build_router(settings, TARGETS)
    try:
        decision = await router.route(RouteRequest(text="hi"))
    finally:
        await router.aclose()
    assert decision.source == "llm:local"
    assert len(openai_server.requests) == 1


def test_to_event_when_serialised_then_matches_the_api_route_event() -> None:
    decision = RouteDecision(
        target="content",
        source="rule:publish-en",
        confidence=0.9,
        reason="matched",
        params={"channel": "blog"},
        candidates=[Candidate(target="content", source="rule:publish-en", score=0.9)],
        latency_ms=0.05,
        strategy="rule_first",
    )
    event = decision.to_event()
    assert event == {
        "type": "route",
        "target": "content",
        "source": "rule:publish-en",
        "confidence": 0.9,
        "reason": "matched",
        "params": {"channel": "blog"},
        "candidates": [{"target": "content", "source": "rule:publish-en", "score": 0.9}],
        "latency_ms": 0.05,
        "strategy": "rule_first",
    }
    assert json.loads(json.dumps(event)) == event
