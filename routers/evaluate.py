"""Routing quality on a labelled set: accuracy, precision per target, tier usage.

    python -m routers.evaluate --rules rules --rules tests/routers/eval/rules \\
        --requests tests/routers/eval/requests.yaml

(``make eval-router`` runs exactly that.) A requests file is YAML::

    requests:
      - {target: content, kind: paraphrase, lang: en, text: "a few words for my followers"}

``kind`` and ``lang`` are free labels that the report breaks accuracy down
by. Every ``--rules`` directory's files are loaded together, as if they were
one directory, and the router is built as the server builds it, without an
LLM: the report shows how far the local tiers go on their own and how many
requests a configured LLM would be asked about (``fallback`` under
``rule_first``). A decision's tier is its source's prefix: ``rule``,
``semantic``, ``llm``, ``dynamic`` or ``fallback``.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from routers.base import RouteRequest
from routers.config import RouterSettings, build_router
from routers.hybrid import HybridRouter

__all__ = ["DEFAULT_STRATEGIES", "Labelled", "Report", "evaluate", "load_requests", "main", "run"]

DEFAULT_STRATEGIES = ("rule_only", "semantic_only", "rule_first", "confidence_threshold")


@dataclass(frozen=True, slots=True)
class Labelled:
    text: str
    target: str
    kind: str = ""
    lang: str = ""


@dataclass
class Report:
    """One strategy's results over the labelled set."""

    strategy: str
    total: int = 0
    correct: int = 0
    tiers: Counter[str] = field(default_factory=Counter)  # tier -> decisions
    tier_correct: Counter[str] = field(default_factory=Counter)
    chosen: Counter[str] = field(default_factory=Counter)  # target -> times chosen
    chosen_correct: Counter[str] = field(default_factory=Counter)
    expected: Counter[str] = field(default_factory=Counter)  # target -> times labelled
    groups: dict[str, Counter[str]] = field(default_factory=dict)  # "kind:x" -> total/correct
    mistakes: list[tuple[Labelled, str, str]] = field(default_factory=list)  # (req, got, source)
    latency_ms: list[float] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def tier_precision(self, tier: str) -> float:
        return self.tier_correct[tier] / self.tiers[tier] if self.tiers[tier] else 1.0

    def precision(self, target: str) -> float:
        return self.chosen_correct[target] / self.chosen[target] if self.chosen[target] else 1.0

    def recall(self, target: str) -> float:
        return self.chosen_correct[target] / self.expected[target] if self.expected[target] else 0.0

    def add(self, request: Labelled, target: str, source: str, latency_ms: float) -> None:
        ok = target == request.target
        tier = "+".join(part.partition(":")[0] for part in source.split("+"))
        self.total += 1
        self.correct += ok
        self.tiers[tier] += 1
        self.tier_correct[tier] += ok
        self.chosen[target] += 1
        self.chosen_correct[target] += ok
        self.expected[request.target] += 1
        for group in (f"kind:{request.kind}", f"lang:{request.lang}"):
            counts = self.groups.setdefault(group, Counter())
            counts["total"] += 1
            counts["correct"] += ok
        self.latency_ms.append(latency_ms)
        if not ok:
            self.mistakes.append((request, target, source))


def load_requests(path: Path) -> list[Labelled]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [Labelled(**item) for item in document["requests"]]


@contextmanager
def merged_rules(directories: Sequence[Path]) -> Iterator[Path]:
    """One temporary directory holding every rules file of ``directories``."""
    with tempfile.TemporaryDirectory(prefix="switchyard-eval-") as tmp:
        merged = Path(tmp)
        for directory in directories:
            for path in [*directory.glob("*.yaml"), *directory.glob("*.yml")]:
                if (merged / path.name).exists():
                    raise SystemExit(f"two rules files are called {path.name}")
                shutil.copy(path, merged / path.name)
        yield merged


async def evaluate(router: HybridRouter, requests: Sequence[Labelled], strategy: str) -> Report:
    report = Report(strategy)
    for request in requests:
        decision = await router.route(RouteRequest(text=request.text), strategy=strategy)
        report.add(request, decision.target, decision.source, decision.latency_ms)
    return report


def format_report(report: Report, *, mistakes: int = 0) -> list[str]:
    latencies = sorted(report.latency_ms)
    p50 = latencies[len(latencies) // 2] if latencies else 0.0
    lines = [
        f"strategy {report.strategy}: accuracy {report.accuracy:.3f} "
        f"({report.correct}/{report.total}), decision p50 {p50:.2f} ms",
        "  tiers:    "
        + ", ".join(
            f"{tier} {n} ({n / report.total:.0%}, precision {report.tier_precision(tier):.3f})"
            for tier, n in report.tiers.most_common()
        ),
        "  accuracy: "
        + ", ".join(
            f"{group} {c['correct'] / c['total']:.2f} ({c['correct']}/{c['total']})"
            for group, c in sorted(report.groups.items())
        ),
        "  per target: "
        + ", ".join(
            f"{t} P {report.precision(t):.2f} R {report.recall(t):.2f}"
            for t in sorted(report.expected)
        ),
    ]
    for request, got, source in report.mistakes[:mistakes]:
        lines.append(f"    x {request.target} -> {got} [{source}] {request.text}")
    return lines


async def run(argv: Sequence[str] | None = None) -> list[Report]:
    """Parse ``argv`` like the command line, evaluate, print the report, return it."""
    args = _parser().parse_args(argv)
    requests = load_requests(args.requests)
    targets = {t: f"target {t}" for t in sorted({r.target for r in requests} | {"chat"})}
    reports = []
    with merged_rules(args.rules) as rules_dir:
        settings = RouterSettings(
            rules_dir=rules_dir,
            watch_rules=False,
            semantic_threshold=args.semantic_threshold,
            semantic_margin=args.semantic_margin,
        )
        router = build_router(settings, targets)
        try:
            for strategy in args.strategies:
                reports.append(await evaluate(router, requests, strategy))
        finally:
            await router.aclose()
        note = router.rules.current.semantic_note
    header = (
        f"{len(requests)} labelled requests, {len(targets)} targets, no LLM configured "
        f"(semantic threshold {args.semantic_threshold:g}, margin {args.semantic_margin:g})"
    )
    print(header + (f"; {note}" if note else ""))
    for report in reports:
        print("\n".join(format_report(report, mistakes=args.mistakes)))
    return reports


def _parser() -> argparse.ArgumentParser:
    defaults = RouterSettings()
    parser = argparse.ArgumentParser(
        prog="python -m routers.evaluate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rules", type=Path, action="append", required=True)
    parser.add_argument("--requests", type=Path, required=True)
    parser.add_argument("--strategies", nargs="+", default=list(DEFAULT_STRATEGIES))
    parser.add_argument("--semantic-threshold", type=float, default=defaults.semantic_threshold)
    parser.add_argument("--semantic-margin", type=float, default=defaults.semantic_margin)
    parser.add_argument("--mistakes", type=int, default=0, help="list this many mistakes")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    asyncio.run(run(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
