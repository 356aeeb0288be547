"""The fast FHIRPath subset: a direct evaluator for the expressions guideline conditions mostly use.

Paths under variables, literals, ``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``and``, ``or``, ``in``, ``|``,
``exists()``, ``empty()``, ``not()``, ``count()``, ``first()``, ``iif(criterion, then[, otherwise])``, with
FHIRPath's empty-collection semantics.
Anything else raises :class:`Unsupported` and :mod:`app.engine.fhirpath` uses fhirpathpy instead.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

Evaluator = Callable[[Mapping[str, Any]], list[Any]]
#: Environment key of an optional per-evaluation cache of path and expression results (the facts do not
#: change while one plan is built; results are never modified by the operators below or by their callers).
PATH_CACHE = "\x00paths"

_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d+)?)(?![\w])|(?P<str>'(?:[^'\\]|\\.)*')|(?P<var>%[A-Za-z_]\w*)"
    r"|(?P<op><=|>=|!=|[=<>|().,])|(?P<ident>[A-Za-z_]\w*))"
)
_FUNCTIONS = {"exists", "empty", "not", "count", "first"}
_KEYWORDS = {"and", "or", "in", "true", "false"}


class Unsupported(Exception):
    """The expression uses FHIRPath outside the fast subset (fhirpathpy evaluates it)."""



def parse_subset(text: str) -> Evaluator:
    """Compile ``text`` to a closure; raises Unsupported when it leaves the subset."""
    return _Parser(text).parse()


# -- the fast subset -----------------------------------------------------------------------------


class _Parser:
    """Recursive descent over the subset, producing closures; raises Unsupported for anything else."""

    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        position = 0
        text = text.strip()
        while position < len(text):
            match = _TOKEN.match(text, position)
            if not match or match.end() == position:
                raise Unsupported(text[position:])
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            position = match.end()
            while position < len(text) and text[position].isspace():
                position += 1
        self.index = 0

    def parse(self) -> Evaluator:
        node = self._or()
        if self.index != len(self.tokens):
            raise Unsupported("trailing tokens")
        return node

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def _take(self, value: str | None = None) -> tuple[str, str]:
        token = self._peek()
        if token is None or (value is not None and token[1] != value):
            raise Unsupported(f"expected {value}")
        self.index += 1
        return token

    def _at(self, value: str) -> bool:
        token = self._peek()
        return token is not None and token[1] == value and token[0] in ("op", "ident")

    def _or(self) -> Evaluator:
        left = self._and()
        while self._at("or"):
            self._take()
            left = _or_node(left, self._and())
        return left

    def _and(self) -> Evaluator:
        left = self._membership()
        while self._at("and"):
            self._take()
            left = _and_node(left, self._membership())
        return left

    def _membership(self) -> Evaluator:
        left = self._equality()
        if self._at("in"):
            self._take()
            left = _in_node(left, self._equality())
        return left

    def _equality(self) -> Evaluator:
        left = self._comparison()
        while self._peek() in (("op", "="), ("op", "!=")):
            op = self._take()[1]
            left = _compare_node(op, left, self._comparison())
        return left

    def _comparison(self) -> Evaluator:
        left = self._union()
        while self._peek() in (("op", "<"), ("op", ">"), ("op", "<="), ("op", ">=")):
            op = self._take()[1]
            left = _compare_node(op, left, self._union())
        return left

    def _union(self) -> Evaluator:
        left = self._path()
        while self._at("|"):
            self._take()
            left = _union_node(left, self._path())
        return left

    def _path(self) -> Evaluator:
        start = self._peek()
        node = self._term()
        names: list[str] = []
        while self._at("."):
            self._take()
            kind, name = self._take()
            if kind != "ident" or name in _KEYWORDS:
                raise Unsupported(name)
            if self._at("("):
                self._take("(")
                self._take(")")
                if name not in _FUNCTIONS:
                    raise Unsupported(name)
                node = _chain(start, node, names)
                names = []
                start = None
                node = _function_node(name, node)
            else:
                names.append(name)
        return _chain(start, node, names)

    def _term(self) -> Evaluator:
        kind, value = self._take()
        if kind == "var":
            name = value[1:]
            return lambda env: _as_collection(env.get(name))
        if kind == "num":
            return _literal(float(value) if "." in value else int(value))
        if kind == "str":
            text = value[1:-1]
            if "\\" in text:
                raise Unsupported("escapes")
            return _literal(text)
        if kind == "ident" and value in ("true", "false"):
            flag = value == "true"
            return lambda env: [flag]
        if value == "(":
            inner = self._or()
            self._take(")")
            return inner
        if kind == "ident" and value == "iif" and self._at("("):
            self._take("(")
            criterion = self._or()
            self._take(",")
            then = self._or()
            otherwise: Evaluator = lambda env: []  # noqa: E731 - iif without an otherwise-result gives empty
            if self._at(","):
                self._take(",")
                otherwise = self._or()
            self._take(")")
            return _iif_node(criterion, then, otherwise)
        raise Unsupported(value)


def _iif_node(criterion: Evaluator, then: Evaluator, otherwise: Evaluator) -> Evaluator:
    """FHIRPath ``iif``: ``then`` when the criterion is true, ``otherwise`` when it is false or empty; a criterion
    that is not one boolean is left to fhirpathpy."""
    def choose(env: Mapping[str, Any]) -> list[Any]:
        value = criterion(env)
        if not value:
            return otherwise(env)
        if len(value) != 1 or not isinstance(value[0], bool):
            raise Unsupported("iif() on a non-boolean criterion")
        return then(env) if value[0] else otherwise(env)

    return choose


def _literal(value: Any) -> Evaluator:
    def constant(env: Mapping[str, Any]) -> list[Any]:
        return [value]

    constant.literal = value  # type: ignore[attr-defined]  # lets comparisons skip re-evaluating it
    return constant


_ORDER = {"<": operator.lt, ">": operator.gt, "<=": operator.le, ">=": operator.ge, "=": operator.eq,
          "!=": operator.ne}


def _as_collection(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _chain(start: tuple[str, str] | None, node: Evaluator, names: list[str]) -> Evaluator:
    """Member access along ``names``; from a variable, walk the dicts directly (the common case)."""
    if not names:
        return node
    if start is not None and start[0] == "var":
        return _variable_path(start[1][1:], tuple(names))
    for name in names:
        node = _member_node(node, name)
    return node


def _variable_path(variable: str, names: tuple[str, ...]) -> Evaluator:
    def walk(env: Mapping[str, Any]) -> list[Any]:
        cache = env.get(PATH_CACHE)
        if cache is not None:
            found = cache.get(key)
            if found is None:
                found = cache[key] = _walk(env)
            return found
        return _walk(env)

    key = (variable, names)

    def _walk(env: Mapping[str, Any]) -> list[Any]:
        value: Any = env.get(variable)
        for index, name in enumerate(names):
            if isinstance(value, dict):
                value = value.get(name)
            elif isinstance(value, list):
                return _walk_collection(value, names[index:])
            else:
                return []
        return _as_collection(value)

    return walk


def _walk_collection(items: list[Any], names: tuple[str, ...]) -> list[Any]:
    for name in names:
        out: list[Any] = []
        for item in items:
            if isinstance(item, dict):
                value = item.get(name)
                if isinstance(value, list):
                    out.extend(value)
                elif value is not None:
                    out.append(value)
        items = out
    return items


def _member_node(source: Evaluator, name: str) -> Evaluator:
    def member(env: Mapping[str, Any]) -> list[Any]:
        out: list[Any] = []
        for item in source(env):
            if isinstance(item, dict):
                value = item.get(name)
                if isinstance(value, list):
                    out.extend(value)
                elif value is not None:
                    out.append(value)
        return out

    return member


def _function_node(name: str, source: Evaluator) -> Evaluator:
    if name == "exists":
        return lambda env: [bool(source(env))]
    if name == "empty":
        return lambda env: [not source(env)]
    if name == "count":
        return lambda env: [len(source(env))]
    if name == "first":
        return lambda env: source(env)[:1]

    def negate(env: Mapping[str, Any]) -> list[Any]:
        value = source(env)
        if not value:
            return []
        if len(value) != 1 or not isinstance(value[0], bool):
            raise Unsupported("not() of a non-boolean")
        return [not value[0]]

    return negate


def _singleton(values: list[Any]) -> Any:
    if len(values) > 1:
        raise Unsupported("comparison of a collection")
    return values[0]


def _compare_node(op: str, left: Evaluator, right: Evaluator) -> Evaluator:
    constant = getattr(right, "literal", None)
    if isinstance(constant, (int, float)) and not isinstance(constant, bool):
        general = _general_compare(op, left, right)
        test = _ORDER[op]

        def compare_number(env: Mapping[str, Any]) -> list[Any]:
            values = left(env)
            if not values:
                return []
            if len(values) == 1 and type(values[0]) in (int, float):
                return [test(values[0], constant)]
            return general(env)

        return compare_number
    return _general_compare(op, left, right)


def _general_compare(op: str, left: Evaluator, right: Evaluator) -> Evaluator:
    def compare(env: Mapping[str, Any]) -> list[Any]:
        a, b = left(env), right(env)
        if not a or not b:
            return []
        x, y = _singleton(a), _singleton(b)
        if isinstance(x, bool) != isinstance(y, bool) or isinstance(x, str) != isinstance(y, str):
            raise Unsupported("comparison of different types")
        if op == "=":
            return [x == y]
        if op == "!=":
            return [x != y]
        if isinstance(x, (dict, bool)) or isinstance(y, (dict, bool)):
            raise Unsupported("ordering of non-ordered values")
        if isinstance(x, str) and len(x) != len(y):
            raise Unsupported("ordering of strings of different lengths (dates of different precision)")
        if op == "<":
            return [x < y]
        if op == ">":
            return [x > y]
        if op == "<=":
            return [x <= y]
        return [x >= y]

    return compare


def _boolean(values: list[Any]) -> bool | None:
    if not values:
        return None
    if len(values) == 1 and isinstance(values[0], bool):
        return values[0]
    raise Unsupported("boolean operator on a non-boolean")


def _and_node(left: Evaluator, right: Evaluator) -> Evaluator:
    def both(env: Mapping[str, Any]) -> list[Any]:
        a = _boolean(left(env))
        if a is False:
            return [False]
        b = _boolean(right(env))
        if b is False:
            return [False]
        return [True] if a is True and b is True else []

    return both


def _or_node(left: Evaluator, right: Evaluator) -> Evaluator:
    def either(env: Mapping[str, Any]) -> list[Any]:
        a = _boolean(left(env))
        if a is True:
            return [True]
        b = _boolean(right(env))
        if b is True:
            return [True]
        return [False] if a is False and b is False else []

    return either


def _in_node(left: Evaluator, right: Evaluator) -> Evaluator:
    def member(env: Mapping[str, Any]) -> list[Any]:
        a = left(env)
        if not a:
            return []
        return [_singleton(a) in right(env)]

    return member


def _union_node(left: Evaluator, right: Evaluator) -> Evaluator:
    def union(env: Mapping[str, Any]) -> list[Any]:
        out: list[Any] = []
        for item in left(env) + right(env):
            if item not in out:
                out.append(item)
        return out

    return union
