"""Validation of ``filter_expression``: a boolean SQL expression over document columns.

The same text runs on every engine, so it is parsed with sqlglot and only a small
allow-list of expression kinds is accepted; anything else is a clear error. A filter
must be a condition (true/false), and it is type-checked against the column kinds
that are known (declared by the config, or read from a sample of the lake), so that a
comparison of text with a number is refused before any engine runs it.

>>> referenced_columns("topic == 'xrootd_raw_gled' and value > 0")
['topic', 'value']
>>> parse_filter("drop table x")
Traceback (most recent call last):
...
admon.errors.ConfigError: filter_expression 'drop table x' is not a valid SQL expression: ...
>>> check_filter_types("host > 5", {"host": "text"})
Traceback (most recent call last):
...
admon.errors.ConfigError: filter_expression 'host > 5' compares 'host', which holds text, with '5', which is a number; ...
>>> check_filter_types("topic == 'cpu' and value > 0", {"value": "number"})
{'topic': 'text'}
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from admon.errors import ConfigError

# The filter is read in DuckDB's dialect (which accepts ``==``) and rendered per engine.
FILTER_DIALECT = "duckdb"

_ALLOWED_NODES: tuple[type[exp.Expression], ...] = (
    exp.Column, exp.Identifier, exp.Literal, exp.Boolean, exp.Null, exp.Paren, exp.Tuple,
    exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ,
    exp.And, exp.Or, exp.Not, exp.Is, exp.In, exp.Between, exp.Like, exp.ILike,
    exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.Neg, exp.IntDiv,
    exp.Abs, exp.Lower, exp.Upper, exp.Length, exp.Coalesce, exp.Round, exp.Floor, exp.Ceil,
    exp.Substring, exp.StartsWith, exp.Concat, exp.Trim,
)
ALLOWED_FUNCTIONS = (
    "abs, lower, upper, length, coalesce, round, floor, ceil, substring, starts_with, concat, trim"
)


# Bounds that keep parsing and every engine's planner within bounded time and stack:
# sqlglot parses recursively (about 20 frames per bracket), DuckDB refuses expressions
# deeper than 1000, and a long chain of ``or`` is one operator deeper per term.
MAX_FILTER_LENGTH = 10_000  # characters
MAX_FILTER_DEPTH = 20  # nested brackets, function calls or prefix operators
MAX_FILTER_TREE_DEPTH = 128  # operators, counted from the whole condition down to a column

# What a value of the filter is: a column's kind ("number", "text"), or "boolean" for a condition.
KIND_WORDS = {"number": ("a number", "numbers"), "text": ("text", "text"), "boolean": ("true/false", "true/false")}
ColumnKind = str


def _short(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:60] + "...")


def _bracket_depth(text: str) -> int:
    """The deepest nesting of brackets outside quoted literals and identifiers: cheap, before parsing."""
    depth = deepest = 0
    quote = ""
    for char in text:
        if quote:
            if char == quote:
                quote = ""  # a doubled quote closes and reopens: the depth is the same
        elif char in "'\"`":
            quote = char
        elif char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    return deepest


def _tree_depth(tree: exp.Expression) -> int:
    """Depth of a parsed expression, computed without recursion."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in node.iter_expressions())
    return deepest


def _too_deep(text: str, limit: int, what: str) -> ConfigError:
    return ConfigError(
        f"filter_expression {_short(text)} nests deeper than {limit} {what}; write it flatter "
        "(e.g. topic IN ('a', 'b') instead of a chain of or, and fewer brackets)"
    )


def parse_filter(text: str) -> exp.Expression:
    """Parse and validate a filter expression; raise :class:`ConfigError` naming what is wrong."""
    if not isinstance(text, str):
        return _parse_filter(text)  # (its error names the value)
    # a read plans each source's filter several times: parsed once, each caller gets its own copy
    return _parsed_filter(text).copy()


@functools.lru_cache(maxsize=256)
def _parsed_filter(text: str) -> exp.Expression:
    return _parse_filter(text)


def _parse_filter(text: str) -> exp.Expression:
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"filter_expression {text!r} is empty; remove it or give a condition")
    if _bracket_depth(text) > MAX_FILTER_DEPTH:  # one cheap pass, before the recursive parser
        raise _too_deep(text, MAX_FILTER_DEPTH, "levels of brackets")
    if len(text) > MAX_FILTER_LENGTH:
        raise ConfigError(
            f"filter_expression {_short(text)} is {len(text)} characters long, longer than "
            f"{MAX_FILTER_LENGTH}; shorten it (e.g. topic IN ('a', 'b') instead of a chain of or)"
        )
    try:
        tree = sqlglot.parse_one(text, read=FILTER_DIALECT)
    except ParseError as exc:
        first = str(exc).splitlines()[0]
        raise ConfigError(f"filter_expression {_short(text)} is not a valid SQL expression: {first}") from None
    except RecursionError:  # e.g. thousands of prefix operators (not not not ...), without brackets
        raise _too_deep(text, MAX_FILTER_DEPTH, "levels of operators") from None
    if tree is not None and _tree_depth(tree) > MAX_FILTER_TREE_DEPTH:
        raise _too_deep(text, MAX_FILTER_TREE_DEPTH, "operators")
    if tree is None or isinstance(tree, (exp.Query, exp.Command, exp.DDL, exp.DML)) or not isinstance(
        tree, exp.Condition
    ):
        raise ConfigError(
            f"filter_expression {text!r} is not a valid SQL expression: "
            "give a boolean condition such as topic == 'cpu'"
        )
    for node in tree.walk():
        if isinstance(node, exp.Column) and node.table:
            raise ConfigError(
                f"filter_expression {text!r} uses the qualified column {node.sql()!r}; "
                "refer to document columns by their plain name"
            )
        if not isinstance(node, _ALLOWED_NODES):
            raise ConfigError(
                f"filter_expression {text!r} uses {node.sql(FILTER_DIALECT)!r} "
                f"({type(node).__name__}), which is not allowed; use column references, literals, "
                f"comparisons, and/or/not, arithmetic and the functions {ALLOWED_FUNCTIONS}"
            )
    _Typer(text, {}).condition(tree)  # a filter is a condition, whatever its columns hold
    return tree


def check_filter_types(text: str, kinds: Mapping[str, ColumnKind]) -> dict[str, ColumnKind]:
    """Type-check a filter against the kinds of the columns that are known ("number" or "text").

    Raises :class:`ConfigError` naming the column, what it holds and the fix when the filter
    compares or combines values of different kinds, or is not a condition. Returns the kinds
    the filter expects of the columns whose kind is not known (compared with a literal), so
    that they can be read as such, or checked against the lake.
    """
    typer = _Typer(text, kinds)
    typer.condition(parse_filter(text))
    return typer.expected


_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ)
_ARITHMETIC = {exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/", exp.Mod: "%", exp.IntDiv: "//"}
_NUMBER_FUNCTIONS = {exp.Abs: "abs", exp.Round: "round", exp.Floor: "floor", exp.Ceil: "ceil"}
_TEXT_FUNCTIONS = {exp.Lower: "lower", exp.Upper: "upper", exp.Trim: "trim"}


class _Typer:
    """Infers the kind of each part of a filter (recursion is bounded by MAX_FILTER_TREE_DEPTH)."""

    def __init__(self, text: str, kinds: Mapping[str, ColumnKind]):
        self.text, self.kinds = text, kinds
        self.expected: dict[str, ColumnKind] = {}

    # --- what a part is -----------------------------------------------------------------------
    def kind(self, node: exp.Expression) -> ColumnKind | None:
        """"number", "text", "boolean", or None (NULL, or a column whose kind is not known)."""
        if isinstance(node, exp.Paren):
            return self.kind(node.this)
        if isinstance(node, exp.Literal):
            return "text" if node.is_string else "number"
        if isinstance(node, exp.Boolean):
            return "boolean"
        if isinstance(node, exp.Column):
            return self.kinds.get(node.name)
        if isinstance(node, (exp.And, exp.Or)):
            self.condition(node.left, node)
            self.condition(node.right, node)
            return "boolean"
        if isinstance(node, exp.Not):
            self.condition(node.this, node)
            return "boolean"
        if isinstance(node, _COMPARISONS):
            self.same(node.left, node.right)
            return "boolean"
        if isinstance(node, exp.In):
            for item in node.expressions:
                self.same(node.this, item)
            return "boolean"
        if isinstance(node, exp.Between):
            self.same(node.this, node.args["low"])
            self.same(node.this, node.args["high"])
            return "boolean"
        if isinstance(node, exp.Is):
            if isinstance(node.expression, exp.Boolean):
                self.condition(node.this, node)
            else:
                self.kind(node.this)
            return "boolean"
        if isinstance(node, (exp.Like, exp.ILike)):
            self.need(node.this, "text", "like")
            self.need(node.expression, "text", "like")
            return "boolean"
        if isinstance(node, exp.StartsWith):
            self.need(node.this, "text", "starts_with()")
            self.need(node.expression, "text", "starts_with()")
            return "boolean"
        if type(node) in _ARITHMETIC:
            self.need(node.left, "number", repr(_ARITHMETIC[type(node)]))
            self.need(node.right, "number", repr(_ARITHMETIC[type(node)]))
            return "number"
        if isinstance(node, exp.Neg):
            self.need(node.this, "number", "'-'")
            return "number"
        if type(node) in _NUMBER_FUNCTIONS:
            name = _NUMBER_FUNCTIONS[type(node)] + "()"
            self.need(node.this, "number", name)
            if node.args.get("decimals") is not None:
                self.whole_number(node.args["decimals"], name)
            return "number"
        if type(node) in _TEXT_FUNCTIONS:
            self.need(node.this, "text", _TEXT_FUNCTIONS[type(node)] + "()")
            return "text"
        if isinstance(node, exp.Length):
            self.need(node.this, "text", "length()")
            return "number"
        if isinstance(node, exp.Substring):
            self.need(node.this, "text", "substring()")
            for part in ("start", "length"):
                if node.args.get(part) is not None:
                    self.whole_number(node.args[part], "substring()")
            return "text"
        if isinstance(node, exp.Concat):
            for part in node.expressions:
                self.kind(part)
            return "text"
        if isinstance(node, exp.Coalesce):
            parts = [node.this, *node.expressions]
            for part in parts[1:]:
                self.same(parts[0], part)
            return next((k for k in map(self.kind, parts) if k is not None), None)
        return None  # NULL, a tuple outside IN: what it holds is not known

    def describe(self, node: exp.Expression, kind: ColumnKind) -> str:
        while isinstance(node, exp.Paren):
            node = node.this
        if isinstance(node, exp.Column):
            return f"{node.name!r}, which holds {KIND_WORDS[kind][1]}"
        return f"{node.sql(FILTER_DIALECT)!r}, which is {KIND_WORDS[kind][0]}"

    # --- what a part must be ------------------------------------------------------------------
    def condition(self, node: exp.Expression, parent: exp.Expression | None = None) -> None:
        kind = self.kind(node)
        if kind == "boolean":
            return
        what = self.describe(node, kind) if kind else f"{node.sql(FILTER_DIALECT)!r}"
        where = "" if parent is None else f" (in {parent.sql(FILTER_DIALECT)!r})"
        raise ConfigError(
            f"filter_expression {_short(self.text)} is not a condition: {what}{where} is not true/false; "
            "compare it, e.g. value > 0 or topic == 'cpu'"
        )

    def need(self, node: exp.Expression, wanted: ColumnKind, user: str) -> None:
        kind = self.kind(node)
        if kind is None:
            self._expect(node, wanted)
        elif kind != wanted:
            raise ConfigError(
                f"filter_expression {_short(self.text)} applies {user} to {self.describe(node, kind)}, "
                f"but {user} needs {KIND_WORDS[wanted][1]}; use a column or value of that kind"
            )

    def whole_number(self, node: exp.Expression, user: str) -> None:
        """A position or a count: engines take only whole numbers there (``round(v, 2)``)."""
        self.need(node, "number", user)
        while isinstance(node, (exp.Paren, exp.Neg)):
            node = node.this
        if not (isinstance(node, exp.Literal) and node.is_int):
            raise ConfigError(
                f"filter_expression {_short(self.text)} gives {user} {node.sql(FILTER_DIALECT)!r} as a position "
                f"or count; {user} takes a whole number written out, e.g. 2"
            )

    def same(self, left: exp.Expression, right: exp.Expression) -> None:
        lk, rk = self.kind(left), self.kind(right)
        if lk is None and rk is not None:
            self._expect(left, rk)
        elif rk is None and lk is not None:
            self._expect(right, lk)
        elif lk is not None and rk is not None and lk != rk:
            raise ConfigError(
                f"filter_expression {_short(self.text)} compares {self.describe(left, lk)}, "
                f"with {self.describe(right, rk)}; compare values of one kind, "
                "e.g. topic == 'cpu' or value > 0"
            )

    def _expect(self, node: exp.Expression, kind: ColumnKind) -> None:
        while isinstance(node, exp.Paren):
            node = node.this
        if isinstance(node, exp.Column) and kind in ("number", "text"):
            self.expected.setdefault(node.name, kind)


def referenced_columns(text: str) -> list[str]:
    """Sorted names of the document columns a filter expression reads."""
    return sorted({c.name for c in parse_filter(text).find_all(exp.Column)})
