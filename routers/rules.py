"""The rule tier: a compiled, immutable ``RuleSet`` (``rulebook`` swaps it on reload).

Evaluation order is global: priority (highest first), then file-name order,
then position in the file. The first matching rule decides; the next few
matches become the decision's runner-up candidates.

Keywords are indexed in one Aho-Corasick automaton (pyahocorasick), so a
request is scanned once whatever the number of rules. Keyword-less rules
whose condition requires a field to equal one of some constants (a top-level
``tier == 3 and ...`` or ``plan in ['pro', 'team'] and ...``, see
``Expression.guards``) are indexed by that field's value, so a request only
reaches the ones its value can satisfy. Only these candidates and the
remaining keyword-less rules ever have their regex, condition or time window
evaluated; ``RuleOutcome.evaluated`` lists exactly those, which is how tests
(and curious operators) can see it.

A rule set also carries what the same files say for the semantic tier: the
example utterances per target and, when a model is available, their
``SemanticIndex``; so rules and examples are always swapped together.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ahocorasick

from routers.base import RouteDecision
from routers.rule_loader import SourcedRule, load_directory
from routers.rule_models import Rule, normalize

if TYPE_CHECKING:  # numpy comes with the optional semantic extra only
    from routers.semantic import SemanticIndex

__all__ = ["RuleMatch", "RuleOutcome", "RuleSet"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # placeholder when no rule reads the clock


@dataclass(frozen=True, slots=True)
class RuleMatch:
    rule: Rule
    params: dict[str, Any]

    @property
    def source(self) -> str:
        return f"rule:{self.rule.id}"

    def decision(self) -> RouteDecision:
        rule = self.rule
        why = rule.description or f"matched rule {rule.id!r}"
        return RouteDecision(
            target=rule.target,
            source=self.source,
            confidence=rule.confidence,
            reason=why,
            params={**rule.params, **self.params},
        )


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    """The matches of one request, best first, and which rules needed evaluating."""

    matches: list[RuleMatch] = field(default_factory=list)
    evaluated: list[str] = field(default_factory=list)

    @property
    def best(self) -> RuleMatch | None:
        return self.matches[0] if self.matches else None


class RuleSet:
    """An immutable, indexed set of rules. Build it, match against it, never mutate it."""

    def __init__(
        self,
        rules: Sequence[SourcedRule],
        files: Sequence[str] = (),
        *,
        examples: Mapping[str, Sequence[str]] | None = None,
        semantic: SemanticIndex | None = None,
        semantic_note: str | None = None,
    ) -> None:
        ordered = sorted(rules, key=lambda r: (-r.rule.priority, r.order))
        self.rules: tuple[Rule, ...] = tuple(r.rule for r in ordered)
        self.rule_files: tuple[str, ...] = tuple(r.file for r in ordered)
        self.files: tuple[str, ...] = tuple(files)
        self.examples = {t: tuple(texts) for t, texts in (examples or {}).items()}
        self.semantic = semantic
        # Why ``semantic`` is None when it is (no examples, model not installed...).
        self.semantic_note = semantic_note
        # None where keywords alone decide; else the plain-object check of the rule.
        self._checks = tuple(
            rule.match.check() if rule.match.needs_evaluation else None for rule in self.rules
        )
        # Keyword-less rules: guarded ones indexed by field value, the rest always evaluated.
        self._by_guard: dict[str, dict[Any, list[int]]] = {}
        always: list[int] = []
        for i, rule in enumerate(self.rules):
            if rule.match.keywords is not None:
                continue
            guards = rule.match.condition_guards
            if not guards:
                always.append(i)
                continue
            # One field is enough to index by: the most selective one.
            name = min(guards, key=lambda f: (len(guards[f]), f))
            index = self._by_guard.setdefault(name, {})
            for value in guards[name]:
                index.setdefault(value, []).append(i)
        self._keywordless: tuple[int, ...] = tuple(always)
        self._by_keyword: dict[str, list[int]] = {}
        for i, rule in enumerate(self.rules):
            words = rule.match.keywords
            if words is not None:
                for word in {*words.any, *words.all}:
                    self._by_keyword.setdefault(word, []).append(i)
        self._automaton: Any = ahocorasick.Automaton()
        for word in self._by_keyword:
            self._automaton.add_word(word, word)
        if self._by_keyword:
            self._automaton.make_automaton()

    @classmethod
    def load(cls, directory: Path, targets: Collection[str] | None = None) -> RuleSet:
        """Load and index ``directory`` (no semantic index); ``RuleLoadError`` on a problem."""
        loaded = load_directory(directory, targets)
        return cls(loaded.rules, loaded.files, examples=loaded.examples)

    def __len__(self) -> int:
        return len(self.rules)

    def match(
        self,
        text: str,
        context: Mapping[str, Any] | None = None,
        tags: Sequence[str] = (),
        *,
        now: datetime | None = None,
        limit: int = 4,
    ) -> RuleOutcome:
        """The first ``limit`` matching rules for ``text``, in evaluation order."""
        folded = normalize(text)
        found: set[str] = set()
        if self._by_keyword:
            found = {word for _, word in self._automaton.iter(folded)}
        positions = set(self._keywordless)
        if self._by_guard:
            positions.update(self._guarded(text, context or {}, tags))
        for word in found:
            for i in self._by_keyword[word]:
                keywords = self.rules[i].match.keywords
                if keywords is not None and keywords.satisfied_by(found):
                    positions.add(i)
        if not positions:
            return RuleOutcome()

        ordered = sorted(positions)
        nfkc, thing, moment = text, {}, now or _EPOCH
        checks = self._checks
        if any(checks[i] is not None for i in ordered):
            # Only built when a regex, condition or time window will read them.
            nfkc = unicodedata.normalize("NFKC", text)
            thing = {**(context or {}), "text": text, "tags": list(tags)}
            moment = now or datetime.now(UTC)
        matches: list[RuleMatch] = []
        evaluated: list[str] = []
        for i in ordered:
            rule = self.rules[i]
            params: dict[str, Any] | None = {}
            check = checks[i]
            if check is not None:
                evaluated.append(rule.id)
                params = check(nfkc, thing, moment)
            if params is not None:
                matches.append(RuleMatch(rule, params))
                if len(matches) >= limit:
                    break
        return RuleOutcome(matches, evaluated)

    def _guarded(self, text: str, context: Mapping[str, Any], tags: Sequence[str]) -> list[int]:
        """Guarded rules whose indexed field has a value their condition can accept."""
        found: list[int] = []
        for name, index in self._by_guard.items():
            if name == "tags":
                continue  # a list: never equal to a constant, so never a candidate
            value = text if name == "text" else context.get(name)
            try:
                found.extend(index.get(value, ()))
            except TypeError:  # unhashable: equal to no constant either
                continue
        return found
