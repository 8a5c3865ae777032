"""Schemathesis over every operation of ``/openapi.json``, against a real server process.

Checks every response for: no server error, a documented status code and
content type, a body (and SSE events, headers) that fit the document, and
that requests the document calls invalid are refused (4xx). It does not ask
that every valid request succeed: some 422s are semantic, beyond what a
schema says (input keys of a graph, node names, route strategies).

Per operation: schemathesis's coverage cases (boundaries, each field
missing or of the wrong type) plus ``SWITCHYARD_FUZZ_EXAMPLES`` random ones
(default 5 in ``make test``; ``make fuzz`` runs 200).

``after_seconds`` may be up to a day; a run scheduled that late holds its
thread's turn, and a stream on that thread waits for it. A bounded fuzz run
cannot wait a day, so larger delays are sent as 0.05 s (coverage cases do
not pass through schemathesis's hooks, hence here).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from annotated_types import Le
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from app.schemas import RunCreate
from tests.support.process import serve_process

EXAMPLES = int(os.environ.get("SWITCHYARD_FUZZ_EXAMPLES", "5"))
_MAX_DELAY_S = 0.05
_DOCUMENTED_MAX_DELAY_S: float = next(
    m.le for m in RunCreate.model_fields["after_seconds"].metadata if isinstance(m, Le)
)  # type: ignore[assignment]
CASES: Counter[str] = Counter()


@pytest.fixture(scope="module")
def fuzz_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {
        "SWITCHYARD_DATA_DIR": str(tmp_path_factory.mktemp("fuzz")),
        "SWITCHYARD_RUNS_TIMEOUT_S": "20",
        "SWITCHYARD_SSE_HEARTBEAT_S": "1",
    }
    with serve_process(env) as url:
        yield url
    total = sum(CASES.values())
    print(f"\nschemathesis: {len(CASES)} operations, {total} cases sent")


@pytest.fixture
def api(fuzz_url: str) -> Any:
    schema = schemathesis.openapi.from_url(f"{fuzz_url}/openapi.json")
    schema.config.generation.update(max_examples=EXAMPLES)
    return schema


lazy = schemathesis.pytest.from_fixture("api")


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    # schemathesis 4.32's lazy loader reads ``node._nodeid``, which pytest 9
    # no longer sets; give it the public ``nodeid``.
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


def _cap_delay(value: Any) -> None:
    if isinstance(value, list):
        for item in value:
            _cap_delay(item)
    elif isinstance(value, dict):
        delay = value.get("after_seconds")
        # Above the documented maximum it is a negative case: the server refuses it.
        if isinstance(delay, bool) or not isinstance(delay, int | float):
            pass
        elif _MAX_DELAY_S < delay <= _DOCUMENTED_MAX_DELAY_S:
            value["after_seconds"] = _MAX_DELAY_S
        _cap_delay(value.get("items"))


# One pytest test runs every operation: ~6,200 cases at 5 examples, ~35 ms each.
@pytest.mark.timeout(900 if EXAMPLES <= 20 else 4 * 3600)
@lazy.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), max_examples=EXAMPLES)
def test_api_when_fuzzed_then_no_server_error_and_responses_fit_the_document(case: Any) -> None:
    if case.operation.definition.raw.get("x-undocumented"):
        return  # no entry in app.openapi.operations yet: nothing to check it against
    _cap_delay(case.body)
    case.call_and_validate(excluded_checks=[positive_data_acceptance], timeout=60)
    CASES[case.operation.label] += 1
