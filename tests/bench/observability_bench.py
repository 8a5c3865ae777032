"""What metrics and JSON logs cost: the stateless 100-client row, on vs off.

Two ``switchyard serve`` processes with the bench graphs, started together:
``on`` with the defaults (metrics counted, JSON log lines, uvicorn's access
line) and ``off`` with ``SWITCHYARD_METRICS_ENABLED=false`` and the text log
format (the access line stays: it is uvicorn's, on in both). Each repeat
measures both, alternating which goes first, so a slow moment on the shared
machine hits both sides; the ratio kept is on ÷ off of the same repeat.
Target: ≥ 0.95 (within 5%).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.bench.httpload import run_load
from tests.bench.procs import ServerProcess
from tests.bench.stats import median
from tests.bench.workloads import STREAM_BODY, check_stream

__all__ = ["CLIENTS", "ObservabilityCost", "measure_observability"]

CLIENTS = 100
TARGET = 0.95

Start = Callable[..., Awaitable[ServerProcess]]


@dataclass
class ObservabilityCost:
    requests: int
    on: list[float] = field(default_factory=list)  # runs/s
    off: list[float] = field(default_factory=list)
    cpu_on_ms: list[float] = field(default_factory=list)  # server CPU ms per run
    cpu_off_ms: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def ratios(self) -> list[float]:
        return [a / b for a, b in zip(self.on, self.off, strict=True) if b > 0]

    @property
    def ratio(self) -> float:
        return median(self.ratios)

    def line(self) -> str:
        ratios = self.ratios
        spread = f"{min(ratios):.2f}–{max(ratios):.2f}" if ratios else "n/a"
        return (
            f"stateless /runs/stream, {CLIENTS} clients, {self.requests} requests: metrics + "
            f"JSON logs on {median(self.on):.0f} runs/s vs off {median(self.off):.0f} runs/s, "
            f"on ÷ off {self.ratio:.3f} ({spread}); server CPU/run "
            f"{median(self.cpu_on_ms):.2f} vs {median(self.cpu_off_ms):.2f} ms"
        )


async def _measure(server: ServerProcess, total: int) -> tuple[float, float | None, list[str]]:
    result = await run_load(
        server.host,
        server.port,
        clients=CLIENTS,
        total=total,
        make_request=lambda i, n: ("POST", "/runs/stream", STREAM_BODY),
        check=check_stream,
        probe=server.cpu_s,
    )
    cpu = (
        result.probe_delta / result.completed * 1000
        if result.completed and result.probe_delta is not None
        else None
    )
    return result.per_s, cpu, result.failures


async def measure_observability(
    workdir: Path, *, total: int, repeats: int, start: Start, log: Callable[[str], None]
) -> ObservabilityCost:
    cost = ObservabilityCost(requests=total)
    on = await start(workdir, "obs-on")
    try:
        off = await start(
            workdir, "obs-off", SWITCHYARD_METRICS_ENABLED="false", SWITCHYARD_LOGS_FORMAT="text"
        )
        try:
            for rep in range(repeats):
                order = [(on, cost.on, cost.cpu_on_ms), (off, cost.off, cost.cpu_off_ms)]
                for server, rates, cpus in order if rep % 2 == 0 else order[::-1]:
                    rate, cpu, failures = await _measure(server, total)
                    rates.append(rate)
                    if cpu is not None:
                        cpus.append(cpu)
                    cost.failures.extend(failures)
                log(f"observability #{rep + 1}: on {cost.on[-1]:.0f}/s, off {cost.off[-1]:.0f}/s")
        finally:
            off.stop()
    finally:
        on.stop()
    return cost
