"""A routing rule as data: the pydantic models ``rules/*.yaml`` validate into.

A rule routes to ``target`` when every part of its ``match`` holds:

- ``keywords``: ``any`` (at least one present) and/or ``all`` (every one
  present). Matching is on substrings of the text after NFKC normalisation
  and case folding, so ``ＰＵＢＬＩＳＨ`` matches ``publish`` and Chinese
  keywords need no word splitting. A plain list is shorthand for ``any``.
- ``regex``: searched in the NFKC-normalised text, case-insensitively; named
  groups become ``params`` (merged over the rule's own ``params``).
- ``condition``: an expression (``routers.expressions``: the rule-engine
  syntax earlier versions used) over the request context plus ``text`` and
  ``tags`` (e.g. ``sentiment_score > 0.7 and 'vip' in tags``). Names the
  context lacks are ``null``; an expression that fails to evaluate (e.g.
  comparing ``null`` with a number) does not match. Checked against a strict
  whitelist and compiled once at load; never ``eval``.
- ``time_window``: local ``days`` and ``hours`` (``"09:00-18:00"``, end
  exclusive, may wrap past midnight) in ``timezone``.

Everything that can be wrong with a rule is found when it is validated
(compiled regex, parsed condition, known time zone), not when it first runs.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from routers.expressions import Expression, UnsafeExpression, compile_expression

__all__ = ["Check", "Keywords", "Match", "Rule", "TimeWindow", "normalize"]

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def normalize(text: str) -> str:
    """Case- and width-insensitive form used for keyword matching (NFKC + casefold)."""
    return unicodedata.normalize("NFKC", text).casefold()


class _Strict(BaseModel):
    # Unknown keys are typos in a hand-written file: reject them, do not ignore them.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Keywords(_Strict):
    any: list[str] = Field(default_factory=list)
    all: list[str] = Field(default_factory=list)

    @field_validator("any", "all")
    @classmethod
    def _normalized(cls, words: list[str]) -> list[str]:
        out = [normalize(w).strip() for w in words]
        if any(not w for w in out):
            raise ValueError("keywords must not be empty strings")
        return out

    @model_validator(mode="after")
    def _not_empty(self) -> Keywords:
        if not self.any and not self.all:
            raise ValueError("keywords needs at least one word in 'any' or 'all'")
        return self

    def satisfied_by(self, found: set[str] | frozenset[str]) -> bool:
        """True when ``found`` (keywords present in the text) meets any/all."""
        if self.any and found.isdisjoint(self.any):
            return False
        return all(word in found for word in self.all)


class TimeWindow(_Strict):
    days: list[Day] | None = Field(None, description="Local days; null means every day.")
    hours: str | None = Field(None, description='"HH:MM-HH:MM", end exclusive; null = all day.')
    timezone: str = "UTC"

    _zone: ZoneInfo = PrivateAttr()
    _span: tuple[time, time] | None = PrivateAttr(None)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {name!r}") from exc
        return name

    @field_validator("days")
    @classmethod
    def _some_days(cls, days: list[Day] | None) -> list[Day] | None:
        if days is not None and not days:
            raise ValueError("days must name at least one day (or be left out)")
        return days

    @model_validator(mode="after")
    def _compile(self) -> TimeWindow:
        self._zone = ZoneInfo(self.timezone)
        if self.hours is not None:
            found = _HOURS.match(self.hours)
            if found is None:
                raise ValueError(f'hours must look like "09:00-18:00", got {self.hours!r}')
            h1, m1, h2, m2 = (int(g) for g in found.groups())
            # "24:00" is allowed only as an end: the midnight that ends the day.
            if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
                raise ValueError(f"hours out of range in {self.hours!r}")
            start, end = time(h1, m1), time(h2 % 24, m2)
            if (h1, m1, h2) == (0, 0, 24):
                self._span = None  # the whole day
            elif start == end:
                raise ValueError(f"hours {self.hours!r} is an empty window")
            else:
                self._span = (start, end)
        return self

    def contains(self, moment: datetime) -> bool:
        """Whether the aware ``moment`` falls inside the window (in the window's zone)."""
        local = moment.astimezone(self._zone)
        if self.days is not None and _DAYS[local.weekday()] not in self.days:
            return False
        if self._span is None:
            return True
        start, end = self._span
        now = local.time().replace(tzinfo=None)
        if start < end:
            return start <= now < end
        return now >= start or now < end  # wraps past midnight


def _compile_regex(regex: str) -> re.Pattern[str]:
    try:
        return re.compile(regex, re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f"regex {regex!r}: {exc}") from exc


def _compile_condition(condition: str) -> Expression:
    try:
        return compile_expression(condition)
    except UnsafeExpression as exc:
        raise ValueError(f"condition {condition!r}: {exc}") from exc


class Match(_Strict):
    keywords: Keywords | None = None
    regex: str | None = None
    condition: str | None = None
    time_window: TimeWindow | None = None

    _pattern: re.Pattern[str] | None = PrivateAttr(None)
    _condition: Expression | None = PrivateAttr(None)

    @field_validator("keywords", mode="before")
    @classmethod
    def _list_means_any(cls, value: Any) -> Any:
        return {"any": value} if isinstance(value, list) else value

    @field_validator("regex")
    @classmethod
    def _valid_regex(cls, regex: str | None) -> str | None:
        if regex is not None:
            _compile_regex(regex)
        return regex

    @field_validator("condition")
    @classmethod
    def _valid_condition(cls, condition: str | None) -> str | None:
        if condition is not None:
            _compile_condition(condition)
        return condition

    @model_validator(mode="after")
    def _compile(self) -> Match:
        if not (self.keywords or self.regex or self.condition or self.time_window):
            raise ValueError("match needs at least one of keywords, regex, condition, time_window")
        # Already known to compile (field validators); this keeps the compiled forms.
        if self.regex is not None:
            self._pattern = _compile_regex(self.regex)
        if self.condition is not None:
            self._condition = _compile_condition(self.condition)
        return self

    @property
    def condition_guards(self) -> dict[str, frozenset[Any]]:
        """``field -> values`` the condition needs (see ``Expression.guards``)."""
        return self._condition.guards if self._condition is not None else {}

    @property
    def needs_evaluation(self) -> bool:
        """Whether anything beyond keywords must be checked per request."""
        return self._pattern is not None or self._condition is not None or bool(self.time_window)

    def check(self) -> Check:
        """The compiled regex, condition and window as a plain object for the hot path.

        (A pydantic model's private attributes are read through ``__getattr__``,
        which costs more than evaluating a short condition.)
        """
        return Check(self.time_window, self._pattern, self._condition)

    def evaluate(self, text: str, thing: dict[str, Any], now: datetime) -> dict[str, Any] | None:
        """``Check.__call__`` for this match (see there)."""
        return self.check()(text, thing, now)


@dataclass(frozen=True, slots=True)
class Check:
    window: TimeWindow | None
    pattern: re.Pattern[str] | None
    condition: Expression | None

    def __call__(self, text: str, thing: dict[str, Any], now: datetime) -> dict[str, Any] | None:
        """Check regex, condition and time window; the extracted params, or None.

        ``text`` is NFKC-normalised but keeps its case, so extracted params do.
        """
        if self.window is not None and not self.window.contains(now):
            return None
        params: dict[str, Any] = {}
        if self.pattern is not None:
            found = self.pattern.search(text)
            if found is None:
                return None
            params = {k: v for k, v in found.groupdict().items() if v is not None}
        if self.condition is not None and not self.condition.matches(thing):
            return None
        return params


class Rule(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
    target: str = Field(min_length=1)
    priority: int = 0
    confidence: float = Field(0.9, ge=0.0, le=1.0)
    description: str = ""
    enabled: bool = True
    match: Match
    params: dict[str, Any] = Field(default_factory=dict)
