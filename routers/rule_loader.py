"""The one loader for ``rules/*.yaml``.

A rules file is a mapping with a single key, ``rules``, holding a list of
rules (see ``rule_models``)::

    rules:
      - id: publish-en
        target: content
        priority: 100
        confidence: 0.9
        match:
          keywords: {any: [publish, "post to"]}

Files are read in file-name order (``*.yaml`` and ``*.yml`` together), rules
in the order they appear; ``SourcedRule.order`` records that position so the
rule set can break priority ties deterministically. Rule ids are unique
across all files. The first problem found raises ``RuleLoadError`` naming
the file, the rule id and what is wrong; nothing is partially loaded.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from routers.errors import RuleLoadError
from routers.rule_models import Rule

__all__ = ["SourcedRule", "load_rules", "rule_files"]


@dataclass(frozen=True, slots=True)
class SourcedRule:
    """A validated rule and where it came from."""

    rule: Rule
    file: str
    order: int  # position across all files, in load order


def rule_files(directory: Path) -> list[Path]:
    """The rule files of ``directory`` in load order (by file name)."""
    if not directory.is_dir():
        raise RuleLoadError(str(directory), "rules directory does not exist")
    files = [*directory.glob("*.yaml"), *directory.glob("*.yml")]
    return sorted((f for f in files if f.is_file()), key=lambda f: f.name)


def load_rules(directory: Path, targets: Collection[str] | None = None) -> list[SourcedRule]:
    """Every enabled rule of every file in ``directory``, validated.

    With ``targets``, a rule whose target is not among them is an error.
    """
    loaded: list[SourcedRule] = []
    seen: dict[str, str] = {}
    for path in rule_files(directory):
        for raw in _raw_rules(path):
            rule = _validate(path, raw)
            if rule.id in seen:
                raise RuleLoadError(
                    str(path), f"duplicate rule id (also defined in {seen[rule.id]})", rule.id
                )
            seen[rule.id] = path.name
            if targets is not None and rule.target not in targets:
                known = ", ".join(sorted(targets)) or "none"
                raise RuleLoadError(
                    str(path),
                    f"target {rule.target!r} is not a registered graph (known: {known})",
                    rule.id,
                )
            if rule.enabled:
                loaded.append(SourcedRule(rule=rule, file=path.name, order=len(loaded)))
    return loaded


def _raw_rules(path: Path) -> list[Any]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleLoadError(str(path), f"cannot read file: {exc}") from exc
    except yaml.YAMLError as exc:
        raise RuleLoadError(str(path), f"invalid YAML: {exc}") from exc
    if document is None:
        return []  # an empty file is a file with no rules
    if not isinstance(document, dict):
        raise RuleLoadError(str(path), "expected a mapping with a 'rules' list at the top level")
    extra = sorted(set(document) - {"rules"}, key=str)
    if extra:
        raise RuleLoadError(str(path), f"unknown top-level key(s): {', '.join(map(str, extra))}")
    rules = document.get("rules") or []
    if not isinstance(rules, list):
        raise RuleLoadError(str(path), "'rules' must be a list")
    return rules


def _validate(path: Path, raw: Any) -> Rule:
    rule_id = raw.get("id") if isinstance(raw, dict) else None
    label = str(rule_id) if rule_id is not None else None
    if not isinstance(raw, dict):
        raise RuleLoadError(str(path), f"each rule must be a mapping, got {type(raw).__name__}")
    try:
        return Rule.model_validate(raw)
    except ValidationError as exc:
        raise RuleLoadError(str(path), _describe(exc), label) from exc


def _describe(exc: ValidationError) -> str:
    """``field.path: message`` for each problem, without pydantic's boilerplate."""
    problems = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "rule"
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {message}")
    return "; ".join(problems)
