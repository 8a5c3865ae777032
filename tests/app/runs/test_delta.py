"""DeltaEncoder: replaying its ops with an independent RFC 6902 implementation
(the ``jsonpatch`` library) from ``null`` reproduces every state exactly."""

from __future__ import annotations

import dataclasses
from typing import Any

import jsonpatch
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from app.runs.delta import DeltaEncoder, Op
from app.serde import dumps, jsonable, loads

# --- helpers -------------------------------------------------------------------


def canonical(value: Any) -> bytes:
    """Exact JSON identity: types (1 / 1.0 / true) and signs matter, key order does not."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def on_the_wire(ops: list[Op]) -> list[Op]:
    """Ops as a client receives them: serialised and parsed again."""
    parsed: list[Op] = loads(dumps(ops))
    return parsed


class Replayer:
    """A client: applies every delta to its document, starting from ``null``."""

    def __init__(self) -> None:
        self.encoder = DeltaEncoder()
        self.document: Any = None

    def step(self, state: Any) -> list[Op]:
        ops = self.encoder.encode(state)
        self.document = jsonpatch.apply_patch(self.document, on_the_wire(ops))
        assert canonical(self.document) == canonical(jsonable(state))
        return ops


# --- strategies ----------------------------------------------------------------

keys = st.one_of(
    st.text(max_size=6),
    st.sampled_from(["a/b", "~", "~0", "~1", "/", "", "-", "0", "ü/~x", "键", "🙂"]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(keys, children, max_size=5)
    ),
    max_leaves=20,
)


def evolve(data: st.DataObject, value: Any, depth: int = 0) -> Any:
    """The next state, graph style: edited containers are new objects, untouched
    parts are passed again as the very same objects."""
    is_container = isinstance(value, (list, dict))
    choice = data.draw(st.sampled_from(["keep", "replace", "edit", "edit"]))
    if choice == "keep":
        return value
    if choice == "replace" or not is_container or depth > 3:
        return data.draw(json_values)
    if isinstance(value, list):
        items = list(value)
        edit = data.draw(st.sampled_from(["append", "shrink", "insert", "delete", "change"]))
        if edit == "append":
            items.extend(data.draw(st.lists(json_values, min_size=1, max_size=3)))
        elif edit == "shrink":
            del items[len(items) - data.draw(st.integers(0, len(items))) :]
        elif edit == "insert":
            items.insert(data.draw(st.integers(0, len(items))), data.draw(json_values))
        elif items:
            index = data.draw(st.integers(0, len(items) - 1))
            if edit == "delete":
                del items[index]
            else:
                items[index] = evolve(data, items[index], depth + 1)
        return items
    mapping = dict(value)
    edit = data.draw(st.sampled_from(["add", "remove", "change"]))
    if edit == "add":
        mapping[data.draw(keys)] = data.draw(json_values)
    elif mapping:
        key = data.draw(st.sampled_from(sorted(mapping)))
        if edit == "remove":
            del mapping[key]
        else:
            mapping[key] = evolve(data, mapping[key], depth + 1)
    return mapping


# --- the invariant, as properties ------------------------------------------------


@given(st.lists(json_values, min_size=1, max_size=6))
def test_encode_when_states_are_unrelated_then_replay_reproduces_each(states: list[Any]) -> None:
    client = Replayer()
    for state in states:
        client.step(state)


@settings(max_examples=300)
@given(st.data())
def test_encode_when_states_evolve_by_edits_then_replay_reproduces_each(
    data: st.DataObject,
) -> None:
    client = Replayer()
    state = data.draw(json_values)
    client.step(state)
    for _ in range(data.draw(st.integers(1, 8))):
        state = evolve(data, state)
        client.step(state)


def collect_containers(value: Any, found: list[Any]) -> list[Any]:
    if isinstance(value, (list, dict)):
        found.append(value)
        for child in value.values() if isinstance(value, dict) else value:
            collect_containers(child, found)
    return found


@settings(max_examples=200)
@given(st.data())
def test_encode_when_same_dict_is_mutated_in_place_then_replay_reproduces_each(
    data: st.DataObject,
) -> None:
    state: dict[str, Any] = data.draw(st.dictionaries(keys, json_values, max_size=4))
    client = Replayer()
    client.step(state)
    for _ in range(data.draw(st.integers(1, 8))):
        target = data.draw(st.sampled_from(collect_containers(state, [])))
        if isinstance(target, list):
            edit = data.draw(st.sampled_from(["append", "pop", "set", "clear"]))
            if edit == "append" or not target:
                target.append(data.draw(json_values))
            elif edit == "pop":
                target.pop(data.draw(st.integers(0, len(target) - 1)))
            elif edit == "set":
                target[data.draw(st.integers(0, len(target) - 1))] = data.draw(json_values)
            else:
                target.clear()
        else:
            key = data.draw(keys)
            if key in target and data.draw(st.booleans()):
                del target[key]
            else:
                target[key] = data.draw(json_values)
        client.step(state)  # the very same dict object, changed


messages = st.builds(
    lambda cls, content, n: cls(content=content, id=f"m{n}"),
    st.sampled_from([HumanMessage, AIMessage]),
    st.text(max_size=12),
    st.integers(0, 10**6),
)


@settings(max_examples=150)
@given(st.data())
def test_encode_when_state_holds_langchain_messages_then_replay_matches_jsonable(
    data: st.DataObject,
) -> None:
    history: list[BaseMessage] = data.draw(st.lists(messages, max_size=5))
    client = Replayer()
    client.step({"messages": list(history), "turn": 0})
    for turn in range(1, data.draw(st.integers(2, 8))):
        edit = data.draw(st.sampled_from(["append", "replace", "remove", "keep"]))
        if edit == "append" or not history:
            history = [*history, data.draw(messages)]
        elif edit in ("replace", "remove"):
            index = data.draw(st.integers(0, len(history) - 1))
            old = history[index]
            # A message replaced by id is a new object; a removed one is gone.
            new = [type(old)(content=data.draw(st.text(max_size=12)), id=old.id)]
            history = history[:index] + (new if edit == "replace" else []) + history[index + 1 :]
        client.step({"messages": list(history), "turn": turn})


# --- op shapes -------------------------------------------------------------------


def conversation(n: int) -> list[BaseMessage]:
    return [
        HumanMessage(content=f"question {i}", id=f"h{i}")
        if i % 2 == 0
        else AIMessage(content=f"answer {i}", id=f"a{i}")
        for i in range(n)
    ]


def test_encode_when_first_called_then_returns_a_keyframe() -> None:
    state = {"messages": conversation(3), "route": {"target": "chat"}}

    ops = DeltaEncoder().encode(state)

    assert ops == [{"op": "replace", "path": "", "value": jsonable(state)}]


def test_keyframe_when_called_mid_stream_then_later_deltas_start_from_it() -> None:
    encoder = DeltaEncoder()
    encoder.encode({"a": 1})

    assert encoder.keyframe({"b": 2}) == [{"op": "replace", "path": "", "value": {"b": 2}}]
    assert encoder.encode({"b": 3}) == [{"op": "replace", "path": "/b", "value": 3}]


def test_encode_when_one_message_is_appended_to_200_then_one_add_dash_op() -> None:
    history = conversation(200)
    encoder = DeltaEncoder()
    encoder.encode({"messages": list(history)})
    reply = AIMessage(content="the 201st", id="new")

    ops = encoder.encode({"messages": [*history, reply]})

    assert ops == [{"op": "add", "path": "/messages/-", "value": jsonable(reply)}]


def test_encode_when_state_is_unchanged_then_no_ops() -> None:
    history = conversation(20)
    state = {"messages": history, "route": {"target": "chat", "params": [1, 2]}}
    encoder = DeltaEncoder()
    encoder.encode(state)

    same_object = encoder.encode(state)
    rebuilt = encoder.encode(
        {"messages": list(history), "route": {"target": "chat", "params": [1, 2]}}
    )

    assert same_object == []
    assert rebuilt == []


def test_encode_when_list_shrinks_then_removes_from_the_end() -> None:
    encoder = DeltaEncoder()
    encoder.encode({"xs": [1, 2, 3, 4, 5]})

    ops = encoder.encode({"xs": [1, 2]})

    assert ops == [{"op": "remove", "path": f"/xs/{i}"} for i in (4, 3, 2)]


def test_encode_when_key_has_slash_and_tilde_then_path_is_escaped() -> None:
    encoder = DeltaEncoder()
    encoder.encode({"a/b~c": {"~": 1}})

    ops = encoder.encode({"a/b~c": {"~": 2}})

    assert ops == [{"op": "replace", "path": "/a~1b~0c/~0", "value": 2}]


def test_encode_when_message_is_replaced_by_id_then_only_its_changed_field_is_sent() -> None:
    history = conversation(10)
    encoder = DeltaEncoder()
    encoder.encode({"messages": history})
    edited = [*history[:4], HumanMessage(content="edited", id="h4"), *history[5:]]

    ops = encoder.encode({"messages": edited})

    assert ops == [{"op": "replace", "path": "/messages/4/content", "value": "edited"}]


def test_encode_when_middle_message_is_removed_then_one_remove_op() -> None:
    history = conversation(10)
    encoder = DeltaEncoder()
    encoder.encode({"messages": history})

    ops = encoder.encode({"messages": history[:3] + history[4:]})

    assert ops == [{"op": "remove", "path": "/messages/3"}]


def test_encode_when_message_list_is_mutated_in_place_then_append_is_seen() -> None:
    history = conversation(5)
    state = {"messages": history}
    encoder = DeltaEncoder()
    encoder.encode(state)
    reply = AIMessage(content="late", id="late")

    history.append(reply)

    assert encoder.encode(state) == [{"op": "add", "path": "/messages/-", "value": jsonable(reply)}]


def test_encode_when_number_changes_type_but_not_value_then_it_is_replaced() -> None:
    encoder = DeltaEncoder()
    encoder.encode({"n": 1, "f": 0.0})

    ops = encoder.encode({"n": True, "f": -0.0})

    assert ops == [
        {"op": "replace", "path": "/n", "value": True},
        {"op": "replace", "path": "/f", "value": -0.0},
    ]


@dataclasses.dataclass
class Note:
    text: str
    tags: tuple[str, ...]


def test_encode_when_state_holds_odd_objects_then_values_match_jsonable() -> None:
    client = Replayer()
    client.step({"note": Note("a", ("x",)), "pair": (1, 2), "ids": {3: "three"}, "s": {"k"}})

    ops = client.step(
        {"note": Note("b", ("x",)), "pair": (1, 2, 3), "ids": {3: "three"}, "s": {"k"}}
    )

    assert {"op": "replace", "path": "/note/text", "value": "b"} in ops
    assert {"op": "add", "path": "/pair/-", "value": 3} in ops
