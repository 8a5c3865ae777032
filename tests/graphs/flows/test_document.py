"""The flow document: one model, its published JSON Schema, JSON or YAML text."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from graphs.flows.document import (
    SCHEMA_PATH,
    FlowDocument,
    flow_schema_text,
    parse_flow_text,
)
from tests.graphs.flows.reference import FLOW

YAML_FLOW = """
id: hello
description: Says hello.
params:
  name: {type: string, default: world}
state:
  greeting: {type: string}
nodes:
  - id: greet
    type: transform
    config: {set: {greeting: "hello {{params.name}}"}}
edges:
  - {from: START, to: greet}
  - {from: greet, to: END}
"""


def test_schema_when_model_changes_then_published_file_must_follow() -> None:
    # `python -m graphs.flows.document` rewrites it.
    assert SCHEMA_PATH.read_text(encoding="utf-8") == flow_schema_text()
    schema = json.loads(flow_schema_text())
    assert schema["$defs"]["Edge"]["required"] == ["from", "to"]


def test_document_when_yaml_then_same_model_as_json() -> None:
    from_yaml = FlowDocument.model_validate(parse_flow_text(YAML_FLOW))
    as_json = json.dumps(from_yaml.to_json())
    assert FlowDocument.model_validate(parse_flow_text(as_json)) == from_yaml
    assert from_yaml.edges[0].source == "START"
    assert from_yaml.params["name"].required is False


def test_document_when_written_back_then_it_round_trips_with_from_and_to() -> None:
    document = FlowDocument.model_validate(FLOW)
    written = document.to_json()
    assert written["edges"][6] == {"from": ["left", "right"], "to": "join"}
    assert FlowDocument.model_validate(written) == document


def test_document_when_text_is_neither_json_nor_yaml_then_value_error() -> None:
    with pytest.raises(ValueError, match="not valid JSON or YAML"):
        parse_flow_text("{nodes: [")


def test_flows_when_imported_then_no_http_server_code_comes_along() -> None:
    # House rule: graphs/ never imports Starlette or HTTP servers (MCP lives in app/mcp).
    probe = (
        "import sys, graphs.registry, graphs.flows.catalog, graphs.flows.validate;"
        "roots = {m.split('.')[0] for m in sys.modules};"
        "print(sorted(roots & {'starlette', 'uvicorn', 'mcp', 'app'}))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
