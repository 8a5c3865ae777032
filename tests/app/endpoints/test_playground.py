"""The playground page at ``/``, driven in real headless Chromium.

The page follows runs with the browser's own ``EventSource``; these tests
check what a person would see (assistants, tokens, route, timeline, state,
connection status) against what the API says, with real network faults
injected by a proxy between the browser and the server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from app.runs.delta import DeltaEncoder
from app.settings import LLMSettings
from tests.conftest import make_settings
from tests.support.browser import ConsoleErrors, FaultyProxy, launch, run_proxy, skip_reason
from tests.support.openai_server import OpenAIServer
from tests.support.server import RunningServer, run_server

if (_reason := skip_reason()) is not None:
    pytest.skip(_reason, allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright

pytestmark = pytest.mark.browser

RUN_TIMEOUT_MS = 30_000
# What the user types; the local OpenAI server's default reply echoes it.
WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    opened = context.new_page()
    yield opened
    context.close()


# -- helpers -----------------------------------------------------------------


def _open(page: Page, url: str) -> ConsoleErrors:
    console = ConsoleErrors(page)
    page.goto(url + "/")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    return console


def _choose(page: Page, graph_id: str) -> None:
    option = page.locator(f'#assistant option[data-graph-id="{graph_id}"]')
    page.select_option("#assistant", value=option.get_attribute("value"))


def _run(page: Page, graph_id: str, text: str, *, mode: str = "message") -> None:
    """Start a run from the form, on a new thread."""
    _choose(page, graph_id)
    expect(page.locator("#input")).to_have_attribute("data-mode", mode)
    page.select_option("#thread", value="")
    page.fill("#input", text)
    page.click("#run")
    expect(page.locator("#run-id")).not_to_have_text("–")


def _wait_finished(page: Page, status: str = "success") -> None:
    connection = page.locator("#connection")
    expect(connection).to_have_attribute("data-state", "closed", timeout=RUN_TIMEOUT_MS)
    # The page closed its EventSource itself; otherwise the browser would
    # reconnect to the finished run forever.
    expect(connection).to_have_attribute("data-ready-state", "2")
    expect(page.locator("#run-status")).to_have_text(status, timeout=RUN_TIMEOUT_MS)


def _ids(page: Page) -> tuple[str, str]:
    """(thread id, run id) of the run the page followed."""
    run_id = page.locator("#run-id").inner_text()
    thread_id = page.locator("#thread").input_value()
    return thread_id, run_id


def _page_state(page: Page) -> Any:
    return json.loads(page.locator("#state").inner_text())


def _page_events(page: Page) -> list[tuple[str, str]]:
    rows = page.locator("#events li")
    pairs: list[list[str]] = rows.evaluate_all(
        "rows => rows.map(r => [r.dataset.id, r.dataset.event])"
    )
    return [(event_id, name) for event_id, name in pairs]


def _replayed_events(base_url: str, thread_id: str, run_id: str) -> list[tuple[str, str]]:
    """Every event of the run, read from the start by a plain HTTP client."""
    events: list[tuple[str, str]] = []
    event_id = name = None
    with (
        httpx.Client(base_url=base_url, timeout=30) as http,
        http.stream("GET", f"/threads/{thread_id}/runs/{run_id}/stream") as response,
    ):
        for line in response.iter_lines():
            if line.startswith("id: "):
                event_id = line[4:]
            elif line.startswith("event: "):
                name = line[7:]
            elif line == "" and name is not None:
                events.append((event_id or "", name))
                event_id = name = None
    return events


def _thread_values(base_url: str, thread_id: str) -> Any:
    response = httpx.get(f"{base_url}/threads/{thread_id}/state")
    response.raise_for_status()
    return response.json()["values"]


def _tokens(page: Page) -> str:
    return "".join(page.locator("#output .token").all_inner_texts())


def _graph_ids(base_url: str) -> set[str]:
    found = httpx.post(f"{base_url}/assistants/search", json={"limit": 100}).json()
    return {a["graph_id"] for a in found}


# -- tests ---------------------------------------------------------------------


def test_page_when_loaded_then_lists_every_assistant_without_errors(
    page: Page, server: RunningServer
) -> None:
    response = httpx.get(server.url + "/")
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    console = _open(page, server.url)
    listed = page.locator("#assistant option").evaluate_all("o => o.map(x => x.dataset.graphId)")
    assert sorted(listed) == sorted(_graph_ids(server.url))
    preferred = "auto" if "auto" in listed else "chat"
    selected = page.locator("#assistant").input_value()
    assert (
        page.locator(f'#assistant option[value="{selected}"]').get_attribute("data-graph-id")
        == preferred
    )
    expect(page.locator("#connection")).to_have_attribute("data-state", "idle")
    assert console.messages == []


def test_run_when_message_sent_then_tokens_route_and_state_match_the_api(
    page: Page, server: RunningServer, tmp_path: Path
) -> None:
    graph = "auto" if "auto" in _graph_ids(server.url) else "chat"
    console = _open(page, server.url)
    _run(page, graph, "hello from the browser")
    _wait_finished(page)
    thread_id, run_id = _ids(page)
    page.screenshot(path=tmp_path / "playground.png", full_page=True)

    values = _thread_values(server.url, thread_id)
    assert _page_state(page) == values
    reply = values["messages"][-1]
    assert reply["type"] == "ai"
    assert _tokens(page) == reply["content"]
    assert page.locator("#output .token").count() > 1  # streamed, not one blob

    events = _page_events(page)
    assert events == _replayed_events(server.url, thread_id, run_id)
    assert events[0][1] == "metadata"
    assert events[-1][1] == "end"
    expect(page.locator("#reconnects")).to_have_text("0")
    expect(page.locator("#dup-count")).to_have_text("0")
    expect(page.locator("#event-count")).to_have_text(str(len(events)))

    if graph == "auto":
        route = values["route"]
        expect(page.locator("#route-target")).to_have_text(route["target"])
        expect(page.locator("#route-source")).to_have_text(route["source"])
        expect(page.locator("#route-reason")).to_have_text(route["reason"])
        expect(page.locator("#route-confidence")).to_have_text(f"{route['confidence']:.2f}")
        # The routed graph runs as a subgraph: its nodes carry its namespace.
        sub_rows = page.locator(f'#timeline li.task[data-ns="{route["target"]}"]')
        expect(sub_rows.first).to_have_attribute("data-status", "done")
    else:
        expect(page.locator("#route-empty")).to_be_visible()
        expect(page.locator('#timeline li.task[data-node="respond"]')).to_have_attribute(
            "data-status", "done"
        )
    assert console.messages == []


def test_run_when_graph_has_subgraph_then_timeline_shows_namespaced_nodes(
    page: Page, server: RunningServer
) -> None:
    console = _open(page, server.url)
    _run(page, "nested", '{"steps": []}', mode="json")
    _wait_finished(page)
    thread_id, _ = _ids(page)

    rows = page.locator("#timeline li.task")
    seen = rows.evaluate_all("rs => rs.map(r => [r.dataset.ns, r.dataset.node, r.dataset.status])")
    assert seen == [
        ["", "before", "done"],
        ["", "inner", "done"],
        ["inner", "one", "done"],
        ["inner", "two", "done"],
        ["inner", "three", "done"],
    ]
    custom = page.locator('#timeline li.note[data-kind="custom"]')
    expect(custom).to_have_attribute("data-ns", "inner")
    expect(custom.locator(".detail")).to_have_text('{"progress":"two"}')
    # before -> inner -> END is a chain: the page shows steps out of a known total.
    expect(page.locator("#run-progress-text")).to_have_text("2 of 2 steps")
    expect(page.locator("#run-progress-bar")).to_be_visible()
    expect(page.locator("#run-progress-bar")).to_have_js_property("value", 1)
    substate = json.loads(page.locator("#substates pre").text_content() or "")
    assert substate == {"steps": ["before", "one", "two", "three"]}
    assert _page_state(page) == _thread_values(server.url, thread_id)
    assert console.messages == []


def test_run_when_graph_fails_then_page_shows_error_and_stops_following(
    page: Page, server: RunningServer
) -> None:
    console = _open(page, server.url)
    _run(page, "failing", "{}", mode="json")
    _wait_finished(page, status="error")
    expect(page.locator("#banner")).to_contain_text("boom")
    expect(page.locator('#timeline li.task[data-node="explode"]')).to_have_attribute(
        "data-status", "error"
    )
    thread_id, run_id = _ids(page)
    # The page closes its EventSource on the error event: the trailing "end"
    # is never read, and the browser does not reconnect.
    replayed = _replayed_events(server.url, thread_id, run_id)
    assert [name for _, name in replayed[-2:]] == ["error", "end"]
    assert _page_events(page) == replayed[:-1]
    expect(page.locator("#reconnects")).to_have_text("0")
    assert console.messages == []


@dataclass
class _Topology:
    """browser -> sse_proxy -> switchyard -> llm_gate -> local OpenAI server."""

    server: RunningServer
    sse_proxy: FaultyProxy
    llm_gate: FaultyProxy


@contextmanager
def _chat_behind_proxies(openai_server: OpenAIServer, tmp_path: Path) -> Iterator[_Topology]:
    openai_port = int(openai_server.base_url.rsplit(":", 1)[1].split("/")[0])
    with run_proxy(openai_port) as llm_gate:
        llm = LLMSettings(base_url=llm_gate.url + "/v1", api_key=SecretStr("test"), max_retries=0)
        with (
            run_server(make_settings(tmp_path, llm=llm)) as server,
            run_proxy(server.port) as sse_proxy,
        ):
            yield _Topology(server=server, sse_proxy=sse_proxy, llm_gate=llm_gate)


def _cut_mid_run_and_resume(page: Page, net: _Topology) -> tuple[str, str]:
    """Run chat and drop the browser's stream mid-run, in the middle of an event.

    The gate freezes the model after four words, so the run is in progress
    until the test releases it. The SSE proxy passes the first two token
    events and half of the third (its ``id:`` line), then cuts the connection:
    the browser must resume after the second token by itself. The model is
    released only once the browser has reconnected, so the resumed stream is
    a replay (tokens three to five) followed by the live tail.
    Returns (thread id, run id).
    """
    net.llm_gate.hold_at(b'"content": "echo')
    net.sse_proxy.hold_at(b"event: messages", 3)
    _run(page, "chat", WORDS)
    assert net.llm_gate.holding.wait(10), "the model's answer never reached the gate"
    assert net.sse_proxy.holding.wait(10), "the third token event never reached the proxy"
    # Token one is the empty role chunk; token two ("alpha ") is on screen.
    expect(page.locator("#output .token")).to_have_count(1)
    net.sse_proxy.cut()
    expect(page.locator("#reconnects")).to_have_text("1", timeout=RUN_TIMEOUT_MS)
    expect(page.locator("#connection")).to_have_attribute("data-state", "open")
    thread_id, run_id = _ids(page)
    run = httpx.get(f"{net.server.url}/threads/{thread_id}/runs/{run_id}").json()
    assert run["status"] == "running"  # the drop and the resume happened mid-run
    net.llm_gate.release()
    _wait_finished(page)
    return thread_id, run_id


def _second_token(replayed: list[tuple[str, str]]) -> int:
    """Position in the run's events of the last one the browser had before the cut."""
    return [i for i, (_, name) in enumerate(replayed) if name == "messages"][1]


def _only_the_cut_was_reported(console: ConsoleErrors, run_id: str) -> None:
    # Chromium logs the interrupted request itself; nothing else may appear.
    assert len(console.messages) == 1
    assert f"/runs/{run_id}/stream" in console.messages[0]
    assert "net::ERR_" in console.messages[0]


def test_stream_when_connection_drops_mid_run_then_browser_resumes_without_gap_or_duplicate(
    page: Page, openai_server: OpenAIServer, tmp_path: Path
) -> None:
    with _chat_behind_proxies(openai_server, tmp_path) as net:
        console = _open(page, net.sse_proxy.url)
        thread_id, run_id = _cut_mid_run_and_resume(page, net)
        page.screenshot(path=tmp_path / "playground-reconnected.png", full_page=True)
        replayed = _replayed_events(net.server.url, thread_id, run_id)
        streams = net.sse_proxy.requests_to(f"/runs/{run_id}/stream")
        values = _thread_values(net.server.url, thread_id)

    # The browser reconnected once, by itself, with the id of the last event
    # it had received whole (the half event's id line must not count).
    resumed_after = replayed[_second_token(replayed)][0]
    assert len(streams) == 2
    assert "last-event-id" not in streams[0].headers
    assert streams[1].headers["last-event-id"] == resumed_after
    expect(page.locator('#timeline li.note[data-kind="reconnected"] .detail')).to_have_text(
        f"resuming after event {resumed_after}"
    )

    # No gap, no duplicate: the page holds exactly the run's events, in order.
    assert _page_events(page) == replayed
    expect(page.locator("#dup-count")).to_have_text("0")
    assert _tokens(page) == WORDS == values["messages"][-1]["content"]
    assert _page_state(page) == values
    _only_the_cut_was_reported(console, run_id)


def test_stream_when_resume_replays_seen_events_then_page_drops_them_by_id(
    page: Page, openai_server: OpenAIServer, tmp_path: Path
) -> None:
    # The proxy strips Last-Event-ID from the reconnect, so the server replays
    # the run from its first event: every event the page already has arrives
    # a second time and must be dropped, not shown or applied again.
    with _chat_behind_proxies(openai_server, tmp_path) as net:
        net.sse_proxy.rewrite_request(rb"(?im)^last-event-id:[^\r\n]*\r\n", b"")
        console = _open(page, net.sse_proxy.url)
        thread_id, run_id = _cut_mid_run_and_resume(page, net)
        assert net.sse_proxy.rewritten.is_set()
        replayed = _replayed_events(net.server.url, thread_id, run_id)
        values = _thread_values(net.server.url, thread_id)

    # Everything the page had before the cut comes again, and is dropped.
    expect(page.locator("#dup-count")).to_have_text(str(_second_token(replayed) + 1))
    assert _page_events(page) == replayed
    assert _tokens(page) == WORDS
    assert _page_state(page) == values  # no delta applied twice
    _only_the_cut_was_reported(console, run_id)


def test_patch_when_applied_in_browser_then_rebuilds_every_state_of_the_encoder(
    page: Page, server: RunningServer
) -> None:
    states: list[Any] = [
        {"a/b": 1, "~t": [1, 2], "": "empty key", "nested": {"x": {"y": [1, {"z": 0}]}}},
        {"a/b": 2, "~t": [1, 2, 3], "": "empty key", "nested": {"x": {"y": [1]}}, "new": None},
        {"~t": [3], "nested": {"x": {"y": [1, 2, {"~0/~1": True}]}}, "__proto__": {"p": 1}},
        {"~t": [], "nested": {}, "__proto__": {"p": 2}, "list": [[1], [2, [3]]]},
        {"list": [[1], [2]], "~t": ["a/b"]},
        [1, "two", {"three": 3}],
    ]
    encoder = DeltaEncoder()
    patches = [encoder.encode(state) for state in states]
    console = _open(page, server.url)
    rebuilt = page.evaluate(
        """async (patches) => {
            const { applyPatch } = await import("/static/patch.js");
            let doc = null;
            const out = [];
            for (const ops of patches) {
                doc = applyPatch(doc, ops);
                out.push(JSON.stringify(doc));
            }
            return out;
        }""",
        patches,
    )
    assert [json.loads(text) for text in rebuilt] == states
    assert any(op["op"] == "remove" for ops in patches for op in ops)
    assert any("~1" in op["path"] or "~0" in op["path"] for ops in patches for op in ops)
    errors = page.evaluate(
        """async () => {
            const { applyPatch } = await import("/static/patch.js");
            const bad = [
                [{ op: "remove", path: "/missing" }],
                [{ op: "replace", path: "/a/5", value: 1 }],
                [{ op: "add", path: "a", value: 1 }],
                [{ op: "move", from: "/a", path: "/b" }],
            ];
            return bad.map((ops) => {
                try { applyPatch({ a: [1] }, ops); return null; } catch (e) { return e.name; }
            });
        }"""
    )
    assert errors == ["PatchError"] * 4
    assert console.messages == []
