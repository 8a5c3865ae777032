"""``switchyard run``: stream one run to the terminal.

stdout gets what the run says: tokens as they stream, the route decision
(a ``custom`` ``{"type": "route"}`` event), other custom events, and a final
summary of the state. stderr gets a live status line of the nodes done while
the run goes (only on a TTY) and errors. Exit status 0 when the run
succeeded, 1 when it failed.

How a message becomes the graph's input (``input_for``): a JSON object is
the input as it is; other text becomes a user message when the input schema
has ``messages``, else the value of the input's only string key.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, TextIO

import orjson

from app.cli.client import ClientError, ServerEvent, SwitchyardClient
from app.cli.terminal import StatusLine

__all__ = ["DEFAULT_MODES", "RunPrinter", "input_for", "stream_run"]

# Tokens, the route decision, node completions, and the state for the summary.
DEFAULT_MODES = ("messages-tuple", "custom", "updates", "values")
_SHOWN_CHARS = 200


def input_for(schema: dict[str, Any], message: str, assistant: str) -> Any:
    with contextlib.suppress(orjson.JSONDecodeError):
        parsed = orjson.loads(message)
        if isinstance(parsed, dict):
            return parsed
    props = schema.get("properties")
    props = props if isinstance(props, dict) else {}
    if "messages" in props:
        return {"messages": [{"role": "user", "content": message}]}
    strings = [k for k, v in props.items() if isinstance(v, dict) and v.get("type") == "string"]
    if len(strings) == 1:
        return {strings[0]: message}
    raise ClientError(
        f"cannot tell which input key of {assistant!r} the message is for "
        f"(its input keys: {sorted(props)}); pass the input as a JSON object instead"
    )


def _short(value: Any) -> str:
    text = orjson.dumps(value).decode()
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content blocks
        return "".join(b.get("text", "") for b in content if isinstance(b, dict))
    return ""


class RunPrinter:
    """Turns a run's events into terminal output; ``failed`` once an error arrived."""

    def __init__(self, out: TextIO, err: TextIO) -> None:
        self._out = out
        self._err = err
        self.status = StatusLine(err)
        self.run_id: str | None = None
        self.values: Any = None
        self.error: dict[str, Any] | None = None
        self.nodes: list[str] = []
        self.interrupts: list[Any] = []

    @property
    def failed(self) -> bool:
        return self.error is not None

    def _write(self, text: str) -> None:
        self.status.clear()
        self._out.write(text)
        self._out.flush()
        # The status line may be redrawn only below a finished line.
        self.status.paused = not text.endswith("\n")

    def _line(self, text: str) -> None:
        self._write(("\n" if self.status.paused else "") + text + "\n")

    def handle(self, event: ServerEvent) -> None:
        mode, _, namespace = event.event.partition("|")
        data = event.data
        if mode == "metadata":
            self.run_id = data.get("run_id")
            self.status.update("running")
        elif mode == "messages":
            chunk = data[0] if isinstance(data, list) and data else {}
            is_ai = isinstance(chunk, dict) and chunk.get("type") in ("AIMessageChunk", "ai")
            if is_ai and (token := _text(chunk.get("content"))):
                self._write(token)
        elif mode == "custom":
            if isinstance(data, dict) and data.get("type") == "route":
                self._line(_route(data))
            else:
                self._line(f"[{event.event}] {_short(data)}")
        elif mode == "updates":
            if not namespace and isinstance(data, dict):
                self._node_updates(data)
        elif mode == "values":
            if not namespace:
                self.values = data
        elif mode == "error":
            self.error = data if isinstance(data, dict) else {"message": str(data)}
        elif mode != "end":
            self._line(f"[{event.event}] {_short(data)}")

    def _node_updates(self, data: dict[str, Any]) -> None:
        for node, update in data.items():
            if node == "__interrupt__":
                self.interrupts.extend(update if isinstance(update, list) else [update])
            elif node not in self.nodes:
                self.nodes.append(node)
        self.status.update("running · done: " + ", ".join(self.nodes))

    def summary(self, *, thread_id: str | None) -> None:
        self.status.clear()
        if self.status.paused:
            self._write("\n")
        outcome = "error" if self.failed else ("interrupted" if self.interrupts else "success")
        where = [f"run {self.run_id}"] + ([f"thread {thread_id}"] if thread_id else [])
        self._line(f"── {outcome} · {' · '.join(where)} ──")
        if self.error is not None:
            self._err.write(f"error: {self.error.get('message', self.error)}\n")
        if isinstance(self.values, dict):
            for key, value in self.values.items():
                if key == "__interrupt__":
                    self.interrupts.extend(value if isinstance(value, list) else [value])
                else:
                    self._line(f"{key}: {_summarise(key, value)}")
        for interrupt in self.interrupts:
            self._line(f"waiting for input: {_short(interrupt)}")


def _route(decision: dict[str, Any]) -> str:
    confidence = decision.get("confidence")
    shown = f"{confidence:.2f}" if isinstance(confidence, (int, float)) else "?"
    line = (
        f"→ route: {decision.get('target')} (source {decision.get('source')}, confidence {shown})"
    )
    return line + (f": {decision['reason']}" if decision.get("reason") else "")


def _summarise(key: str, value: Any) -> str:
    if key == "messages" and isinstance(value, list) and value:
        last = value[-1] if isinstance(value[-1], dict) else {}
        said = _short(_text(last.get("content")))
        return f"{len(value)} messages; last ({last.get('type', '?')}): {said}"
    return _short(value)


async def stream_run(
    client: SwitchyardClient,
    body: dict[str, Any],
    *,
    thread_id: str | None,
    out: TextIO,
    err: TextIO,
) -> int:
    printer = RunPrinter(out, err)
    spinner = asyncio.create_task(printer.status.spin())
    try:
        async for event in client.stream(body, thread_id=thread_id):
            printer.handle(event)
    finally:
        spinner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await spinner
    printer.summary(thread_id=thread_id)
    return 1 if printer.failed else 0
