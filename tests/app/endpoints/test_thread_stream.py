"""langgraph-sdk's thread-centric streaming (``client.threads.stream``) and
``RemoteGraph.astream_events(version="v3")`` against a real server.

Async and sync clients, each over SSE and WebSocket: a run's values,
messages (content-block events, assembled by the SDK into streams of
text), updates, custom events (plain and ``custom:<name>``) and lifecycle;
an interrupt surfaced on the input channel and answered with
``input.respond``; a connection cut mid-answer and resumed by the SDK with
its ``since`` cursor, with no gap and no duplicate.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

import pytest
from langgraph.pregel.remote import RemoteGraph
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.client import LangGraphClient

from tests.conftest import make_settings
from tests.support.browser import run_proxy
from tests.support.server import RunningServer, run_server

Transport = Literal["sse", "websocket"]
TRANSPORTS: list[Transport] = ["sse", "websocket"]
REPLY = "[offline] You said: hello there"


def _ask(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(make_settings(tmp_path_factory.mktemp("thread-stream"))) as running:
        yield running


@pytest.fixture
async def sdk(server: RunningServer) -> AsyncIterator[LangGraphClient]:
    client = get_client(url=server.url)
    yield client
    await client.aclose()


def _root_end(event: dict[str, Any]) -> bool:
    params = event["params"]
    return (
        event["method"] == "lifecycle"
        and params["namespace"] == []
        and params["data"]["event"] in ("completed", "failed", "interrupted")
    )


async def _until_end(events: AsyncIterator[Any]) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    async for event in events:
        seen.append(event)
        if _root_end(event):
            return seen
    raise AssertionError(f"stream ended before the run did: {[e['method'] for e in seen]}")


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(block.get("text", "") for block in content if isinstance(block, dict))


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_async_stream_when_run_started_then_every_channel_arrives(
    sdk: LangGraphClient, transport: Transport
) -> None:
    async with sdk.threads.stream(assistant_id="agent", transport=transport) as thread:
        started = await thread.run.start(input=_ask("hello there"))
        channels = ["values", "updates", "messages", "custom", "lifecycle"]
        events = await asyncio.wait_for(_until_end(thread.subscribe(channels)), 30)
        output = await asyncio.wait_for(thread.output, 30)
    methods = [e["method"] for e in events]
    assert methods[0] == "lifecycle"
    assert events[0]["params"]["data"]["event"] == "running"
    assert events[0]["params"]["data"]["run_id"] == started["run_id"]
    assert events[-1]["params"]["data"]["event"] == "completed"
    assert {"values", "updates", "messages", "custom"} <= set(methods)
    kinds = [e["params"]["data"]["event"] for e in events if e["method"] == "messages"]
    assert kinds[0] == "message-start"
    assert kinds[-1] == "message-finish"
    assert kinds.count("content-block-delta") > 1, "tokens arrive one by one"
    deltas = [
        e["params"]["data"]["delta"]["text"]
        for e in events
        if e["method"] == "messages" and e["params"]["data"]["event"] == "content-block-delta"
    ]
    assert "".join(deltas) == REPLY
    custom = [e["params"]["data"] for e in events if e["method"] == "custom"]
    assert {"stage": "thinking"} in custom
    assert {"name": "progress", "payload": {"done": 1, "of": 1}} in custom
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs)
    assert len({e["event_id"] for e in events}) == len(events)
    assert _text_of(output["messages"][-1]["content"]) == REPLY


async def _first_message_text(thread: Any) -> str:
    # Each message's events reach it while the projection is iterated: read
    # the texts once the projection ends (with the run).
    messages = [message async for message in thread.messages]
    return str(await messages[0].text)


async def _progress(thread: Any) -> Any:
    async for payload in thread.extensions["progress"]:
        return payload
    raise AssertionError("no progress event")


async def _last_values(thread: Any) -> Any:
    snapshots = [snapshot async for snapshot in thread.values]
    return snapshots[-1]


# One projection per session, opened after run.start as the SDK's docs show:
# the first stream of a session replays the run from its start. (A second
# projection opened after the run ended would resume from the SDK's cursor,
# past the events it wants: that is the SDK's design, whatever the server.)
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("projection", "expected"),
    [
        (_first_message_text, REPLY),
        (_progress, {"name": "progress", "payload": {"done": 1, "of": 1}}),
        (_last_values, "values"),
    ],
)
async def test_async_projection_when_run_started_then_it_yields_the_run(
    sdk: LangGraphClient, transport: Transport, projection: Any, expected: Any
) -> None:
    async with sdk.threads.stream(assistant_id="agent", transport=transport) as thread:
        await thread.run.start(input=_ask("hello there"))
        got = await asyncio.wait_for(projection(thread), 30)
    if expected == "values":
        assert _text_of(got["messages"][-1]["content"]) == REPLY
    else:
        assert got == expected


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_sync_stream_when_run_started_then_events_and_output(
    server: RunningServer, transport: Transport
) -> None:
    client = get_sync_client(url=server.url)
    try:
        with client.threads.stream(assistant_id="agent", transport=transport) as thread:
            thread.run.start(input=_ask("hello there"))
            events: list[dict[str, Any]] = []
            for event in thread.subscribe(["messages", "lifecycle", "custom"]):
                events.append(dict(event))
                if _root_end(events[-1]):
                    break
            output = thread.output
    finally:
        client.close()
    deltas = [
        e["params"]["data"]["delta"]["text"]
        for e in events
        if e["method"] == "messages" and e["params"]["data"]["event"] == "content-block-delta"
    ]
    assert "".join(deltas) == REPLY
    assert events[-1]["params"]["data"]["event"] == "completed"
    assert _text_of(output["messages"][-1]["content"]) == REPLY


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_interrupt_when_input_respond_then_run_resumes_and_finishes(
    sdk: LangGraphClient, transport: Transport
) -> None:
    async with sdk.threads.stream(assistant_id="agent", transport=transport) as thread:
        await thread.run.start(input=_ask("please approve this"))

        async def until_paused() -> None:
            # Projections end when the run pauses at an interrupt (the SDK's
            # way to wait for one); the interrupt came on the input channel.
            async for _ in thread.values:
                pass

        await asyncio.wait_for(until_paused(), 30)
        assert thread.interrupted
        assert [i["value"] for i in thread.interrupts] == [{"question": "approve?"}]
        assert thread.interrupts[0]["namespace"] == []
        await thread.run.respond("yes")
        output = await asyncio.wait_for(thread.output, 30)
    assert output["approved"] is True
    assert _text_of(output["messages"][-1]["content"]) == "The request was approved."


async def test_drop_when_connection_cut_mid_answer_then_sdk_resumes_without_gap_or_dup(
    server: RunningServer,
) -> None:
    with run_proxy(server.port) as proxy:
        # The third token's event: cut the connection right before it.
        proxy.hold_at(b'"content-block-delta"', 3)
        client = get_client(url=proxy.url)
        try:
            async with client.threads.stream(assistant_id="agent") as thread:
                await thread.run.start(input=_ask("hello there"))
                collecting = asyncio.ensure_future(
                    _until_end(thread.subscribe(["messages", "lifecycle"]))
                )
                await asyncio.to_thread(proxy.holding.wait, 30)
                opened = len(proxy.requests_to("/stream/events"))
                proxy.cut()
                events = await asyncio.wait_for(collecting, 30)
        finally:
            await client.aclose()
    assert proxy.cut_done.is_set()
    assert len(proxy.requests_to("/stream/events")) > opened, "the SDK reconnected"
    ids = [e["event_id"] for e in events]
    assert len(ids) == len(set(ids)), "no event twice"
    deltas = [
        e["params"]["data"]["delta"]["text"]
        for e in events
        if e["method"] == "messages" and e["params"]["data"]["event"] == "content-block-delta"
    ]
    assert "".join(deltas) == REPLY, "no token lost"
    assert events[-1]["params"]["data"]["event"] == "completed"


async def test_remote_graph_when_astream_events_v3_then_values_messages_and_output(
    sdk: LangGraphClient,
) -> None:
    remote = RemoteGraph("agent", client=sdk)
    stream = await remote.astream_events(_ask("hello there"), version="v3")
    async with stream as run:
        messages = [message async for message in run.messages]
        texts = [str(await message.text) for message in messages]
        output = await run.output()
    assert texts == [REPLY]
    assert _text_of(output["messages"][-1]["content"]) == REPLY


async def test_remote_graph_when_interrupted_then_command_resume_finishes(
    sdk: LangGraphClient,
) -> None:
    from langgraph.types import Command

    thread = await sdk.threads.create()
    config: Any = {"configurable": {"thread_id": thread["thread_id"]}}
    remote = RemoteGraph("agent", client=sdk, config=config)
    async with await remote.astream_events(_ask("approve it"), version="v3") as run:
        async for _ in run.values:
            pass  # ends when the run pauses at the interrupt
        assert await run.interrupted()
        assert [i["value"] for i in await run.interrupts()] == [{"question": "approve?"}]
    async with await remote.astream_events(Command(resume="yes"), version="v3") as run:
        output = await run.output()
    assert _text_of(output["messages"][-1]["content"]) == "The request was approved."
