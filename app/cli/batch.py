"""``switchyard batch``: run every line of a JSONL file through one assistant.

Items (one per non-blank line, ``index`` counts from 0 over those lines):

* a JSON object with ``input`` or ``command`` is a run body: its other
  fields (``config``, ``context``, ``metadata``, ...) pass through and
  ``assistant_id`` is set;
* any other JSON object is the input itself;
* a JSON string is a message, mapped to the input as ``switchyard run`` does.

Results: one JSON line per item, written as soon as it finishes (so in
completion order; sort by ``index`` for input order), in the shape of the
API's batch results: ``{"index", "run_id", "status", "output"}`` or
``{"index", "run_id", "status", "error"}``. A failing or invalid item never
stops the others. Exit status 0 when every item succeeded, else 1.

Transport: each item is one stateless ``POST /runs/wait``, at most
``concurrency`` at a time. ``run_items`` takes the per-item call as a
parameter, so a transport that sends the whole batch at once (the batch
endpoints) can replace it without touching parsing or output.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TextIO

import orjson

from app.cli.client import ClientError, SwitchyardClient
from app.cli.run import input_for
from app.cli.terminal import ProgressBar

__all__ = ["Item", "parse_items", "run_batch", "run_items", "wait_item"]

Result = dict[str, Any]
# (index, run body) or (index, why the line is not an item)
Item = tuple[int, dict[str, Any] | str]
ItemCall = Callable[[int, dict[str, Any]], Awaitable[Result]]

_ERROR_STATUS = {"timeout": "timeout", "cancelled": "interrupted"}


def parse_items(lines: list[str], assistant: str, schema: dict[str, Any]) -> list[Item]:
    items: list[Item] = []
    for line in (raw for raw in lines if raw.strip()):
        index = len(items)
        try:
            value = orjson.loads(line)
            if isinstance(value, str):
                value = input_for(schema, value, assistant)
        except (orjson.JSONDecodeError, ClientError) as exc:
            items.append((index, f"line is not an item: {exc}"))
            continue
        if isinstance(value, dict) and ("input" in value or "command" in value):
            items.append((index, {**value, "assistant_id": assistant}))
        else:
            items.append((index, {"assistant_id": assistant, "input": value}))
    return items


def _failed(index: int, run_id: str | None, kind: str, message: str) -> Result:
    return {
        "index": index,
        "run_id": run_id,
        "status": "error",
        "error": {"error": kind, "message": message},
    }


async def wait_item(client: SwitchyardClient, index: int, body: dict[str, Any]) -> Result:
    """One item as a stateless ``/runs/wait``; every failure becomes a result."""
    try:
        done = await client.wait(body)
    except ClientError as exc:
        return _failed(index, None, "Rejected", str(exc))
    output = done.output
    if isinstance(output, dict) and isinstance(output.get("__error__"), dict):
        error = output["__error__"]
        status = _ERROR_STATUS.get(str(error.get("code")), "error")
        return {"index": index, "run_id": done.run_id, "status": status, "error": error}
    return {"index": index, "run_id": done.run_id, "status": "success", "output": output}


async def run_items(items: list[Item], call: ItemCall, concurrency: int) -> AsyncIterator[Result]:
    """Results as items finish, at most ``concurrency`` calls in flight."""
    slots = asyncio.Semaphore(concurrency)

    async def one(index: int, body: dict[str, Any]) -> Result:
        async with slots:
            return await call(index, body)

    for index, body in items:
        if isinstance(body, str):
            yield _failed(index, None, "InvalidItem", body)
    tasks = [asyncio.create_task(one(i, b)) for i, b in items if isinstance(b, dict)]
    try:
        for finished in asyncio.as_completed(tasks):
            yield await finished
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def run_batch(
    client: SwitchyardClient,
    assistant: str,
    lines: list[str],
    *,
    concurrency: int,
    out: TextIO,
    err: TextIO,
) -> int:
    items = parse_items(lines, assistant, await client.input_schema(assistant))
    bar = ProgressBar(err, len(items))
    done = failed = 0
    bar.update(done, failed)

    async def call(index: int, body: dict[str, Any]) -> Result:
        return await wait_item(client, index, body)

    async for result in run_items(items, call, concurrency):
        out.write(orjson.dumps(result).decode() + "\n")
        out.flush()
        done += 1
        failed += result["status"] != "success"
        bar.update(done, failed)
    bar.finish()
    return 1 if failed else 0
