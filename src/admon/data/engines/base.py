"""The Engine protocol: the only engine-specific part of a read.

An engine does four things: expose the lake files of one source as a *scan
view* with one column per (field, location) — ``"data.value"``,
``"metadata#host"``, ``"top#timestamp"``; run a SQL query into
a temporary table; return a query's result; and drop what it created. All
transformation logic (flatten, validate, filter, dedupe, bucket, aggregate,
join) is SQL written once in :mod:`admon.data.job`, in DuckDB's dialect, and
rendered for the engine's dialect by sqlglot.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import pandas as pd
import sqlglot

from admon.data.lake import LakeFile
from admon.data.schema import ScanField
from admon.errors import UnreadableFileError

__all__ = ["JOB_DIALECT", "Engine", "UnreadableFileError", "render"]

JOB_DIALECT = "duckdb"


@runtime_checkable
class Engine(Protocol):
    name: str
    dialect: str

    def register_scan(self, view: str, files: Sequence[LakeFile], fields: Sequence[ScanField], *,
                      integer_timestamp: bool = False) -> tuple[ScanField, ...]:
        """Create ``view``: every row of ``files`` with the scan columns of ``fields``; return the
        fields as scanned.

        Rows that cannot be parsed become rows of nulls (so they are counted, not lost).
        ``integer_timestamp``: the engine may scan the timestamp as BIGINT instead of text where
        every file stores it as integers (the returned timestamp field then says so, and the
        job's SQL skips parsing it: :func:`admon.data.job.flat_sql`).
        """

    def register_samples(self, view: str, frame: pd.DataFrame, fields: Sequence[ScanField]) -> None:
        """Create ``view`` from a query source's samples: column ``f.name`` of ``frame`` becomes
        the top-level scan column of each field, typed as ``f.sql_type`` (None becomes NULL,
        a float NaN stays NaN), so the job's SQL reads it like a lake scan."""

    def probe(self, file: LakeFile, fields: Sequence[ScanField]) -> str | None:
        """None if the file can be read, else the reason it cannot."""

    def materialize(self, table: str, sql: str) -> None:
        """Run ``sql`` (engine dialect) into the temporary table ``table``."""

    def fetch(self, sql: str) -> pd.DataFrame:
        """A small result (reports) as pandas."""

    def result(self, sql: str) -> Any:
        """The engine-native result of the job's final query (pandas for DuckDB)."""

    def to_pandas(self, frame: Any) -> pd.DataFrame:
        """An engine-native result as pandas."""

    def count(self, frame: Any, group_by: Sequence[str]) -> tuple[int, int]:
        """Rows and distinct groups of an engine-native result, counted where the data is."""

    def drop(self, names: Sequence[str]) -> None:
        """Drop views/tables this read created (names that do not exist are ignored)."""

    def is_read_error(self, exc: BaseException) -> bool:
        """Whether an exception from a query means a file could not be read (vs. a bug)."""

    def is_data_error(self, exc: BaseException) -> bool:
        """Whether an exception from a query is a value the job's SQL met (a failed conversion,
        an overflow in the filter's arithmetic): the filter's fault, not a file's or a bug."""


def render(sql: str, dialect: str) -> str:
    """The job's SQL (DuckDB dialect) in an engine's dialect."""
    if dialect == JOB_DIALECT:
        return sql
    return sqlglot.transpile(sql, read=JOB_DIALECT, write=dialect)[0]
