"""The semantic tier: the example utterances nearest to a request, by meaning.

Rules files may give each target example utterances (``examples:``, see
``rule_loader``). ``SemanticIndex`` embeds them once, when the rules load,
and each request at decision time. A target's score is the mean cosine
similarity of its ``NEAREST`` (3) closest examples: on the labelled set it
picks the right target for 91% of the requests no rule decides, against 87%
for the single closest example, which one stray example can win.

The tier is *sure* when the best target's score reaches ``threshold`` and
beats the runner-up target by ``margin``; otherwise it is unsure and a later
tier (the LLM) or the fallback decides. Either way every target's closest
example becomes a candidate, so a decision shows what the request resembled.

Scores from the default model (USE Multilingual) are not probabilities: on
the labelled set a right target scores about 0.3-0.7, gibberish below 0.2.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from routers.base import Candidate, RouteDecision
from routers.embedding import Embedder

__all__ = ["NEAREST", "Neighbour", "SemanticIndex", "SemanticOutcome"]

NEAREST = 3


@dataclass(frozen=True, slots=True)
class Neighbour:
    """A target's closest example to the request, and the target's score (see NEAREST)."""

    target: str
    example: str
    score: float


@dataclass(frozen=True, slots=True)
class SemanticOutcome:
    """Every target's nearest example, best first."""

    source: str  # "semantic:<model>"
    neighbours: tuple[Neighbour, ...]

    @property
    def best(self) -> Neighbour | None:
        return self.neighbours[0] if self.neighbours else None

    @property
    def margin(self) -> float:
        """How far the best target is ahead of the next one."""
        if len(self.neighbours) < 2:
            return self.neighbours[0].score if self.neighbours else 0.0
        return self.neighbours[0].score - self.neighbours[1].score

    def sure(self, threshold: float, margin: float) -> bool:
        best = self.best
        return best is not None and best.score >= threshold and self.margin >= margin

    def candidates(self) -> list[Candidate]:
        return [
            Candidate(target=n.target, source=self.source, score=_unit(n.score), example=n.example)
            for n in self.neighbours
        ]

    def decision(self) -> RouteDecision:
        best = self.best
        assert best is not None, "decision() needs a neighbour"
        runner_up = (
            f"; next {self.neighbours[1].target} at {self.neighbours[1].score:.2f}"
            if len(self.neighbours) > 1
            else ""
        )
        return RouteDecision(
            target=best.target,
            source=self.source,
            confidence=_unit(best.score),
            reason=f"resembles {best.target} examples at {best.score:.2f} "
            f"(closest: {best.example!r}){runner_up}",
        )

    def unsure_note(self, threshold: float, margin: float) -> str:
        best = self.best
        if best is None:
            return "semantic tier unsure: no examples"
        return (
            f"semantic tier unsure: {best.target} at {best.score:.2f}, ahead by "
            f"{self.margin:.2f} (needs {threshold:g}, ahead by {margin:g})"
        )


def _unit(score: float) -> float:
    return min(1.0, max(0.0, round(score, 4)))


# (model, example) -> vector: a reload, or another router in the same process,
# embeds only the examples it has not seen. Bounded: cleared when it grows past.
_EXAMPLE_CACHE: dict[tuple[str, str], NDArray[np.float32]] = {}
_EXAMPLE_CACHE_MAX = 50_000


_EXAMPLE_CACHE_LOCK = threading.Lock()  # reloads build indexes in worker threads


def _example_vectors(embedder: Embedder, texts: Sequence[str]) -> NDArray[np.float32]:
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    with _EXAMPLE_CACHE_LOCK:
        return _cached_vectors(embedder, texts)


def _cached_vectors(embedder: Embedder, texts: Sequence[str]) -> NDArray[np.float32]:
    missing = [t for t in dict.fromkeys(texts) if (embedder.name, t) not in _EXAMPLE_CACHE]
    if len(_EXAMPLE_CACHE) + len(missing) > _EXAMPLE_CACHE_MAX:
        _EXAMPLE_CACHE.clear()
        missing = list(dict.fromkeys(texts))
    if missing:
        vectors = embedder.embed(missing)
        _EXAMPLE_CACHE.update(
            ((embedder.name, t), v) for t, v in zip(missing, vectors, strict=True)
        )
    return np.stack([_EXAMPLE_CACHE[embedder.name, t] for t in texts])


class SemanticIndex:
    """Example utterances per target, embedded once; immutable once built."""

    def __init__(self, examples: Mapping[str, Sequence[str]], embedder: Embedder) -> None:
        self.embedder = embedder
        self.source = f"semantic:{embedder.name}"
        self.examples = {t: tuple(dict.fromkeys(texts)) for t, texts in examples.items() if texts}
        self.targets = tuple(self.examples)
        texts = [text for target in self.targets for text in self.examples[target]]
        # Grouped by target: target t's examples are rows _bounds[t] of the matrix.
        self._texts = texts
        self._bounds: list[tuple[int, int]] = []
        for target in self.targets:
            start = self._bounds[-1][1] if self._bounds else 0
            self._bounds.append((start, start + len(self.examples[target])))
        self._matrix = _example_vectors(embedder, texts)

    def __len__(self) -> int:
        return len(self._texts)

    def search(self, text: str) -> SemanticOutcome:
        """Each target's nearest example to ``text``, best first."""
        if not self._texts:
            return SemanticOutcome(self.source, ())
        vector = self.embedder.embed([text])[0]
        scores = self._matrix @ vector
        found = []
        for t, target in enumerate(self.targets):
            start, end = self._bounds[t]
            own = scores[start:end]
            k = min(NEAREST, len(own))
            top = np.partition(own, len(own) - k)[len(own) - k :]
            nearest = start + int(np.argmax(own))
            found.append(Neighbour(target, self._texts[nearest], float(top.mean())))
        found.sort(key=lambda n: -n.score)
        return SemanticOutcome(self.source, tuple(found))
