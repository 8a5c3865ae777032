"""The building blocks of compiled expressions (see ``expressions``).

Three things live here so that ``expressions`` reads as the grammar only:

- ``rewrite``: the one textual step before ``ast.parse``, which maps the
  rule-engine regex operators onto Python syntax nothing else can produce;
- the closure factories, one per construct, with fast paths for the shapes
  rules use most (``field > 0.7``, ``'vip' in tags``, two or three ``and``
  terms), because a condition rule is evaluated on every request;
- the guarded operations: ``**``, ``*`` and the functions refuse results
  that would be huge, at load time when the operands are constants and at
  evaluation time when they come from the context.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

__all__ = ["EvaluationError", "UnsafeExpression"]

MAX_DEPTH = 32  # nested syntax nodes (and brackets)
MAX_INT_BITS = 4096  # largest integer a computation may produce
MAX_ITEMS = 100_000  # longest string or list a repetition may produce

Fn = Callable[[Mapping[str, Any]], Any]
Refuse = Callable[[str, ast.AST], Exception]


class UnsafeExpression(ValueError):
    """An expression that is refused at compile time: ``what`` is wrong, ``where``."""

    def __init__(self, what: str, where: str, text: str) -> None:
        self.what = what
        self.where = where
        self.text = text
        super().__init__(f"{what} (at {where})")


class EvaluationError(ValueError):
    """Evaluating a compiled expression failed on this context (e.g. ``null > 1``)."""


class _Refused(EvaluationError):
    """A bound was hit: the computation would be huge (or is a format string)."""


NOTHING: Any = object()  # "no constant here"

# -- the textual step ------------------------------------------------------------

_REGEX_OPS = {"=~~": " is ~", "!~~": " is not ~", "=~": " is ", "!~": " is not "}
_TWO_CHAR = ("==", "!=", "<=", ">=")
_WORD = re.compile(r"\w+")


def rewrite(text: str) -> str:
    """``text`` with =~ / =~~ / !~ / !~~ outside string literals turned into Python.

    ``a =~ p`` becomes ``a is p`` and ``a =~~ p`` becomes ``a is ~p``; since
    ``is`` and ``~`` written by hand are refused here, the compiler can read
    ``is`` as "regex match" and ``is ~`` as "regex search" without ambiguity.
    Also refuses brackets nested deeper than the compiler would accept, before
    Python's parser spends effort on them.
    """
    out: list[str] = []
    i, depth, size = 0, 0, len(text)
    while i < size:
        char = text[i]
        if char in "'\"":
            end = _string_end(text, i)
            out.append(text[i:end])
            i = end
            continue
        if text[i : i + 2] in _TWO_CHAR:
            out.append(text[i : i + 2])
            i += 2
            continue
        op = next((op for op in _REGEX_OPS if text.startswith(op, i)), None)
        if op is not None:
            out.append(_REGEX_OPS[op])
            i += len(op)
            continue
        if char == "~":
            raise UnsafeExpression("'~' is not allowed", f"column {i + 1}", text)
        word = _WORD.match(text, i)
        if word is not None:
            if word.group() == "is":
                where = f"column {i + 1}"
                raise UnsafeExpression("'is' is not supported: use == or =~", where, text)
            out.append(word.group())
            i = word.end()
            continue
        depth += char in "([{"
        depth -= char in ")]}"
        if depth > MAX_DEPTH:
            raise UnsafeExpression(f"nested deeper than {MAX_DEPTH}", f"column {i + 1}", text)
        out.append(char)
        i += 1
    return "".join(out)


def _string_end(text: str, start: int) -> int:
    quote = text[start] * 3 if text.startswith(text[start] * 3, start) else text[start]
    i = start + len(quote)
    while i < len(text):
        if text[i] == "\\":
            i += 2
        elif text.startswith(quote, i):
            return i + len(quote)
        else:
            i += 1
    return len(text)  # unterminated: Python's parser reports it


# -- leaves and containers -------------------------------------------------------


def const(value: Any) -> Fn:
    return lambda _context: value


def field(name: str) -> Fn:
    return lambda context: context.get(name)


def sequence(kind: Callable[[list[Any]], Any], parts: Sequence[Fn]) -> Fn:
    return lambda context: kind([part(context) for part in parts])


def mapping(keys: Sequence[Fn], values: Sequence[Fn]) -> Fn:
    pairs = list(zip(keys, values, strict=True))
    return lambda context: {k(context): v(context) for k, v in pairs}


def subscript(container: Fn, key: str | int) -> Fn:
    def get(context: Mapping[str, Any]) -> Any:
        value = container(context)
        if isinstance(value, Mapping):
            return value.get(key)
        if isinstance(value, list | tuple | str) and isinstance(key, int):
            return value[key] if -len(value) <= key < len(value) else None
        if value is None:
            return None
        raise EvaluationError(f"cannot subscript {type(value).__name__} with {key!r}")

    return get


# -- boolean and conditional -----------------------------------------------------


def all_of(parts: Sequence[Fn]) -> Fn:
    if len(parts) == 2:
        a, b = parts
        return lambda context: a(context) and b(context)
    if len(parts) == 3:
        a, b, c = parts
        return lambda context: a(context) and b(context) and c(context)

    def every(context: Mapping[str, Any]) -> Any:
        value: Any = True
        for part in parts:
            value = part(context)
            if not value:
                return value
        return value

    return every


def any_of(parts: Sequence[Fn]) -> Fn:
    def first(context: Mapping[str, Any]) -> Any:
        value: Any = False
        for part in parts:
            value = part(context)
            if value:
                return value
        return value

    return first


def negate(operand: Fn) -> Fn:
    return lambda context: not operand(context)


def minus(operand: Fn) -> Fn:
    return lambda context: -operand(context)


def plus(operand: Fn) -> Fn:
    return lambda context: +operand(context)


def choose(test: Fn, body: Fn, orelse: Fn) -> Fn:
    return lambda context: body(context) if test(context) else orelse(context)


# -- comparisons -----------------------------------------------------------------


def _contains(item: Any, container: Any) -> bool:
    return item in container


def _not_contains(item: Any, container: Any) -> bool:
    return item not in container


COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: _contains,
    ast.NotIn: _not_contains,
}


def compare_one(left: Fn, op: Callable[[Any, Any], Any], right: Fn, constant: Any) -> Fn:
    """``left <op> right``; with a constant right side the closure skips one call."""
    if constant is not NOTHING:
        return lambda context: op(left(context), constant)
    return lambda context: op(left(context), right(context))


def compare_field(name: str, op: type[ast.cmpop], constant: Any) -> Fn | None:
    """The hottest shape, ``field <op> constant``, with the operator inlined."""
    k = constant
    shapes: dict[type[ast.cmpop], Fn] = {
        ast.Eq: lambda c: c.get(name) == k,
        ast.NotEq: lambda c: c.get(name) != k,
        ast.Lt: lambda c: c.get(name) < k,
        ast.LtE: lambda c: c.get(name) <= k,
        ast.Gt: lambda c: c.get(name) > k,
        ast.GtE: lambda c: c.get(name) >= k,
        ast.In: lambda c: c.get(name) in k,
        ast.NotIn: lambda c: c.get(name) not in k,
    }
    return shapes.get(op)


def constant_in_field(constant: Any, name: str, negated: bool) -> Fn:
    """``'vip' in tags`` (or ``not in``)."""
    if negated:
        return lambda c: constant not in c.get(name)  # type: ignore[operator]
    return lambda c: constant in c.get(name)  # type: ignore[operator]


def compare(left: Fn, steps: Sequence[tuple[Callable[[Any, Any], Any], Fn]]) -> Fn:
    """A chain ``a < b <= c``: every link holds, each operand evaluated once."""

    def chain(context: Mapping[str, Any]) -> bool:
        current = left(context)
        for op, right in steps:
            following = right(context)
            if not op(current, following):
                return False
            current = following
        return True

    return chain


def regex_test(subject: Fn, pattern: re.Pattern[str], *, search: bool, negate: bool) -> Fn:
    find = pattern.search if search else pattern.match
    if negate:
        return lambda context: find(subject(context)) is None
    return lambda context: find(subject(context)) is not None


# -- arithmetic ------------------------------------------------------------------


def _refuse(message: str) -> NoReturn:
    raise _Refused(message)


def _power(base: Any, exponent: Any) -> Any:
    if isinstance(base, int) and isinstance(exponent, int):
        bits = max(base.bit_length(), 1) * abs(exponent)
        if abs(base) > 1 and bits > MAX_INT_BITS:
            _refuse(f"{base} ** {exponent} is larger than {MAX_INT_BITS} bits")
    elif isinstance(exponent, int | float) and abs(exponent) > 10_000:
        _refuse(f"exponent {exponent} is larger than 10000")
    return base**exponent


def _repeat_size(a: Any, b: Any) -> int | None:
    if isinstance(a, str | list | tuple) and isinstance(b, int):
        return len(a) * b
    if isinstance(b, str | list | tuple) and isinstance(a, int):
        return len(b) * a
    return None


def _multiply(a: Any, b: Any) -> Any:
    size = _repeat_size(a, b)
    if size is not None and size > MAX_ITEMS:
        _refuse(f"repetition would make {size} items (at most {MAX_ITEMS})")
    if isinstance(a, int) and isinstance(b, int) and a.bit_length() + b.bit_length() > MAX_INT_BITS:
        _refuse(f"product is larger than {MAX_INT_BITS} bits")
    return a * b


def _modulo(a: Any, b: Any) -> Any:
    if isinstance(a, str):
        _refuse("'%' string formatting is not allowed")
    return a % b


BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: _multiply,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: _modulo,
    ast.Pow: _power,
}


def binary(op: Callable[[Any, Any], Any], left: Fn, right: Fn) -> Fn:
    return lambda context: op(left(context), right(context))


# -- functions -------------------------------------------------------------------


def _string(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise EvaluationError(f"{name}() needs a string, got {type(value).__name__}")
    return value


def _number(value: Any) -> Any:
    if isinstance(value, str) and len(value) > 100:
        _refuse("int()/float() of a string longer than 100 characters")
    return value


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": len,
    "lower": lambda s: _string(s, "lower").lower(),
    "upper": lambda s: _string(s, "upper").upper(),
    "abs": abs,
    "min": min,
    "max": max,
    "round": round,
    "int": lambda v: int(_number(v)),
    "float": lambda v: float(_number(v)),
    "str": str,
}
_ARITY = {"min": (1, 8), "max": (1, 8), "round": (1, 2)}


def call(name: str, args: Sequence[Fn], refuse: Refuse, node: ast.AST) -> Fn:
    low, high = _ARITY.get(name, (1, 1))
    if not low <= len(args) <= high:
        count = f"{low}" if low == high else f"{low} to {high}"
        raise refuse(f"{name}() takes {count} argument(s), got {len(args)}", node)
    function = FUNCTIONS[name]
    if len(args) == 1:
        (only,) = args
        return lambda context: function(only(context))
    return lambda context: function(*(arg(context) for arg in args))


# -- constant folding ------------------------------------------------------------


class _ReadsField(Exception):
    """Raised by the probe context: the subtree is not constant."""


class _Probe(Mapping[str, Any]):
    def __getitem__(self, key: str) -> Any:
        raise _ReadsField

    def get(self, key: str, default: Any = None) -> Any:
        raise _ReadsField

    def __iter__(self) -> Any:
        raise _ReadsField

    def __len__(self) -> int:
        raise _ReadsField


_PROBE = _Probe()


def constant_value(fn: Fn, node: ast.AST, refuse: Refuse) -> tuple[bool, Any]:
    """``(True, value)`` if ``fn`` reads no field; a bound hit is refused now."""
    try:
        return True, fn(_PROBE)
    except _Refused as exc:
        raise refuse(str(exc), node) from exc
    except Exception:  # reads a field, or fails on constants: left to evaluation time
        return False, None
