"""The playground on a server with auth on, in real headless Chromium.

The page signs in with an API key (sent as ``X-Api-Key`` on every fetch),
runs, and follows the run over a native ``EventSource`` whose URL carries the
run-scoped ``?stream_token=`` (a browser cannot set headers on it). A proxy
cuts the stream mid-run: the browser reconnects by itself with the same
token and ``Last-Event-ID``, and the page ends with every token, none twice.
A token for one run never opens another run's stream.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from app.auth.settings import AuthSettings
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
WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet"
ALICE_KEY = "alice-playground-key-0123456789"
KEYS = {"X-Api-Key": ALICE_KEY}


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


def _auth() -> AuthSettings:
    return AuthSettings.model_validate({"api_keys": [{"key": ALICE_KEY, "identity": "alice"}]})


@pytest.fixture
def net(
    openai_server: OpenAIServer, tmp_path: Path
) -> Iterator[tuple[RunningServer, FaultyProxy, FaultyProxy]]:
    """browser -> sse_proxy -> switchyard (auth on) -> llm_gate -> local OpenAI server."""
    openai_port = int(openai_server.base_url.rsplit(":", 1)[1].split("/")[0])
    with run_proxy(openai_port) as llm_gate:
        llm = LLMSettings(base_url=llm_gate.url + "/v1", api_key=SecretStr("test"), max_retries=0)
        settings = make_settings(tmp_path, llm=llm, auth=_auth())
        with run_server(settings) as server, run_proxy(server.port) as sse_proxy:
            yield server, sse_proxy, llm_gate


def _sign_in(page: Page, url: str) -> ConsoleErrors:
    console = ConsoleErrors(page)
    page.goto(url + "/")
    # Without a key the API answers 401 and the page asks for one.
    expect(page.locator("body")).to_have_attribute("data-auth", "required")
    expect(page.locator("#banner")).to_contain_text("sign in")
    page.fill("#api-key", ALICE_KEY)
    page.click("#sign-in-button")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.locator("body")).to_have_attribute("data-auth", "signed-in")
    return console


def test_playground_signs_in_runs_and_resumes_stream_with_run_scoped_token(
    page: Page, net: tuple[RunningServer, FaultyProxy, FaultyProxy]
) -> None:
    server, sse_proxy, llm_gate = net
    console = _sign_in(page, sse_proxy.url)
    llm_gate.hold_at(b'"content": "echo')
    sse_proxy.hold_at(b"event: messages", 3)
    option = page.locator('#assistant option[data-graph-id="chat"]')
    page.select_option("#assistant", value=option.get_attribute("value"))
    page.select_option("#thread", value="")
    page.fill("#input", WORDS)
    page.click("#run")
    assert llm_gate.holding.wait(10), "the model's answer never reached the gate"
    assert sse_proxy.holding.wait(10), "the third token event never reached the proxy"
    sse_proxy.cut()
    expect(page.locator("#reconnects")).to_have_text("1", timeout=RUN_TIMEOUT_MS)
    llm_gate.release()
    connection = page.locator("#connection")
    expect(connection).to_have_attribute("data-state", "closed", timeout=RUN_TIMEOUT_MS)
    expect(page.locator("#run-status")).to_have_text("success", timeout=RUN_TIMEOUT_MS)

    run_id = page.locator("#run-id").inner_text()
    thread_id = page.locator("#thread").input_value()
    streams = sse_proxy.requests_to(f"/runs/{run_id}/stream")
    # Both connections were the browser's own EventSource: no key header, the
    # token in the URL, and the reconnect resumed by Last-Event-ID.
    assert len(streams) == 2
    for head in streams:
        assert "x-api-key" not in head.headers
        assert "stream_token=" in head.path
    assert "last-event-id" in streams[1].headers
    tokens = "".join(page.locator("#output .token").all_inner_texts())
    values = httpx.get(f"{server.url}/threads/{thread_id}/state", headers=KEYS).json()["values"]
    assert tokens == WORDS == values["messages"][-1]["content"]
    expect(page.locator("#dup-count")).to_have_text("0")
    # Chromium logs the two refusals before signing in and the cut request;
    # nothing else went wrong.
    refused, cut = console.messages[:2], console.messages[2:]
    assert all("401 (Unauthorized)" in message for message in refused), refused
    assert len(cut) == 1, cut
    assert "net::ERR_" in cut[0]
    assert f"/runs/{run_id}/stream" in cut[0]


def test_stream_token_for_one_run_cannot_open_another_runs_stream(
    page: Page, net: tuple[RunningServer, FaultyProxy, FaultyProxy]
) -> None:
    server, _, _ = net
    with httpx.Client(base_url=server.url, headers=KEYS, timeout=30) as http:
        body = {"assistant_id": "steps", "input": {"steps": []}}
        run_a = http.post("/runs", json=body).json()
        run_b = http.post("/runs", json=body).json()
    page.goto(server.url + "/")

    def open_stream(run: dict[str, str], token: str) -> str:
        url = f"/threads/{run['thread_id']}/runs/{run['run_id']}/stream?stream_token={token}"
        outcome: str = page.evaluate(
            """url => new Promise(resolve => {
                 const source = new EventSource(url);
                 source.addEventListener("end", () => { source.close(); resolve("end"); });
                 source.onerror = () => {
                   if (source.readyState === EventSource.CLOSED) resolve("refused");
                 };
               })""",
            url,
        )
        return outcome

    assert open_stream(run_b, run_a["stream_token"]) == "refused"
    assert open_stream(run_a, run_a["stream_token"]) == "end"
    assert open_stream(run_b, run_b["stream_token"]) == "end"
