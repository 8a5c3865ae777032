"""Router decision latency (run: ``python -m tests.bench.router_bench``).

Timing lives here, not in the test suite, because wall-clock asserts flake.
``measure_decisions()`` returns, in microseconds unless the key says ms:

* ``keyword_match_*``: ``RuleSet.match`` alone over 1,000 keyword rules
  (one Aho-Corasick scan; the request names one rule's keyword).
* ``keyword_decision_*``: a whole ``HybridRouter.route`` (``rule_only``) over
  the same rules: match, decision, candidates, latency.
* ``condition_decision_*``: ``route`` over 100 keyword-less condition rules
  of the form ``score > x and 'vip' in tags and tier == i``: the ``tier ==``
  term indexes them, so about one is evaluated per request.
* ``condition_unindexed_decision_*``: the same with ``tier >= i``: nothing to
  index by, every one of the 100 conditions is evaluated on every request.
* ``semantic_decision_*``: ``route`` (``rule_first``) over the shipped
  ``rules/`` and their examples, for the labelled requests no rule matches
  (tests/routers/eval/requests.yaml), so every one embeds the request with
  the bundled model and compares it with every example. ``*_cpu_*``: the
  CPU time of the same decisions (the routing thread's), which a busy
  machine inflates less than the wall time.
* ``llm_decision_*``: ``route`` (``llm_only``) with one round trip through the
  real ``ChatOpenAI`` client to the local OpenAI-protocol test server.
* ``load_average``: the 1-minute load average when the rows started (the
  bench machine may be shared; the semantic row is CPU-bound).
* ``llm_vs_rule_ratio``: LLM decision p50 / keyword decision p50.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import yaml

from routers import DEFAULT_RULES_DIR, RouteRequest, RouterSettings, RuleSet, build_router
from routers.evaluate import load_requests
from routers.hybrid import HybridRouter
from tests.support.openai_server import run_openai_server

__all__ = ["measure_decisions"]

TARGETS = {"chat": "General conversation.", "content": "Publishing.", "support": "Support."}
EVAL_REQUESTS = Path(__file__).resolve().parents[1] / "routers" / "eval" / "requests.yaml"
_SENTENCE = "hello there, could you please take care of {word} for me before the end of the day"


def _percentiles(samples_ns: Sequence[int], prefix: str, unit_ns: float = 1e3) -> dict[str, float]:
    ordered = sorted(samples_ns)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        f"{prefix}_p50": statistics.median(ordered) / unit_ns,
        f"{prefix}_p99": p99 / unit_ns,
    }


def _write(directory: Path, rules: list[dict[str, object]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "rules.yaml").write_text(yaml.safe_dump({"rules": rules}), encoding="utf-8")
    return directory


def _keyword_rules(count: int) -> list[dict[str, object]]:
    targets = list(TARGETS)
    return [
        {
            "id": f"kw{i}",
            "target": targets[i % len(targets)],
            "priority": i % 7,
            "match": {"keywords": {"any": [f"topic{i:04d}x", f"主题{i:04d}号"]}},
        }
        for i in range(count)
    ]


def _condition_rules(count: int, tier_op: str = "==") -> list[dict[str, object]]:
    return [
        {
            "id": f"cond{i}",
            "target": "support",
            "match": {
                "condition": f"score > {i / count:.2f} and 'vip' in tags and tier {tier_op} {i}"
            },
        }
        for i in range(count)
    ]


async def _time_routes(
    router: HybridRouter, requests: Sequence[RouteRequest], strategy: str
) -> list[int]:
    samples = []
    for request in requests:
        started = time.perf_counter_ns()
        await router.route(request, strategy=strategy)
        samples.append(time.perf_counter_ns() - started)
    return samples


def measure_decisions(samples: int = 5000, llm_samples: int = 100) -> dict[str, float]:
    """Decision latency percentiles; see the module docstring for the keys."""
    results: dict[str, float] = {"keyword_rules": 1000, "condition_rules": 100}
    results["load_average"] = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        keyword_dir = _write(Path(tmp) / "kw", _keyword_rules(1000))

        rules = RuleSet.load(keyword_dir, TARGETS)
        texts = [_SENTENCE.format(word=f"topic{(i * 37) % 1000:04d}x") for i in range(samples)]
        match_ns = []
        for text in texts:
            started = time.perf_counter_ns()
            rules.match(text)
            match_ns.append(time.perf_counter_ns() - started)
        results |= _percentiles(match_ns, "keyword_match_us")

        keyword_router = build_router(_settings(keyword_dir), TARGETS)
        requests = [RouteRequest(text=t) for t in texts]
        keyword_ns = asyncio.run(_time_routes(keyword_router, requests, "rule_only"))
        results |= _percentiles(keyword_ns, "keyword_decision_us")

        requests = [
            RouteRequest(text="hi", context={"score": 0.95, "tier": i % 150}, tags=["vip"])
            for i in range(samples)
        ]
        for name, tier_op in [("condition", "=="), ("condition_unindexed", ">=")]:
            directory = _write(Path(tmp) / name, _condition_rules(100, tier_op))
            router = build_router(_settings(directory), TARGETS)
            condition_ns = asyncio.run(_time_routes(router, requests, "rule_only"))
            results |= _percentiles(condition_ns, f"{name}_decision_us")

        semantic_ns, semantic_cpu_ns, share = _semantic_samples(max(300, samples // 10))
        results |= _percentiles(semantic_ns, "semantic_decision_us")
        results |= _percentiles(semantic_cpu_ns, "semantic_decision_cpu_us")
        results["semantic_decided_share"] = share

        llm_ns = _llm_samples(llm_samples, _write(Path(tmp) / "none", []))
        results |= _percentiles(llm_ns, "llm_decision_ms", unit_ns=1e6)
    results["llm_vs_rule_ratio"] = (
        results["llm_decision_ms_p50"] * 1e3 / results["keyword_decision_us_p50"]
    )
    return results


def _settings(rules_dir: Path) -> RouterSettings:
    return RouterSettings(rules_dir=rules_dir, watch_rules=False)


def _semantic_samples(count: int) -> tuple[list[int], list[int], float]:
    """Wall and CPU time of decisions that reach the semantic tier; the share it decided."""
    router = build_router(_settings(DEFAULT_RULES_DIR), TARGETS)
    rules = router.rules.current
    texts = [
        r.text
        for r in load_requests(EVAL_REQUESTS)
        if r.target in rules.examples and rules.match(r.text).best is None
    ]
    requests = [RouteRequest(text=texts[i % len(texts)]) for i in range(count)]

    async def run() -> tuple[list[int], list[int], float]:
        await router.route(requests[0])  # warm: the model is loaded at build
        wall, cpu, semantic = [], [], 0
        for request in requests:
            started, started_cpu = time.perf_counter_ns(), time.thread_time_ns()
            decision = await router.route(request, strategy="rule_first")
            wall.append(time.perf_counter_ns() - started)
            cpu.append(time.thread_time_ns() - started_cpu)
            semantic += decision.source.startswith("semantic:")
        await router.aclose()
        return wall, cpu, semantic / len(requests)

    return asyncio.run(run())


def _llm_samples(count: int, rules_dir: Path) -> list[int]:
    with run_openai_server() as server:
        provider = {"name": "local", "base_url": server.base_url, "model": "bench"}
        settings = RouterSettings.model_validate(
            {"providers": [provider], "rules_dir": str(rules_dir), "watch_rules": False}
        )

        async def run() -> list[int]:
            router = build_router(settings, TARGETS)
            try:
                await router.route(RouteRequest(text="warm up"), strategy="llm_only")
                requests = [RouteRequest(text=f"route request {i}") for i in range(count)]
                return await _time_routes(router, requests, "llm_only")
            finally:
                await router.aclose()

        return asyncio.run(run())


if __name__ == "__main__":
    print(json.dumps(measure_decisions(), indent=2))
