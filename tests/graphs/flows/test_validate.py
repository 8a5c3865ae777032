"""``validate_flow`` reports every problem at once, each at its JSON path."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from graphs.flows.components.catalog import ComponentCatalog
from graphs.flows.validate import validate_flow
from tests.graphs.flows.reference import FLOW

BROKEN: dict[str, Any] = {
    "id": "broken",
    "params": {
        "limit": {"type": "integer", "default": "three"},
        "style": {"type": "string", "default": "short"},
    },
    "state": {
        "n": {"type": "integer", "default": 0},
        "tags": {"type": "string", "reducer": "append"},
        "notes": {"type": "array", "reducer": "append"},
    },
    "nodes": [
        {"id": "a", "type": "transform", "config": {"compute": {"n": "n + 1"}}},
        {"id": "b", "type": "no_such_component", "config": {}},
        {"id": "c", "type": "transform", "config": {"set": {"missing": "{{state.ghost}}"}}},
        {"id": "island", "type": "transform", "config": {}},
        {"id": "a", "type": "transform", "config": {}},
        {"id": "d", "type": "subgraph", "config": {"graph": "nowhere"}},
        {"id": "e", "type": "llm", "config": {"prompt": 42}},
    ],
    "edges": [
        {"from": "START", "to": "a"},
        {"from": "a", "to": "b"},
        {"from": "b", "to": "c"},
        {"from": "b", "to": "c"},
        {"from": "c", "to": "a", "when": "n < limit"},
        {"from": "c", "to": "d", "when": "n.__class__"},
        {"from": "d", "to": "e", "when": "unknown_name > 1"},
        {"from": "c", "to": "ghost"},
        {"from": "e", "to": "END"},
    ],
}

EXPECTED = {
    ("$.params.limit.default", "bad_param"),
    ("$.state.tags.reducer", "bad_channel"),
    ("$.nodes[1].type", "unknown_component"),
    ("$.nodes[2].config.set.missing", "unknown_channel"),  # the ghost placeholder
    ("$.nodes[2].config.set.missing", "unknown_channel"),  # writing 'missing'
    ("$.nodes[3]", "unreachable"),
    ("$.nodes[4].id", "duplicate_id"),
    ("$.nodes[5].config.graph", "bad_config"),
    ("$.nodes[6].config.prompt", "bad_config"),
    ("$.edges[3]", "duplicate_edge"),
    ("$.edges[4]", "unbounded_loop"),
    ("$.edges[5].when", "bad_expression"),
    ("$.edges[6].when", "bad_expression"),
    ("$.edges[7].to", "dangling_edge"),
}


def test_validate_when_flow_has_every_problem_then_all_are_reported_with_paths(
    components: ComponentCatalog,
) -> None:
    problems = validate_flow(BROKEN, components, graphs={"chat", "content"})
    found = {(p.path, p.code) for p in problems}
    assert found == EXPECTED, [p.to_json() for p in problems]
    by_path = {p.path: p.message for p in problems}
    assert "three" in by_path["$.params.limit.default"]
    assert "no_such_component" in by_path["$.nodes[1].type"]
    assert "max_iterations" in by_path["$.edges[4]"]
    assert "attribute access" in by_path["$.edges[5].when"]
    assert "unknown_name" in by_path["$.edges[6].when"]
    assert "nowhere" in by_path["$.nodes[5].config.graph"]


def test_validate_when_flow_is_good_then_no_problems(components: ComponentCatalog) -> None:
    assert validate_flow(FLOW, components, graphs={"chat"}) == []


def test_validate_when_shape_is_wrong_then_every_field_error_has_its_path(
    components: ComponentCatalog,
) -> None:
    data = {"id": "bad id!", "nodes": [{"type": "llm"}], "edges": [{"from": "START"}], "x": 1}
    found = {(p.path, p.code) for p in validate_flow(data, components)}
    assert found == {
        ("$.id", "invalid"),
        ("$.nodes[0].id", "invalid"),
        ("$.edges[0].to", "invalid"),
        ("$.x", "invalid"),
    }


@pytest.mark.parametrize(
    "hostile",
    [
        "count.__class__",
        "__import__('os').system('true')",
        "count.real",
        "open('/etc/passwd')",
        "_secret",
        "[c for c in trail]",
        "(lambda: 1)()",
        "2 ** 10 ** 10",
        "'a' * 10 ** 10",
        "count()",
    ],
)
def test_validate_when_condition_is_hostile_then_refused(
    components: ComponentCatalog, hostile: str
) -> None:
    data = copy.deepcopy(FLOW)
    data["edges"][2]["when"] = hostile
    problems = validate_flow(data, components)
    assert [(p.path, p.code) for p in problems] == [("$.edges[2].when", "bad_expression")]


def test_validate_when_compute_is_hostile_then_refused(components: ComponentCatalog) -> None:
    data = copy.deepcopy(FLOW)
    data["nodes"][1]["config"]["compute"]["count"] = "count.__add__(1)"
    problems = validate_flow(data, components)
    assert [(p.path, p.code) for p in problems] == [
        ("$.nodes[1].config.compute.count", "bad_config")
    ]


def test_validate_when_param_values_given_then_their_types_are_checked(
    components: ComponentCatalog,
) -> None:
    problems = validate_flow(FLOW, components, params={"limit": "many", "other": 1})
    assert {(p.path, p.code) for p in problems} == {
        ("$.params.limit", "bad_param"),
        ("$.params.other", "bad_param"),
    }


def test_validate_when_function_module_is_not_allowed_then_refused() -> None:
    strict = ComponentCatalog.discover(use_entry_points=False)  # nothing allowed
    data = copy.deepcopy(FLOW)
    data["nodes"][4]["config"]["function"] = "os:system"
    problems = validate_flow(data, strict)
    assert [(p.path, p.code) for p in problems] == [("$.nodes[4].config.function", "bad_config")]
    assert "not allowed" in problems[0].message


def test_validate_when_join_or_start_edges_misused_then_reported(
    components: ComponentCatalog,
) -> None:
    data = {
        "id": "joins",
        "state": {},
        "nodes": [{"id": "a", "type": "transform"}, {"id": "b", "type": "transform"}],
        "edges": [
            {"from": "START", "to": "a", "max_iterations": 2},
            {"from": "START", "to": "b"},
            {"from": ["a"], "to": "END"},
            {"from": ["a", "b"], "to": "START", "when": "true"},
            {"from": "END", "to": "a"},
        ],
    }
    found = {(p.path, p.code) for p in validate_flow(data, components)}
    assert found == {
        ("$.edges[0].max_iterations", "bad_edge"),
        ("$.edges[2].from", "bad_edge"),
        ("$.edges[3].to", "bad_edge"),
        ("$.edges[3]", "bad_edge"),
        ("$.edges[4].from", "bad_edge"),
    }
