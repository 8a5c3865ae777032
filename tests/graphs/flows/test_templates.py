"""Placeholders: params at compile time, state at run time, paths only."""

from __future__ import annotations

from graphs.flows.templates import fill_params, placeholders, render


def test_fill_params_when_whole_string_is_a_placeholder_then_value_keeps_its_type() -> None:
    config = {"limit": "{{params.limit}}", "text": "max {{ params.limit }} of {{state.x}}"}
    filled = fill_params(config, {"limit": 3})
    assert filled == {"limit": 3, "text": "max 3 of {{state.x}}"}


def test_render_when_paths_index_into_state_then_values_are_found() -> None:
    state = {"order": {"items": [{"sku": "A1"}, {"sku": "B2"}]}, "n": 2}
    assert render("{{state.order.items[1].sku}}", state) == "B2"
    assert render(["n={{state.n}}", "{{state.order.items[0]}}"], state) == [
        "n=2",
        {"sku": "A1"},
    ]
    assert render("missing: [{{state.nothing.here}}]", state) == "missing: []"
    assert render("{{state.order.items[9]}}", state) is None


def test_placeholders_when_malformed_then_reported_with_where() -> None:
    found = list(placeholders({"a": ["ok {{state.x}}", "{{ state.x + 1 }}"], "b": "{{env.HOME}}"}))
    assert [(p.root, p.name, p.where) for p in found] == [
        ("state", "x", ("a", 0)),
        ("", None, ("a", 1)),
        ("env", "HOME", ("b",)),
    ]
