"""Graph schemas also for ``typing.TypedDict`` state, which pydantic refuses on 3.11."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph.graph import START, StateGraph
from typing_extensions import TypedDict as ExtensionsTypedDict

from graphs.loader import import_target
from graphs.schemas import input_jsonschema, output_jsonschema, schema_keys, state_jsonschema
from tests.conftest import make_settings
from tests.support.server import run_server

ROOT = Path(__file__).resolve().parents[2]

# The tutorial style: ``from typing import TypedDict``.
TYPING_GRAPH = textwrap.dedent(
    '''
    """Counts the words of a topic."""
    import operator
    from typing import Annotated, NotRequired, TypedDict

    from langgraph.graph import START, StateGraph


    class State(TypedDict):
        topic: str
        notes: Annotated[list[str], operator.add]
        words: NotRequired[int]


    def count(state: State) -> dict:
        return {"words": len(state["topic"].split()), "notes": ["counted"]}


    builder = StateGraph(State)
    builder.add_node("count", count)
    builder.add_edge(START, "count")
    '''
)


def _typing_graph(tmp_path: Path) -> Path:
    (tmp_path / "words.py").write_text(TYPING_GRAPH, encoding="utf-8")
    config = tmp_path / "langgraph.json"
    config.write_text(json.dumps({"graphs": {"words": "./words.py:builder"}}), encoding="utf-8")
    return config


def _compiled(tmp_path: Path) -> Any:
    _typing_graph(tmp_path)
    builder, _ = import_target("./words.py:builder", tmp_path)  # as the registry imports it
    return builder.compile(name="words")


class ExtensionsState(ExtensionsTypedDict):
    """The same state written the way pydantic accepts on 3.11."""

    topic: str
    notes: list[str]
    words: int | None


def test_input_jsonschema_when_typing_typeddict_then_keys_types_and_required_derived(
    tmp_path: Path,
) -> None:
    graph = _compiled(tmp_path)
    with pytest.raises(Exception, match="typing_extensions"):
        graph.get_input_jsonschema()  # what LangGraph itself does on 3.11
    schema = input_jsonschema(graph)
    assert schema is not None
    assert schema["properties"]["topic"] == {"title": "Topic", "type": "string"}
    assert schema["properties"]["notes"]["type"] == "array"
    assert schema["properties"]["words"]["type"] == "integer"
    assert schema["required"] == ["topic", "notes"]  # NotRequired left out
    keys = frozenset({"topic", "notes", "words"})
    assert schema_keys(schema) == keys
    assert schema_keys(output_jsonschema(graph)) == keys
    assert schema_keys(state_jsonschema(graph)) == keys


def test_input_jsonschema_when_pydantic_can_read_state_then_langgraphs_own_schema() -> None:
    builder: StateGraph[ExtensionsState, Any, ExtensionsState, ExtensionsState] = StateGraph(
        ExtensionsState
    )
    builder.add_node("noop", lambda state: {})
    builder.add_edge(START, "noop")
    graph = builder.compile()
    assert input_jsonschema(graph) == graph.get_input_jsonschema()


def test_schema_keys_when_schema_has_no_properties_then_none() -> None:
    assert schema_keys(None) is None
    assert schema_keys({"type": "string"}) is None


async def test_api_when_graph_uses_typing_typeddict_then_schemas_and_input_checked(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, graphs=_typing_graph(tmp_path))
    with run_server(settings) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            schemas = (await http.get("/assistants/words/schemas")).json()
            typo = await http.post(
                "/runs/wait", json={"assistant_id": "words", "input": {"topik": "x"}}
            )
            ok = await http.post(
                "/runs/wait", json={"assistant_id": "words", "input": {"topic": "a b c"}}
            )
        # The CLI maps a plain message to the graph's one string input key.
        cli = subprocess.run(  # noqa: ASYNC221 (the server runs in its own thread)
            [sys.executable, "-m", "app.cli", "run", "--url", server.url, "words", "one two"],
            cwd=ROOT,
            env=os.environ,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    for key in ("input_schema", "output_schema", "state_schema"):
        assert set(schemas[key]["properties"]) == {"topic", "notes", "words"}, key
    assert typo.status_code == 422
    assert "allowed keys: ['notes', 'topic', 'words']" in typo.json()["detail"]
    assert ok.json() == {"topic": "a b c", "notes": ["counted"], "words": 3}
    assert cli.returncode == 0, cli.stderr
    assert "words: 2" in cli.stdout
