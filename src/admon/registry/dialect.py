"""Where SQLite and PostgreSQL differ: the one module of the registry that asks which it is.

Every statement elsewhere in :mod:`admon.registry` is written once, for both; what
cannot be is here, each as one helper (as Airflow's ``with_row_locks``):

- :func:`with_row_locks`: ``SELECT … FOR UPDATE [SKIP LOCKED]`` on PostgreSQL; on
  SQLite the query as it is, because every registry transaction there already holds
  the database's single write lock (``BEGIN IMMEDIATE``, see :mod:`admon.registry.db`),
  so nobody else can take the selected rows before the transaction ends.
- :func:`insert_ignoring_conflicts`: ``INSERT … ON CONFLICT DO NOTHING RETURNING``.
- :func:`json_text_equals`: ``json_column[key]`` as text equals a value, the key and the
  value bound (SQLite ``json_each``, PostgreSQL ``->>``).

``tests/registry/test_dialect.py`` proves each on both databases.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, Text, cast, exists, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

SelectT = TypeVar("SelectT", bound=Select)

__all__ = ["dialect_name", "insert_ignoring_conflicts", "json_text_equals", "with_row_locks"]


def dialect_name(s: Session) -> str:
    """``"sqlite"`` or ``"postgresql"``: the database ``s`` talks to."""
    return s.get_bind().dialect.name


def with_row_locks(query: SelectT, s: Session, *, skip_locked: bool = False, nowait: bool = False,
                   of: Any = None) -> SelectT:
    """``query`` locking the rows it selects until the transaction ends.

    PostgreSQL: ``FOR UPDATE`` (``SKIP LOCKED``: rows another transaction holds are left out,
    so concurrent schedulers each get other rows instead of waiting). SQLite: the query
    unchanged; the transaction holds the only write lock of the file from its first statement.
    """
    if dialect_name(s) != "postgresql":
        return query
    return query.with_for_update(skip_locked=skip_locked, nowait=nowait, of=of)


def insert_ignoring_conflicts(s: Session, model: type, rows: Sequence[dict[str, Any]],
                              index_elements: Sequence[str], returning: Any) -> list[Any]:
    """Insert ``rows``, skipping those that clash on the unique ``index_elements``; returns the
    ``returning`` column of the inserted rows (one statement per 500 rows)."""
    insert = postgresql.insert if dialect_name(s) == "postgresql" else sqlite.insert
    inserted: list[Any] = []
    for start in range(0, len(rows), 500):
        stmt = (insert(model).values(list(rows[start:start + 500]))
                .on_conflict_do_nothing(index_elements=list(index_elements)).returning(returning))
        inserted.extend(s.scalars(stmt).all())
    return inserted


def json_text_equals(s: Session, column: Any, key: str, value: str) -> ColumnElement[bool]:
    """``column[key]``, as text, equals ``value``; the key and the value (``"]``, quotes, any text
    without NUL) are bound parameters, never part of a JSON path written into the SQL."""
    if dialect_name(s) == "sqlite":
        pairs = func.json_each(column).table_valued("key", "value").alias("json_pairs")
        return exists().where(pairs.c.key == key, cast(pairs.c.value, Text) == value)
    return column[key].as_string() == value  # PostgreSQL: ->> with the key bound
