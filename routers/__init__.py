"""The hybrid rule/LLM router: which registered graph handles a request, and why.

Pure Python over langchain-openai (and, for the optional semantic tier,
numpy); no HTTP server, nothing from ``app``.
Build one with ``build_router(RouterSettings(...), targets)`` and call
``await router.route(RouteRequest(text=...))``.
"""

from routers.base import STRATEGIES, Candidate, RouteDecision, Router, RouteRequest, Strategy, Turn
from routers.config import DEFAULT_RULES_DIR, RouterSettings, build_router
from routers.dynamic import DynamicRule, load_dynamic_rule
from routers.errors import RouterConfigError, RouterError, RuleLoadError, UnknownStrategy
from routers.expressions import Expression, UnsafeExpression, compile_expression
from routers.hybrid import HybridRouter
from routers.llm import LLMClassifier, LLMOutcome, Provider
from routers.rulebook import ReloadResult, RuleBook, RulesReport
from routers.rules import RuleOutcome, RuleSet

__all__ = [
    "DEFAULT_RULES_DIR",
    "STRATEGIES",
    "Candidate",
    "DynamicRule",
    "Expression",
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
    "RulesReport",
    "Strategy",
    "Turn",
    "UnknownStrategy",
    "UnsafeExpression",
    "build_router",
    "compile_expression",
    "load_dynamic_rule",
]
