"""Find the first bad row of a source, with its file and line, for strict reads.

The engines count bad rows fast but do not know line numbers. When a strict read
finds problems, each file is parsed here in Python into the same scan columns,
and the *same* check SQL as the job (:func:`admon.data.job.checked_sql`) runs over
it in DuckDB, so the row reported is exactly one the job skipped.
"""

from __future__ import annotations

import json
import math

import duckdb
import fsspec
import pandas as pd

from admon.data.job import SourcePlan, checked_sql, q
from admon.data.lake import LakeFile
from admon.data.schema import ScanField


def _coerce(value: object, sql_type: str) -> object:
    if value is None or isinstance(value, (dict, list)):
        return None
    if sql_type == "VARCHAR":
        return value if isinstance(value, str) else json.dumps(value)
    if isinstance(value, bool):
        return None
    if sql_type == "BIGINT":
        if isinstance(value, int):
            return value
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        return None
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


def _json_rows(path: str, fields: tuple[ScanField, ...]):
    with fsspec.open(path, "rt", compression="infer", encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
            except ValueError:
                doc = None
            yield number, _row(doc if isinstance(doc, dict) else None, fields)


def _parquet_rows(path: str, fields: tuple[ScanField, ...]):
    import pyarrow.parquet as pq

    with fsspec.open(path, "rb") as fh:
        table = pq.read_table(fh)
    for number, doc in enumerate(table.to_pylist(), start=1):
        yield number, _row(doc, fields)


def first_problem(plan: SourcePlan, files: list[LakeFile], start_ms: int, end_ms: int) -> tuple[str, int, str] | None:
    """``(path, line, reason)`` of the first skipped row of a source, or None if there is none."""
    columns = ["_file", "_line", *(f.scan_column(loc) for f in plan.fields for loc in f.locations)]
    con = duckdb.connect()
    try:
        for f in files:
            reader = _json_rows if f.format == "json" else _parquet_rows
            records = [{"_file": f.path, "_line": n, **row} for n, row in reader(f.path, plan.fields)]
            frame = pd.DataFrame.from_records(records, columns=columns)
            for field in plan.fields:  # typed columns, so that the check SQL sees what the engine saw
                kind = {"DOUBLE": "float64", "BIGINT": "Int64", "VARCHAR": object}[field.sql_type]
                for loc in field.locations:
                    frame[field.scan_column(loc)] = frame[field.scan_column(loc)].astype(kind)
            con.register("diagnosed", frame)
            sql = checked_sql(plan, "diagnosed", start_ms, end_ms, line=True)
            found = con.execute(
                f"SELECT _line, _reason FROM ({sql}) WHERE _reason IS NOT NULL ORDER BY _line LIMIT 1"
            ).fetchall()
            if found:
                return f.path, int(found[0][0]), _explain(found[0][1])
            row_columns = ", ".join(q(c) for c in [*plan.keys, "timestamp", *plan.values])
            dupes = con.execute(
                f"SELECT max(_line) FROM ({sql}) WHERE _reason IS NULL "
                f"GROUP BY {row_columns} HAVING count(*) > 1 ORDER BY 1 LIMIT 1"
            ).fetchall()
            if dupes:
                return f.path, int(dupes[0][0]), "duplicate document (an exact repeat of an earlier line)"
            con.unregister("diagnosed")
    finally:
        con.close()
    return None


def _explain(reason: str) -> str:
    from admon.data.report import REASONS

    kind, _, column = reason.partition(":")
    text = REASONS.get(kind, kind)
    return f"{kind}{f' ({column!r})' if column else ''}: {text}"
