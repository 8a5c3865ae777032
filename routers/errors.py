"""The exceptions the router raises on purpose.

    RouterError                   anything the router refuses to do
    ├── RuleLoadError             a rule file does not validate (file, rule id, problem)
    └── RouterConfigError         settings the router cannot be built from
        └── UnknownStrategy       a strategy name that does not exist (also a ValueError)

``routers/`` knows nothing of HTTP; the server maps these onto its own error
tree (a bad reload is reported, never raised through to a client as a 500).
"""

from __future__ import annotations

__all__ = ["RouterConfigError", "RouterError", "RuleLoadError", "UnknownStrategy"]


class RouterError(Exception):
    """Base of every error the router raises on purpose."""


class RuleLoadError(RouterError):
    """A rules file is unreadable or a rule in it is invalid.

    ``str(error)`` names the file, the rule id (when the problem is inside one
    rule) and what is wrong, e.g.
    ``rules/10-content.yaml: rule 'publish-en': match.regex: unbalanced parenthesis``.
    """

    def __init__(self, file: str, problem: str, rule_id: str | None = None) -> None:
        self.file = file
        self.rule_id = rule_id
        self.problem = problem
        where = f"{file}: rule {rule_id!r}" if rule_id is not None else file
        super().__init__(f"{where}: {problem}")


class RouterConfigError(RouterError):
    """Router settings are inconsistent (unknown fallback target, bad dynamic spec, ...)."""


class UnknownStrategy(RouterConfigError, ValueError):
    """A strategy name that is not one of ``STRATEGIES``."""
