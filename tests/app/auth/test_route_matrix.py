"""Every route of the app's own route table × every kind of credential, on a real server.

The routes come from ``app.main.routes()``: a route added later without an
entry in ``RECIPES`` fails ``test_every_route_has_a_recipe`` (and its matrix
row), so nothing can join the API without saying who may call it.

Conditions: no credentials, a malformed token, an expired token, a wrong
signature, ``alg=none`` (all 401 with ``WWW-Authenticate`` on every
non-public route), another user's valid token (404 on the owner's
resources, and nothing of the owner's in what it can list), the owner's
token (2xx). The owner's requests run on fresh resources, so that
``test_zz_owner_world_unchanged_after_other_users_tried`` can prove that
no other condition changed a byte of the owner's thread, state, runs or
history.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Mount, Route, WebSocketRoute
from websockets.exceptions import ConnectionClosedError, InvalidStatus
from websockets.sync.client import connect

from app.main import routes
from tests.conftest import make_settings
from tests.support.auth import OTHER_SECRET, alg_none_token, bearer, jwt_settings, mint
from tests.support.server import RunningServer, run_server

RouteKey = tuple[str, str]

STEPS = {"assistant_id": "steps", "input": {"steps": []}}
BAD_CONDITIONS = ("none", "malformed", "expired", "wrong_signature", "alg_none")
CONDITIONS = (*BAD_CONDITIONS, "other", "owner")


def route_keys() -> list[RouteKey]:
    keys: list[RouteKey] = []
    for route in routes():
        if isinstance(route, WebSocketRoute):
            keys.append(("WS", route.path))
        elif isinstance(route, Mount):
            keys.append(("GET", route.path))
        elif isinstance(route, Route):
            keys.extend((m, route.path) for m in sorted(route.methods or ()) if m != "HEAD")
    return keys


@dataclass
class World:
    """One user's thread with a finished run, and a finished stateless run."""

    thread_id: str
    run_id: str
    checkpoint_id: str
    stateless_thread_id: str
    stateless_run_id: str
    tag: str
    # The owner's crons (the doomed one is for DELETE) and store item
    # (namespace ["m", tag], key "k").
    cron_id: str = ""
    doomed_cron_id: str = ""


@dataclass(frozen=True)
class Call:
    path: str
    body: Any = None


@dataclass(frozen=True)
class Recipe:
    # public: no credentials needed; owned: acts on the caller's world (other → 404);
    # open: acts on nothing of anyone's (other → 2xx, nothing of the owner's inside);
    # admin: needs the admin permission (owner and other → 403)
    # authenticated: any signed-in user gets past the gate (owner and other: not
    # 401/403); what the route then answers needs state outside the matrix's
    # world (a flow by id, a live MCP server, an MCP session) and is its own tests'
    kind: str
    call: Callable[[World], Call]
    other_status: int | None = None  # when another user gets something else than the kind says
    stream: bool = False  # a response that may follow live: only its status is read


def _t(w: World, suffix: str = "") -> str:
    return f"/threads/{w.thread_id}{suffix}"


def _r(w: World, suffix: str = "") -> str:
    return f"/threads/{w.thread_id}/runs/{w.run_id}{suffix}"


def _p(path: str, body: Any = None) -> Callable[[World], Call]:
    return lambda w: Call(path, body)


RECIPES: dict[RouteKey, Recipe] = {
    # The platform API (issue 15). Assistants are shared (changed by admins);
    # crons and store items are their creator's, like threads.
    ("POST", "/assistants"): Recipe("admin", _p("/assistants", {"graph_id": "steps"})),
    ("PATCH", "/assistants/{assistant_id}"): Recipe(
        "admin", _p("/assistants/steps", {"name": "x"})
    ),
    ("DELETE", "/assistants/{assistant_id}"): Recipe("admin", _p("/assistants/steps")),
    ("POST", "/assistants/{assistant_id}/versions"): Recipe(
        "open", _p("/assistants/steps/versions", {})
    ),
    ("POST", "/assistants/{assistant_id}/latest"): Recipe(
        "admin", _p("/assistants/steps/latest", {"version": 1})
    ),
    ("GET", "/assistants/{assistant_id}/subgraphs"): Recipe(
        "open", _p("/assistants/steps/subgraphs")
    ),
    ("GET", "/assistants/{assistant_id}/subgraphs/{namespace}"): Recipe(
        "open", _p("/assistants/steps/subgraphs/one")
    ),
    ("POST", "/threads/prune"): Recipe(
        "open",
        lambda w: Call("/threads/prune", {"thread_ids": [w.thread_id], "strategy": "keep_latest"}),
    ),
    ("POST", "/threads/{thread_id}/runs/crons"): Recipe(
        "owned", lambda w: Call(_t(w, "/runs/crons"), {**STEPS, "schedule": "0 0 1 1 *"})
    ),
    ("POST", "/runs/crons"): Recipe("open", _p("/runs/crons", {**STEPS, "schedule": "0 0 1 1 *"})),
    ("POST", "/runs/crons/search"): Recipe("open", _p("/runs/crons/search", {"limit": 1000})),
    # Another user counts their own crons only (those this module's "other"
    # condition created), never the owner's: see test_crons_of_another_user_look_missing.
    ("POST", "/runs/crons/count"): Recipe("open", _p("/runs/crons/count", {})),
    ("GET", "/runs/crons/{cron_id}"): Recipe("owned", lambda w: Call(f"/runs/crons/{w.cron_id}")),
    ("PATCH", "/runs/crons/{cron_id}"): Recipe(
        "owned", lambda w: Call(f"/runs/crons/{w.cron_id}", {"enabled": False})
    ),
    ("DELETE", "/runs/crons/{cron_id}"): Recipe(
        "owned", lambda w: Call(f"/runs/crons/{w.doomed_cron_id}")
    ),
    # Store namespaces are scoped to the caller (the built-in policy prefixes the
    # identity): another user's put and delete act on their own namespace
    # (2xx, the owner's item unchanged: see the last test), their get misses.
    ("PUT", "/store/items"): Recipe(
        "open", _p("/store/items", {"namespace": ["scratch"], "key": "k", "value": {}})
    ),
    ("GET", "/store/items"): Recipe(
        "owned", lambda w: Call(f"/store/items?namespace=m.{w.tag}&key=k")
    ),
    ("DELETE", "/store/items"): Recipe(
        "open", lambda w: Call("/store/items", {"namespace": ["m", w.tag], "key": "k"})
    ),
    ("POST", "/store/items/search"): Recipe(
        "open", lambda w: Call("/store/items/search", {"namespace_prefix": ["m"], "limit": 1000})
    ),
    ("POST", "/store/namespaces"): Recipe("open", _p("/store/namespaces", {"limit": 1000})),
    ("GET", "/ok"): Recipe("public", _p("/ok")),
    ("GET", "/info"): Recipe("public", _p("/info")),
    # Behind the gate by default (SWITCHYARD_METRICS_ACCESS=auth): any signed-in
    # user may scrape, and the counts name no one's thread or run.
    ("GET", "/metrics"): Recipe("open", _p("/metrics")),
    ("GET", "/"): Recipe("public", _p("/")),
    ("GET", "/static"): Recipe("public", _p("/static/app.js")),
    ("POST", "/assistants/search"): Recipe("open", _p("/assistants/search", {})),
    ("POST", "/assistants/count"): Recipe("open", _p("/assistants/count", {})),
    ("GET", "/assistants/{assistant_id}"): Recipe("open", _p("/assistants/steps")),
    ("GET", "/assistants/{assistant_id}/graph"): Recipe("open", _p("/assistants/steps/graph")),
    ("GET", "/assistants/{assistant_id}/schemas"): Recipe("open", _p("/assistants/steps/schemas")),
    # Another user asking for the owner's thread id back gets the conflict, not the thread.
    ("POST", "/threads"): Recipe(
        "open",
        lambda w: Call("/threads", {"thread_id": w.thread_id, "if_exists": "do_nothing"}),
        other_status=409,
    ),
    ("POST", "/threads/search"): Recipe(
        "open", lambda w: Call("/threads/search", {"metadata": {"tag": w.tag}, "limit": 100})
    ),
    ("POST", "/threads/count"): Recipe(
        "open", lambda w: Call("/threads/count", {"metadata": {"tag": w.tag}})
    ),
    ("GET", "/threads/{thread_id}"): Recipe("owned", lambda w: Call(_t(w))),
    ("PATCH", "/threads/{thread_id}"): Recipe(
        "owned", lambda w: Call(_t(w), {"metadata": {"touched": True, "owner": "other"}})
    ),
    ("DELETE", "/threads/{thread_id}"): Recipe("owned", lambda w: Call(_t(w))),
    ("GET", "/threads/{thread_id}/state"): Recipe("owned", lambda w: Call(_t(w, "/state"))),
    ("POST", "/threads/{thread_id}/state"): Recipe(
        "owned", lambda w: Call(_t(w, "/state"), {"values": {"steps": ["written"]}})
    ),
    ("POST", "/threads/{thread_id}/state/checkpoint"): Recipe(
        "owned",
        lambda w: Call(
            _t(w, "/state/checkpoint"), {"checkpoint": {"checkpoint_id": w.checkpoint_id}}
        ),
    ),
    ("GET", "/threads/{thread_id}/state/{checkpoint_id}"): Recipe(
        "owned", lambda w: Call(_t(w, f"/state/{w.checkpoint_id}"))
    ),
    ("GET", "/threads/{thread_id}/history"): Recipe("owned", lambda w: Call(_t(w, "/history"))),
    ("POST", "/threads/{thread_id}/history"): Recipe(
        "owned", lambda w: Call(_t(w, "/history"), {"limit": 5})
    ),
    ("POST", "/threads/{thread_id}/copy"): Recipe("owned", lambda w: Call(_t(w, "/copy"))),
    ("GET", "/threads/{thread_id}/runs"): Recipe("owned", lambda w: Call(_t(w, "/runs"))),
    ("POST", "/threads/{thread_id}/runs"): Recipe("owned", lambda w: Call(_t(w, "/runs"), STEPS)),
    ("POST", "/threads/{thread_id}/runs/stream"): Recipe(
        "owned", lambda w: Call(_t(w, "/runs/stream"), STEPS)
    ),
    ("POST", "/threads/{thread_id}/runs/wait"): Recipe(
        "owned", lambda w: Call(_t(w, "/runs/wait"), STEPS)
    ),
    ("GET", "/threads/{thread_id}/runs/{run_id}"): Recipe("owned", lambda w: Call(_r(w))),
    ("DELETE", "/threads/{thread_id}/runs/{run_id}"): Recipe("owned", lambda w: Call(_r(w))),
    ("GET", "/threads/{thread_id}/runs/{run_id}/join"): Recipe(
        "owned", lambda w: Call(_r(w, "/join"))
    ),
    ("GET", "/threads/{thread_id}/runs/{run_id}/stream"): Recipe(
        "owned", lambda w: Call(_r(w, "/stream"))
    ),
    ("POST", "/threads/{thread_id}/runs/{run_id}/cancel"): Recipe(
        "owned", lambda w: Call(_r(w, "/cancel"))
    ),
    ("POST", "/threads/{thread_id}/runs/{run_id}/stream-token"): Recipe(
        "owned", lambda w: Call(_r(w, "/stream-token"))
    ),
    ("POST", "/runs"): Recipe("open", _p("/runs", STEPS)),
    ("POST", "/runs/stream"): Recipe("open", _p("/runs/stream", STEPS)),
    ("POST", "/runs/wait"): Recipe("open", _p("/runs/wait", STEPS)),
    ("POST", "/runs/batch"): Recipe("open", _p("/runs/batch", [STEPS])),
    ("POST", "/runs/batch/wait"): Recipe("open", _p("/runs/batch/wait", [STEPS])),
    ("POST", "/runs/batch/stream"): Recipe("open", _p("/runs/batch/stream", [STEPS])),
    ("POST", "/rules/reload"): Recipe("admin", _p("/rules/reload")),
    ("WS", "/ws"): Recipe("owned", lambda w: Call("/ws")),
    ("GET", "/openapi.json"): Recipe("public", _p("/openapi.json")),
    ("GET", "/threads/{thread_id}/stream"): Recipe(
        "owned", lambda w: Call(_t(w, "/stream")), stream=True
    ),
    ("POST", "/threads/{thread_id}/commands"): Recipe(
        "owned", lambda w: Call(_t(w, "/commands"), {"id": 1, "method": "state.get", "params": {}})
    ),
    ("POST", "/threads/{thread_id}/stream/events"): Recipe(
        "owned", lambda w: Call(_t(w, "/stream/events"), {"channels": ["values"]}), stream=True
    ),
    ("WS", "/threads/{thread_id}/stream/events"): Recipe(
        "owned", lambda w: Call(_t(w, "/stream/events"))
    ),
    ("POST", "/runs/cancel"): Recipe(
        "owned", lambda w: Call("/runs/cancel", {"run_ids": [w.run_id], "thread_id": w.thread_id})
    ),
    # The router's rules and declarative flows (issues 17, 18): shared, like
    # assistants: readable by any user, changed only by an admin.
    ("GET", "/rules"): Recipe("open", _p("/rules")),
    ("POST", "/flows/validate"): Recipe("open", _p("/flows/validate", {})),
    ("GET", "/flows/schema"): Recipe("open", _p("/flows/schema")),
    ("GET", "/flows"): Recipe("open", _p("/flows")),
    ("POST", "/flows"): Recipe("admin", _p("/flows", {})),
    ("GET", "/flows/{flow_id}"): Recipe("authenticated", _p("/flows/no-such-flow")),
    ("PUT", "/flows/{flow_id}"): Recipe("admin", _p("/flows/no-such-flow", {})),
    ("DELETE", "/flows/{flow_id}"): Recipe("admin", _p("/flows/no-such-flow")),
    ("GET", "/components"): Recipe("open", _p("/components")),
    ("GET", "/mcp/servers"): Recipe("open", _p("/mcp/servers")),
    ("POST", "/mcp/servers"): Recipe("admin", _p("/mcp/servers", {})),
    ("GET", "/mcp/servers/{name}"): Recipe("authenticated", _p("/mcp/servers/none")),
    ("PUT", "/mcp/servers/{name}"): Recipe("admin", _p("/mcp/servers/none", {})),
    ("DELETE", "/mcp/servers/{name}"): Recipe("admin", _p("/mcp/servers/none")),
    ("POST", "/mcp/servers/{name}/reload"): Recipe("admin", _p("/mcp/servers/none/reload")),
    ("GET", "/mcp/servers/{name}/tools"): Recipe("authenticated", _p("/mcp/servers/none/tools")),
    ("GET", "/mcp"): Recipe("authenticated", _p("/mcp")),
    ("POST", "/mcp"): Recipe("authenticated", _p("/mcp", {})),
    ("DELETE", "/mcp"): Recipe("authenticated", _p("/mcp")),
}


def headers_for(condition: str) -> dict[str, str]:
    return {
        "none": {},
        "malformed": {"Authorization": "Bearer not-a-token"},
        "expired": bearer(mint("alice", exp_in=-60)),
        "wrong_signature": bearer(mint("alice", secret=OTHER_SECRET)),
        "alg_none": bearer(alg_none_token("alice")),
        "other": bearer(mint("bob")),
        "owner": bearer(mint("alice")),
    }[condition]


class Matrix:
    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.http = httpx.Client(base_url=server.url, timeout=30)
        self.alice = headers_for("owner")
        self.world = self.new_world()

    def close(self) -> None:
        self.http.close()

    def new_world(self) -> World:
        tag = uuid.uuid4().hex
        thread = self.ok("POST", "/threads", {"metadata": {"tag": tag}})
        tid = thread["thread_id"]
        run = self.ok("POST", f"/threads/{tid}/runs", STEPS)
        self.ok("GET", f"/threads/{tid}/runs/{run['run_id']}/join")
        state = self.ok("GET", f"/threads/{tid}/state")
        stateless = self.ok("POST", "/runs", STEPS)
        self.ok("GET", f"/threads/{stateless['thread_id']}/runs/{stateless['run_id']}/join")
        cron_body = {**STEPS, "schedule": "0 0 1 1 *", "metadata": {"tag": tag}}
        crons = [self.ok("POST", "/runs/crons", cron_body) for _ in range(2)]
        item = {"namespace": ["m", tag], "key": "k", "value": {"tag": tag}}
        assert self.http.put("/store/items", json=item, headers=self.alice).status_code == 204
        return World(
            thread_id=tid,
            run_id=run["run_id"],
            checkpoint_id=state["checkpoint"]["checkpoint_id"],
            stateless_thread_id=stateless["thread_id"],
            stateless_run_id=stateless["run_id"],
            tag=tag,
            cron_id=crons[0]["cron_id"],
            doomed_cron_id=crons[1]["cron_id"],
        )

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(method, path, json=body, headers=self.alice)
        assert response.is_success, (method, path, response.status_code, response.text)
        return response.json()

    def snapshot(self, w: World) -> dict[str, Any]:
        """Everything of the world as its owner sees it."""
        return {
            "thread": self.ok("GET", f"/threads/{w.thread_id}"),
            "state": self.ok("GET", f"/threads/{w.thread_id}/state"),
            "history": self.ok("POST", f"/threads/{w.thread_id}/history", {"limit": 100}),
            "runs": self.ok("GET", f"/threads/{w.thread_id}/runs?limit=100"),
            "run": self.ok("GET", f"/threads/{w.thread_id}/runs/{w.run_id}"),
            "stateless": self.ok(
                "GET", f"/threads/{w.stateless_thread_id}/runs/{w.stateless_run_id}"
            ),
            "cron": self.ok("GET", f"/runs/crons/{w.cron_id}"),
            "store_item": self.ok("GET", f"/store/items?namespace=m.{w.tag}&key=k"),
        }


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    settings = make_settings(Path(tmp_path_factory.mktemp("matrix")), auth=jwt_settings())
    with run_server(settings) as server:
        built = Matrix(server)
        built.before = built.snapshot(built.world)  # type: ignore[attr-defined]
        yield built
        built.close()


def test_every_route_has_a_recipe() -> None:
    missing = [key for key in route_keys() if key not in RECIPES]
    assert not missing, (
        f"routes without an auth matrix recipe: {missing}. Add each to RECIPES in "
        "tests/app/auth/test_route_matrix.py, saying who may call it."
    )
    stale = [key for key in RECIPES if key not in route_keys()]
    assert not stale, f"recipes for routes that no longer exist: {stale}"


def _ws_status(matrix: Matrix, condition: str, w: World) -> int:
    """As an HTTP status: 200 if the socket may follow the world's run, 404 if the run
    looks unknown, 401 if the handshake or the first-message rule refused it."""
    url = matrix.server.url.replace("http", "ws", 1) + "/ws"
    try:
        with connect(url, additional_headers=headers_for(condition), open_timeout=10) as ws:
            ws.send(json.dumps({"type": "subscribe", "run_id": w.run_id}))
            messages = [json.loads(raw) for raw in ws]
    except InvalidStatus as exc:
        return exc.response.status_code
    except ConnectionClosedError as exc:
        closed = exc.rcvd
    else:
        statuses = [m for m in messages if m["type"] == "status"]
        return 200 if statuses and statuses[-1]["status"] == "success" else 500
    assert closed is not None
    assert closed.code == 1008, closed
    return 401 if "auth" in closed.reason else 404


def _ws_open_status(matrix: Matrix, condition: str, path: str) -> int:
    """As an HTTP status: 200 if the socket opens, else how its handshake was refused
    (a hidden thread is closed before accepting: 403 from the server, reported 404)."""
    url = matrix.server.url.replace("http", "ws", 1) + path
    try:
        with connect(url, additional_headers=headers_for(condition), open_timeout=10):
            return 200
    except InvalidStatus as exc:
        code = exc.response.status_code
        return 404 if code == 403 else code


@pytest.mark.parametrize("condition", CONDITIONS)
@pytest.mark.parametrize("key", route_keys(), ids=lambda k: f"{k[0]} {k[1]}")
def test_route_matrix(matrix: Matrix, key: RouteKey, condition: str) -> None:
    recipe = RECIPES.get(key)
    if recipe is None:
        pytest.fail(f"{key} has no recipe in RECIPES; add one")
    # The owner acts on a fresh world: the shared one must stay as it was.
    world = matrix.new_world() if condition == "owner" and recipe.kind != "public" else matrix.world
    call = recipe.call(world)
    if key == ("WS", "/ws"):
        status = _ws_status(matrix, condition, world)
        body_text = ""
    elif key[0] == "WS":
        status = _ws_open_status(matrix, condition, call.path)
        body_text = ""
    elif recipe.stream:
        with matrix.http.stream(
            key[0], call.path, json=call.body, headers=headers_for(condition)
        ) as streamed:
            status, body_text = streamed.status_code, ""
    else:
        headers = headers_for(condition)
        if key == ("GET", "/openapi.json"):
            # Its 500 (see below) makes the server drop the connection after
            # answering: do not leave it in the pool for the next request.
            headers = {**headers, "Connection": "close"}
        response = matrix.http.request(key[0], call.path, json=call.body, headers=headers)
        status, body_text = response.status_code, response.text
        if status == 401:
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert response.json()["code"] == "unauthorized"
    if recipe.kind == "public":
        assert status not in (401, 403), (status, body_text)
        # /openapi.json answers 500 while routes lack their app.openapi entry:
        # that is the document's own test to catch, not the gate's.
        assert 200 <= status < 300 or key == ("GET", "/openapi.json"), (status, body_text)
    elif condition in BAD_CONDITIONS:
        assert status == 401, (status, body_text)
    elif recipe.kind == "admin":
        assert status == 403, (status, body_text)
    elif recipe.kind == "authenticated":
        assert status not in (401, 403), (status, body_text)
    elif condition == "owner":
        assert 200 <= status < 300, (status, body_text)
    elif recipe.other_status is not None:
        assert status == recipe.other_status, (status, body_text)
    elif recipe.kind == "owned":
        assert status == 404, (status, body_text)
    else:
        assert 200 <= status < 300, (status, body_text)
        # Whatever another user can list, search or count holds nothing of the owner's.
        w = matrix.world
        for owners in (w.thread_id, w.run_id, w.cron_id, w.doomed_cron_id, w.tag):
            assert owners not in body_text, (owners, body_text)
        if key == ("POST", "/threads/count"):
            assert body_text.strip() == "0"


def test_stateless_run_of_another_user_looks_missing(matrix: Matrix) -> None:
    w = matrix.world
    path = f"/threads/{w.stateless_thread_id}/runs/{w.stateless_run_id}"
    for suffix in ("", "/join", "/stream", "/cancel", "/stream-token"):
        method = "POST" if suffix in ("/cancel", "/stream-token") else "GET"
        other = matrix.http.request(method, path + suffix, headers=headers_for("other"))
        assert other.status_code == 404, (suffix, other.text)
        owner = matrix.http.request(method, path + suffix, headers=headers_for("owner"))
        assert owner.is_success, (suffix, owner.text)


def test_admin_permission_may_reload_rules(matrix: Matrix) -> None:
    response = matrix.http.post(
        "/rules/reload", headers=bearer(mint("root", permissions=["admin"]))
    )
    assert response.status_code == 200, response.text


def test_zz_owner_world_unchanged_after_other_users_tried(matrix: Matrix) -> None:
    """Runs last in this module: every other condition has had its go at the world."""
    after = matrix.snapshot(matrix.world)
    assert after == matrix.before  # type: ignore[attr-defined]
