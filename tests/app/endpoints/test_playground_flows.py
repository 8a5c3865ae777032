"""Flows in the playground, driven in real headless Chromium: listed, run, interrupted, resumed.

The flow is the "must show" one (tests/graphs/flows/reference.py): a
condition, a bounded loop, parallel branches, the ``chat`` subgraph and an
interrupt that the page answers.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from app.settings import FlowSettings
from tests.conftest import make_settings
from tests.graphs.flows.reference import FLOW
from tests.support.browser import ConsoleErrors, launch, skip_reason
from tests.support.server import RunningServer, run_server

if (_reason := skip_reason()) is not None:
    pytest.skip(_reason, allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright

pytestmark = pytest.mark.browser

RUN_TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    settings = make_settings(
        tmp_path_factory.mktemp("playground-flows"),
        flows=FlowSettings(function_modules=["tests.graphs.flows"]),
    )
    with run_server(settings) as running:
        yield running


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


def _open(page: Page, url: str) -> ConsoleErrors:
    console = ConsoleErrors(page)
    page.goto(url + "/")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    return console


def _choose(page: Page, graph_id: str) -> None:
    option = page.locator(f'#assistant option[data-graph-id="{graph_id}"]')
    page.select_option("#assistant", value=option.get_attribute("value"))


def _runs_done(page: Page, count: int) -> None:
    expect(page.locator("body")).to_have_attribute(
        "data-runs-done", str(count), timeout=RUN_TIMEOUT_MS
    )


def _state(base_url: str, thread_id: str) -> Any:
    response = httpx.get(f"{base_url}/threads/{thread_id}/state")
    response.raise_for_status()
    return response.json()


def test_flow_when_created_over_rest_then_page_lists_runs_and_resumes_its_interrupt(
    page: Page, server: RunningServer
) -> None:
    flow = copy.deepcopy(FLOW)
    flow["id"] = "review_page"
    assert httpx.post(f"{server.url}/flows", json=flow).status_code == 201
    console = _open(page, server.url)

    _choose(page, "review_page")
    expect(page.locator("#assistant-description")).to_have_text(flow["description"])
    expect(page.locator("#input")).to_have_attribute("data-mode", "message")  # it has messages
    page.select_option("#thread", value="")
    page.fill("#input", "hello from the browser")
    page.click("#run")
    _runs_done(page, 1)
    expect(page.locator("#run-status")).to_have_text("success")
    thread_id = page.locator("#thread").input_value()

    # Stopped at the flow's interrupt: the page asks, the timeline says where.
    expect(page.locator("#resume")).to_be_visible()
    expect(page.locator("#resume-question")).to_contain_text("approve long?")
    expect(page.locator('#timeline li.task[data-node="ask"]')).to_have_attribute(
        "data-status", "interrupted"
    )
    # The flow's code subgraph ran under its namespace.
    expect(page.locator('#timeline li.task[data-ns="chat"]').first).to_have_attribute(
        "data-status", "done"
    )
    assert _state(server.url, thread_id)["next"] == ["ask"]

    page.fill("#resume-value", "yes")
    page.click("#resume-run")
    _runs_done(page, 2)
    expect(page.locator("#run-status")).to_have_text("success")
    expect(page.locator("#resume")).to_be_hidden()
    stored = _state(server.url, thread_id)
    assert stored["next"] == []
    assert stored["values"]["approved"] == "yes"
    assert stored["values"]["trail"][-1] == "done"
    assert json.loads(page.locator("#state").inner_text()) == stored["values"]
    assert console.messages == []


def test_flow_when_resumed_with_json_from_page_then_value_reaches_the_flow(
    page: Page, server: RunningServer
) -> None:
    flow = {
        "id": "asks_json",
        "state": {"answer": {"type": "any"}},
        "nodes": [
            {"id": "ask", "type": "interrupt", "config": {"value": "which?", "write": "answer"}}
        ],
        "edges": [{"from": "START", "to": "ask"}],
    }
    assert httpx.post(f"{server.url}/flows", json=flow).status_code == 201
    console = _open(page, server.url)
    _choose(page, "asks_json")
    expect(page.locator("#input")).to_have_attribute("data-mode", "json")
    page.select_option("#thread", value="")
    page.fill("#input", "{}")
    page.click("#run")
    _runs_done(page, 1)
    expect(page.locator("#resume-question")).to_have_text("which?")
    page.fill("#resume-value", '{"pick": [1, 2]}')
    page.click("#resume-run")
    _runs_done(page, 2)
    thread_id = page.locator("#thread").input_value()
    assert _state(server.url, thread_id)["values"] == {"answer": {"pick": [1, 2]}}
    assert console.messages == []


def test_template_flow_when_params_given_on_page_then_run_uses_them(
    page: Page, server: RunningServer
) -> None:
    flow = {
        "id": "greeter",
        "params": {
            "greeting": {"type": "string"},
            "mark": {"type": "string", "default": "!"},
        },
        "state": {"name": {"type": "string"}, "text": {"type": "string"}},
        "nodes": [
            {
                "id": "greet",
                "type": "transform",
                "config": {"set": {"text": "{{params.greeting}} {{state.name}}{{params.mark}}"}},
            }
        ],
        "edges": [{"from": "START", "to": "greet"}],
    }
    assert httpx.post(f"{server.url}/flows", json=flow).status_code == 201
    console = _open(page, server.url)
    _choose(page, "chat")
    expect(page.locator("#flow-params-box")).to_be_hidden()  # a code graph takes none
    _choose(page, "greeter")
    expect(page.locator("#input")).to_have_attribute("data-mode", "json")
    expect(page.locator("#flow-params-box")).to_be_visible()
    expect(page.locator("#flow-params-hint")).to_have_text("Required: greeting.")
    assert json.loads(page.locator("#flow-params").input_value()) == {"mark": "!"}
    page.fill("#flow-params", '{"greeting": "Hello", "mark": "?"}')
    page.select_option("#thread", value="")
    page.fill("#input", '{"name": "Ada"}')
    page.click("#run")
    _runs_done(page, 1)
    expect(page.locator("#run-status")).to_have_text("success")
    thread_id = page.locator("#thread").input_value()
    assert _state(server.url, thread_id)["values"] == {"name": "Ada", "text": "Hello Ada?"}
    assert console.messages == []
