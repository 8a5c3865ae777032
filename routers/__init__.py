"""The hybrid rule/LLM router: which registered graph handles a request, and why.

Pure Python over langchain-openai; no HTTP server, nothing from ``app``.
Build one with ``build_router(RouterSettings(...), targets)`` and call
``await router.route(RouteRequest(text=...))``.
"""

from routers.base import STRATEGIES, Candidate, RouteDecision, Router, RouteRequest, Strategy, Turn
from routers.config import DEFAULT_RULES_DIR, RouterSettings, build_router
from routers.dynamic import DynamicRule, load_dynamic_rule
from routers.errors import RouterConfigError, RouterError, RuleLoadError, UnknownStrategy
from routers.hybrid import HybridRouter
from routers.llm import LLMClassifier, LLMOutcome, Provider
from routers.rules import ReloadResult, RuleBook, RuleOutcome, RuleSet

__all__ = [
    "DEFAULT_RULES_DIR",
    "STRATEGIES",
    "Candidate",
    "DynamicRule",
    "HybridRouter",
    "LLMClassifier",
    "LLMOutcome",
    "Provider",
    "ReloadResult",
    "RouteDecision",
    "RouteRequest",
    "Router",
    "RouterConfigError",
    "RouterError",
    "RouterSettings",
    "RuleBook",
    "RuleLoadError",
    "RuleOutcome",
    "RuleSet",
    "Strategy",
    "Turn",
    "UnknownStrategy",
    "build_router",
    "load_dynamic_rule",
]
