"""The labelled routing set, measured: the thresholds issue 18 sets, and an honest set."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from routers.config import DEFAULT_RULES_DIR
from routers.evaluate import load_requests, run

EVAL = Path(__file__).parent / "eval"
ARGS = ["--rules", str(DEFAULT_RULES_DIR), "--rules", str(EVAL / "rules")]
ARGS += ["--requests", str(EVAL / "requests.yaml")]


def test_eval_set_when_loaded_then_it_is_large_bilingual_and_disjoint_from_examples() -> None:
    requests = load_requests(EVAL / "requests.yaml")
    assert len(requests) >= 300
    assert {r.lang for r in requests} == {"en", "zh", "mixed"}
    assert {r.kind for r in requests} == {"keyword", "paraphrase", "near-miss", "mixed"}
    assert {"chat", "content"} < {r.target for r in requests}
    assert len({r.text for r in requests}) == len(requests)
    examples: set[str] = set()
    for path in [*DEFAULT_RULES_DIR.glob("*.yaml"), *(EVAL / "rules").glob("*.yaml")]:
        for texts in (
            yaml.safe_load(path.read_text(encoding="utf-8")).get("examples") or {}
        ).values():
            examples.update(t.strip().casefold() for t in texts)
    leaked = [r.text for r in requests if r.text.strip().casefold() in examples]
    assert leaked == [], "eval requests must not be example utterances"


async def test_eval_when_rules_and_semantic_without_llm_then_issue_thresholds_hold(
    capsys: pytest.CaptureFixture[str],
) -> None:
    (report,) = await run([*ARGS, "--strategies", "rule_first"])
    # Issue 18: rule-tier precision >= 0.98, rules + semantic accuracy >= 0.9, no LLM.
    assert report.tier_precision("rule") >= 0.98
    assert report.accuracy >= 0.9
    assert report.tiers["rule"] >= 80
    assert report.tiers["semantic"] >= 150
    assert "llm" not in report.tiers
    printed = capsys.readouterr().out
    assert "strategy rule_first: accuracy" in printed
    assert "precision" in printed
    assert "per target" in printed
