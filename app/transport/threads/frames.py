"""A run's log events as thread streaming protocol events.

Each event of a run's log becomes zero or more protocol events
``{"type": "event", "method", "params": {"namespace", "timestamp", "data"},
"seq", "event_id"}`` (types: the ``langchain-protocol`` package). The log
event's name gives the method and namespace (``updates|inner:<task>`` is
``updates`` at ``["inner:<task>"]``), its id the ``seq`` and ``timestamp``:

============================  ==============================================
log event                     protocol events
============================  ==============================================
``metadata``                  ``lifecycle`` ``{"event": "running"}`` (root)
``values``                    ``values`` (the state); and for each new
                              interrupt in it (``__interrupt__``) an
                              ``input.requested`` ``{"interrupt_id",
                              "payload", "value"}`` (the JS and Python
                              clients read different keys)
``updates`` ``custom``        the same method, data as LangGraph gives it
``tools`` ``tasks``           (a ``custom`` chunk ``{"name", "payload"}`` is
                              the ``custom:<name>`` channel)
``checkpoints``               ``checkpoints``: the protocol's envelope
                              ``{"id", "parent_id", "step", "source"}``
``messages``                  ``messages``: the content-block event
                              (``message-start`` carries LangGraph's scalar
                              metadata, e.g. ``langgraph_node``)
``tasks`` in a subgraph       also ``lifecycle`` ``started`` at the
                              subgraph's namespace, and ``completed`` /
                              ``failed`` / ``interrupted`` when its parent
                              task's result arrives (as LangGraph's
                              ``LifecycleTransformer`` infers them)
``error``                     nothing yet: remembered for ``end``
``end``                       ``lifecycle`` ``completed`` | ``interrupted``
                              | ``failed`` (with ``error``) at the root
============================  ==============================================

Events of the run API alone (``delta``, ``debug``, ``events``,
``messages/*``, and ``messages`` tuples of runs not started by the protocol)
have no protocol shape and are left out. A ``RunFramer`` keeps what framing
a run needs (interrupts seen, open subgraphs, an error), so a run is framed
from its first event; ``visible`` only decides what is sent.
"""

from __future__ import annotations

from typing import Any

import orjson

from app.events import Event, parse_event_id
from app.runs.sources import INTERRUPT_KEY
from app.store.base import Run
from app.transport.threads.cursor import event_id

__all__ = ["ProtocolEvent", "RunFramer"]

ProtocolEvent = dict[str, Any]
_PASSED = frozenset({"updates", "custom", "tools"})
_SCALARS = (str, int, float, bool, type(None))


def _envelope(
    method: str, namespace: list[str], timestamp: int, data: Any, seq: int, eid: str
) -> ProtocolEvent:
    return {
        "type": "event",
        "method": method,
        "params": {"namespace": namespace, "timestamp": timestamp, "data": data},
        "seq": seq,
        "event_id": eid,
    }


class RunFramer:
    """Frames the events of one run, in log order."""

    def __init__(self, run: Run, graph_name: str | None = None) -> None:
        self.run = run
        self.graph_name = graph_name
        self.status = "started"  # the root's AgentStatus as framed so far
        self.subgraphs: dict[tuple[str, ...], str] = {}  # namespace -> its status
        self._error: str | None = None
        self._interrupts: set[str] = set()
        self._open: dict[tuple[str, ...], str] = {}  # subgraph -> parent task id

    def frame(self, event: Event, seq: int) -> list[ProtocolEvent]:
        name, _, suffix = event.event.partition("|")
        namespace = suffix.split("|") if suffix else []
        parts = self._parts(name, namespace, event.data)
        timestamp = parse_event_id(event.id)[0]
        return [
            _envelope(method, ns, timestamp, data, seq, event_id(self.run.run_id, event.id, k))
            for k, (method, ns, data) in enumerate(parts)
        ]

    def _parts(self, name: str, ns: list[str], raw: bytes) -> list[tuple[str, list[str], Any]]:
        if name in _PASSED:
            return [(name, ns, orjson.loads(raw))]
        if name == "values":
            return self._values(ns, orjson.loads(raw))
        if name == "messages":
            return self._messages(ns, orjson.loads(raw))
        if name == "tasks":
            return self._tasks(ns, orjson.loads(raw))
        if name == "checkpoints":
            return [("checkpoints", ns, _checkpoint(orjson.loads(raw)))]
        if name == "metadata":
            self.status = "running"
            data = {"event": "running", "run_id": self.run.run_id}
            if self.graph_name:
                data["graph_name"] = self.graph_name
            return [("lifecycle", [], data)]
        if name == "error":
            body = orjson.loads(raw)
            self._error = str(body.get("message") or body.get("error") or "run failed")
            return []
        if name == "end":
            return self._end()
        return []

    def _values(self, ns: list[str], data: Any) -> list[tuple[str, list[str], Any]]:
        if not isinstance(data, dict) or INTERRUPT_KEY not in data:
            return [("values", ns, data)]
        interrupts = data.pop(INTERRUPT_KEY) or []
        parts: list[tuple[str, list[str], Any]] = [("values", ns, data)]
        for interrupt in interrupts:
            if not isinstance(interrupt, dict):
                continue
            interrupt_id = str(interrupt.get("id") or f"{self.run.run_id}:{len(self._interrupts)}")
            if interrupt_id in self._interrupts:
                continue  # a subgraph's interrupt shows again in its parents' states
            self._interrupts.add(interrupt_id)
            value = interrupt.get("value")
            request = {"interrupt_id": interrupt_id, "payload": value, "value": value}
            parts.append(("input.requested", ns, request))
        return parts

    def _messages(self, ns: list[str], data: Any) -> list[tuple[str, list[str], Any]]:
        if not (isinstance(data, list) and len(data) == 2 and isinstance(data[0], dict)):
            return []
        message, metadata = data
        if "event" not in message:
            return []  # a chunk of a run-API run (messages-tuple): no content blocks
        if message["event"] == "message-start" and isinstance(metadata, dict):
            scalars = {k: v for k, v in metadata.items() if isinstance(v, _SCALARS)}
            message = {**message, "metadata": {**scalars, **(message.get("metadata") or {})}}
        return [("messages", ns, message)]

    def _tasks(self, ns: list[str], data: Any) -> list[tuple[str, list[str], Any]]:
        parts: list[tuple[str, list[str], Any]] = []
        here = tuple(ns)
        if isinstance(data, dict) and "result" in data:
            for child, parent_task in list(self._open.items()):
                if child[:-1] == here and parent_task == data.get("id"):
                    del self._open[child]
                    parts.append(self._subgraph_end(child, _result_status(data), data))
        elif here and here not in self.subgraphs:
            graph_name, _, task_id = here[-1].partition(":")
            self.subgraphs[here] = "started"
            self._open[here] = task_id
            started = {"event": "started", "graph_name": graph_name}
            if task_id:
                started["trigger_call_id"] = task_id
            parts.append(("lifecycle", ns, started))
        parts.append(("tasks", ns, data))
        return parts

    def _subgraph_end(
        self, child: tuple[str, ...], status: str, result: dict[str, Any] | None = None
    ) -> tuple[str, list[str], Any]:
        self.subgraphs[child] = status
        data: dict[str, Any] = {"event": status}
        if status == "failed" and result is not None:
            data["error"] = str(result.get("error"))
        return ("lifecycle", list(child), data)

    def _end(self) -> list[tuple[str, list[str], Any]]:
        if self._error is not None:
            status = "failed"
        elif self._interrupts:
            status = "interrupted"
        else:
            status = "completed"
        parts = [self._subgraph_end(child, status) for child in list(self._open)]
        self._open.clear()
        self.status = status
        data: dict[str, Any] = {"event": status, "run_id": self.run.run_id}
        if self._error is not None:
            data["error"] = self._error
        parts.append(("lifecycle", [], data))
        return parts


def _checkpoint(data: Any) -> Any:
    """LangGraph's checkpoint event as the protocol's ``Checkpoint`` envelope
    (what the JS client pairs with the next ``values`` to fork from)."""
    if not isinstance(data, dict):
        return data
    configurable = (data.get("config") or {}).get("configurable") or {}
    parent = (data.get("parent_config") or {}).get("configurable") or {}
    metadata = data.get("metadata") or {}
    envelope: dict[str, Any] = {
        "id": configurable.get("checkpoint_id"),
        "step": metadata.get("step", -1),
        "source": metadata.get("source", "loop"),
    }
    if parent.get("checkpoint_id"):
        envelope["parent_id"] = parent["checkpoint_id"]
    return envelope


def _result_status(result: dict[str, Any]) -> str:
    if result.get("interrupts"):
        return "interrupted"
    return "failed" if result.get("error") else "completed"
