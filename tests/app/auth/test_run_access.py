"""``admit_runs``: what a run body becomes on its way to ``RunManager.create``.

With auth off the body passes untouched and without filters (no handler
value is built for it); with auth on the authorizer sees the run and what it
stamps reaches the run, its new thread, and the graph's ``configurable``.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection

from app.auth.access import SCOPE_KEY, RequestAuth
from app.auth.gate import build_gate
from app.auth.run_access import admit_runs
from app.auth.settings import ApiKey, AuthSettings
from app.auth.user import AuthUser
from app.schemas import RunCreate

BODY = {"assistant_id": "steps", "input": {"steps": []}, "metadata": {"topic": "x"}}


def _conn(state: RequestAuth) -> HTTPConnection:
    return HTTPConnection({"type": "http", "headers": [], SCOPE_KEY: state})


async def test_admit_runs_when_auth_is_off_then_the_body_passes_unchanged_and_unfiltered() -> None:
    gate = build_gate(AuthSettings(), None)
    assert not gate.enabled
    body = RunCreate.model_validate(BODY)
    async with admit_runs(_conn(RequestAuth(gate, None)), [body], None, lambda _: False) as got:
        assert got.bodies == [body]
        assert got.bodies[0] is body
        assert got.filters == [None]
        assert got.thread_metadata == [None]


async def test_admit_runs_when_auth_is_on_then_the_owner_is_stamped_and_filters_apply() -> None:
    gate = build_gate(AuthSettings(api_keys=[ApiKey(key="k", identity="alice")]), None)
    assert gate.enabled
    state = RequestAuth(gate, AuthUser({"identity": "alice"}))
    body = RunCreate.model_validate(BODY)
    async with admit_runs(_conn(state), [body], "t-1", lambda _: False) as got:
        (admitted,) = got.bodies
        assert admitted.metadata == {"topic": "x", "owner": "alice"}
        assert got.filters == [{"owner": "alice"}]
        assert got.thread_metadata == [{"topic": "x", "owner": "alice"}]
        assert admitted.config is not None
        assert admitted.config["configurable"]["langgraph_auth_user_id"] == "alice"
    assert state.authorized
