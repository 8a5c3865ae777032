"""The text ``make bench`` prints: the main table, bytes, other figures, targets."""

from __future__ import annotations

import os
import platform
import time
from importlib.metadata import version
from typing import TYPE_CHECKING

from tests.bench.stats import fmt, fmt_ms, median, percentile, render_table

if TYPE_CHECKING:
    from tests.bench.suite import Results
    from tests.bench.workloads import Row

__all__ = ["render"]


def _latency(row: Row, attr: str) -> str:
    samples = [getattr(r, attr) for r in row.responses if getattr(r, attr) is not None]
    if not samples:
        return "n/a"
    return f"{fmt_ms(percentile(samples, 50))} / {fmt_ms(percentile(samples, 99))}"


def _main_table(results: Results) -> str:
    header = [
        "workload",
        "clients",
        f"requests ×{results.options.repeats}",
        "in-process",
        "server",
        "server ÷ in-process (min–max)",
        "target",
        "p50 end ms server / in-proc",
        "headers ms p50 / p99",
        "1st event ms p50 / p99",
        "server CPU ms/run",
    ]
    rows = []
    for row in results.rows:
        if row.note:
            rows.append([row.label, str(row.clients), row.requests, row.note, *[""] * 7])
            continue
        ratios = row.ratios
        spread = f"{min(ratios):.2f}–{max(ratios):.2f}" if ratios else "n/a"
        end = [r.t_end for r in row.responses]
        p50_end = (
            f"{fmt_ms(percentile(end, 50))} / {fmt_ms(percentile(row.inproc_latency_s, 50))}"
            if end and row.inproc_latency_s
            else "n/a"
        )
        rows.append(
            [
                row.label,
                str(row.clients),
                row.requests,
                f"{fmt(median(row.inproc))} {row.unit}",
                f"{fmt(median(row.server))} {row.unit}",
                f"{row.ratio:.2f} ({spread})",
                f"≥ {row.target:g}" if row.target is not None else "",
                p50_end,
                _latency(row, "t_headers"),
                _latency(row, "t_first_event"),
                fmt(median(row.cpu_ms), 2) if row.cpu_ms else "n/a",
            ]
        )
    return render_table(header, rows)


def _wire_table(results: Results) -> str:
    rows = []
    for w in results.wire:
        same_graph = {x.mode: x for x in results.wire if x.graph == w.graph}
        base = same_graph.get("updates") or same_graph.get("values")
        versus = ""
        if base is not None and base is not w:
            share = w.body / base.body
            versus = (
                f"{share:.2f}× {base.mode}" if share >= 0.2 else f"1/{1 / share:.1f} of {base.mode}"
            )
        rows.append([w.graph, w.mode, fmt(w.body), fmt(w.raw), str(w.events), versus])
    header = ["graph (one run)", "stream_mode", "SSE body bytes", "raw bytes", "events", "ratio"]
    return render_table(header, rows)


def _others(results: Results) -> list[str]:
    lines = []
    if (c := results.compile) is not None:
        lines.append(
            f"- compile once vs per request (steps, in-process): builder.compile() "
            f"{c.compile_us:,.0f} µs; a run {c.run_us:,.0f} µs; compile + run "
            f"{c.run_with_compile_us:,.0f} µs → a per-request compile would make a run "
            f"{c.overhead:.1f}× as long"
        )
    if results.server_wall_s:
        lines.append(
            f"- server over the throughput and bytes rows: CPU {results.server_cpu_s:.1f} s "
            f"in {results.server_wall_s:.0f} s wall "
            f"({results.server_cpu_s / results.server_wall_s * 100:.0f}% of one core), "
            f"peak RSS (VmHWM) {results.server_peak_rss_kb / 1024:.0f} MB"
        )
    if (idle := results.idle) is not None:
        lines.append(
            f"- idle SSE streams, one process: {idle.opened:,}/{idle.streams:,} open "
            f"(opened in {idle.open_s:.1f} s), {idle.kb_per_stream:.1f} KB/stream "
            f"(RSS {idle.rss_before_kb / 1024:.0f} → {idle.rss_after_kb / 1024:.0f} MB, "
            f"peak {results.idle_peak_rss_kb / 1024:.0f} MB); "
            f"heartbeat lateness with all open p50 {idle.lateness_p50_ms:.0f} ms, "
            f"p99 {idle.lateness_p99_ms:.0f} ms over {len(idle.lateness_s):,} intervals "
            f"(while the others were opening: p99 {idle.opening_p99_ms:.0f} ms over "
            f"{len(idle.opening_lateness_s):,}); "
            f"{idle.with_heartbeat:,} streams got heartbeats, {idle.dropped} dropped; "
            f"server CPU while idle {idle.cpu_hold_s / idle.hold_s * 100:.0f}% of one core"
        )
    if results.delta_us:
        steps = ", ".join(f"{n} msgs {us:.1f}" for n, us in results.delta_us.items())
        lines.append(f"- delta encode (delta_bench.bench_append), µs per step: {steps}")
    if (conv := results.conversation_payload) is not None:
        delta, values = conv
        lines.append(
            f"- 50-turn conversation, data payloads only (delta_bench): delta {delta:,} B, "
            f"values {values:,} B, {values / delta:.1f}× fewer"
        )
    if results.router is not None:
        lines.append(_router_line(results.router))
    if results.store is not None:
        items = ", ".join(f"{k} {v:,.0f}" for k, v in results.store.items())
        lines.append(
            f"- store on SQLite (pg_*: Postgres), p50 µs (store_bench; indexed_* embed via "
            f"the local OpenAI-protocol server): {items}"
        )
    if (obs := results.observability) is not None:
        lines.append(f"- {obs.line()}")
    lines += [f"- {note}" for note in results.notes]
    return lines


# (row, key prefix in router_bench results, unit, target p50 in that unit or None)
_ROUTER_ROWS = [
    ("keyword decision, 1,000 rules", "keyword_decision_us", "µs", 50.0),
    ("condition decision, 100 rules (indexed by tier ==)", "condition_decision_us", "µs", 100.0),
    (
        "condition decision, 100 rules (no index: all evaluated)",
        "condition_unindexed_decision_us",
        "µs",
        None,
    ),
    ("semantic decision (rules/ examples, bundled model)", "semantic_decision_us", "µs", 5000.0),
    ("  the same, CPU time of the routing thread", "semantic_decision_cpu_us", "µs", None),
    ("LLM decision (local OpenAI-protocol server)", "llm_decision_ms", "ms", None),
]


def _router_table(router: dict[str, float]) -> str:
    rows = []
    for label, key, unit, target in _ROUTER_ROWS:
        if f"{key}_p50" not in router:
            continue
        p50, p99 = router[f"{key}_p50"], router[f"{key}_p99"]
        verdict = "" if target is None else _verdict(p50 <= target)
        goal = "" if target is None else f"≤ {target:g} {unit}"
        rows.append([label, f"{p50:,.1f} {unit}", f"{p99:,.1f} {unit}", goal, verdict])
    return render_table(["router decision (HybridRouter.route)", "p50", "p99", "target", ""], rows)


def _router_line(router: dict[str, float]) -> str:
    share = router.get("semantic_decided_share")
    extra = f"; the semantic tier decided {share:.0%} of its requests" if share is not None else ""
    return (
        f"- router decisions (router_bench.measure_decisions), 1-min load average "
        f"{router.get('load_average', float('nan')):.1f} on {os.cpu_count()} CPUs{extra}:\n\n"
        + _router_table(router)
    )


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else "PASS" if ok else "FAIL"


def _find(results: Results, label: str, clients: int) -> Row | None:
    return next(
        (r for r in results.rows if r.label.startswith(label) and r.clients == clients), None
    )


def _targets(results: Results) -> str:
    rows: list[list[str]] = []

    def ratio_target(name: str, row: Row | None, minimum: float) -> None:
        if row is None or row.note or not row.ratios:
            rows.append([name, row.note if row else "n/a", "n/a"])
            return
        rows.append([name, f"{row.ratio:.2f}×", _verdict(row.ratio >= minimum)])

    ratio_target(
        "stateless /runs/stream, 100 clients ≥ 0.6×", _find(results, "stateless", 100), 0.6
    )
    ratio_target(
        "stateless /runs/stream, 50 clients ≥ 0.4× (issue 2)", _find(results, "stateless", 50), 0.4
    )
    one = _find(results, "stateless", 1)
    if one is not None and one.responses and one.inproc_latency_s:
        srv = percentile([r.t_end for r in one.responses], 50)
        inp = percentile(one.inproc_latency_s, 50)
        rows.append(
            [
                "sequential p50 end of stream ≤ 2× in-process",
                f"{srv / inp:.1f}× ({fmt_ms(srv)} vs {fmt_ms(inp)} ms)",
                _verdict(srv / inp <= 2),
            ]
        )
        first = [r.t_first_event for r in one.responses if r.t_first_event is not None]
        p50_first = percentile(first, 50)
        rows.append(
            [
                "p50 time to first event ≤ 5 ms (1 client)",
                f"{fmt_ms(p50_first)} ms",
                _verdict(p50_first <= 0.005),
            ]
        )
    ratio_target(
        "stateful SQLite, 20 clients ≥ 0.5× MemorySaver", _find(results, "stateful", 20), 0.5
    )
    ratio_target(
        "/runs/batch/wait 1,000 items ≥ 0.8× abatch",
        _find(results, "/runs/batch/wait 1000", 64),
        0.8,
    )
    wire = {(w.graph, w.mode): w for w in results.wire}
    if ("grow30", "delta") in wire and ("grow30", "updates") in wire:
        r = wire["grow30", "delta"].body / wire["grow30", "updates"].body
        rows.append(
            ["grow30: delta bytes ≤ 1.2× updates (full state)", f"{r:.2f}×", _verdict(r <= 1.2)]
        )
    if ("conversation", "delta") in wire and ("conversation", "values") in wire:
        r = wire["conversation", "values"].body / wire["conversation", "delta"].body
        rows.append(
            [
                "50-turn conversation: delta ≥ 20× fewer bytes than values",
                f"{r:.1f}×",
                _verdict(r >= 20),
            ]
        )
    if (idle := results.idle) is not None:
        rows.append(
            [
                "5,000 idle SSE streams held by one process",
                f"{idle.opened:,}",
                _verdict(idle.opened >= 5000),
            ]
        )
        rows.append(
            [
                "≤ 30 KB per idle stream",
                f"{idle.kb_per_stream:.1f} KB",
                _verdict(idle.kb_per_stream <= 30),
            ]
        )
        rows.append(
            [
                "heartbeat lateness p99 ≤ 500 ms",
                f"{idle.lateness_p99_ms:.0f} ms",
                _verdict(idle.lateness_p99_ms <= 500),
            ]
        )
    if (obs := results.observability) is not None and obs.ratios:
        rows.append(
            [
                "metrics + JSON logs on ≥ 0.95× off (stateless, 100 clients)",
                f"{obs.ratio:.3f}×",
                _verdict(obs.ratio >= 0.95),
            ]
        )
    failures = sum(len(r.failures) for r in results.rows)
    rows.append(["no failed or malformed responses", str(failures), _verdict(failures == 0)])
    return render_table(["target", "measured", ""], rows)


def render(results: Results) -> str:
    cpu = os.cpu_count()
    head = (
        f"Switchyard make bench, {time.strftime('%Y-%m-%d %H:%M')}, {cpu} CPUs, "
        f"Python {platform.python_version()}, langgraph {version('langgraph')}; "
        f"medians of {results.options.repeats} repeats, in-process re-measured before each "
        "server figure; latencies pooled over the repeats"
    )
    parts = [head, "", _main_table(results), "", _wire_table(results), "", *_others(results)]
    parts += ["", _targets(results)]
    failures = [f for r in results.rows for f in r.failures]
    if failures:
        parts += ["", f"{len(failures)} failed responses, first: {failures[0]}"]
    return "\n".join(parts)
