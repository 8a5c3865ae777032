"""A small, safe expression language for rule conditions and flow edges.

    compile_expression("sentiment_score > 0.7 and 'vip' in tags")  -> Expression
    expression.evaluate({"sentiment_score": 0.9, "tags": ["vip"]})  -> True

The syntax is a strict subset of Python expressions (parsed by ``ast``) plus
the operators of the ``rule-engine`` syntax rule files used before:

- names are context fields; a missing field, key or index is ``null``;
  ``true``/``false``/``null`` (and ``True``/``False``/``None``) are literals;
- literals: strings, numbers, lists, tuples, sets and dicts of expressions;
- ``== != < <= > >=`` (chainable), ``in``/``not in``, ``and``/``or``/``not``,
  ``x if c else y``, ``+ - * / // % **`` and unary ``-``/``+``;
- ``a =~ 'regex'`` (``re.match``), ``a =~~ 'regex'`` (``re.search``) and
  their negations ``!~`` / ``!~~``; the pattern must be a string literal, so
  a request can never supply a regex, and it is taken as written (raw):
  ``'\\bword\\b'`` means word boundaries, as in rule-engine, not backspaces;
- ``field['key']`` / ``field[0]``: subscripts with constant keys only;
- calls of a few pure functions only: ``FUNCTIONS`` below.

Anything else is refused when the text is compiled, with ``UnsafeExpression``
saying what and where: attribute access, names starting with ``_``, other
calls, lambdas, comprehensions, walrus, f-strings, slices, bit operations,
nesting deeper than ``MAX_DEPTH``, text longer than ``MAX_LENGTH``, and
exponents or repetitions whose result would be huge. (Python's own
``import``/statements are not expressions, so they never parse.)

Compilation happens once: the checked tree becomes a tree of closures, so
evaluation is a few Python calls with no parsing, no ``eval`` and no
attribute lookups on user data. The same bounds are enforced again at
evaluation time on values that come from the context (``ops.py``).
"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Callable, Hashable, Mapping
from typing import Any

from routers import expression_ops as ops
from routers.expression_ops import EvaluationError, UnsafeExpression

__all__ = [
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "EvaluationError",
    "Expression",
    "UnsafeExpression",
    "compile_expression",
]

MAX_LENGTH = 2000  # characters of expression text
MAX_DEPTH = ops.MAX_DEPTH  # nested syntax nodes (and brackets)
FUNCTIONS: Mapping[str, Callable[..., Any]] = ops.FUNCTIONS
_LITERALS: dict[str, Any] = {
    **{"true": True, "false": False, "null": None},
    **{"True": True, "False": False, "None": None},
}

Fn = Callable[[Mapping[str, Any]], Any]


class Expression:
    """A compiled expression: evaluate it over a context as often as needed."""

    __slots__ = ("_fn", "fields", "guards", "text")

    def __init__(
        self, text: str, fn: Fn, fields: frozenset[str], guards: dict[str, frozenset[Hashable]]
    ) -> None:
        self.text = text
        self._fn = fn
        self.fields = fields  # the context names it reads
        # field -> values one of which it must equal for the whole expression to
        # be true (top-level ``and`` terms like ``tier == 3``); lets a caller
        # index many expressions by field value and skip the hopeless ones.
        self.guards = guards

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        """The value over ``context``; ``EvaluationError`` if an operation fails."""
        try:
            return self._fn(context)
        except EvaluationError:
            raise
        except Exception as exc:  # e.g. None > 1: the data, not the expression, is wrong
            raise EvaluationError(f"{self.text!r}: {type(exc).__name__}: {exc}") from exc

    def matches(self, context: Mapping[str, Any]) -> bool:
        """Truthiness of the value; an expression that fails to evaluate does not match."""
        try:
            return bool(self._fn(context))
        except Exception:
            return False

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"


def compile_expression(text: str) -> Expression:
    """Check ``text`` against the whitelist and compile it; ``UnsafeExpression`` if refused."""
    if not isinstance(text, str):
        raise UnsafeExpression("expression must be a string", "the whole expression", str(text))
    if len(text) > MAX_LENGTH:
        raise UnsafeExpression(f"longer than {MAX_LENGTH} characters", "the whole expression", text)
    source = ops.rewrite(text).strip()
    try:
        with warnings.catch_warnings():
            # Invalid escapes such as '\\d' are regexes here, not mistakes.
            warnings.simplefilter("ignore")
            tree = ast.parse(source, mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        where = f"column {exc.offset}" if isinstance(exc, SyntaxError) and exc.offset else "?"
        raise UnsafeExpression(f"syntax error ({_message(exc)})", where, text) from exc
    compiler = _Compiler(text, source)
    fn = compiler.compile(tree.body, 0)
    guards = _guards(tree.body)
    return Expression(text, fn, frozenset(compiler.fields), guards)


def _message(exc: BaseException) -> str:
    return exc.msg if isinstance(exc, SyntaxError) else type(exc).__name__


def _guards(node: ast.expr) -> dict[str, frozenset[Hashable]]:
    """``field == const`` / ``field in [consts]`` terms of a top-level ``and``."""
    terms = node.values if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And) else [node]
    found: dict[str, frozenset[Hashable]] = {}
    for term in terms:
        if not (isinstance(term, ast.Compare) and len(term.ops) == 1):
            continue
        left, op, right = term.left, term.ops[0], term.comparators[0]
        if isinstance(op, ast.Eq) and isinstance(right, ast.Name):
            left, right = right, left
        if not isinstance(left, ast.Name) or left.id in _LITERALS:
            continue
        values: list[Any] = []
        if isinstance(op, ast.Eq):
            values = [right]
        elif isinstance(op, ast.In) and isinstance(right, ast.List | ast.Tuple | ast.Set):
            values = list(right.elts)
        else:
            continue
        consts = [_constant(v) for v in values]
        if all(ok for ok, _ in consts) and all(isinstance(c, Hashable) for _, c in consts):
            allowed = frozenset(c for _, c in consts)
            found[left.id] = found[left.id] & allowed if left.id in found else allowed
    return found


def _constant(node: ast.expr) -> tuple[bool, Any]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str | int | float):
        return True, node.value
    if isinstance(node, ast.Name) and node.id in _LITERALS:
        return True, _LITERALS[node.id]
    return False, None


class _Compiler:
    """Walks the parsed tree once: refuses what is not whitelisted, builds closures."""

    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        self.fields: set[str] = set()

    def refuse(self, what: str, node: ast.AST) -> UnsafeExpression:
        segment = ast.get_source_segment(self.source, node) or ""
        col = getattr(node, "col_offset", 0)
        line = self.source.splitlines()[getattr(node, "lineno", 1) - 1] if self.source else ""
        column = len(line.encode()[:col].decode(errors="ignore")) + 1
        # Columns are only true to the user's text when ``rewrite`` changed nothing.
        where = f"column {column}: " if self.source == self.text.strip() else "near "
        return UnsafeExpression(what, f"{where}{segment[:60]!r}", self.text)

    def compile(self, node: ast.expr, depth: int) -> Fn:
        if depth > MAX_DEPTH:
            raise self.refuse(f"nested deeper than {MAX_DEPTH}", node)
        handler = getattr(self, f"_{type(node).__name__}", None)
        if handler is None:
            raise self.refuse(f"{_describe(node)} is not allowed", node)
        fn: Fn = handler(node, depth + 1)
        return fn

    def constant_value(self, fn: Fn, node: ast.expr) -> tuple[bool, Any]:
        return ops.constant_value(fn, node, self.refuse)

    # -- leaves -------------------------------------------------------------------

    def _Constant(self, node: ast.Constant, depth: int) -> Fn:
        value = node.value
        if isinstance(value, bool) or value is None or isinstance(value, str | int | float):
            return ops.const(value)
        raise self.refuse(f"{type(value).__name__} literals are not allowed", node)

    def _Name(self, node: ast.Name, depth: int) -> Fn:
        if node.id in _LITERALS:
            return ops.const(_LITERALS[node.id])
        if node.id.startswith("_"):
            raise self.refuse(f"name {node.id!r}: names starting with '_' are not allowed", node)
        self.fields.add(node.id)
        return ops.field(node.id)

    # -- containers ---------------------------------------------------------------

    def _List(self, node: ast.List, depth: int) -> Fn:
        return ops.sequence(list, [self.compile(e, depth) for e in node.elts])

    def _Tuple(self, node: ast.Tuple, depth: int) -> Fn:
        return ops.sequence(tuple, [self.compile(e, depth) for e in node.elts])

    def _Set(self, node: ast.Set, depth: int) -> Fn:
        return ops.sequence(frozenset, [self.compile(e, depth) for e in node.elts])

    def _Dict(self, node: ast.Dict, depth: int) -> Fn:
        if any(k is None for k in node.keys):
            raise self.refuse("'**' unpacking is not allowed", node)
        keys = [self.compile(k, depth) for k in node.keys if k is not None]
        return ops.mapping(keys, [self.compile(v, depth) for v in node.values])

    def _Subscript(self, node: ast.Subscript, depth: int) -> Fn:
        key_node = node.slice
        ok, key = _constant(key_node)
        if not ok and isinstance(key_node, ast.UnaryOp) and isinstance(key_node.op, ast.USub):
            ok, key = _constant(key_node.operand)
            key = -key if ok and isinstance(key, int) else key
        if not ok or isinstance(key, bool) or not isinstance(key, str | int):
            raise self.refuse("subscripts need a constant string or integer key", node)
        if isinstance(key, str) and key.startswith("__"):
            raise self.refuse(f"key {key!r}: dunder keys are not allowed", node)
        return ops.subscript(self.compile(node.value, depth), key)

    # -- operators ----------------------------------------------------------------

    def _BoolOp(self, node: ast.BoolOp, depth: int) -> Fn:
        parts = [self.compile(v, depth) for v in node.values]
        return ops.all_of(parts) if isinstance(node.op, ast.And) else ops.any_of(parts)

    def _UnaryOp(self, node: ast.UnaryOp, depth: int) -> Fn:
        kind = type(node.op)
        if kind is ast.Invert:
            raise self.refuse("'~' is not allowed (regex operators are =~ and =~~)", node)
        operand = self.compile(node.operand, depth)
        fn = {ast.Not: ops.negate, ast.USub: ops.minus, ast.UAdd: ops.plus}[kind](operand)
        return self.fold(fn, node)

    def _BinOp(self, node: ast.BinOp, depth: int) -> Fn:
        op = ops.BINARY.get(type(node.op))
        if op is None:
            raise self.refuse(f"operator {_describe(node.op)} is not allowed", node)
        fn = ops.binary(op, self.compile(node.left, depth), self.compile(node.right, depth))
        return self.fold(fn, node)

    def fold(self, fn: Fn, node: ast.expr) -> Fn:
        """Evaluate constant arithmetic now, so ``'a' * 10**9`` is refused at load."""
        ok, value = self.constant_value(fn, node)
        return ops.const(value) if ok else fn

    def _IfExp(self, node: ast.IfExp, depth: int) -> Fn:
        return ops.choose(
            self.compile(node.test, depth),
            self.compile(node.body, depth),
            self.compile(node.orelse, depth),
        )

    def _Compare(self, node: ast.Compare, depth: int) -> Fn:
        left = self.compile(node.left, depth)
        if any(isinstance(op, ast.Is | ast.IsNot) for op in node.ops):
            if len(node.ops) > 1:
                raise self.refuse("a regex operator cannot be chained; use 'and'", node)
            return self.regex(node.ops[0], left, node.comparators[0])
        steps: list[tuple[Callable[[Any, Any], Any], Fn]] = []
        for op_node, right in zip(node.ops, node.comparators, strict=True):
            op = ops.COMPARE.get(type(op_node))
            if op is None:
                raise self.refuse(f"operator {_describe(op_node)} is not allowed", node)
            steps.append((op, self.compile(right, depth)))
        if len(steps) > 1:
            return ops.compare(left, steps)
        return self.compare_one(node, left, *steps[0])

    def compare_one(
        self, node: ast.Compare, left: Fn, op: Callable[[Any, Any], Any], right: Fn
    ) -> Fn:
        # Fast paths for ``field <op> constant`` and ``constant in field``.
        op_type = type(node.ops[0])
        left_const, left_value = self.constant_value(left, node.left)
        right_const, right_value = self.constant_value(right, node.comparators[0])
        if right_const and _is_field(node.left):
            assert isinstance(node.left, ast.Name)
            fast = ops.compare_field(node.left.id, op_type, right_value)
            if fast is not None:
                return fast
        if left_const and _is_field(node.comparators[0]) and op_type in (ast.In, ast.NotIn):
            name = node.comparators[0].id  # type: ignore[attr-defined]
            return ops.constant_in_field(left_value, name, negated=op_type is ast.NotIn)
        if left_const and right_const:
            return self.fold(ops.compare_one(left, op, right, right_value), node)
        return ops.compare_one(left, op, right, right_value if right_const else ops.NOTHING)

    def regex(self, op_node: ast.cmpop, left: Fn, right: ast.expr) -> Fn:
        # ``rewrite`` turned =~ / =~~ into ``is`` / ``is ~`` (and ! into ``is not``).
        pattern_node = right.operand if isinstance(right, ast.UnaryOp) else right
        if not (isinstance(pattern_node, ast.Constant) and isinstance(pattern_node.value, str)):
            raise self.refuse("a regex operator needs a string literal pattern", right)
        try:
            pattern = re.compile(self.raw(pattern_node))
        except re.error as exc:
            raise self.refuse(f"bad regex: {exc}", right) from exc
        search = isinstance(right, ast.UnaryOp)
        return ops.regex_test(left, pattern, search=search, negate=isinstance(op_node, ast.IsNot))

    def raw(self, node: ast.Constant) -> str:
        """The literal's text as written between its quotes (escapes left alone)."""
        written = ast.get_source_segment(self.source, node) or ""
        found = _LITERAL.fullmatch(written)
        if found is None or "r" in found["prefix"].lower():
            return str(node.value)  # a raw literal already, or several literals joined
        quote = found["quote"][0]
        return found["body"].replace("\\" + quote, quote)

    def _Call(self, node: ast.Call, depth: int) -> Fn:
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name is None or name not in FUNCTIONS:
            allowed = ", ".join(sorted(FUNCTIONS))
            raise self.refuse(f"calls are not allowed, except of: {allowed}", node)
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise self.refuse(f"{name}() takes plain positional arguments only", node)
        fn = ops.call(name, [self.compile(a, depth) for a in node.args], self.refuse, node)
        return self.fold(fn, node)


# One string literal: prefix, quotes, and a body where a backslash escapes anything.
_LITERAL = re.compile(
    r"(?P<prefix>[A-Za-z]*)(?P<quote>'''|\"\"\"|'|\")(?P<body>(?:\\.|(?!(?P=quote)).)*)(?P=quote)",
    re.DOTALL,
)


def _is_field(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id not in _LITERALS


def _describe(node: ast.AST) -> str:
    names = {
        "Attribute": "attribute access",
        "Lambda": "lambda",
        "ListComp": "a comprehension",
        "SetComp": "a comprehension",
        "DictComp": "a comprehension",
        "GeneratorExp": "a generator expression",
        "NamedExpr": "assignment (:=)",
        "JoinedStr": "an f-string",
        "Starred": "'*' unpacking",
        "Slice": "a slice",
        "Await": "await",
        "Yield": "yield",
        "YieldFrom": "yield",
    }
    return names.get(type(node).__name__, type(node).__name__)
