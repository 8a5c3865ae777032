"""The rule tier: every rule kind, ordering and the Aho-Corasick index."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from routers.rules import RuleSet
from tests.routers.conftest import TARGETS, WriteRules

NOON_UTC = datetime(2025, 1, 6, 12, 0, tzinfo=UTC)  # a Monday


def _ids(rules: RuleSet, text: str, **context: object) -> list[str]:
    outcome = rules.match(text, context, now=NOON_UTC)
    return [m.rule.id for m in outcome.matches]


@pytest.fixture
def keyword_rules(write_rules: WriteRules, rules_dir: Path) -> RuleSet:
    write_rules(
        "10-kw.yaml",
        """
        rules:
          - id: any-publish
            target: content
            match: {keywords: {any: [publish, "post to", 发布]}}
          - id: all-refund-order
            target: support
            match: {keywords: {all: [refund, order]}}
        """,
    )
    return RuleSet.load(rules_dir, TARGETS)


def test_keywords_any_when_one_word_present_then_rule_matches(keyword_rules: RuleSet) -> None:
    assert _ids(keyword_rules, "could you post to my blog") == ["any-publish"]
    assert _ids(keyword_rules, "tell me a joke") == []


def test_keywords_all_when_only_some_words_present_then_no_match(keyword_rules: RuleSet) -> None:
    assert _ids(keyword_rules, "I want a refund") == []
    assert _ids(keyword_rules, "refund my last order please") == ["all-refund-order"]


@pytest.mark.parametrize("text", ["PUBLISH it", "PuBlIsH it", "ＰＵＢＬＩＳＨ it", "ｐｏｓｔ ｔｏ"])
def test_keywords_when_case_or_width_differs_then_still_match(
    keyword_rules: RuleSet, text: str
) -> None:
    assert _ids(keyword_rules, text) == ["any-publish"]


def test_keywords_when_chinese_text_has_no_spaces_then_substring_matches(
    keyword_rules: RuleSet,
) -> None:
    assert _ids(keyword_rules, "请帮我把这篇文章发布出去") == ["any-publish"]


def test_regex_when_named_groups_match_then_they_become_params_over_rule_params(
    write_rules: WriteRules, rules_dir: Path
) -> None:
    write_rules(
        "r.yaml",
        """
        rules:
          - id: order-status
            target: support
            params: {team: orders, order_id: none}
            match: {regex: 'order\\s+#?(?P<order_id>\\d+)'}
        """,
    )
    rules = RuleSet.load(rules_dir, TARGETS)
    decision = rules.match("Where is ORDER #4711?", now=NOON_UTC).matches[0].decision()
    assert decision.params == {"team": "orders", "order_id": "4711"}
    assert decision.source == "rule:order-status"
    assert rules.match("where is my parcel", now=NOON_UTC).matches == []


def test_condition_when_context_satisfies_expression_then_matches(
    write_rules: WriteRules, rules_dir: Path
) -> None:
    write_rules(
        "c.yaml",
        """
        rules:
          - id: happy-vip
            target: support
            confidence: 0.8
            match: {condition: "sentiment_score > 0.7 and 'vip' in tags"}
        """,
    )
    rules = RuleSet.load(rules_dir, TARGETS)

    def ids(context: dict[str, object], tags: list[str]) -> list[str]:
        return [m.rule.id for m in rules.match("hi", context, tags, now=NOON_UTC).matches]

    assert ids({"sentiment_score": 0.9}, ["vip"]) == ["happy-vip"]
    assert ids({"sentiment_score": 0.5}, ["vip"]) == []
    assert ids({"sentiment_score": 0.9}, ["new"]) == []
    # A missing name is null; comparing it does not match and does not raise.
    assert ids({}, ["vip"]) == []


def test_condition_when_reading_text_then_regex_operator_works(
    write_rules: WriteRules, rules_dir: Path
) -> None:
    write_rules("c.yaml", "rules: [{id: t, target: chat, match: {condition: 'text =~ \"^hi\"'}}]")
    rules = RuleSet.load(rules_dir, TARGETS)
    assert _ids(rules, "hi there") == ["t"]
    assert _ids(rules, "oh hi") == []


def test_match_when_several_rules_match_then_priority_then_file_order_decides(
    write_rules: WriteRules, rules_dir: Path
) -> None:
    write_rules(
        "20-late.yaml",
        """
        rules:
          - {id: late-high, target: support, priority: 50, match: {keywords: [help]}}
          - {id: late-low, target: chat, match: {keywords: [help]}}
        """,
    )
    write_rules(
        "10-early.yaml", "rules: [{id: early-low, target: content, match: {keywords: [help]}}]"
    )
    rules = RuleSet.load(rules_dir, TARGETS)
    assert _ids(rules, "help") == ["late-high", "early-low", "late-low"]
    assert rules.files == ("10-early.yaml", "20-late.yaml")


def test_match_when_limit_reached_then_later_rules_are_not_evaluated(
    write_rules: WriteRules, rules_dir: Path
) -> None:
    rules_yaml = "\n".join(
        f"  - {{id: r{i}, target: chat, priority: {-i}, match: {{regex: 'x'}}}}" for i in range(10)
    )
    write_rules("r.yaml", "rules:\n" + rules_yaml + "\n")
    outcome = RuleSet.load(rules_dir, TARGETS).match("x", limit=2)
    assert [m.rule.id for m in outcome.matches] == ["r0", "r1"]
    assert outcome.evaluated == ["r0", "r1"]


def test_disabled_rule_when_loaded_then_it_never_matches(
    write_rules: WriteRules, rules_dir: Path
) -> None:
    write_rules("d.yaml", "rules: [{id: zz, target: chat, enabled: false, match: {keywords: [a]}}]")
    rules = RuleSet.load(rules_dir, TARGETS)
    assert len(rules) == 0
    assert _ids(rules, "a") == []


def test_index_when_request_has_one_keyword_then_only_that_candidate_is_evaluated(
    write_rules: WriteRules, rules_dir: Path
) -> None:
    # 200 keyword rules that also carry a regex or condition, plus 2 without keywords.
    lines = ["rules:"]
    for i in range(100):
        lines.append(f"  - {{id: re{i}, target: chat, match: {{keywords: [kwre{i}x], regex: .}}}}")
        lines.append(
            f"  - {{id: co{i}, target: chat, match: {{keywords: [kwco{i}x], condition: 'true'}}}}"
        )
    lines.append("  - {id: free-re, target: support, match: {regex: 'zzz'}}")
    lines.append("  - {id: free-co, target: support, match: {condition: 'false'}}")
    write_rules("many.yaml", "\n".join(lines) + "\n")
    rules = RuleSet.load(rules_dir, TARGETS)

    outcome = rules.match("please handle kwre42x now", now=NOON_UTC)
    assert [m.rule.id for m in outcome.matches] == ["re42"]
    assert sorted(outcome.evaluated) == ["free-co", "free-re", "re42"]

    outcome = rules.match("no keyword here", now=NOON_UTC)
    assert outcome.matches == []
    assert sorted(outcome.evaluated) == ["free-co", "free-re"]


def test_index_when_all_keywords_incomplete_then_rule_is_not_evaluated(
    write_rules: WriteRules, rules_dir: Path
) -> None:
    write_rules(
        "a.yaml", "rules: [{id: both, target: chat, match: {keywords: {all: [a1, b2]}, regex: .}}]"
    )
    rules = RuleSet.load(rules_dir, TARGETS)
    assert rules.match("only a1 here").evaluated == []
    assert rules.match("a1 and b2").evaluated == ["both"]


def test_default_rules_when_publishing_in_english_or_chinese_then_content(
    tmp_path: Path,
) -> None:
    from routers.config import DEFAULT_RULES_DIR

    rules = RuleSet.load(DEFAULT_RULES_DIR, TARGETS)
    publishing = ["Please publish this", "post to my blog", "帮我发布", "发表一篇文章", "写推文"]
    for text in publishing:
        best = rules.match(text).best
        assert best is not None, text
        assert best.rule.target == "content", text
    channel = rules.match("publish this on LinkedIn").best
    assert channel is not None
    assert channel.params == {"channel": "LinkedIn"}
    assert rules.match("how are you today?").best is None


def test_index_when_conditions_require_a_field_value_then_only_those_rules_are_evaluated(
    write_rules: WriteRules, rules_dir: Path
) -> None:
    lines = ["rules:"]
    for i in range(50):
        condition = f"tier == {i} and score > 0.5"
        lines.append(f"  - {{id: t{i}, target: support, match: {{condition: '{condition}'}}}}")
    lines.append(
        "  - {id: plans, target: content, match: {condition: \"plan in ['pro', 'team']\"}}"
    )
    lines.append("  - {id: open, target: chat, match: {condition: 'score > 0.9'}}")
    write_rules("guards.yaml", "\n".join(lines) + "\n")
    rules = RuleSet.load(rules_dir, TARGETS)

    outcome = rules.match("hi", {"tier": 7, "score": 0.8, "plan": "team"}, now=NOON_UTC)
    assert [m.rule.id for m in outcome.matches] == ["t7", "plans"]
    assert sorted(outcome.evaluated) == ["open", "plans", "t7"]
    # 7.0 == 7 in the expression, and in the index too.
    assert rules.match("hi", {"tier": 7.0, "score": 0.8}).evaluated == ["t7", "open"]
    # Values that equal no constant (missing, unhashable) reach no guarded rule.
    assert rules.match("hi", {"tier": [7], "score": 0.95}).evaluated == ["open"]
    assert [m.rule.id for m in rules.match("hi", {"score": 0.95}).matches] == ["open"]


def test_condition_when_old_rule_engine_syntax_is_used_then_it_still_works(
    write_rules: WriteRules, rules_dir: Path
) -> None:
    write_rules(
        "old.yaml",
        """
        rules:
          - id: search
            target: support
            match: {condition: "text =~~ 'refund' and plan != null and vip == true"}
          - id: not-match
            target: chat
            match: {condition: "text !~ '^hello' and missing == null"}
        """,
    )
    rules = RuleSet.load(rules_dir, TARGETS)
    assert _ids(rules, "I want a refund", plan="pro", vip=True) == ["search", "not-match"]
    assert _ids(rules, "hello, a refund", plan="pro", vip=True) == ["search"]
    assert _ids(rules, "hello, a refund", vip=True) == []
