"""React's ``useStream`` hooks, unchanged, in headless Chromium against Switchyard.

A small React app (``tests/fixtures/react``, built with npm + vite at test
time, cached under ``.venv``) renders a chat with either hook:

* ``useStream`` from ``@langchain/langgraph-sdk/react`` (the run API:
  ``threads.create``, ``runs.stream``, ``reconnectOnMount`` + ``joinStream``,
  ``command`` to resume, ``checkpoint`` to branch);
* ``useStream`` from ``@langchain/react`` v1 (the thread streaming protocol).

The tests read what the page rendered. The model is ``ChatOpenAI`` against
the local OpenAI server; a proxy in front of it freezes the answer mid-way,
so a test sees a turn *while* it streams, and reloads the page right then.

    browser ──> switchyard ──> llm_gate (FaultyProxy) ──> OpenAI test server
      └─ /app/* is served to the page by the test itself (same origin, no CORS)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from app.settings import LLMSettings
from tests.conftest import make_settings
from tests.support import react_app
from tests.support.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ConsoleErrors,
    FaultyProxy,
    run_proxy,
    skip_reason,
)
from tests.support.openai_server import OpenAIServer, run_openai_server
from tests.support.server import RunningServer, run_server

if (_reason := skip_reason() or react_app.skip_reason()) is not None:
    pytest.skip(_reason, allow_module_level=True)

from playwright.sync_api import Browser, Page, Route, expect, sync_playwright

pytestmark = pytest.mark.browser

TIMEOUT_MS = 30_000
WORDS = "alpha bravo charlie delta echo foxtrot golf hotel"
BEFORE_HOLD = "alpha bravo charlie delta "  # the gate holds the answer at "echo"
# v1 over the protocol's SSE, and over its WebSocket (every command on the socket).
HOOKS = ["legacy", "v1", "v1&transport=websocket"]


class Net:
    def __init__(self, server: RunningServer, llm_gate: FaultyProxy) -> None:
        self.server, self.llm_gate = server, llm_gate


@pytest.fixture(scope="module")
def dist() -> Path:
    return react_app.build()


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    with run_openai_server() as openai:
        yield from _topology(openai, tmp_path_factory.mktemp("react"))


def _topology(openai: OpenAIServer, tmp: Path) -> Iterator[Net]:
    openai_port = int(openai.base_url.rsplit(":", 1)[1].split("/")[0])
    with run_proxy(openai_port) as llm_gate:
        llm = LLMSettings(base_url=llm_gate.url + "/v1", api_key=SecretStr("test"), max_retries=0)
        with run_server(make_settings(tmp, llm=llm)) as server:
            yield Net(server, llm_gate)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        # The test hands the page its document itself (``page.route``), so
        # Chromium cannot tell it came from loopback, and its Local Network
        # Access checks would refuse the page's WebSocket to 127.0.0.1.
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[*CHROMIUM_ARGS, "--disable-features=LocalNetworkAccessChecks"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, net: Net, dist: Path) -> Iterator[Page]:
    context = browser.new_context()
    opened = context.new_page()

    def serve(route: Route) -> None:
        name = route.request.url.split("/app/", 1)[1].split("?", 1)[0] or "index.html"
        path = dist / name
        kind = "text/html" if name.endswith(".html") else "text/javascript"
        route.fulfill(status=200, body=path.read_bytes(), content_type=kind)

    opened.route(f"{net.server.url}/app/**", serve)
    yield opened
    context.close()


def _open(page: Page, net: Net, hook: str) -> ConsoleErrors:
    console = ConsoleErrors(page)
    page.goto(f"{net.server.url}/app/index.html?hook={hook}")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    return console


def _no_errors(console: ConsoleErrors) -> None:
    # A reload aborts the page's open streams; Chromium may log that abort.
    assert [m for m in console.messages if "net::ERR_ABORTED" not in m] == []


def _shows(page: Page, selector: str, text: str) -> None:
    """``selector`` shows ``text``; a failure says what the page showed instead."""
    try:
        expect(page.locator(selector)).to_have_text(text, timeout=TIMEOUT_MS)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\npage: {page.locator('#root').inner_html()}") from None


def _send(page: Page, text: str) -> None:
    page.fill("#text", text)
    page.click("#send")


def _texts(page: Page, kind: str) -> list[str]:
    return page.locator(f'#messages li[data-type="{kind}"]').all_inner_texts()


def _wait_idle(page: Page) -> None:
    expect(page.locator("main")).to_have_attribute("data-loading", "false", timeout=TIMEOUT_MS)


def _thread_id(page: Page) -> str:
    thread = page.evaluate("new URLSearchParams(location.search).get('thread')")
    assert isinstance(thread, str)
    return thread


def _state(net: Net, thread_id: str) -> Any:
    response = httpx.get(f"{net.server.url}/threads/{thread_id}/state")
    response.raise_for_status()
    return response.json()["values"]


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") for b in content if isinstance(b, dict))


@pytest.mark.parametrize("hook", HOOKS)
def test_chat_turn_when_streaming_then_tokens_show_and_reload_mid_run_resumes(
    page: Page, net: Net, hook: str
) -> None:
    console = _open(page, net, hook)
    net.llm_gate.hold_at(b'"content": "echo')
    _send(page, WORDS)
    assert net.llm_gate.holding.wait(20), "the model's answer never reached the gate"
    # Token by token: the page shows the answer so far while the run waits.
    ai = page.locator('#messages li[data-type="ai"]')
    expect(ai).to_have_text(BEFORE_HOLD.strip(), timeout=TIMEOUT_MS)
    thread_id = _thread_id(page)

    page.reload()  # mid-run: the hook must find the run again
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(ai).to_have_text(BEFORE_HOLD.strip(), timeout=TIMEOUT_MS)
    net.llm_gate.release()
    expect(ai).to_have_text(WORDS, timeout=TIMEOUT_MS)
    _wait_idle(page)
    assert _texts(page, "ai") == [WORDS], "no token lost, none twice"
    assert _texts(page, "human") == [WORDS]
    values = _state(net, thread_id)
    assert _text_of(values["messages"][-1]["content"]) == WORDS
    _no_errors(console)


@pytest.mark.parametrize("hook", HOOKS)
def test_interrupt_when_approved_on_the_page_then_run_resumes(
    page: Page, net: Net, hook: str
) -> None:
    console = _open(page, net, hook)
    _send(page, "please approve this")
    _shows(page, "#question", "approve?")
    page.click("#approve")
    expect(page.locator("#interrupt")).to_have_count(0, timeout=TIMEOUT_MS)
    expect(page.locator('#messages li[data-type="ai"]').last).to_have_text(
        "The request was approved.", timeout=TIMEOUT_MS
    )
    values = _state(net, _thread_id(page))
    assert values["approved"] is True
    _no_errors(console)


@pytest.mark.parametrize("hook", HOOKS)
def test_branch_when_first_message_edited_then_thread_forks_from_its_checkpoint(
    page: Page, net: Net, hook: str
) -> None:
    console = _open(page, net, hook)
    _send(page, "first question")
    _shows(page, '#messages li[data-type="ai"]', "first question")
    _wait_idle(page)
    page.fill("#text", "second question")
    page.click("#branch")
    _shows(page, '#messages li[data-type="ai"]', "second question")
    _wait_idle(page)
    assert _texts(page, "human") == ["second question"]
    values = _state(net, _thread_id(page))
    assert [_text_of(m["content"]) for m in values["messages"]] == [
        "second question",
        "second question",
    ]
    _no_errors(console)
