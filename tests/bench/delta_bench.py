"""Benchmarks for ``app.runs.delta.DeltaEncoder`` (run: ``python -m tests.bench.delta_bench``).

Timing lives here, not in the test suite, because wall-clock asserts flake.

* ``bench_append``: mean µs per ``encode`` when one new message is appended
  to a ``messages`` list of ``n_messages`` (the common step of a chat graph).
* ``bench_conversation_bytes``: wire bytes of a single stream that carries a
  whole conversation, as ``delta`` ops versus full ``values`` snapshots.
"""

from __future__ import annotations

import time
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from app.runs.delta import DeltaEncoder
from app.serde import dumps, jsonable

__all__ = ["bench_append", "bench_conversation_bytes", "bench_make_patch"]

_QUESTION = "Could you tell me how the hybrid router picks a subgraph for this request? "
_ANSWER = (
    "The router first runs the ordered rules; the first rule whose condition matches wins "
    "with confidence 1.0. When no rule matches it asks the intent classifier, and falls "
    "back to the default graph if the classifier is unsure. Every decision records its "
    "source, confidence, reason and the runner-up candidates. "
)


def _turn(index: int) -> tuple[HumanMessage, AIMessage]:
    return (
        HumanMessage(content=f"{_QUESTION}(turn {index})", id=f"human-{index}"),
        AIMessage(content=f"{_ANSWER}(turn {index})", id=f"ai-{index}"),
    )


def _history(n_messages: int) -> list[BaseMessage]:
    messages: list[BaseMessage] = []
    for index in range(n_messages // 2 + 1):
        messages.extend(_turn(index))
    return messages[:n_messages]


def bench_append(n_messages: int = 200, steps: int = 1000) -> float:
    """Mean µs per ``encode`` that appends one fresh message to ``n_messages``.

    Each timed step is ``encode({"messages": [*base, new_i]})`` from a
    remembered ``{"messages": base}``; the untimed step in between goes back
    to ``base`` so every measurement sees the same list length. The state
    dict and list are built fresh each step, as LangGraph does.
    """
    base = _history(n_messages)
    fresh = [AIMessage(content=f"{_ANSWER}(new {i})", id=f"new-{i}") for i in range(steps)]
    encoder = DeltaEncoder()
    encoder.keyframe({"messages": list(base)})
    total_ns = 0
    for message in fresh:
        state: dict[str, Any] = {"messages": [*base, message]}
        start = time.perf_counter_ns()
        encoder.encode(state)
        total_ns += time.perf_counter_ns() - start
        encoder.encode({"messages": list(base)})
    return total_ns / steps / 1000


def bench_make_patch(n_messages: int = 200, steps: int = 20) -> float:
    """Mean µs per step of a generic deep diff (``jsonpatch.make_patch``), for comparison."""
    import jsonpatch  # dev dependency: only this comparison needs it

    history = _history(n_messages)
    base = jsonable({"messages": history})
    total_ns = 0
    for index in range(steps):
        message = AIMessage(content=f"{_ANSWER}(new {index})", id=f"new-{index}")
        start = time.perf_counter_ns()
        # It needs plain JSON on both sides, so the conversion counts too.
        current = jsonable({"messages": [*history, message]})
        jsonpatch.make_patch(base, current)
        total_ns += time.perf_counter_ns() - start
    return total_ns / steps / 1000


def bench_conversation_bytes(turns: int = 50) -> tuple[int, int]:
    """(delta bytes, values bytes) for one stream carrying ``turns`` turns.

    Each turn emits two states, as a chat graph does: after the user message
    is added, and after the model answers (with the route decision updated).
    Bytes are the SSE ``data`` payloads: ``{"ops": [...]}`` versus the state.
    """
    encoder = DeltaEncoder()
    messages: list[BaseMessage] = []
    delta_bytes = values_bytes = 0
    for index in range(turns):
        human, ai = _turn(index)
        route = {"target": "chat", "source": "rule:greeting", "confidence": 1.0, "turn": index}
        for step in (human, ai):
            messages = [*messages, step]
            state = {"messages": messages, "route": route}
            delta_bytes += len(dumps({"ops": encoder.encode(state)}))
            values_bytes += len(dumps(state))
    return delta_bytes, values_bytes


if __name__ == "__main__":
    for size in (20, 200, 1000):
        print(f"encode, append to {size:>4} messages: {bench_append(size):7.1f} µs/step")
    print(f"jsonpatch.make_patch, 200 messages:  {bench_make_patch():7.1f} µs/step")
    delta, values = bench_conversation_bytes()
    print(
        f"50-turn conversation: delta {delta} B, values {values} B, {values / delta:.1f}x smaller"
    )
