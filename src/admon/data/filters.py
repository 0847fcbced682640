"""Validation of ``filter_expression``: a boolean SQL expression over document columns.

The same text runs on every engine, so it is parsed with sqlglot and only a small
allow-list of expression kinds is accepted; anything else is a clear error.

>>> referenced_columns("topic == 'xrootd_raw_gled' and value > 0")
['topic', 'value']
>>> parse_filter("drop table x")
Traceback (most recent call last):
...
admon.errors.ConfigError: filter_expression 'drop table x' is not a valid SQL expression: ...
"""

from __future__ import annotations

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


def parse_filter(text: str) -> exp.Expression:
    """Parse and validate a filter expression; raise :class:`ConfigError` naming what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"filter_expression {text!r} is empty; remove it or give a condition")
    try:
        tree = sqlglot.parse_one(text, read=FILTER_DIALECT)
    except ParseError as exc:
        first = str(exc).splitlines()[0]
        raise ConfigError(f"filter_expression {text!r} is not a valid SQL expression: {first}") from None
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
    return tree


def referenced_columns(text: str) -> list[str]:
    """Sorted names of the document columns a filter expression reads."""
    return sorted({c.name for c in parse_filter(text).find_all(exp.Column)})
