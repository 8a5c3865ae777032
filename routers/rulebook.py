"""``RuleBook``: the rule set serving now, its atomic reload, file watch and hit counts.

Reload is atomic: the new ``RuleSet`` (rules, examples and their semantic
index) is built completely, in a worker thread, and only then replaces the
old one; a file that fails to load leaves the previous set serving, and the
refusal is logged and kept as ``last_reload``. Reloads come from
``POST /rules/reload`` or from the file watch: a ``watchfiles`` watcher (the
Rust ``notify`` crate; ``uvicorn[standard]`` already depends on it) in a
daemon thread that reloads when a ``*.yaml``/``*.yml`` file of the directory
changes. The watcher holds the book weakly, so a book nobody uses any more
stops being watched within a second; ``stop_watch`` stops it at once.
``watch_ready`` is set once the watch is registered with the OS (within
half a second of ``start_watch``).

Hit counts say how often each rule, and the semantic tier per target, made
the decision; they survive reloads (by rule id).

Targets may change while serving (a flow created or deleted over REST):
``retarget`` swaps in a set built from the files as last loaded, without
reading them again, whose rules and examples name only registered targets,
plus example utterances that come with the targets themselves (a flow's
``examples``). Loading the files stays strict: a rule naming an unknown
target is an error there, as at startup.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import watchfiles
from pydantic import BaseModel

from routers.base import RouteDecision
from routers.embedding import DEFAULT_MODEL, SemanticUnavailable, shared_embedder
from routers.errors import RuleLoadError
from routers.rule_loader import Loaded, load_directory
from routers.rules import RuleSet

__all__ = ["ReloadResult", "RuleBook", "RuleReport", "RulesReport"]

log = logging.getLogger(__name__)


class ReloadResult(BaseModel):
    """What ``POST /rules/reload`` answers, and ``GET /rules`` shows as ``last_reload``."""

    ok: bool
    version: int  # increases on every successful load
    rules: int  # rules now serving
    files: list[str]  # rule files now serving
    error: str | None = None  # why the reload was refused; the previous set still serves
    trigger: str = "startup"  # startup, api or watch
    at: str = ""  # when (ISO 8601, UTC)
    examples: int = 0  # example utterances now serving
    semantic: str | None = None  # why the semantic tier is not available, if it is not


class RuleReport(BaseModel):
    id: str
    target: str
    priority: int
    confidence: float
    description: str
    file: str
    kinds: list[str]  # which of keywords, regex, condition, time_window it uses
    hits: int  # decisions this rule made since start


class RulesReport(BaseModel):
    """``GET /rules``: what is loaded, how often it decided, and the last reload."""

    version: int
    files: list[str]
    rules: list[RuleReport]
    examples: dict[str, int]  # target -> example utterances
    semantic_model: str | None  # None when the semantic tier is unavailable
    semantic_hits: dict[str, int]  # target -> decisions the semantic tier made
    watching: bool
    last_reload: ReloadResult


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class RuleBook:
    """The rule set currently serving.

    ``current`` is read without a lock: replacing one attribute is atomic,
    so a request sees either the old set or the new one, never a mixture.
    """

    def __init__(
        self,
        directory: Path,
        targets: Collection[str],
        *,
        semantic_model: str = DEFAULT_MODEL,
        initial: RuleSet | None = None,
        examples: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.directory = directory
        self._targets = frozenset(targets)
        # Example utterances that come with targets (flows), not from the files.
        self._extra = {t: tuple(texts) for t, texts in (examples or {}).items()}
        self._files: Loaded | None = None  # the files as last loaded
        self._semantic_model = semantic_model
        self._lock = threading.Lock()  # one reload at a time (API and watch)
        self.hits: Counter[str] = Counter()
        self.semantic_hits: Counter[str] = Counter()
        self._watch: tuple[threading.Thread, threading.Event] | None = None
        # Set once the watcher is registered with the OS: changes from then on are seen.
        self.watch_ready = threading.Event()
        self._reloaded = threading.Condition()
        self.reloads = 0  # reloads attempted since start (API or watch, good or bad)
        # A bad rules directory at start-up is fatal (raised here), unlike on reload.
        self._current = initial if initial is not None else self._load()
        self._version = 1
        self.last_reload = self._result("startup")

    @property
    def current(self) -> RuleSet:
        return self._current

    @property
    def version(self) -> int:
        return self._version

    def _load(self) -> RuleSet:
        loaded = load_directory(self.directory, self._targets)
        serving = self._serving(loaded)
        self._files = loaded
        return serving

    def _serving(self, loaded: Loaded) -> RuleSet:
        """The set to serve from ``loaded``: registered targets only, plus the extra examples."""
        rules = [r for r in loaded.rules if r.rule.target in self._targets]
        examples = {t: list(texts) for t, texts in loaded.examples.items() if t in self._targets}
        for target, texts in self._extra.items():
            if target in self._targets:
                examples[target] = [*examples.get(target, []), *texts]
        semantic, note = None, None
        if not examples:
            note = "semantic tier has no examples (add 'examples:' to a rules file)"
        else:
            try:
                embedder = shared_embedder(self._semantic_model)
            except SemanticUnavailable as exc:
                note = str(exc)
            else:
                from routers.semantic import SemanticIndex  # needs numpy: the extra

                semantic = SemanticIndex(examples, embedder)
        return RuleSet(
            rules,
            loaded.files,
            examples=examples,
            semantic=semantic,
            semantic_note=note,
        )

    def reload_now(self, trigger: str = "api") -> ReloadResult:
        """Load the directory again (blocking); swap it in only if every file is valid."""
        with self._lock:
            try:
                fresh = self._load()
            except RuleLoadError as exc:
                result = self._result(trigger, error=str(exc))
                log.warning("rules not reloaded (%s), previous rules still serve: %s", trigger, exc)
            else:
                self._current = fresh
                self._version += 1
                result = self._result(trigger)
                log.info(
                    "rules reloaded (%s): %d rules, version %d", trigger, len(fresh), result.version
                )
            self.last_reload = result
        with self._reloaded:
            self.reloads += 1
            self._reloaded.notify_all()
        return result

    def retarget(
        self, targets: Collection[str], examples: Mapping[str, Sequence[str]] | None = None
    ) -> None:
        """Serve ``targets`` (and their ``examples``) from now on (blocking: may embed).

        The files are not read again; rules and file examples of targets no
        longer registered stop serving until their target comes back.
        """
        with self._lock:
            self._targets = frozenset(targets)
            self._extra = {t: tuple(texts) for t, texts in (examples or {}).items()}
            if self._files is not None:  # else built from an ``initial`` set: kept as it is
                self._current = self._serving(self._files)
        log.info("router targets now: %s", ", ".join(sorted(self._targets)))

    def wait_for_reload(self, after: int, timeout: float) -> ReloadResult | None:
        """Block until more than ``after`` reloads were attempted: the latest result.

        None if that did not happen within ``timeout`` seconds. For whoever
        changed a file and needs to know what the watch made of it.
        """
        with self._reloaded:
            if not self._reloaded.wait_for(lambda: self.reloads > after, timeout):
                return None
            return self.last_reload

    async def reload(self, trigger: str = "api") -> ReloadResult:
        """``reload_now`` in a worker thread: loading may embed new examples."""
        return await asyncio.to_thread(self.reload_now, trigger)

    def _result(self, trigger: str, error: str | None = None) -> ReloadResult:
        current = self._current
        return ReloadResult(
            ok=error is None,
            version=self._version,
            rules=len(current),
            files=list(current.files),
            error=error,
            trigger=trigger,
            at=_now(),
            examples=sum(len(texts) for texts in current.examples.values()),
            semantic=current.semantic_note,
        )

    # -- hits and the report ----------------------------------------------------------

    def record(self, decision: RouteDecision) -> None:
        """Count the tier that made ``decision`` (``rule:<id>``, maybe ``+llm:...``)."""
        for part in decision.source.split("+"):
            kind, _, name = part.partition(":")
            if kind == "rule":
                self.hits[name] += 1
            elif kind == "semantic":
                self.semantic_hits[decision.target] += 1

    def report(self) -> RulesReport:
        current = self._current
        rules = [
            RuleReport(
                id=rule.id,
                target=rule.target,
                priority=rule.priority,
                confidence=rule.confidence,
                description=rule.description,
                file=file,
                kinds=_kinds(rule.match.model_dump(exclude_none=True)),
                hits=self.hits[rule.id],
            )
            for rule, file in zip(current.rules, current.rule_files, strict=True)
        ]
        return RulesReport(
            version=self._version,
            files=list(current.files),
            rules=rules,
            examples={t: len(texts) for t, texts in current.examples.items()},
            semantic_model=current.semantic.embedder.name if current.semantic else None,
            semantic_hits=dict(self.semantic_hits),
            watching=self.watching,
            last_reload=self.last_reload,
        )

    # -- the file watch -------------------------------------------------------------

    @property
    def watching(self) -> bool:
        return self._watch is not None and self._watch[0].is_alive()

    def start_watch(self) -> None:
        """Reload whenever a rules file of the directory changes (idempotent)."""
        if self.watching:
            return
        stop = threading.Event()
        self.watch_ready.clear()
        thread = threading.Thread(
            target=_watch,
            args=(weakref.ref(self), self.directory, stop, self.watch_ready),
            name=f"rules-watch:{self.directory}",
            daemon=True,
        )
        thread.start()
        self._watch = (thread, stop)

    def stop_watch(self) -> None:
        if self._watch is not None:
            thread, stop = self._watch
            stop.set()
            thread.join(timeout=5)
            self._watch = None


def _kinds(match: Mapping[str, Any]) -> list[str]:
    return [k for k in ("keywords", "regex", "condition", "time_window") if k in match]


def _is_rules_file(change: watchfiles.Change, path: str) -> bool:
    return path.endswith((".yaml", ".yml"))


def _watch(
    book: weakref.ref[RuleBook], directory: Path, stop: threading.Event, ready: threading.Event
) -> None:
    try:
        for changes in watchfiles.watch(
            directory,
            watch_filter=_is_rules_file,
            recursive=False,
            stop_event=stop,
            debounce=200,  # an editor's save is often write + rename: one reload
            rust_timeout=500,
            yield_on_timeout=True,  # so a forgotten book is noticed within a second
            raise_interrupt=False,
        ):
            ready.set()  # the first timeout proves the OS watch is in place
            current = book()
            if current is None:
                return
            if changes:
                names: Sequence[str] = sorted({Path(p).name for _, p in changes})
                log.info("rules files changed: %s", ", ".join(names))
                current.reload_now("watch")
            del current
    except Exception:  # e.g. the directory was removed: stop watching, say why
        log.warning("rules watch on %s stopped", directory, exc_info=True)
