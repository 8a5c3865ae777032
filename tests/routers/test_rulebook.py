"""RuleBook: the file watch reloads atomically, a bad file is refused, hits are counted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from routers.base import RouteDecision
from routers.rulebook import RuleBook
from tests.routers.conftest import TARGETS, WriteRules

SUPPORT = "rules: [{id: orders, target: support, match: {keywords: [order]}}]\n"
CONTENT = "rules: [{id: orders-v2, target: content, match: {keywords: [order]}}]\n"
BROKEN = "rules: [{id: orders-v3, target: nowhere, match: {keywords: [order]}}]\n"


def _best(book: RuleBook, text: str) -> str | None:
    best = book.current.match(text).best
    return best.rule.id if best else None


@pytest.fixture
def watched(write_rules: WriteRules, rules_dir: Path) -> Iterator[RuleBook]:
    write_rules("10-orders.yaml", SUPPORT)
    book = RuleBook(rules_dir, TARGETS, semantic_model="off")
    book.start_watch()
    assert book.watch_ready.wait(10), "the watch never came up"
    yield book
    book.stop_watch()


def test_watch_when_good_then_bad_then_fixed_file_then_only_valid_sets_serve(
    watched: RuleBook, write_rules: WriteRules
) -> None:
    assert watched.watching
    assert _best(watched, "my order") == "orders"

    # A good change is picked up without anyone asking.
    seen = watched.reloads
    write_rules("10-orders.yaml", CONTENT)
    result = watched.wait_for_reload(seen, timeout=10)
    assert result is not None, "the watch did not reload after a good change"
    assert (result.ok, result.trigger, result.version) == (True, "watch", 2)
    assert _best(watched, "my order") == "orders-v2"

    # A bad change is refused, reported, and the previous rules keep serving.
    seen = watched.reloads
    write_rules("10-orders.yaml", BROKEN)
    result = watched.wait_for_reload(seen, timeout=10)
    assert result is not None, "the watch did not react to a bad change"
    assert not result.ok
    assert result.error is not None
    assert "10-orders.yaml: rule 'orders-v3': target 'nowhere'" in result.error
    assert result.version == 2
    assert watched.last_reload == result
    assert _best(watched, "my order") == "orders-v2"

    # Removing the bad file and adding a good one heals (one reload or two, as
    # the watch batches the two changes).
    seen = watched.reloads
    (watched.directory / "10-orders.yaml").unlink()
    write_rules("20-new.yaml", SUPPORT)
    for _ in range(2):
        result = watched.wait_for_reload(seen, timeout=10)
        assert result is not None
        if result.files == ["20-new.yaml"]:
            break
        seen += 1
    assert result.ok
    assert result.files == ["20-new.yaml"]
    assert _best(watched, "my order") == "orders"


def test_watch_when_other_files_change_then_rules_are_not_reloaded(
    watched: RuleBook, rules_dir: Path, write_rules: WriteRules
) -> None:
    seen = watched.reloads
    (rules_dir / "notes.txt").write_text("not a rules file")
    write_rules("10-orders.yaml", CONTENT)  # the marker: this one must be the first reload
    result = watched.wait_for_reload(seen, timeout=10)
    assert result is not None
    assert watched.reloads == seen + 1
    assert result.ok


def test_stop_watch_when_called_then_the_thread_ends_and_changes_are_ignored(
    watched: RuleBook, write_rules: WriteRules
) -> None:
    watched.stop_watch()
    assert not watched.watching
    seen = watched.reloads
    write_rules("10-orders.yaml", CONTENT)
    assert watched.wait_for_reload(seen, timeout=1.5) is None
    assert _best(watched, "my order") == "orders"


def test_report_when_rules_decided_then_hits_are_counted_by_rule_and_survive_reload(
    write_rules: WriteRules, rules_dir: Path
) -> None:
    write_rules(
        "10.yaml",
        """
        rules:
          - {id: orders, target: support, description: order problems,
             match: {keywords: [order], condition: "vip != true"}}
          - {id: night, target: chat, match: {time_window: {hours: "22:00-06:00"}}}
        """,
    )
    book = RuleBook(rules_dir, TARGETS, semantic_model="off")
    for source in ["rule:orders", "rule:orders+llm:main", "llm:main", "fallback"]:
        book.record(RouteDecision(target="support", source=source))
    book.record(RouteDecision(target="content", source="semantic:use-multilingual"))
    assert book.reload_now().ok

    report = book.report()
    by_id = {r.id: r for r in report.rules}
    assert by_id["orders"].hits == 2
    assert by_id["orders"].kinds == ["keywords", "condition"]
    assert by_id["orders"].file == "10.yaml"
    assert by_id["orders"].description == "order problems"
    assert (by_id["night"].hits, by_id["night"].kinds) == (0, ["time_window"])
    assert report.semantic_hits == {"content": 1}
    assert report.semantic_model is None  # no examples, and the tier is off anyway
    assert (report.version, report.last_reload.trigger, report.last_reload.ok) == (2, "api", True)
    assert report.watching is False


def test_reload_when_book_has_no_examples_then_result_says_why_semantic_is_absent(
    write_rules: WriteRules, rules_dir: Path
) -> None:
    write_rules("10.yaml", SUPPORT)
    result = RuleBook(rules_dir, TARGETS).last_reload
    assert result.trigger == "startup"
    assert result.examples == 0
    assert result.semantic is not None
    assert "no examples" in result.semantic


def test_retarget_when_target_goes_and_comes_back_then_its_rules_follow_without_rereading(
    write_rules: WriteRules, rules_dir: Path
) -> None:
    write_rules("10-orders.yaml", SUPPORT)
    book = RuleBook(rules_dir, TARGETS, semantic_model="off")
    assert _best(book, "my order") == "orders"
    (rules_dir / "10-orders.yaml").unlink()  # retargeting never reads the files again

    book.retarget({k: v for k, v in TARGETS.items() if k != "support"})
    assert _best(book, "my order") is None
    book.retarget({**TARGETS, "booking": "Books tables."}, {"booking": ["book a table"]})
    assert _best(book, "my order") == "orders"
    assert book.current.examples == {"booking": ("book a table",)}
    # Loading the files stays strict about targets.
    write_rules("10-orders.yaml", BROKEN)
    assert "target 'nowhere'" in str(book.reload_now().error)
    assert _best(book, "my order") == "orders"


def test_retarget_when_examples_come_with_targets_then_semantic_tier_finds_them(
    write_rules: WriteRules, rules_dir: Path
) -> None:
    write_rules("90-chat.yaml", "examples: {chat: [tell me a joke, how are you today]}\n")
    book = RuleBook(rules_dir, TARGETS)
    book.retarget(
        {**TARGETS, "booking": "Books tables."},
        {"booking": ["book a table for two tonight", "reserve a dinner table for friday"]},
    )
    index = book.current.semantic
    assert index is not None
    best = index.search("could you reserve a table for us tonight").best
    assert best is not None
    assert best.target == "booking"
    book.retarget(TARGETS)
    assert set(book.current.examples) == {"chat"}
