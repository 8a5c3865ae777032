"""The one loader for ``rules/*.yaml``.

A rules file is a mapping with up to two keys: ``rules``, a list of rules
(see ``rule_models``), and ``examples``, example utterances per target for
the semantic tier (see ``semantic``)::

    rules:
      - id: publish-en
        target: content
        priority: 100
        confidence: 0.9
        match:
          keywords: {any: [publish, "post to"]}
    examples:
      content:
        - could you put together a short note for my followers
        - 帮我给粉丝写一段介绍

Files are read in file-name order (``*.yaml`` and ``*.yml`` together), rules
in the order they appear; ``SourcedRule.order`` records that position so the
rule set can break priority ties deterministically. Rule ids are unique
across all files; examples of one target from several files are joined.
The first problem found raises ``RuleLoadError`` naming the file, the rule
id and what is wrong; nothing is partially loaded.
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

__all__ = ["Loaded", "SourcedRule", "load_directory", "load_rules", "rule_files"]


@dataclass(frozen=True, slots=True)
class SourcedRule:
    """A validated rule and where it came from."""

    rule: Rule
    file: str
    order: int  # position across all files, in load order


@dataclass(frozen=True, slots=True)
class Loaded:
    """Everything a rules directory holds, validated."""

    rules: list[SourcedRule]
    examples: dict[str, list[str]]  # target -> example utterances, in file order
    files: list[str]


def rule_files(directory: Path) -> list[Path]:
    """The rule files of ``directory`` in load order (by file name)."""
    if not directory.is_dir():
        raise RuleLoadError(str(directory), "rules directory does not exist")
    files = [*directory.glob("*.yaml"), *directory.glob("*.yml")]
    return sorted((f for f in files if f.is_file()), key=lambda f: f.name)


def load_rules(directory: Path, targets: Collection[str] | None = None) -> list[SourcedRule]:
    """Every enabled rule of every file in ``directory``, validated."""
    return load_directory(directory, targets).rules


def load_directory(directory: Path, targets: Collection[str] | None = None) -> Loaded:
    """Every enabled rule and every example of every file in ``directory``, validated.

    With ``targets``, a rule or examples whose target is not among them is an error.
    """
    loaded: list[SourcedRule] = []
    examples: dict[str, list[str]] = {}
    seen: dict[str, str] = {}
    paths = rule_files(directory)
    for path in paths:
        document = _document(path)
        for raw in _raw_rules(path, document):
            rule = _validate(path, raw)
            if rule.id in seen:
                raise RuleLoadError(
                    str(path), f"duplicate rule id (also defined in {seen[rule.id]})", rule.id
                )
            seen[rule.id] = path.name
            if targets is not None and rule.target not in targets:
                raise RuleLoadError(str(path), _unknown(rule.target, targets), rule.id)
            if rule.enabled:
                loaded.append(SourcedRule(rule=rule, file=path.name, order=len(loaded)))
        for target, texts in _examples(path, document.get("examples"), targets).items():
            examples.setdefault(target, []).extend(texts)
    return Loaded(loaded, examples, [p.name for p in paths])


def _unknown(target: str, targets: Collection[str]) -> str:
    known = ", ".join(sorted(targets)) or "none"
    return f"target {target!r} is not a registered graph (known: {known})"


def _document(path: Path) -> dict[str, Any]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleLoadError(str(path), f"cannot read file: {exc}") from exc
    except yaml.YAMLError as exc:
        raise RuleLoadError(str(path), f"invalid YAML: {exc}") from exc
    if document is None:
        return {}  # an empty file is a file with no rules
    if not isinstance(document, dict):
        raise RuleLoadError(str(path), "expected a mapping with a 'rules' list at the top level")
    extra = sorted(set(document) - {"rules", "examples"}, key=str)
    if extra:
        raise RuleLoadError(str(path), f"unknown top-level key(s): {', '.join(map(str, extra))}")
    return document


def _examples(path: Path, raw: Any, targets: Collection[str] | None) -> dict[str, list[str]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise RuleLoadError(str(path), "'examples' must map each target to a list of utterances")
    out: dict[str, list[str]] = {}
    for target, texts in raw.items():
        where = f"examples.{target}"
        if targets is not None and target not in targets:
            raise RuleLoadError(str(path), f"{where}: {_unknown(str(target), targets)}")
        if not isinstance(texts, list) or not all(isinstance(t, str) and t.strip() for t in texts):
            raise RuleLoadError(str(path), f"{where}: expected a list of non-empty strings")
        out[str(target)] = [t.strip() for t in texts]
    return out


def _raw_rules(path: Path, document: dict[str, Any]) -> list[Any]:
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
