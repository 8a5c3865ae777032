"""In-process LangGraph baselines: the same workloads with no server in between.

Each baseline runs ``clients`` asyncio tasks in the bench process sharing
``total`` runs, exactly as ``httpload.run_load`` shares requests between
connections, after one untimed warm-up run per task.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import StateGraph
from langgraph.pregel import Pregel

from graphs.loader import import_target

__all__ = [
    "BENCH_CONFIG",
    "CompileCost",
    "InprocResult",
    "abatch_items_per_s",
    "compile_cost",
    "memory_saver_graph",
    "run_tasks",
    "steps_builder",
    "stream_once",
]

BENCH_DIR = Path(__file__).parent
BENCH_CONFIG = BENCH_DIR / "langgraph.json"
STEPS_SPEC = "../fixtures/graphs/steps.py:build_steps"
STEPS_INPUT: dict[str, Any] = {"steps": []}


def steps_builder() -> StateGraph[Any, Any, Any, Any]:
    """The ``steps`` builder, imported the way the server's registry imports it."""
    factory, _ = import_target(STEPS_SPEC, BENCH_DIR)
    builder: StateGraph[Any, Any, Any, Any] = factory()
    return builder


def memory_saver_graph(builder: StateGraph[Any, Any, Any, Any]) -> Pregel[Any, Any, Any, Any]:
    return builder.compile(checkpointer=InMemorySaver())


@dataclass
class InprocResult:
    clients: int
    completed: int
    elapsed_s: float
    latencies_s: list[float]

    @property
    def per_s(self) -> float:
        return self.completed / self.elapsed_s if self.elapsed_s > 0 else 0.0


async def stream_once(
    graph: Pregel[Any, Any, Any, Any], config: dict[str, Any] | None = None
) -> None:
    async for _ in graph.astream(STEPS_INPUT, config, stream_mode="updates"):  # type: ignore[arg-type]
        pass


async def run_tasks(
    clients: int,
    total: int,
    one: Callable[[int, int], Awaitable[object]],
    *,
    min_duration_s: float = 0.5,
) -> InprocResult:
    """``clients`` tasks share ``total`` calls of ``one(task index, call index)``.

    In-process runs are fast, so a small ``total`` would be timed over a few
    milliseconds; rounds of ``total`` calls repeat until ``min_duration_s``.
    """
    await asyncio.gather(*(one(i, -1) for i in range(clients)))  # warm-up, untimed
    share = [total // clients + (1 if i < total % clients else 0) for i in range(clients)]
    latencies: list[float] = []

    async def task(index: int, offset: int) -> None:
        for n in range(offset, offset + share[index]):
            started = time.perf_counter()
            await one(index, n)
            latencies.append(time.perf_counter() - started)

    completed, elapsed, rounds = 0, 0.0, 0
    while completed == 0 or elapsed < min_duration_s:
        start = time.perf_counter()
        await asyncio.gather(*(task(i, rounds * share[0]) for i in range(clients)))
        elapsed += time.perf_counter() - start
        completed += total
        rounds += 1
    return InprocResult(clients, completed, elapsed, latencies)


async def abatch_items_per_s(
    graph: Pregel[Any, Any, Any, Any], items: int, max_concurrency: int
) -> float:
    inputs = [STEPS_INPUT] * items
    start = time.perf_counter()
    outputs = await graph.abatch(inputs, {"max_concurrency": max_concurrency})
    elapsed = time.perf_counter() - start
    assert len(outputs) == items
    return items / elapsed


@dataclass
class CompileCost:
    compile_us: float  # one builder.compile()
    run_us: float  # one in-process run, compiled once
    run_with_compile_us: float  # compile + run, as a per-request compile would do

    @property
    def overhead(self) -> float:
        return self.run_with_compile_us / self.run_us


async def compile_cost(repeats: int = 200) -> CompileCost:
    builder = steps_builder()
    graph = builder.compile()
    await stream_once(graph)
    samples: list[float] = []
    for _ in range(repeats):
        start = time.perf_counter()
        builder.compile()
        samples.append(time.perf_counter() - start)
    compile_us = sorted(samples)[len(samples) // 2] * 1e6
    runs: list[float] = []
    both: list[float] = []
    for _ in range(repeats):
        start = time.perf_counter()
        await stream_once(graph)
        runs.append(time.perf_counter() - start)
        start = time.perf_counter()
        await stream_once(builder.compile())
        both.append(time.perf_counter() - start)
    run_us = sorted(runs)[len(runs) // 2] * 1e6
    both_us = sorted(both)[len(both) // 2] * 1e6
    return CompileCost(compile_us, run_us, both_us)
