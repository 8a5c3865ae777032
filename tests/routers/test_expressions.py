"""The safe expression language: what it computes, and what it refuses at compile time."""

from __future__ import annotations

import time
from typing import Any

import pytest

from routers.expressions import (
    MAX_DEPTH,
    MAX_LENGTH,
    EvaluationError,
    UnsafeExpression,
    compile_expression,
)

# Each entry: an expression that must never compile, and a word its refusal must contain.
HOSTILE = [
    ("x.__class__", "attribute"),
    ("tags.append", "attribute"),
    ("().__class__.__bases__[0].__subclasses__()", "calls are not allowed"),
    ("().__class__.__bases__", "attribute"),
    ("__import__('os').system('true')", "calls are not allowed"),
    ("open('/etc/passwd')", "calls are not allowed"),
    ("eval('1')", "calls are not allowed"),
    ("getattr(x, 'y')", "calls are not allowed"),
    ("len(x, y)", "argument"),
    ("len(*tags)", "positional"),
    ("round(x, ndigits=2)", "positional"),
    ("import os", "syntax error"),
    ("exec('x=1')", "calls are not allowed"),
    ("x = 1", "syntax error"),
    ("__builtins__", "names starting with '_'"),
    ("_private", "names starting with '_'"),
    ("ctx['__class__']", "dunder"),
    ("[x for x in tags]", "comprehension"),
    ("{x: 1 for x in tags}", "comprehension"),
    ("any(x for x in tags)", "calls are not allowed"),
    ("lambda: 1", "lambda"),
    ("(y := 1)", "assignment"),
    ("f'{text}'", "f-string"),
    ("text[0:5]", "constant string or integer key"),
    ("ctx[name]", "constant string or integer key"),
    ("2 ** 100000000", "bits"),
    ("9 ** 9 ** 9", "bits"),
    ("10 ** 5000", "bits"),
    ("'a' * 10 ** 9", "repetition"),
    ("[0] * 10000000", "repetition"),
    ("'%*d' % (100000000, 1)", "formatting"),
    ("1 << 100000", "not allowed"),
    ("x | y", "not allowed"),
    ("~x", "'~' is not allowed"),
    ("x is None", "'is' is not supported"),
    ("text =~ pattern_from_request", "string literal pattern"),
    ("text =~ '('", "bad regex"),
    ("a < b =~ 'x'", "cannot be chained"),
    ("b'bytes'", "bytes"),
    ("1j", "complex"),
    ("{**ctx}", "unpacking"),
    ("[*tags]", "unpacking"),
    ("(" * (MAX_DEPTH + 5) + "1" + ")" * (MAX_DEPTH + 5), "nested deeper"),
    ("not " * (MAX_DEPTH + 5) + "x", "nested deeper"),
    ("-" * (MAX_DEPTH + 5) + "1", "nested deeper"),
    ("1 + " * 100 + "1", "nested deeper"),
    ("x" * (MAX_LENGTH + 1), "longer than"),
    ("yield x", "syntax error"),
    ("await x", "not allowed"),
]


@pytest.mark.parametrize(("text", "why"), HOSTILE)
def test_compile_when_expression_is_hostile_then_refused_saying_what(text: str, why: str) -> None:
    started = time.perf_counter()
    with pytest.raises(UnsafeExpression) as refused:
        compile_expression(text)
    assert why in refused.value.what, refused.value.what
    assert refused.value.where
    assert refused.value.text == text
    # Refusing is cheap: nothing huge was computed on the way to the refusal.
    assert time.perf_counter() - started < 0.5


CASES: list[tuple[str, dict[str, Any], Any]] = [
    ("sentiment_score > 0.7 and 'vip' in tags", {"sentiment_score": 0.9, "tags": ["vip"]}, True),
    ("sentiment_score > 0.7 and 'vip' in tags", {"sentiment_score": 0.9, "tags": ["x"]}, False),
    (
        "previous_target == 'shout' and text =~ '^again'",
        {"previous_target": "shout", "text": "again!"},
        True,
    ),
    ("text =~ 'hi'", {"text": "oh hi"}, False),  # =~ anchors at the start (re.match)
    ("text =~~ 'hi'", {"text": "oh hi"}, True),  # =~~ searches (re.search)
    ("text !~ 'hi'", {"text": "oh hi"}, True),
    ("text !~~ 'hi'", {"text": "oh hi"}, False),
    ("missing == null", {}, True),
    ("x == true or y == false", {"y": False}, True),
    ("1 < x <= 3", {"x": 3}, True),
    ("1 < x <= 3", {"x": 4}, False),
    ("plan in ['pro', 'team'] and seats >= 10", {"plan": "team", "seats": 12}, True),
    ("user['plan'] == 'pro'", {"user": {"plan": "pro"}}, True),
    ("user['plan']", {"user": {}}, None),
    ("tags[0]", {"tags": ["a", "b"]}, "a"),
    ("tags[-1]", {"tags": ["a", "b"]}, "b"),
    ("tags[5]", {"tags": ["a"]}, None),
    ("len(tags) * 2 + 2 ** 10 - 7 // 2 % 5", {"tags": [1, 2]}, 4 + 1024 - 3),
    ("lower(text) == 'hi' and upper('a') == 'A'", {"text": "HI"}, True),
    ("max(a, b, 3) + min([4, 5]) + abs(-1) + round(2.6)", {"a": 1, "b": 2}, 3 + 4 + 1 + 3),
    ("int('42') + float('0.5') == 42.5 and str(1) == '1'", {}, True),
    ("'yes' if score > 0.5 else 'no'", {"score": 0.6}, "yes"),
    ("{'a': 1}['a'] + (1, 2)[1] + len({1, 2, 2})", {}, 1 + 2 + 2),
    ("'是' in text", {"text": "是的"}, True),
    ("not flag", {"flag": False}, True),
    ("-x + +y", {"x": 1, "y": 3}, 2),
    ("tier not in [1, 2]", {"tier": 3}, True),
]


@pytest.mark.parametrize(("text", "context", "expected"), CASES)
def test_evaluate_when_context_given_then_value_is_computed(
    text: str, context: dict[str, Any], expected: Any
) -> None:
    assert compile_expression(text).evaluate(context) == expected


def test_evaluate_when_data_has_wrong_type_then_evaluation_error_and_no_match() -> None:
    expression = compile_expression("score > 0.7")
    with pytest.raises(EvaluationError, match="TypeError"):
        expression.evaluate({})  # null > 0.7
    assert expression.matches({}) is False
    assert expression.matches({"score": "high"}) is False
    assert expression.matches({"score": 0.8}) is True


def test_evaluate_when_context_values_would_make_huge_results_then_refused_at_runtime() -> None:
    started = time.perf_counter()
    huge: list[tuple[str, dict[str, Any]]] = [
        ("x ** y", {"x": 2, "y": 10**8}),
        ("text * n", {"text": "ab", "n": 10**9}),
        ("tags * n", {"tags": [1], "n": 10**9}),
        ("x * y", {"x": 2**4000, "y": 2**4000}),
        ("fmt % args", {"fmt": "%*d", "args": (10**8, 1)}),
        ("int(digits)", {"digits": "9" * 5000}),
    ]
    for text, context in huge:
        with pytest.raises(EvaluationError):
            compile_expression(text).evaluate(context)
    assert time.perf_counter() - started < 0.5


def test_fields_when_compiled_then_lists_exactly_the_context_names_read() -> None:
    expression = compile_expression("a > 1 and user['plan'] == 'pro' and len(tags) > null")
    assert expression.fields == frozenset({"a", "user", "tags"})
    assert compile_expression("1 + 2 == 3").fields == frozenset()


def test_guards_when_top_level_and_has_equalities_then_they_are_exposed_for_indexing() -> None:
    guarded = compile_expression("tier == 3 and 'vip' in tags and plan in ['pro', 'team']")
    assert guarded.guards == {"tier": frozenset({3}), "plan": frozenset({"pro", "team"})}
    # Under ``or`` or ``not`` an equality is no necessary condition: no guard.
    assert compile_expression("tier == 3 or vip").guards == {}
    assert compile_expression("not tier == 3").guards == {}
    assert compile_expression("'x' == plan and plan == 'x'").guards == {"plan": frozenset({"x"})}


def test_compile_when_constant_arithmetic_is_small_then_folded_once() -> None:
    expression = compile_expression("x < 2 ** 10 * 3")
    assert expression.evaluate({"x": 3071}) is True
    assert expression.fields == frozenset({"x"})


def test_compile_when_regex_operators_appear_inside_strings_then_left_alone() -> None:
    assert compile_expression("text == 'a =~ b ~ is'").evaluate({"text": "a =~ b ~ is"}) is True
    assert compile_expression('text =~ "x\\"=~"').evaluate({"text": 'x"=~'}) is True


def test_unsafe_expression_when_raised_then_it_is_a_value_error_with_what_and_where() -> None:
    with pytest.raises(ValueError, match=r"attribute access is not allowed \(at column 7"):
        compile_expression("a and b.c")


@pytest.mark.parametrize(
    ("text", "subject", "expected"),
    [
        (r"text =~~ '\bhi\b'", "oh hi there", True),
        (r"text =~~ '\bhi\b'", "ohhi", False),
        (r"text =~ '\d+$'", "42", True),
        (r"text =~ 'it\'s'", "it's", True),
        (r"text =~ r'\bx'", "x", True),
        (r'text =~ "\"q\""', '"q"', True),
        (r"text =~~ '(?i)\b(was|were)\b'", "When WAS it", True),
    ],
)
def test_regex_when_pattern_has_backslashes_then_it_is_taken_as_written(
    text: str, subject: str, expected: bool
) -> None:
    # As in rule-engine: '\b' is a word boundary, not a backspace; no warning either.
    assert compile_expression(text).matches({"text": subject}) is expected
