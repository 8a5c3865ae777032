"""Loading rules: bad files are refused with file, rule id and reason; reload is atomic."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from routers.errors import RuleLoadError
from routers.rulebook import RuleBook
from routers.rules import RuleSet
from tests.routers.conftest import TARGETS, WriteRules

GOOD = "rules: [{id: greet, target: chat, match: {keywords: [hello]}}]\n"


@pytest.mark.parametrize(
    ("text", "rule_id", "problem"),
    [
        (
            "rules: [{id: r1, target: chat, match: {keywords: [a]}, priorty: 3}]",
            "r1",
            "priorty: Extra inputs are not permitted",
        ),
        (
            "rules: [{id: r2, target: chat, match: {regex: '(unclosed'}}]",
            "r2",
            "match.regex: regex '(unclosed'",
        ),
        (
            "rules: [{id: r3, target: chat, match: {condition: 'score >'}}]",
            "r3",
            "match.condition: condition 'score >': syntax error",
        ),
        (
            "rules: [{id: r4, target: nowhere, match: {keywords: [a]}}]",
            "r4",
            "target 'nowhere' is not a registered graph (known: chat, content, support)",
        ),
        ("rules: [{id: r5, target: chat, match: {}}]", "r5", "match needs at least one of"),
        ("rules: [{id: r6, target: chat, match: {keywords: {any: []}}}]", "r6", "keywords needs"),
        (
            "rules: [{id: r7, target: chat, confidence: 1.5, match: {keywords: [a]}}]",
            "r7",
            "confidence: Input should be less than or equal to 1",
        ),
        ("rules: [{target: chat, match: {keywords: [a]}}]", None, "id: Field required"),
    ],
)
def test_load_when_a_rule_is_invalid_then_error_names_file_rule_and_problem(
    write_rules: WriteRules, rules_dir: Path, text: str, rule_id: str | None, problem: str
) -> None:
    write_rules("00-good.yaml", GOOD)
    bad = write_rules("50-bad.yaml", text)
    with pytest.raises(RuleLoadError) as caught:
        RuleSet.load(rules_dir, TARGETS)
    error = caught.value
    assert error.file == str(bad)
    assert error.rule_id == rule_id
    assert problem in error.problem
    assert str(bad) in str(error)
    if rule_id is not None:
        assert f"rule {rule_id!r}" in str(error)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("rules: [{id: a", "invalid YAML"),
        ("- just a list", "expected a mapping with a 'rules' list"),
        ("rules: {id: a}", "'rules' must be a list"),
        ("rule: []", "unknown top-level key(s): rule"),
        ("rules: [just-a-string]", "each rule must be a mapping, got str"),
    ],
)
def test_load_when_the_file_shape_is_wrong_then_error_names_file_and_problem(
    write_rules: WriteRules, rules_dir: Path, text: str, problem: str
) -> None:
    bad = write_rules("bad.yaml", text)
    with pytest.raises(RuleLoadError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        RuleSet.load(rules_dir, TARGETS)
    with pytest.raises(RuleLoadError) as caught:
        RuleSet.load(rules_dir, TARGETS)
    assert caught.value.file == str(bad)


def test_load_when_an_id_repeats_across_files_then_both_files_are_named(
    write_rules: WriteRules, rules_dir: Path
) -> None:
    write_rules("10-a.yaml", GOOD)
    write_rules("20-b.yml", GOOD)
    with pytest.raises(RuleLoadError, match=r"20-b\.yml: rule 'greet': duplicate rule id") as c:
        RuleSet.load(rules_dir, TARGETS)
    assert "also defined in 10-a.yaml" in str(c.value)


def test_load_when_directory_is_missing_then_error_names_it(tmp_path: Path) -> None:
    with pytest.raises(RuleLoadError, match="rules directory does not exist"):
        RuleSet.load(tmp_path / "nope", TARGETS)


def test_load_when_file_is_empty_then_it_contributes_no_rules(
    write_rules: WriteRules, rules_dir: Path
) -> None:
    write_rules("00-empty.yaml", "# nothing yet\n")
    write_rules("10-good.yaml", GOOD)
    rules = RuleSet.load(rules_dir, TARGETS)
    assert [r.id for r in rules.rules] == ["greet"]


async def test_reload_when_files_are_valid_then_new_rules_serve(
    write_rules: WriteRules, rules_dir: Path
) -> None:
    write_rules("10.yaml", GOOD)
    book = RuleBook(rules_dir, TARGETS)
    assert book.current.match("publish").best is None

    write_rules("20.yaml", "rules: [{id: pub, target: content, match: {keywords: [publish]}}]")
    result = await book.reload()

    assert result.ok
    assert result.error is None
    assert (result.version, result.rules, result.files) == (2, 2, ["10.yaml", "20.yaml"])
    best = book.current.match("publish").best
    assert best is not None
    assert best.rule.id == "pub"


async def test_reload_when_a_file_is_bad_then_previous_rules_keep_serving(
    write_rules: WriteRules, rules_dir: Path
) -> None:
    write_rules("10.yaml", GOOD)
    book = RuleBook(rules_dir, TARGETS)
    serving = book.current

    write_rules("10.yaml", "rules: [{id: greet, target: chat, match: {regex: '['}}]")
    write_rules("20.yaml", "rules: [{id: pub, target: content, match: {keywords: [publish]}}]")
    result = await book.reload()

    assert not result.ok
    assert result.error is not None
    assert "10.yaml: rule 'greet': match.regex" in result.error
    assert (result.version, result.rules, result.files) == (1, 1, ["10.yaml"])
    assert book.current is serving
    best = book.current.match("hello").best
    assert best is not None
    assert best.rule.id == "greet"
    assert book.current.match("publish").best is None


def test_rulebook_when_initial_load_fails_then_construction_raises(
    write_rules: WriteRules, rules_dir: Path
) -> None:
    write_rules("10.yaml", "rules: [{id: x, target: nowhere, match: {keywords: [a]}}]")
    with pytest.raises(RuleLoadError, match="rule 'x': target 'nowhere'"):
        RuleBook(rules_dir, TARGETS)


def test_load_when_conditions_are_hostile_then_each_is_refused_naming_its_rule(
    write_rules: WriteRules, rules_dir: Path
) -> None:
    from tests.routers.test_expressions import HOSTILE

    for n, (expression, why) in enumerate(HOSTILE):
        rule = {"id": f"hostile-{n}", "target": "chat", "match": {"condition": expression}}
        bad = write_rules("50-bad.yaml", yaml.safe_dump({"rules": [rule]}))
        with pytest.raises(RuleLoadError) as caught:
            RuleSet.load(rules_dir, TARGETS)
        assert caught.value.rule_id == f"hostile-{n}", expression
        assert caught.value.file == str(bad)
        assert why in caught.value.problem, (expression, caught.value.problem)
        assert caught.value.problem.startswith("match.condition: condition ")
