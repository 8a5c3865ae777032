"""Time-window rules, evaluated against an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from routers.rule_models import TimeWindow
from routers.rules import RuleSet
from tests.routers.conftest import TARGETS, WriteRules


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    """A UTC moment in the week of Monday 2025-01-06 (day 0 = Monday)."""
    return datetime(2025, 1, 6 + day, hour, minute, tzinfo=UTC)


@pytest.fixture
def office_hours(write_rules: WriteRules, rules_dir: Path) -> RuleSet:
    write_rules(
        "t.yaml",
        """
        rules:
          - id: office
            target: support
            match:
              keywords: [help]
              time_window: {days: [mon, tue, wed, thu, fri], hours: "09:00-18:00",
                            timezone: Asia/Shanghai}
        """,
    )
    return RuleSet.load(rules_dir, TARGETS)


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        (_at(0, 1), True),  # Mon 09:00 Shanghai: the start is inclusive
        (_at(0, 9, 59), True),  # Mon 17:59 Shanghai
        (_at(0, 10), False),  # Mon 18:00 Shanghai: the end is exclusive
        (_at(0, 0, 59), False),  # Mon 08:59 Shanghai
        (_at(5, 3), False),  # Sat 11:00 Shanghai: not a listed day
        (_at(4, 20), False),  # Fri 20:00 UTC is Sat 04:00 in Shanghai
    ],
)
def test_time_window_when_clock_is_injected_then_window_is_judged_in_its_zone(
    office_hours: RuleSet, moment: datetime, inside: bool
) -> None:
    outcome = office_hours.match("help me", now=moment)
    assert (outcome.best is not None) is inside
    assert outcome.evaluated == ["office"]


@pytest.mark.parametrize(
    ("hour", "inside"), [(21, False), (22, True), (23, True), (0, True), (5, True), (6, False)]
)
def test_time_window_when_hours_wrap_past_midnight_then_night_is_inside(
    hour: int, inside: bool
) -> None:
    night = TimeWindow(hours="22:00-06:00")
    assert night.contains(_at(2, hour)) is inside


def test_time_window_when_hours_end_at_24_then_the_whole_evening_is_inside() -> None:
    evening = TimeWindow(hours="18:00-24:00", timezone="Europe/Berlin")
    assert evening.contains(_at(0, 22, 59))  # 23:59 in Berlin
    assert not evening.contains(_at(0, 16))  # 17:00 in Berlin


def test_time_window_when_only_days_given_then_whole_days_count() -> None:
    weekend = TimeWindow(days=["sat", "sun"])
    assert weekend.contains(_at(6, 23, 59))
    assert not weekend.contains(_at(0, 0))


@pytest.mark.parametrize(
    ("window", "problem"),
    [
        ({"hours": "9-17"}, 'hours must look like "09:00-18:00"'),
        ({"hours": "25:00-26:00"}, "out of range"),
        ({"hours": "10:00-10:00"}, "empty window"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"days": ["funday"]}, "days.0"),
    ],
)
def test_time_window_when_invalid_then_rejected_with_reason(
    write_rules: WriteRules, rules_dir: Path, window: dict[str, object], problem: str
) -> None:
    import yaml

    from routers.errors import RuleLoadError

    rule = {"id": "w", "target": "chat", "match": {"time_window": window}}
    write_rules("w.yaml", yaml.safe_dump({"rules": [rule]}))
    with pytest.raises(RuleLoadError, match="rule 'w'") as caught:
        RuleSet.load(rules_dir, TARGETS)
    assert problem in str(caught.value)
