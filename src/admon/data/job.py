"""The data job, written once as SQL (DuckDB dialect) and rendered per engine by sqlglot.

For one source, over its scan view (see :mod:`admon.data.engines.base`):

1. **flatten** — each field is ``COALESCE(data.f, metadata.f, f)`` (``data`` wins a clash);
2. **keep** rows with ``start <= timestamp < end`` that pass the filter, and rows whose
   timestamp is unusable (so that they are counted);
3. **check** each row and give it at most one skip reason;
4. **dedupe** exact repeats (same groups, timestamp and values), counting them;
5. **aggregate** per ``(group_by…, floor(timestamp / interval) * interval)``, over valid rows
   only, with per-reason skip counters in the same pass.

The per-source aggregates are small; they are full-outer-joined on
``(group_by…, timestamp)`` so that a bucket missing in one source is null, never 0.
"""

from __future__ import annotations

from dataclasses import dataclass

from admon.config import TIMESTAMP, InputDataConfig, SourceConfig
from admon.data.filters import FILTER_DIALECT, parse_filter
from admon.data.schema import ScanField

# agg_method -> SQL aggregate of a value column ``{v}``, the bucket's rows ordered by ``{t}``.
# first/last break timestamp ties by the value itself, so that every engine agrees.
AGGREGATES = {
    "avg": "AVG({v})",
    "sum": "SUM({v})",
    "min": "MIN({v})",
    "max": "MAX({v})",
    "count": "COUNT({v})",
    "median": "MEDIAN({v})",
    "stddev": "STDDEV_SAMP({v})",
    "first": "ARG_MIN({v}, [CAST({t} AS DOUBLE), {v}])",
    "last": "ARG_MAX({v}, [CAST({t} AS DOUBLE), {v}])",
    "p50": "QUANTILE_CONT({v}, 0.5)",
    "p90": "QUANTILE_CONT({v}, 0.9)",
    "p95": "QUANTILE_CONT({v}, 0.95)",
    "p99": "QUANTILE_CONT({v}, 0.99)",
}


def q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class SourcePlan:
    """Everything the SQL of one source needs, derived from the config and the scan fields."""

    source: SourceConfig
    config: InputDataConfig
    fields: tuple[ScanField, ...]

    @property
    def keys(self) -> list[str]:
        """Input names of the group columns, in group_by order."""
        by_output = {self.source.output_name(c): c for c in self.source.select}
        return [by_output[g] for g in self.config.group_by]

    @property
    def values(self) -> list[str]:
        """Input names of the value columns."""
        return [
            c for c in self.source.select if c != TIMESTAMP and self.source.output_name(c) not in self.config.group_by
        ]

    def reasons(self) -> list[str]:
        """Skip reasons this source can report, in the order they are checked."""
        return [
            "unreadable_document",
            "missing_timestamp",
            *[f"missing_group_key:{k}" for k in self.keys],
            *[f"invalid_value:{v}" for v in self.values],
            *[f"non_finite_value:{v}" for v in self.values],
        ]


def _flat_columns(fields) -> list[str]:
    """``COALESCE(data.f, metadata.f, f) AS f`` for each field (``data`` wins a clash)."""
    out = []
    for f in fields:
        cols = [q(f.scan_column(loc)) for loc in f.locations]
        out.append(f"{cols[0] if len(cols) == 1 else 'COALESCE(' + ', '.join(cols) + ')'} AS {q(f.name)}")
    return out


def _keep_condition(plan: SourcePlan, start_ms: int, end_ms: int) -> str:
    """Rows in the window that pass the filter, and rows with an unusable timestamp (to be counted)
    unless the filter excludes them. Written as an OR of plain conjunctions, so that engines push
    the window and the filter down into the file scan (Parquet row groups are skipped)."""
    ts = q(TIMESTAMP)
    window = f"{ts} >= {start_ms} AND {ts} < {end_ms}"
    if not plan.source.filter_expression:
        return f"({window}) OR {ts} IS NULL"
    cond = parse_filter(plan.source.filter_expression).sql(FILTER_DIALECT, identify=True)
    return f"(({cond}) AND {window}) OR ({ts} IS NULL AND COALESCE({cond}, TRUE))"


def kept_sql(plan: SourcePlan, scan: str, start_ms: int, end_ms: int, *, line: bool = False) -> str:
    """Flattened rows of a scan that are in the window and pass the filter, plus ``_empty``.

    Rows without a usable timestamp are kept too (when the filter does not exclude them),
    so that they are counted rather than lost.
    """
    scan_columns = [q(f.scan_column(loc)) for f in plan.fields for loc in f.locations]
    empty = " AND ".join(f"{c} IS NULL" for c in scan_columns)
    extra = "_file, _line, " if line else ""
    return (f"SELECT * FROM (SELECT {extra}{', '.join(_flat_columns(plan.fields))}, ({empty}) AS _empty "
            f"FROM {q(scan)}) AS flat WHERE {_keep_condition(plan, start_ms, end_ms)}")


def shared_fields(plans: list[SourcePlan]):
    """The scan fields of several sources of one lake path, or None if they disagree on a type."""
    merged: dict[str, object] = {}
    for plan in plans:
        for f in plan.fields:
            seen = merged.setdefault(f.name, f)
            if seen != f:
                return None
    return tuple(merged.values())


def prefilter_sql(plans: list[SourcePlan], scan: str, start_ms: int, end_ms: int) -> str:
    """The scan rows that at least one of ``plans`` keeps, with the scan's own columns.

    Sources that read the same lake path share one scan of the files (parsing JSON is the
    dominant cost of a read): this relation is materialised once and each source's job
    runs on it as if it were the scan.
    """
    fields = shared_fields(plans)
    scan_columns = ", ".join(q(f.scan_column(loc)) for f in fields for loc in f.locations)
    keeps = " OR ".join(f"({_keep_condition(p, start_ms, end_ms)})" for p in plans)
    return (f"SELECT {scan_columns} FROM (SELECT {scan_columns}, {', '.join(_flat_columns(fields))} "
            f"FROM {q(scan)}) AS flat WHERE {keeps}")


def reason_sql(plan: SourcePlan) -> str:
    """SQL giving a kept row's skip reason, NULL for a valid row (the first failing check wins)."""
    ts = q(TIMESTAMP)
    whens = [f"WHEN _empty THEN {lit('unreadable_document')}", f"WHEN {ts} IS NULL THEN {lit('missing_timestamp')}"]
    whens += [f"WHEN {q(k)} IS NULL THEN {lit('missing_group_key:' + k)}" for k in plan.keys]
    whens += [f"WHEN {q(v)} IS NULL THEN {lit('invalid_value:' + v)}" for v in plan.values]
    # (v - v) = 0 is false exactly for NaN and ±Inf, on every engine.
    whens += [f"WHEN NOT (({q(v)} - {q(v)}) = 0) THEN {lit('non_finite_value:' + v)}" for v in plan.values]
    return f"CASE {' '.join(whens)} END"


def checked_sql(plan: SourcePlan, scan: str, start_ms: int, end_ms: int, *, line: bool = False) -> str:
    """Kept rows, each with its ``_reason`` (NULL = valid)."""
    extra = "_file, _line, " if line else ""
    outputs = ", ".join(q(c) for c in [*plan.keys, TIMESTAMP, *plan.values])
    return (f"SELECT {extra}{outputs}, {reason_sql(plan)} AS _reason "
            f"FROM ({kept_sql(plan, scan, start_ms, end_ms, line=line)}) AS kept")


def aggregate_sql(plan: SourcePlan, scan: str, start_ms: int, end_ms: int) -> str:
    """Per-(groups, bucket) aggregates of one source plus ``_rows``, ``_duplicates``, ``_skip_<i>``.

    Exact repeats are folded first (``_n`` = copies); the reason of a row depends only on
    its columns, so it is computed once per distinct row.
    """
    interval = plan.config.agg_interval_ms
    ts = q(TIMESTAMP)
    row_cols = ", ".join(q(c) for c in [*plan.keys, TIMESTAMP, *plan.values])
    # floor, not truncation: ``%`` takes the dividend's sign on both engines, so a
    # timestamp before 1970 still lands in the bucket that starts at or before it
    bucket = f"({ts} - ((({ts} % {interval}) + {interval}) % {interval}))"
    valid = "FILTER (WHERE _reason IS NULL)"
    selects = [f"{q(k)} AS {q(plan.source.output_name(k))}" for k in plan.keys]
    selects.append(f"{bucket} AS {ts}")
    template = AGGREGATES[plan.config.agg_method]
    for v in plan.values:
        selects.append(f"{template.format(v=q(v), t=ts)} {valid} AS {q(plan.source.output_name(v))}")
    selects.append(f"COUNT(*) {valid} AS _rows")
    selects.append(f"COALESCE(SUM(_n) {valid}, 0) - COUNT(*) {valid} AS _duplicates")
    for i, reason in enumerate(plan.reasons()):
        selects.append(f"COALESCE(SUM(_n) FILTER (WHERE _reason = {lit(reason)}), 0) AS _skip_{i}")
    group = ", ".join([*(q(k) for k in plan.keys), bucket])
    return (
        f"WITH uniq AS (SELECT {row_cols}, _empty, COUNT(*) AS _n "
        f"FROM ({kept_sql(plan, scan, start_ms, end_ms)}) AS kept GROUP BY {row_cols}, _empty), "
        f"checked AS (SELECT *, {reason_sql(plan)} AS _reason FROM uniq) "
        f"SELECT {', '.join(selects)} FROM checked GROUP BY {group}"
    )


def empty_aggregate_sql(plan: SourcePlan) -> str:
    """The aggregate of a source with no files: the right columns, no rows."""
    cols = [f"CAST(NULL AS VARCHAR) AS {q(plan.source.output_name(k))}" for k in plan.keys]
    cols.append(f"CAST(NULL AS BIGINT) AS {q(TIMESTAMP)}")
    cols += [f"CAST(NULL AS DOUBLE) AS {q(plan.source.output_name(v))}" for v in plan.values]
    cols += ["CAST(0 AS BIGINT) AS _rows", "CAST(0 AS BIGINT) AS _duplicates"]
    cols += [f"CAST(0 AS BIGINT) AS _skip_{i}" for i in range(len(plan.reasons()))]
    return f"SELECT {', '.join(cols)} WHERE 1 = 0"


def report_sql(plan: SourcePlan, table: str) -> str:
    """Totals of one source's aggregate table: rows used, buckets, duplicates and skips."""
    sums = ["COALESCE(SUM(_rows), 0) AS _rows", "COUNT(*) FILTER (WHERE _rows > 0) AS _buckets",
            "COALESCE(SUM(_duplicates), 0) AS _duplicates"]
    sums += [f"COALESCE(SUM(_skip_{i}), 0) AS _skip_{i}" for i in range(len(plan.reasons()))]
    return f"SELECT {', '.join(sums)} FROM {q(table)}"


def join_sql(config: InputDataConfig, tables: list[str]) -> str:
    """Full outer join of the per-source aggregates on (group_by…, timestamp), sorted."""
    keys = [*config.group_by, TIMESTAMP]
    using = ", ".join(q(k) for k in keys)
    relations = []
    for table, source in zip(tables, config.source_configs):
        values = [
            source.output_name(c) for c in source.select
            if c != TIMESTAMP and source.output_name(c) not in config.group_by
        ]
        cols = ", ".join(q(c) for c in [*keys, *values])
        relations.append(f"(SELECT {cols} FROM {q(table)} WHERE _rows > 0) AS s{len(relations)}")
    body = relations[0] + "".join(f" FULL OUTER JOIN {r} USING ({using})" for r in relations[1:])
    outputs = ", ".join(q(c) for c in config.output_columns())
    order = ", ".join(q(k) for k in keys)
    return f"SELECT {outputs} FROM {body} ORDER BY {order}"
