"""Router settings and the one function that builds a router from them.

``RouterSettings`` is a plain pydantic model so ``app.settings`` can nest it
as ``router`` (environment ``SWITCHYARD_ROUTER_*``; lists such as
``providers`` are given as JSON). ``build_router`` validates everything that
spans settings and the registry up front: every rule target and the
fallback target must be registered graphs, every dynamic spec must import.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path

import httpx
from pydantic import BaseModel, Field, field_validator, model_validator

from routers.base import Strategy
from routers.dynamic import load_dynamic_rule
from routers.embedding import DEFAULT_MODEL, MODELS
from routers.hybrid import HybridRouter, require_target
from routers.llm import LLMClassifier, Provider
from routers.rulebook import RuleBook

__all__ = ["DEFAULT_RULES_DIR", "RouterSettings", "build_router"]

DEFAULT_RULES_DIR = Path(__file__).resolve().parent.parent / "rules"


class RouterSettings(BaseModel):
    """Every knob of the router."""

    strategy: Strategy = Field("rule_first", description="Overridable per run (route_strategy).")
    confidence_threshold: float = Field(0.7, ge=0.0, le=1.0)
    fallback_target: str = Field("chat", description="Where undecided requests go.")
    rules_dir: Path = Field(DEFAULT_RULES_DIR, description="Directory of *.yaml rule files.")
    watch_rules: bool = Field(True, description="Reload rules when a rules file changes.")
    semantic_model: str = Field(
        DEFAULT_MODEL,
        description=f"Sentence embedder of the semantic tier: {', '.join(MODELS)} or 'off'.",
    )
    semantic_threshold: float = Field(
        0.3, ge=-1.0, le=1.0, description="Score (mean cosine of 3 nearest examples) to decide."
    )
    semantic_margin: float = Field(
        0.02, ge=0.0, le=2.0, description="...and how far it must beat the next target's."
    )
    dynamic_rules: list[str] = Field(
        default_factory=list, description="'module:function' specs, consulted before rules."
    )
    providers: list[Provider] = Field(
        default_factory=list, description="LLM endpoints; none means the LLM tier is off."
    )
    fallback_provider: Provider | None = Field(None, description="Tried after every provider.")
    timeout_s: float = Field(10.0, gt=0, description="Per LLM attempt.")
    max_retries: int = Field(2, ge=0, description="Retries per provider on 429/5xx/timeouts.")
    retry_backoff_s: float = Field(0.5, ge=0, description="First retry's backoff (exponential).")
    retry_backoff_max_s: float = Field(8.0, ge=0)

    @field_validator("semantic_model")
    @classmethod
    def _known_model(cls, model: str) -> str:
        if model not in (*MODELS, "off"):
            raise ValueError(
                f"unknown semantic model {model!r}; expected one of {[*MODELS, 'off']}"
            )
        return model

    @model_validator(mode="after")
    def _distinct_provider_names(self) -> RouterSettings:
        names = [p.name for p in self.providers]
        if self.fallback_provider is not None:
            names.append(self.fallback_provider.name)
        if len(names) != len(set(names)):
            raise ValueError(f"provider names must be distinct, got {names}")
        return self

    @property
    def llm_enabled(self) -> bool:
        return bool(self.providers) or self.fallback_provider is not None


def build_router(
    settings: RouterSettings,
    targets: Mapping[str, str],
    *,
    examples: Mapping[str, Sequence[str]] | None = None,
    clock: Callable[[], datetime] | None = None,
    http_client: httpx.AsyncClient | None = None,
    on_retry: Callable[[str], None] | None = None,
) -> HybridRouter:
    """A ready router over ``targets`` (graph id -> description); ``examples``
    (graph id -> utterances) join the rules files' for the semantic tier.

    Raises ``RuleLoadError`` for a bad rules directory and
    ``RouterConfigError`` for a bad fallback target or dynamic rule spec.
    Call ``aclose()`` on the router at shutdown (it owns HTTP connections,
    ``http_client``'s too when given, and, with ``watch_rules``, the thread
    watching the rules directory). ``on_retry(provider)`` hears of every LLM
    retry.
    """
    require_target(settings.fallback_target, targets, "fallback target")
    rules = RuleBook(
        settings.rules_dir, targets, semantic_model=settings.semantic_model, examples=examples
    )
    dynamic = [load_dynamic_rule(spec) for spec in settings.dynamic_rules]
    # Built last: it opens a connection pool, which nothing after it may leak.
    llm = None
    if settings.llm_enabled:
        llm = LLMClassifier(
            settings.providers,
            targets,
            fallback=settings.fallback_provider,
            timeout_s=settings.timeout_s,
            max_retries=settings.max_retries,
            backoff_s=settings.retry_backoff_s,
            backoff_max_s=settings.retry_backoff_max_s,
            http_client=http_client,
            on_retry=on_retry,
        )
    router = HybridRouter(
        rules,
        targets,
        llm=llm,
        dynamic=dynamic,
        strategy=settings.strategy,
        threshold=settings.confidence_threshold,
        semantic_threshold=settings.semantic_threshold,
        semantic_margin=settings.semantic_margin,
        fallback_target=settings.fallback_target,
        clock=clock,
    )
    if settings.watch_rules:
        router.rules.start_watch()
    return router
