"""GET /rules over a real server: loaded rules, hit counts, examples and the last reload."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from routers.config import DEFAULT_RULES_DIR, RouterSettings
from tests.conftest import make_settings
from tests.support.server import run_server


def _wait_run(http: httpx.Client, text: str) -> dict[str, Any]:
    body = {"assistant_id": "auto", "input": {"messages": [{"role": "user", "content": text}]}}
    response = http.post("/runs/wait", json=body)
    assert response.status_code == 200, response.text
    route: dict[str, Any] = response.json()["route"]
    return route


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, Path]]:
    tmp = tmp_path_factory.mktemp("rules-endpoint")
    rules = tmp / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, rules)
    settings = make_settings(tmp, router=RouterSettings(rules_dir=rules))
    with run_server(settings) as server, httpx.Client(base_url=server.url, timeout=60) as http:
        yield http, rules


def test_get_rules_when_started_then_lists_rules_examples_and_startup_reload(
    served: tuple[httpx.Client, Path],
) -> None:
    http, _ = served
    response = http.get("/rules")
    assert response.status_code == 200
    body = response.json()
    by_id = {rule["id"]: rule for rule in body["rules"]}
    assert {"publish-en", "publish-zh", "publish-channel"} <= set(by_id)
    assert by_id["publish-channel"]["kinds"] == ["keywords", "regex"]
    assert by_id["publish-en"]["file"] == "10-publishing.yaml"
    assert body["files"] == ["10-publishing.yaml", "90-chat.yaml"]
    assert body["examples"]["content"] > 10
    assert body["examples"]["chat"] > 10
    assert body["semantic_model"] == "use-multilingual"
    assert body["watching"] is True
    assert body["last_reload"]["ok"] is True
    assert body["last_reload"]["semantic"] is None


def test_get_rules_when_runs_were_routed_then_hits_count_the_deciding_tier(
    served: tuple[httpx.Client, Path],
) -> None:
    http, _ = served
    before = http.get("/rules").json()
    hits = {rule["id"]: rule["hits"] for rule in before["rules"]}
    semantic = before["semantic_hits"].get("content", 0)

    assert _wait_run(http, "Please publish this on LinkedIn")["source"] == "rule:publish-channel"
    paraphrase = _wait_run(http, "a few cheerful lines for my followers about our new cakes")
    assert paraphrase["source"] == "semantic:use-multilingual"
    assert paraphrase["target"] == "content"

    after = http.get("/rules").json()
    assert {r["id"]: r["hits"] for r in after["rules"]}["publish-channel"] == (
        hits["publish-channel"] + 1
    )
    assert after["semantic_hits"]["content"] == semantic + 1


def test_get_rules_when_a_reload_was_refused_then_it_is_reported_and_old_rules_listed(
    served: tuple[httpx.Client, Path],
) -> None:
    http, rules = served
    version = http.get("/rules").json()["version"]
    bad = rules / "50-bad.yaml"
    bad.write_text("rules: [{id: bad, target: chat, match: {condition: 'x.__class__'}}]\n")
    try:
        refused = http.post("/rules/reload")
        assert refused.status_code == 422
        body = http.get("/rules").json()
        assert body["last_reload"]["ok"] is False
        assert "50-bad.yaml: rule 'bad'" in body["last_reload"]["error"]
        assert "attribute access is not allowed" in body["last_reload"]["error"]
        assert "bad" not in {rule["id"] for rule in body["rules"]}
        assert body["version"] == version  # refused reloads (API or watch) change nothing
    finally:
        bad.unlink()
    assert http.post("/rules/reload").json()["ok"] is True
