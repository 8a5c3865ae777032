"""``make bench``: Switchyard beside in-process LangGraph, one table from one run.

Order of work (one ``switchyard serve`` process on SQLite, as ``make run``
starts it, except for the bench graphs and a temporary data directory):

1. compile once vs per request (in-process only);
2. throughput rows, each repeated: in-process, then the server, same client
   count (asyncio tasks vs keep-alive HTTP connections);
3. bytes on the wire (grow30 and a 50-turn conversation, one run per mode);
4. the server's CPU and peak RSS over all of that; the server stops;
5. scaled out (``tests/bench/scaled.py``): ``--workers 2`` on Postgres + Redis,
   stateful on Postgres, first event read on another instance;
6. a fresh server holds N idle SSE streams (memory per stream, heartbeats);
7. metrics + JSON logs on vs off: two fresh servers, the stateless 100-client row;
8. pure-Python figures: delta encode µs/step, router decision latency, store.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.bench import report
from tests.bench.idle import IdleResult, hold_idle_streams
from tests.bench.inprocess import BENCH_CONFIG, CompileCost, compile_cost
from tests.bench.observability_bench import ObservabilityCost, measure_observability
from tests.bench.procs import ServerProcess, free_port, raise_fd_limit, start_server
from tests.bench.scaled import scaled_rows
from tests.bench.wire import WireBytes, measure_wire
from tests.bench.workloads import (
    Row,
    batch_available,
    batch_row,
    stateful_row,
    stateless_row,
    wait_row,
)

__all__ = ["Options", "Results", "run_bench", "start_switchyard"]

HEARTBEAT_S = 5.0
MAX_CONCURRENCY = 64  # Settings.runs.max_concurrency default: abatch gets the same


@dataclass
class Options:
    repeats: int = 3
    scale: float = 1.0  # multiplies every request count
    idle_streams: int = 5000


@dataclass
class Results:
    options: Options
    rows: list[Row] = field(default_factory=list)
    compile: CompileCost | None = None
    wire: list[WireBytes] = field(default_factory=list)
    server_cpu_s: float = 0.0
    server_wall_s: float = 0.0
    server_peak_rss_kb: int = 0
    idle: IdleResult | None = None
    idle_peak_rss_kb: int = 0
    delta_us: dict[int, float] = field(default_factory=dict)
    conversation_payload: tuple[int, int] | None = None
    router: dict[str, Any] | None = None
    store: dict[str, float] | None = None
    observability: ObservabilityCost | None = None
    notes: list[str] = field(default_factory=list)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def start_switchyard(
    workdir: Path, name: str, *, args: Sequence[str] = (), **env: str
) -> ServerProcess:
    port = free_port()
    settings = {
        "SWITCHYARD_PORT": str(port),
        "SWITCHYARD_GRAPHS": str(BENCH_CONFIG),
        "SWITCHYARD_DATA_DIR": str(workdir / name),
        **env,
    }
    binary = str(Path(sys.executable).parent / "switchyard")
    return await start_server(
        name, [binary, "serve", *args], port=port, env=settings, cwd=workdir, ready_path="/ok"
    )


def _count(options: Options, base: int) -> int:
    return max(1, round(base * options.scale))


async def _throughput(server: ServerProcess, options: Options, results: Results) -> None:
    reps = options.repeats
    for clients, base in ((1, 200), (20, 400), (50, 500), (100, 600)):
        total = _count(options, base)
        target = {50: 0.4, 100: 0.6}.get(clients)
        row = Row("stateless /runs/stream", clients, f"{total}", target=target)
        results.rows.append(row)
        await stateless_row(server, row, total, reps, log=log)
    for clients, base in ((1, 100), (20, 400), (100, 500)):
        total = _count(options, base)
        row = Row(
            "stateful thread, SQLite vs MemorySaver",
            clients,
            f"{total}",
            target=0.5 if clients == 20 else None,
        )
        results.rows.append(row)
        await stateful_row(server, row, total, reps, log=log)
    total = _count(options, 400)
    row = Row("/runs/wait vs ainvoke", 20, f"{total}")
    results.rows.append(row)
    await wait_row(server, row, total, reps, log=log)
    available = await batch_available(server)
    for items in (100, 1000):
        row = Row(
            f"/runs/batch/wait {items} items vs abatch",
            MAX_CONCURRENCY,
            f"{items} items",
            unit="items/s",
            target=0.8 if items == 1000 else None,
        )
        results.rows.append(row)
        if available:
            await batch_row(server, row, items, reps, max_concurrency=MAX_CONCURRENCY, log=log)
        else:
            row.note = "n/a: POST /runs/batch/wait is not served (404)"


async def _wire(server: ServerProcess, results: Results) -> None:
    results.wire += await measure_wire(
        server, "grow30", ["values", "updates", "delta"], {"items": []}
    )
    results.wire += await measure_wire(
        server, "conversation", ["values", "delta"], {"turns": 50, "messages": []}
    )


def _pure_python(results: Results) -> None:
    from tests.bench.delta_bench import bench_append, bench_conversation_bytes

    for size in (20, 200, 1000):
        results.delta_us[size] = bench_append(size)
    results.conversation_payload = bench_conversation_bytes()
    from tests.bench.store_bench import measure_store

    results.store = measure_store()
    try:
        from tests.bench.router_bench import measure_decisions
    except ImportError as exc:
        results.notes.append(f"router decision latency: n/a ({exc})")
        return
    try:
        results.router = dict(measure_decisions(samples=1000, llm_samples=50))
    except TypeError:  # a signature without those knobs
        results.router = dict(measure_decisions())


async def observability_row(workdir: Path, options: Options) -> ObservabilityCost:
    return await measure_observability(
        workdir,
        total=_count(options, 600),
        repeats=options.repeats,
        start=start_switchyard,
        log=log,
    )


async def run_observability_only(options: Options, *, out: Callable[[str], None] = print) -> None:
    """``python -m tests.bench --observability``: that row alone."""
    workdir = Path(tempfile.mkdtemp(prefix="switchyard-bench-"))
    try:
        cost = await observability_row(workdir, options)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    out(cost.line())
    if cost.failures:
        out(f"{len(cost.failures)} failed responses, first: {cost.failures[0]}")


async def run_bench(options: Options, *, out: Callable[[str], None] = print) -> Results:
    results = Results(options)
    fd_limit = raise_fd_limit(2 * options.idle_streams + 1000)
    workdir = Path(tempfile.mkdtemp(prefix="switchyard-bench-"))
    started = time.perf_counter()
    try:
        log("compile once vs per request (in-process)")
        results.compile = await compile_cost()
        log("starting switchyard (SQLite, default settings, bench graphs)")
        server = await start_switchyard(workdir, "switchyard")
        cpu0, wall0 = server.cpu_s(), time.perf_counter()
        try:
            await _throughput(server, options, results)
            log("bytes on the wire")
            await _wire(server, results)
            results.server_cpu_s = server.cpu_s() - cpu0
            results.server_wall_s = time.perf_counter() - wall0
            results.server_peak_rss_kb = server.peak_rss_kb()
        finally:
            server.stop()
        await scaled_rows(
            workdir,
            results,
            start=start_switchyard,
            count=lambda base: _count(options, base),
            repeats=options.repeats,
            log=log,
        )
        streams = min(options.idle_streams, (fd_limit - 200) // 2)
        if streams < options.idle_streams:
            results.notes.append(f"idle streams capped at {streams} by RLIMIT_NOFILE {fd_limit}")
        log(f"holding {streams} idle SSE streams ({HEARTBEAT_S:g} s heartbeats)")
        idle_server = await start_switchyard(
            workdir, "switchyard-idle", SWITCHYARD_SSE_HEARTBEAT_S=str(HEARTBEAT_S)
        )
        try:
            results.idle = await hold_idle_streams(
                idle_server, streams=streams, heartbeat_s=HEARTBEAT_S
            )
            results.idle_peak_rss_kb = idle_server.peak_rss_kb()
        finally:
            idle_server.stop(timeout_s=20)
        log("metrics + JSON logs on vs off (two fresh servers)")
        results.observability = await observability_row(workdir, options)
        log("delta encoder and router (pure Python)")
        await asyncio.to_thread(_pure_python, results)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results.notes.append(f"total bench time {time.perf_counter() - started:.0f} s")
    out(report.render(results))
    return results
