"""Find the bad rows of a source, with their file and line, for strict reads.

The engines count bad rows fast but do not know line numbers. When a strict read
finds problems, each file is parsed here in Python into the same scan columns,
and the *same* check SQL as the job (:func:`admon.data.job.checked_sql`) runs over
it in DuckDB, so the row reported is exactly one the job skipped. One validity rule
serves both modes: :func:`skipped_counts` counts every problem this way, and equals
the lenient read's counts (a property test holds them to it). Each source is planned with
its own fields only, as the job flags its empty rows (``unreadable_document``) even when
sources of one path share a scan (:func:`admon.data.job.prefilter_sql`).

Values are turned into scan columns as the engine's JSON reader does: a group key
that is a number, a boolean or an object is used as its JSON text; ``true``/``false``
in a numeric column are 1/0; the timestamp is read as text and parsed by the job.
"""

from __future__ import annotations

import json
import math
from collections import Counter

import duckdb
import fsspec
import pyarrow as pa

from admon.config import TIMESTAMP, InputDataConfig, SourceConfig
from admon.data.job import FILE, LINE, REASON, SourcePlan, checked_sql, q
from admon.data.lake import LakeFile, list_files
from admon.data.report import REASONS
from admon.data.schema import ScanField, plan_scan, sample_schema

_INT64 = (-(2**63), 2**63 - 1)
_ARROW_TYPES = {"DOUBLE": pa.float64(), "BIGINT": pa.int64(), "VARCHAR": pa.string()}


class _DeepJSON(str):
    """The compact JSON text of a container nested too deep for Python's parser."""


def _coerce(value: object, sql_type: str) -> object:
    if value is None:
        return None
    if sql_type == "VARCHAR":
        if isinstance(value, str):  # _DeepJSON too: it is the JSON text already
            return str(value)
        # what DuckDB's reader gives for a non-text value in a text column: its compact JSON
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if isinstance(value, (dict, list, _DeepJSON)):
        return None
    if isinstance(value, bool):
        return float(value) if sql_type == "DOUBLE" else int(value)  # JSON true/false read as 1/0
    if sql_type == "BIGINT":
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        return value if isinstance(value, int) and _INT64[0] <= value <= _INT64[1] else None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(value)  # JSON readers accept numeric text for a DOUBLE column
    except (TypeError, ValueError):
        return None


def _row(doc: object, fields: tuple[ScanField, ...]) -> dict:
    row = {}
    for f in fields:
        for loc in f.locations:
            container = doc.get(loc) if (loc and isinstance(doc, dict)) else doc
            value = container.get(f.name) if isinstance(container, dict) else None
            if not loc and isinstance(doc, dict) and f.name in ("data", "metadata"):
                value = None
            row[f.scan_column(loc)] = _coerce(value, f.sql_type)
    return row


def _deep_document(line: str, con: duckdb.DuckDBPyConnection) -> dict | None:
    """A line Python's recursive parser cannot take (thousands of nested brackets), read with
    DuckDB's: the top level and the fields of ``data``/``metadata``, deeper containers as text."""
    ((valid, kind),) = con.execute("SELECT json_valid($1), json_type(TRY_CAST($1 AS JSON))", [line]).fetchall()
    if not valid or kind != "OBJECT":
        return None

    def level(text: str, expand: bool) -> dict:
        out: dict = {}
        for key, key_type, value in con.execute("SELECT key, type, value FROM json_each($1)", [text]).fetchall():
            if key_type in ("OBJECT", "ARRAY"):
                out[key] = level(value, False) if expand and key in ("data", "metadata") and key_type == "OBJECT" \
                    else _DeepJSON(value)
            else:
                out[key] = json.loads(value)
        return out

    return level(line, True)


def _json_rows(path: str, fields: tuple[ScanField, ...], con: duckdb.DuckDBPyConnection):
    with fsspec.open(path, "rt", compression="infer", encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
                row = _row(doc if isinstance(doc, dict) else None, fields)
            except ValueError:
                row = _row(None, fields)
            except RecursionError:  # nested deeper than Python's parser goes; DuckDB reads it
                row = _row(_deep_document(line, con), fields)
            yield number, row


def _parquet_rows(path: str, fields: tuple[ScanField, ...], con: duckdb.DuckDBPyConnection):
    import pyarrow.parquet as pq

    with fsspec.open(path, "rb") as fh:
        table = pq.read_table(fh)
    for number, doc in enumerate(table.to_pylist(), start=1):
        yield number, _row(doc, fields)


def _register(con: duckdb.DuckDBPyConnection, plan: SourcePlan, files: list[LakeFile]) -> None:
    """The rows of ``files`` as the view ``diagnosed``: ``#file``, ``#line`` and the scan columns.

    Built as typed Arrow columns, so that the check SQL sees what the engine saw: NULL and
    NaN stay apart (a pandas float column would turn both into NaN, and DuckDB NaN into NULL).
    """
    types = {FILE: pa.string(), LINE: pa.int64()}
    for field in plan.fields:
        for loc in field.locations:
            types[field.scan_column(loc)] = _ARROW_TYPES[field.sql_type]
    columns: dict[str, list] = {name: [] for name in types}
    for f in files:
        reader = _json_rows if f.format == "json" else _parquet_rows
        for number, row in reader(f.path, plan.fields, con):
            columns[FILE].append(f.path)
            columns[LINE].append(number)
            for name, value in row.items():
                columns[name].append(value)
    table = pa.table({name: pa.array(values, type=types[name]) for name, values in columns.items()})
    con.register("diagnosed", table)


def _row_columns(plan: SourcePlan) -> str:
    return ", ".join(q(c) for c in [*plan.keys, TIMESTAMP, *plan.values])


def first_problem(plan: SourcePlan, files: list[LakeFile], start_ms: int, end_ms: int) -> tuple[str, int, str] | None:
    """``(path, line, reason)`` of the first skipped row of a source, or None if there is none."""
    con = duckdb.connect()
    try:
        for f in files:
            _register(con, plan, [f])
            sql = checked_sql(plan, "diagnosed", start_ms, end_ms, line=True)
            line, reason = q(LINE), q(REASON)
            found = con.execute(
                f"SELECT {line}, {reason} FROM ({sql}) WHERE {reason} IS NOT NULL ORDER BY {line} LIMIT 1"
            ).fetchall()
            if found:
                return f.path, int(found[0][0]), _explain(found[0][1])
            dupes = con.execute(
                f"SELECT max({line}) FROM ({sql}) WHERE {reason} IS NULL "
                f"GROUP BY {_row_columns(plan)} HAVING count(*) > 1 ORDER BY 1 LIMIT 1"
            ).fetchall()
            if dupes:
                return f.path, int(dupes[0][0]), "duplicate document (an exact repeat of an earlier line)"
            con.unregister("diagnosed")
    finally:
        con.close()
    return None


def problem_counts(plan: SourcePlan, files: list[LakeFile], start_ms: int, end_ms: int) -> Counter:
    """Every row of ``files`` the job would skip, counted by reason (duplicates included)."""
    counts: Counter = Counter()
    if not files:
        return counts
    con = duckdb.connect()
    try:
        _register(con, plan, files)
        sql = checked_sql(plan, "diagnosed", start_ms, end_ms, line=True)
        reason = q(REASON)
        for name, count in con.execute(
            f"SELECT {reason}, count(*) FROM ({sql}) WHERE {reason} IS NOT NULL GROUP BY 1"
        ).fetchall():
            counts[name] += int(count)
        (extra,) = con.execute(
            f"SELECT COALESCE(SUM(n - 1), 0) FROM (SELECT count(*) AS n FROM ({sql}) WHERE {reason} IS NULL "
            f"GROUP BY {_row_columns(plan)})"
        ).fetchone()
        if int(extra):
            counts["duplicate"] += int(extra)
    finally:
        con.close()
    return counts


def skipped_counts(config: InputDataConfig, lake_root: str, start_ms: int, end_ms: int) -> Counter:
    """What a lenient read of ``[start_ms, end_ms)`` counts as skipped, found row by row in Python.

    The reference for the one validity rule of both modes: equal to ``DataSource.last_report.skipped``
    (files the engine cannot open at all are not included: they are counted per file).
    """
    total: Counter = Counter()
    for source in config.source_configs:
        if not isinstance(source, SourceConfig):
            continue  # a query source's samples are not in the lake
        files = list_files(lake_root, source.lake_path(), start_ms, end_ms).files
        if not files:
            continue
        plan = SourcePlan(source, config, tuple(plan_scan(source, config, sample_schema(files))))
        total.update(problem_counts(plan, files, start_ms, end_ms))
    return total


def _explain(reason: str) -> str:
    kind, _, column = reason.partition(":")
    text = REASONS.get(kind, kind)
    return f"{kind}{f' ({column!r})' if column else ''}: {text}"
