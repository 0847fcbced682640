"""The embedded engine: DuckDB, in-process, reading the lake's files directly."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import duckdb
import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from admon.config import TIMESTAMP
from admon.data.lake import LakeFile, parquet_schema
from admon.data.schema import ScanField

_ARROW_TYPES = {"VARCHAR": pa.string(), "BIGINT": pa.int64(), "DOUBLE": pa.float64()}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _exact_paths(files: Sequence[str]) -> str:
    """A DuckDB list of file paths that each match only that file.

    DuckDB expands ``*``, ``?`` and ``[...]`` in every path it reads, with no literal mode, so
    a file named ``part-?.json`` would read its neighbours too; a one-character class matches
    the character itself. (The lake skips names with a backslash, which DuckDB's expansion
    takes for a separator.)

    >>> _exact_paths(["/lake/a[1]/part-?.json", "/lake/b*.json"])
    "['/lake/a[[]1]/part-[?].json', '/lake/b[*].json']"
    """
    return "[" + ", ".join(_lit(re.sub(r"[*?\[]", r"[\g<0>]", p)) for p in files) + "]"


def _parquet_columns(files: Sequence[str]) -> tuple[dict[tuple[str, str], set], bool]:
    """The Arrow types of each (location, field) present in any of the Parquet files' schemas, and
    whether every file's schema could be read."""
    present: dict[tuple[str, str], set] = {}
    complete = True
    for path in files:
        try:
            schema = parquet_schema(path)
        except Exception:  # noqa: BLE001 - the read reports an unreadable file
            complete = False
            continue
        for f in schema:
            if f.name in ("data", "metadata") and pa.types.is_struct(f.type):
                for sub in f.type:
                    present.setdefault((f.name, sub.name), set()).add(sub.type)
            else:
                present.setdefault(("", f.name), set()).add(f.type)
    return present, complete


# Arrow types whose every value is a BIGINT as it stands (not uint64: it may exceed BIGINT).
_EXACT_BIGINT = (pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint16(), pa.uint32())


def _integer_timestamp(fields: Sequence[ScanField], present: dict[tuple[str, str], set]) -> tuple[ScanField, ...]:
    """``fields`` with the timestamp as BIGINT if every file that holds it stores integers."""
    out = []
    for f in fields:
        types = [t for loc in f.locations for t in present.get((loc, f.name), ())]
        if f.name == TIMESTAMP and f.sql_type == "VARCHAR" and types and all(t in _EXACT_BIGINT for t in types):
            f = ScanField(f.name, f.locations, "BIGINT")
        out.append(f)
    return tuple(out)


def _timestamp_range(files: Sequence[str], field: ScanField) -> tuple[int, int] | None:
    """``(min, max)`` of an integer timestamp over every row of the Parquet files, from their
    footers' statistics, if these prove that no row's timestamp is NULL: one location of it is a
    column of every file with no NULL in any row group (a NULL parent struct counts as NULL in its
    column's statistics), and every location's row groups give a min and max. None otherwise."""
    low = high = None
    never_null = {loc: True for loc in field.locations}
    for path in files:
        try:
            with fsspec.open(path, "rb") as fh:
                meta = pq.ParquetFile(fh).metadata
        except Exception:  # noqa: BLE001 - no proof then; the read itself reports the file
            return None
        columns = {meta.schema.column(j).path: j for j in range(meta.num_columns)}
        for loc in field.locations:
            j = columns.get(f"{loc}.{field.name}" if loc else field.name)
            if j is None:
                never_null[loc] = False
                continue
            for g in range(meta.num_row_groups):
                stats = meta.row_group(g).column(j).statistics
                if stats is None or not stats.has_min_max or not stats.has_null_count:
                    return None
                if stats.null_count:
                    never_null[loc] = False
                if stats.null_count < meta.row_group(g).num_rows:  # (an all-NULL group has no min/max)
                    low = stats.min if low is None else min(low, stats.min)
                    high = stats.max if high is None else max(high, stats.max)
    if not any(never_null.values()) or low is None or high is None:
        return None
    return int(low), int(high)


def quiet_connection() -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB without its progress bar. In Jupyter without ipywidgets DuckDB
    has it off already and refuses ``SET enable_progress_bar`` (InvalidInputException), so it is
    switched off only where it is on."""
    connection = duckdb.connect()
    # fetchall, not fetchone: DuckDB 2 keeps a result that was not fetched to its end open, and then
    # refuses register() on the connection (ResourceInUseException)
    if connection.execute("SELECT current_setting('enable_progress_bar')").fetchall() != [(False,)]:
        connection.execute("SET enable_progress_bar = false")
    return connection


class DuckDBEngine:
    """Runs the data job in DuckDB. ``DuckDBEngine()`` opens a private in-memory database."""

    name = "duckdb"
    dialect = "duckdb"

    def __init__(self, connection: duckdb.DuckDBPyConnection | None = None):
        if connection is None:
            connection = quiet_connection()  # a user's connection keeps its own settings
        self.con = connection
        self._created: dict[str, str] = {}  # relations this engine made -> VIEW or TABLE, for drop
        self._timestamp_ranges: dict[str, tuple[int, int]] = {}  # scan view -> see timestamp_range

    # --- scans ---------------------------------------------------------------------------
    def _json_scan(self, files: Sequence[str], fields: Sequence[ScanField]) -> str:
        nested: dict[str, list[str]] = {"data": [], "metadata": []}
        top: dict[str, str] = {}
        for f in fields:
            for loc in f.locations:
                if loc:
                    nested[loc].append(f"{_q(f.name)} {f.sql_type}")
                else:
                    top[f.name] = f.sql_type
        columns = {loc: f"STRUCT({', '.join(cols)})" for loc, cols in nested.items() if cols}
        columns.update(top)
        spec = "{" + ", ".join(f"{_lit(k)}: {_lit(v)}" for k, v in columns.items()) + "}"
        file_list = _exact_paths(files)
        select = []
        for f in fields:
            for loc in f.locations:
                source = f"{_q(loc)}.{_q(f.name)}" if loc else _q(f.name)
                select.append(f"{source} AS {_q(f.scan_column(loc))}")
        # ignore_errors turns a line that does not parse, or a value of the wrong type, into
        # nulls: the job then counts it under a reason instead of failing the whole read.
        return (
            f"SELECT {', '.join(select)} FROM read_json({file_list}, format='newline_delimited', "
            f"columns={spec}, ignore_errors=true, compression='auto_detect')"
        )

    def _parquet_scan(self, files: Sequence[str], fields: Sequence[ScanField],
                      present: dict[tuple[str, str], set] | None = None) -> str:
        file_list = _exact_paths(files)
        source = f"read_parquet({file_list}, union_by_name=true)"
        if present is None:
            present, _ = _parquet_columns(files)
        select = []
        for f in fields:
            for loc in f.locations:
                expr = f"{_q(loc)}.{_q(f.name)}" if loc else _q(f.name)
                value = (
                    f"TRY_CAST({expr} AS {f.sql_type})"
                    if (loc, f.name) in present
                    else f"CAST(NULL AS {f.sql_type})"
                )
                select.append(f"{value} AS {_q(f.scan_column(loc))}")
        return f"SELECT {', '.join(select)} FROM {source}"

    def register_scan(self, view: str, files: Sequence[LakeFile], fields: Sequence[ScanField], *,
                      integer_timestamp: bool = False) -> tuple[ScanField, ...]:
        """See :meth:`Engine.register_scan`. With ``integer_timestamp``, Parquet files whose
        footers all store the timestamp as integers (INT64, INT32, ...; not UINT64) are scanned
        with it as BIGINT: no text to parse, and DuckDB can skip row groups by its statistics."""
        parts = []
        self._timestamp_ranges.pop(view, None)
        json_files = [f.path for f in files if f.format == "json"]
        parquet_files = [f.path for f in files if f.format == "parquet"]
        if json_files:
            parts.append(self._json_scan(json_files, fields))
        if parquet_files:
            present, complete = _parquet_columns(parquet_files)
            if integer_timestamp and complete and not json_files:
                fields = _integer_timestamp(fields, present)
                timestamp = next((f for f in fields if f.name == TIMESTAMP and f.sql_type == "BIGINT"), None)
                bounds = _timestamp_range(parquet_files, timestamp) if timestamp is not None else None
                if bounds is not None:
                    self._timestamp_ranges[view] = bounds
            parts.append(self._parquet_scan(parquet_files, fields, present))
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {_q(view)} AS {' UNION ALL '.join(parts)}")
        self._created[view] = "VIEW"
        return tuple(fields)

    def timestamp_range(self, view: str) -> tuple[int, int] | None:
        """``(min, max)`` of the integer timestamps of a scan registered with ``integer_timestamp``,
        when its Parquet footers prove that every row has one (see :func:`_timestamp_range`)."""
        return self._timestamp_ranges.get(view)

    def register_samples(self, view: str, frame: pd.DataFrame, fields: Sequence[ScanField]) -> None:
        # through Arrow, built from Python objects: None is NULL and NaN stays NaN (a pandas float
        # column would make both NaN), so a missing value and a NaN are counted as what they are
        table = pa.table([pa.array(frame[f.name].tolist(), type=_ARROW_TYPES[f.sql_type], from_pandas=False)
                          for f in fields], names=[f.scan_column("") for f in fields])
        relation = f"{view}_arrow"
        self.con.register(relation, table)
        try:
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE {_q(view)} AS SELECT * FROM {_q(relation)}")
            self._created[view] = "TABLE"
        finally:
            self.con.unregister(relation)

    def probe(self, file: LakeFile, fields: Sequence[ScanField]) -> str | None:
        scan = (self._json_scan if file.format == "json" else self._parquet_scan)([file.path], fields)
        try:
            self.con.execute(f"SELECT count(*) FROM ({scan})").fetchall()
        except duckdb.Error as exc:
            return str(exc).splitlines()[0]
        return None

    # --- queries -------------------------------------------------------------------------
    def materialize(self, table: str, sql: str) -> None:
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {_q(table)} AS {sql}")
        self._created[table] = "TABLE"

    def fetch(self, sql: str) -> pd.DataFrame:
        return self.con.execute(sql).df()

    def result(self, sql: str) -> Any:
        return self.con.execute(sql).df()

    def to_pandas(self, frame: Any) -> pd.DataFrame:
        return frame

    def count(self, frame: Any, group_by: Sequence[str]) -> tuple[int, int]:
        groups = len(frame.drop_duplicates(list(group_by))) if group_by else int(len(frame) > 0)
        return len(frame), groups

    def drop(self, names: Sequence[str]) -> None:
        # what this engine made is known; only other names are looked up (a catalog query costs
        # more than the drops)
        for name in names:
            self._timestamp_ranges.pop(name, None)
        kinds = {name: self._created[name] for name in names if name in self._created}
        if len(kinds) < len(set(names)):
            kinds.update(
                self.con.execute(
                    "SELECT table_name, table_type FROM information_schema.tables WHERE table_name LIKE 'admon_%'"
                ).fetchall()
            )
        for name in reversed(list(names)):  # views before the tables they read
            kind = kinds.get(name)
            if kind is not None:
                self.con.execute(f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} IF EXISTS {_q(name)}")
                self._created.pop(name, None)

    def is_read_error(self, exc: BaseException) -> bool:
        """Whether an exception from a query is a file that could not be read (vs. a bug)."""
        # Any error while executing (a corrupt Parquet footer is a plain duckdb.Error) may be a
        # file; the caller then probes file by file, so a real bug still surfaces. Errors of the
        # SQL itself, and values the SQL cannot convert, are never file problems.
        return isinstance(exc, duckdb.Error) and not isinstance(
            exc, (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException)) and not self.is_data_error(exc)

    def is_data_error(self, exc: BaseException) -> bool:
        # (an InvalidInputException is also what a corrupt file raises: only division by zero is the filter's)
        return isinstance(exc, (duckdb.ConversionException, duckdb.OutOfRangeException)) or (
            isinstance(exc, duckdb.InvalidInputException) and "Division by zero" in str(exc))
