"""``make bench-peers``: the same client workload against Switchyard and the peer servers.

Setups, each measured at 1, 20 and 100 clients, with in-process LangGraph
(no checkpointer) re-measured right before every server figure for the ratio:

* in-process ``graph.astream(stream_mode="updates")``, no checkpointer, and
  with ``InMemorySaver`` (a fresh thread per run);
* Switchyard ``POST /runs/stream`` (``switchyard serve``, SQLite);
* LangServe ``POST /steps/stream`` (FastAPI + ``add_routes``, uvicorn, 1 worker);
* ``langgraph dev --no-browser --no-reload --n-jobs-per-worker 10``
  (langgraph-api, in-memory runtime) ``POST /runs/stream``.

The peers run from ``.bench-peers-venv`` (created by ``make bench-peers``;
never a project dependency). One server runs at a time, so an idle peer's
background work cannot slow another. Each cell stops starting requests
after ``DEADLINE_S`` (``langgraph dev`` answers about once a second at one
client), and the table says how many runs each cell completed.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from tests.bench.httpload import Response, run_load
from tests.bench.inprocess import (
    InprocResult,
    memory_saver_graph,
    run_tasks,
    steps_builder,
    stream_once,
)
from tests.bench.procs import ServerProcess, free_port, start_server
from tests.bench.stats import fmt, fmt_ms, percentile, render_table
from tests.bench.suite import log, start_switchyard
from tests.bench.workloads import STREAM_BODY, check_stream

__all__ = ["run_peers"]

PEERS_DIR = Path(__file__).parent
CLIENTS = (1, 20, 100)
COUNTS = {1: 100, 20: 400, 100: 600}
DEADLINE_S = 8.0
_PEER_ENV = {
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    "LANGSMITH_TRACING": "false",
    "LANGCHAIN_TRACING_V2": "false",
}
_LANGSERVE_BODY = orjson.dumps({"input": {"steps": []}})


@dataclass
class Cell:
    completed: int
    per_s: float
    ratio: float
    p50_end_s: float
    cpu_ms: float | None


@dataclass
class Setup:
    name: str
    cells: dict[int, Cell] = field(default_factory=dict)
    error: str = ""


def _count_events(name: bytes, expected: int) -> Callable[[Response], str | None]:
    def check(response: Response) -> str | None:
        body = bytes(response.body)
        if response.status != 200:
            return f"HTTP {response.status}: {body[:200]!r}"
        if body.count(b"event: " + name) != expected:
            return f"expected {expected} {name.decode()} events: {body[:300]!r}"
        return None

    return check


async def _langgraph_dev(venv: Path, workdir: Path) -> ServerProcess:
    port = free_port()
    # langgraph dev resolves graph paths against its working directory.
    config = workdir / "langgraph.json"
    spec = f"{PEERS_DIR / 'steps_graph.py'}:graph"
    config.write_text(json.dumps({"graphs": {"steps": spec}, "dependencies": [str(PEERS_DIR)]}))
    argv = [str(venv / "bin" / "langgraph"), "dev", "--no-browser", "--no-reload"]
    argv += ["--n-jobs-per-worker", "10", "--port", str(port), "--config", str(config)]
    return await start_server(
        "langgraph-dev", argv, port=port, env=_PEER_ENV, cwd=workdir, ready_path="/ok"
    )


async def _langserve(venv: Path, workdir: Path) -> ServerProcess:
    port = free_port()
    argv = [str(venv / "bin" / "uvicorn"), "langserve_app:app", "--app-dir", str(PEERS_DIR)]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    return await start_server(
        "langserve", argv, port=port, env=_PEER_ENV, cwd=workdir, ready_path="/steps/input_schema"
    )


async def _measure(
    setup: Setup,
    clients: int,
    reference: InprocResult,
    *,
    server: ServerProcess | None,
    inproc: Callable[[int, int], Awaitable[object]] | None = None,
    path: str = "",
    body: bytes = b"",
    check: Callable[[Response], str | None] | None = None,
) -> None:
    total = COUNTS[clients]
    if server is None:
        assert inproc is not None
        result = await run_tasks(clients, total, inproc)
        cell = Cell(result.completed, result.per_s, 0.0, percentile(result.latencies_s, 50), None)
    else:
        assert check is not None
        load = await run_load(
            server.host,
            server.port,
            clients=clients,
            total=total,
            make_request=lambda i, n: ("POST", path, body),
            check=check,
            deadline_s=DEADLINE_S,
            probe=server.cpu_s,
        )
        if load.failures:
            setup.error = f"{len(load.failures)} failed, first: {load.failures[0]}"
        ends = [r.t_end for r in load.responses]
        cpu = (
            load.probe_delta / load.completed * 1000
            if load.completed and load.probe_delta
            else None
        )
        cell = Cell(load.completed, load.per_s, 0.0, percentile(ends, 50), cpu)
    cell.ratio = cell.per_s / reference.per_s if reference.per_s else float("nan")
    setup.cells[clients] = cell
    log(f"{setup.name}, {clients} clients: {cell.per_s:.1f}/s ({cell.ratio:.2f}× in-process)")


async def run_peers(venv: Path, *, scale: float = 1.0) -> None:
    for clients in COUNTS:
        COUNTS[clients] = max(clients, round(COUNTS[clients] * scale))
    workdir = Path(tempfile.mkdtemp(prefix="switchyard-peers-"))
    plain = steps_builder().compile()
    saver = memory_saver_graph(steps_builder())

    async def reference(clients: int) -> InprocResult:
        return await run_tasks(clients, COUNTS[clients], lambda i, n: stream_once(plain))

    async def with_saver(i: int, n: int) -> None:
        await stream_once(saver, {"configurable": {"thread_id": str(uuid.uuid4())}})

    servers: list[tuple[str, Callable[[], Awaitable[ServerProcess]], str, bytes, Any]] = [
        ("Switchyard /runs/stream (SQLite)", lambda: start_switchyard(workdir, "switchyard"),
         "/runs/stream", STREAM_BODY, check_stream),
        ("LangServe /stream (uvicorn, 1 worker)", lambda: _langserve(venv, workdir),
         "/steps/stream", _LANGSERVE_BODY, _count_events(b"data", 3)),
        ("langgraph dev (inmem, --n-jobs-per-worker 10)", lambda: _langgraph_dev(venv, workdir),
         "/runs/stream", STREAM_BODY, _count_events(b"updates", 3)),
    ]  # fmt: skip
    setups = [
        Setup("in-process astream, no checkpointer (the limit)"),
        Setup("in-process astream, InMemorySaver"),
    ]
    started = time.perf_counter()
    have_venv = (venv / "bin" / "python").exists()
    try:
        for clients in CLIENTS:
            ref = await reference(clients)
            await _measure(
                setups[0], clients, ref, server=None, inproc=lambda i, n: stream_once(plain)
            )
            ref = await reference(clients)
            await _measure(setups[1], clients, ref, server=None, inproc=with_saver)
        for name, start, path, body, check in servers:
            setup = Setup(name)
            setups.append(setup)
            if not have_venv and not name.startswith("Switchyard"):
                setup.error = f"no peers venv at {venv}: run `make bench-peers`"
                continue
            log(f"starting {name}")
            try:
                server = await start()
            except Exception as exc:
                setup.error = f"did not start: {str(exc).splitlines()[0]}"
                continue
            try:
                for clients in CLIENTS:
                    ref = await reference(clients)
                    await _measure(
                        setup, clients, ref, server=server, path=path, body=body, check=check
                    )
            finally:
                server.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    versions = await _versions(venv) if have_venv else "peers venv missing"
    print(_render(setups, time.perf_counter() - started, versions))


def _render(setups: list[Setup], elapsed_s: float, versions: str) -> str:
    header = ["setup", *[f"runs/s, {c} client{'s' * (c > 1)} (÷ in-process)" for c in CLIENTS]]
    header += ["p50 end, 1 client (÷ in-process)", "server CPU ms/run, 100 clients"]
    limit = setups[0].cells.get(1)
    rows = []
    for setup in setups:
        row = [setup.name]
        for clients in CLIENTS:
            cell = setup.cells.get(clients)
            row.append(
                f"{fmt(cell.per_s, 1)} ({cell.ratio:.2f}×, n={cell.completed})" if cell else "n/a"
            )
        one = setup.cells.get(1)
        if one is not None and limit is not None:
            row.append(f"{fmt_ms(one.p50_end_s)} ms ({one.p50_end_s / limit.p50_end_s:.1f}×)")
        else:
            row.append("n/a")
        hundred = setup.cells.get(100)
        row.append(fmt(hundred.cpu_ms, 2) if hundred and hundred.cpu_ms is not None else "")
        rows.append(row)
    notes = [f"- {s.name}: {s.error}" for s in setups if s.error]
    title = (
        f"make bench-peers: steps graph (3 nodes), stream_mode updates, same raw HTTP client; "
        f"ratios vs in-process (no checkpointer) re-measured before each figure; "
        f"each cell stops starting requests after {DEADLINE_S:g} s; total {elapsed_s:.0f} s"
    )
    return "\n".join([title, versions, "", render_table(header, rows), *notes])


async def _versions(venv: Path) -> str:
    """Package versions in the peers venv, for the table's title."""
    names = ["langgraph-api", "langgraph-cli", "langgraph-runtime-inmem", "langserve", "langgraph"]
    code = "import importlib.metadata as m, sys\nfor n in sys.argv[1:]:\n"
    code += "    try: print(n, m.version(n))\n    except m.PackageNotFoundError: print(n, '-')"
    try:
        process = await asyncio.create_subprocess_exec(
            str(venv / "bin" / "python"), "-c", code, *names, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await process.communicate()
    except OSError as exc:
        return f"peers venv: {exc}"
    return "peers: " + ", ".join(out.decode().split("\n")).strip(", ")
