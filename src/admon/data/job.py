"""The data job, written once as SQL (DuckDB dialect) and rendered per engine by sqlglot.

For one source, over its scan view (see :mod:`admon.data.engines.base`):

1. **flatten** — each field is ``COALESCE(data.f, metadata.f, f)`` (``data`` wins a clash);
   the timestamp is read as text and parsed here, once for every engine: an integer number
   of milliseconds in ``[MIN_TIMESTAMP_MS, MAX_TIMESTAMP_MS)`` (1970 to 2200), or a problem
   (where the files store it as integers, as Parquet often does, it is read as such and only
   its range is checked);
2. **keep** rows with ``start <= timestamp < end`` that pass the filter, and rows whose
   timestamp has a problem (so that they are counted);
3. **aggregate** per ``(group_by…, floor(timestamp / interval) * interval)`` in one pass,
   with counters that prove a bucket's aggregate exact: keys set, values finite, no repeat;
4. **redo** the buckets without that proof (if any) from their own rows: each row gets at most one
   skip reason, and exact repeats (same groups, timestamp and values) of the valid ones are
   removed and counted (see :func:`aggregate_job`); rows with an unusable timestamp are
   counted by reason.

The per-source aggregates are small; they are full-outer-joined on
``(group_by…, timestamp)`` so that a bucket missing in one source is null, never 0.

admon's own columns are named with :data:`~admon.config.INTERNAL_MARK` (``#rows``,
``#skip_0``, ...), which no column name of a config may hold, so a rename never clashes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from admon.config import INTERNAL_MARK, TIMESTAMP, InputDataConfig, SourceConfig
from admon.data.filters import FILTER_DIALECT, parse_filter
from admon.data.schema import ScanField
from admon.timeutil import MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS

# Internal columns: the INTERNAL_MARK keeps them apart from every name a config may use.
ROWS = f"{INTERNAL_MARK}rows"
BUCKETS = f"{INTERNAL_MARK}buckets"
DUPLICATES = f"{INTERNAL_MARK}duplicates"
COPIES = f"{INTERNAL_MARK}n"
EMPTY = f"{INTERNAL_MARK}empty"
REASON = f"{INTERNAL_MARK}reason"
FILE = f"{INTERNAL_MARK}file"
LINE = f"{INTERNAL_MARK}line"
TS_RAW = f"{INTERNAL_MARK}timestamp_raw"  # as scanned: text, or BIGINT (see flat_sql)
TS_FAST = f"{INTERNAL_MARK}timestamp_fast"
TS_EXACT = f"{INTERNAL_MARK}timestamp_exact"
TS_STATE = f"{INTERNAL_MARK}timestamp_state"
# Reasons of a timestamp that cannot be used, in the order they are checked.
TIMESTAMP_REASONS = ("missing_timestamp", "timestamp_not_integer_ms", "timestamp_out_of_range",
                     "timestamp_in_seconds")
IN_WINDOW = "in_window"  # the TS_STATE of a usable timestamp in the window (NULL: usable, outside it)
# Integer text, as JSON writes it (no backslashes: Spark SQL literals would unescape them).
_INTEGER_TEXT = "^-?[0-9]+$"
_BIGINT_SAFE = "9.0E18"  # doubles below this in magnitude convert to BIGINT on every engine


def skip_column(i: int) -> str:
    """The aggregate column counting the rows skipped for ``SourcePlan.reasons()[i]``."""
    return f"{INTERNAL_MARK}skip_{i}"

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
class SampleColumns:
    """The shape of a query source's samples, in the role of a SourceConfig: the columns are
    top-level fields under the source's own names (a label, a tag, ``value``), renamed like a
    lake source's (so skips are counted under the same names), and there is no filter."""

    label: str
    select: tuple[str, ...]
    rename: Mapping[str, str] = field(default_factory=dict)
    filter_expression: None = None

    def output_name(self, column: str) -> str:
        return self.rename.get(column, column)

    def filter_columns(self) -> list[str]:
        return []

    def lake_path(self) -> str:
        """How messages name the source (the query source's description)."""
        return self.label


@dataclass(frozen=True)
class SourcePlan:
    """Everything the SQL of one source needs, derived from the config and the scan fields."""

    source: SourceConfig | SampleColumns
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
            *TIMESTAMP_REASONS,
            *[f"missing_group_key:{k}" for k in self.keys],
            *[f"invalid_value:{v}" for v in self.values],
            *[f"non_finite_value:{v}" for v in self.values],
        ]


def _flat_columns(fields) -> list[str]:
    """``COALESCE(data.f, metadata.f, f) AS f`` for each field (``data`` wins a clash); the
    timestamp as scanned is named TS_RAW, to be parsed by :func:`flat_sql`."""
    out = []
    for f in fields:
        cols = [q(f.scan_column(loc)) for loc in f.locations]
        name = TS_RAW if f.name == TIMESTAMP else f.name
        out.append(f"{cols[0] if len(cols) == 1 else 'COALESCE(' + ', '.join(cols) + ')'} AS {q(name)}")
    return out


def integer_timestamp(fields) -> bool:
    """Whether the scan holds the timestamp as integers (BIGINT) rather than text."""
    return any(f.name == TIMESTAMP and f.sql_type == "BIGINT" for f in fields)


def _timestamp_checks(value: str, start_ms: int, end_ms: int) -> str:
    """WHEN branches of the state of a usable-so-far integer ``value``."""
    return (f"WHEN {value} IS NULL OR {value} < {MIN_TIMESTAMP_MS} OR {value} >= {MAX_TIMESTAMP_MS} "
            f"THEN {lit(TIMESTAMP_REASONS[2])} "
            f"WHEN {value} >= {start_ms} AND {value} < {end_ms} THEN {lit(IN_WINDOW)} "
            # ts * 1000 in [start, end)  <=>  ts in [ceil(start / 1000), ceil(end / 1000)): no overflow
            f"WHEN {value} >= {-(-start_ms // 1000)} AND {value} < {-(-end_ms // 1000)} "
            f"THEN {lit(TIMESTAMP_REASONS[3])}")


def flat_sql(fields, scan: str, start_ms: int, end_ms: int, *, passthrough: tuple[str, ...] = ()) -> str:
    """Flattened rows of a scan: each field once, ``timestamp`` parsed, ``#timestamp_state`` and
    ``#empty`` (every scan column NULL). ``passthrough`` columns of the scan are carried along.

    ``#empty`` is the one rule of ``unreadable_document``: a row with none of its source's fields
    (a malformed line, which the engines read as a row of NULLs, cannot be told apart from an
    object with none of them). ``fields`` are one source's own, or the union of the sources of
    one path: then :func:`prefilter_sql` flags each source's own empty rows (:func:`shared_empty`).

    The state of a row's timestamp is ``in_window``, NULL (usable, outside the window) or why it
    cannot be used: an integer number of milliseconds is needed, so JSON ``true``,
    ``1652141000000.5`` or text is ``timestamp_not_integer_ms`` (never rounded); outside
    1970–2200 it is ``timestamp_out_of_range``; a value that lies in the window once multiplied
    by 1000 is ``timestamp_in_seconds``.

    The timestamp is scanned as text, except where the engine found every file storing it as
    integers (a Parquet INT64 column, say: the scan field's type is then BIGINT, see
    :meth:`~admon.data.engines.duckdb.DuckDBEngine.register_scan`): an integer is a number of
    milliseconds as it stands, so only its range is checked, with the same states as its text.
    Nearly every text timestamp is canonical integer text, recognised by one cast and its inverse;
    the exact parse of anything else sits in CASE branches that engines evaluate only for the
    rows that reach them (engines also inline these expressions wherever they are referenced).
    """
    scan_columns = [q(f.scan_column(loc)) for f in fields for loc in f.locations]
    empty = " AND ".join(f"{c} IS NULL" for c in scan_columns)
    carried = "".join(f"{c}, " for c in passthrough)
    raw = f"SELECT {carried}{', '.join(_flat_columns(fields))}, ({empty}) AS {q(EMPTY)} FROM {q(scan)}"
    in_range = f"BETWEEN {MIN_TIMESTAMP_MS} AND {MAX_TIMESTAMP_MS - 1}"
    if integer_timestamp(fields):
        ms = q(TS_RAW)
        state = f"CASE WHEN {ms} IS NULL THEN {lit(TIMESTAMP_REASONS[0])} {_timestamp_checks(ms, start_ms, end_ms)} END"
        return (f"SELECT *, CASE WHEN {ms} {in_range} THEN {ms} END AS {q(TIMESTAMP)}, {state} AS {q(TS_STATE)} "
                f"FROM ({raw}) AS raw")
    text, fast, exact = q(TS_RAW), q(TS_FAST), q(TS_EXACT)
    typed = (f"SELECT *, CAST({fast} AS VARCHAR) = {text} AS {exact} "
             f"FROM (SELECT *, TRY_CAST({text} AS BIGINT) AS {fast} FROM ({raw}) AS raw) AS fast")
    # the rest: integer text that is not canonical (-0, +5, 007), a number with a fraction or an
    # exponent (1.5e12 is a timestamp, 1.5 is not), or no number at all
    number = f"TRY_CAST({text} AS DOUBLE)"
    integer_text = f"REGEXP_MATCHES({text}, '{_INTEGER_TEXT}')"
    integral = f"COALESCE({integer_text} OR ({number} % 1) = 0, FALSE)"
    exact_value = (f"CASE WHEN {integer_text} THEN {fast} "
                   f"WHEN ABS({number}) < {_BIGINT_SAFE} THEN TRY_CAST({number} AS BIGINT) END")

    def checks(value: str) -> str:
        return _timestamp_checks(value, start_ms, end_ms)

    state = (f"CASE WHEN {exact} THEN CASE {checks(fast)} END "
             f"WHEN {text} IS NULL THEN {lit(TIMESTAMP_REASONS[0])} "
             f"WHEN NOT {integral} THEN {lit(TIMESTAMP_REASONS[1])} "
             f"ELSE CASE {checks(exact_value)} END END")
    timestamp = (f"CASE WHEN {exact} THEN CASE WHEN {fast} {in_range} THEN {fast} END "
                 f"WHEN {integral} THEN CASE WHEN ({exact_value}) {in_range} THEN {exact_value} END END")
    return f"SELECT *, {timestamp} AS {q(TIMESTAMP)}, {state} AS {q(TS_STATE)} FROM ({typed}) AS typed"


def _keep_condition(plan: SourcePlan, start_ms: int, end_ms: int) -> str:
    """Rows in the window that pass the filter, and rows whose timestamp cannot be used (to be
    counted) unless the filter excludes them. The filter comes first and the timestamp's state
    is referenced as little as possible: it is the costly part, and engines inline it."""
    state = q(TS_STATE)
    if not plan.source.filter_expression:
        return f"{state} IS NOT NULL"
    cond = parse_filter(plan.source.filter_expression).sql(FILTER_DIALECT, identify=True)
    # filter TRUE: keep what is in the window or counted; NULL: keep only what is counted
    return f"COALESCE({cond}, {state} <> {lit(IN_WINDOW)}) AND {state} IS NOT NULL"


def kept_sql(plan: SourcePlan, scan: str, start_ms: int, end_ms: int, *, line: bool = False,
             flat: bool = False, empty: str = EMPTY) -> str:
    """Flattened rows of a scan that are in the window and pass the filter (see :func:`flat_sql`).

    Rows without a usable timestamp are kept too (when the filter does not exclude them),
    so that they are counted rather than lost. ``flat``: ``scan`` is flattened already
    (:func:`prefilter_sql`), and ``empty`` is its column flagging this source's empty rows.
    """
    extra = (q(FILE), q(LINE)) if line else ()
    if flat:
        rows = q(scan) if empty == EMPTY else f"(SELECT *, {q(empty)} AS {q(EMPTY)} FROM {q(scan)})"
    else:
        rows = f"({flat_sql(plan.fields, scan, start_ms, end_ms, passthrough=extra)})"
    return f"SELECT * FROM {rows} AS flat WHERE {_keep_condition(plan, start_ms, end_ms)}"


def shared_fields(plans: list[SourcePlan]):
    """The scan fields of several sources of one lake path, or None if they disagree on a type."""
    merged: dict[str, object] = {}
    for plan in plans:
        for f in plan.fields:
            seen = merged.setdefault(f.name, f)
            if seen != f:
                return None
    return tuple(merged.values())


def shared_empty(k: int) -> str:
    """The column of :func:`prefilter_sql` flagging the rows with none of ``plans[k]``'s fields."""
    return f"{EMPTY}_{k}"


def prefilter_sql(plans: list[SourcePlan], scan: str, start_ms: int, end_ms: int) -> str:
    """The rows that at least one of ``plans`` keeps, flattened (timestamp parsed once).

    Sources that read the same lake path share one scan of the files (parsing JSON is the
    dominant cost of a read): this relation is materialised once and each source's job
    runs on it (``flat=True``, ``empty=shared_empty(k)`` for ``plans[k]``).
    """
    fields = shared_fields(plans)
    columns = [q(f.name) for f in fields if f.name != TIMESTAMP] + [q(c) for c in (TIMESTAMP, TS_STATE)]
    # a row's reason must not depend on the other sources of its path: each source's empty flag is
    # over its own fields (a flattened column is NULL iff all its scan columns are, as in flat_sql)
    for k, plan in enumerate(plans):
        own = " AND ".join(f"{q(TS_RAW if f.name == TIMESTAMP else f.name)} IS NULL" for f in plan.fields)
        columns.append(f"({own}) AS {q(shared_empty(k))}")
    keeps = " OR ".join(f"({_keep_condition(p, start_ms, end_ms)})" for p in plans)
    return f"SELECT {', '.join(columns)} FROM ({flat_sql(fields, scan, start_ms, end_ms)}) AS flat WHERE {keeps}"


def reason_sql(plan: SourcePlan, *, codes: bool = False) -> str:
    """SQL giving a kept row's skip reason, NULL for a valid row (the first failing check wins).

    ``codes``: the reason's index in ``plan.reasons()`` instead of its text (the job counts
    skips by comparing it on every row, and an integer compares faster than text).
    """
    reasons = plan.reasons()

    def value(reason: str) -> str:
        return str(reasons.index(reason)) if codes else lit(reason)

    timestamp_reason = (f"CASE {q(TS_STATE)} {' '.join(f'WHEN {lit(r)} THEN {value(r)}' for r in TIMESTAMP_REASONS)} END"
                        if codes else q(TS_STATE))
    # one cheap test passes the valid rows (nearly all), so the checks below run for the rest only
    valid = " AND ".join([f"{q(TS_STATE)} = {lit(IN_WINDOW)}", *(f"{q(k)} IS NOT NULL" for k in plan.keys),
                          *(f"({q(v)} - {q(v)}) = 0" for v in plan.values)])
    whens = [f"WHEN {valid} THEN NULL",
             f"WHEN {q(EMPTY)} THEN {value('unreadable_document')}",
             f"WHEN {q(TS_STATE)} <> {lit(IN_WINDOW)} THEN {timestamp_reason}"]
    whens += [f"WHEN {q(k)} IS NULL THEN {value('missing_group_key:' + k)}" for k in plan.keys]
    whens += [f"WHEN {q(v)} IS NULL THEN {value('invalid_value:' + v)}" for v in plan.values]
    # (v - v) = 0 is false exactly for NaN and ±Inf, on every engine.
    whens += [f"WHEN NOT (({q(v)} - {q(v)}) = 0) THEN {value('non_finite_value:' + v)}" for v in plan.values]
    return f"CASE {' '.join(whens)} END"


def checked_sql(plan: SourcePlan, scan: str, start_ms: int, end_ms: int, *, line: bool = False) -> str:
    """Kept rows, each with its ``#reason`` (NULL = valid)."""
    extra = f"{q(FILE)}, {q(LINE)}, " if line else ""
    outputs = ", ".join(q(c) for c in [*plan.keys, TIMESTAMP, *plan.values])
    return (f"SELECT {extra}{outputs}, {reason_sql(plan)} AS {q(REASON)} "
            f"FROM ({kept_sql(plan, scan, start_ms, end_ms, line=line)}) AS kept")


# Residues of a timestamp modulo this prime are the bits of one BIGINT (61 is the largest prime
# below 64): the bucket's certificate of having no exact repeat (see aggregate_job).
CERTIFICATE_MODULUS = 61


def _split_keep(plan: SourcePlan, start_ms: int, end_ms: int, *, flat: bool) -> tuple[str, str]:
    """The two halves of :func:`_keep_condition`: rows in the window that pass the filter, and
    rows whose timestamp cannot be used, unless the filter excludes them (to be counted).

    On a scan with integer timestamps both are written on the timestamp column itself, so that
    the engine can test them where it reads (DuckDB skips the Parquet row groups that its
    statistics put outside them: the second half, above all, is nearly always empty).
    """
    cond = (parse_filter(plan.source.filter_expression).sql(FILTER_DIALECT, identify=True)
            if plan.source.filter_expression else None)
    state = q(TS_STATE)
    if integer_timestamp(plan.fields) and not flat:
        # the states of flat_sql's integer path, in its order: missing, out of range, in the
        # window, in seconds (so that no row is in both halves, even in a window near 1970)
        ms = q(TS_RAW)
        in_window = f"{ms} >= {max(start_ms, MIN_TIMESTAMP_MS)} AND {ms} < {min(end_ms, MAX_TIMESTAMP_MS)}"
        seconds = (f"{ms} >= {max(-(-start_ms // 1000), MIN_TIMESTAMP_MS)} AND {ms} < {min(-(-end_ms // 1000), MAX_TIMESTAMP_MS)}"
                   f" AND NOT ({ms} >= {start_ms} AND {ms} < {end_ms})")
        unusable = f"({ms} IS NULL OR {ms} < {MIN_TIMESTAMP_MS} OR {ms} >= {MAX_TIMESTAMP_MS} OR ({seconds}))"
    else:
        in_window = f"{state} = {lit(IN_WINDOW)}"
        unusable = f"{state} <> {lit(IN_WINDOW)}"
    if cond is None:
        return in_window, unusable
    return f"({cond}) AND {in_window}", f"COALESCE({cond}, TRUE) AND {unusable}"


REDO = f"{INTERNAL_MARK}redo"  # a bucket of the one pass without its proof: redone by AggregateJob.redo
TO_REDO = f"{INTERNAL_MARK}to_redo"  # report_sql's count of them


@dataclass(frozen=True)
class AggregateJob:
    """One source's aggregate in two statements (see :func:`aggregate_job`).

    ``one_pass`` gives a table of the result's columns plus ``#redo``, the buckets whose one-pass
    aggregate is not proven exact (:func:`report_sql` counts them). ``redo(table)``, run only
    where some bucket has ``#redo``, gives that table with those buckets redone from their own
    rows. Where every bucket is proven (regular data without repeats) the rows are read once,
    as a hand-written query would.
    """

    one_pass: str
    redo: Callable[[str], str]


def aggregate_job(plan: SourcePlan, scan: str, start_ms: int, end_ms: int, *, flat: bool = False,
                  empty: str = EMPTY, timestamp_range: tuple[int, int] | None = None) -> AggregateJob:
    """Per-(groups, bucket) aggregates of one source plus ``#rows``, ``#duplicates``, ``#skip_<i>``.

    The kept rows are split in two. Rows **in the window** are aggregated in one pass with no
    per-row check at all, as a hand-written query would, plus a few counters that prove the
    pass exact for a bucket (its keys are set, every value is a finite number, and it holds no
    exact repeat, see below). Only the buckets without that proof are redone exactly, from
    their own rows, by a second statement that runs only when there are any: each row gets its
    skip reason, and the valid ones are deduplicated by hashing. Rows **whose timestamp cannot
    be used** (usually none) are counted by reason. A bucket whose key is missing needs no
    second look: all its rows are skipped for that key.

    **Exact repeats without hashing every row.** A valid row's identity is its groups,
    timestamp and values; an exact repeat (a re-delivered document) therefore shares its
    bucket *and its timestamp* with the row it repeats. So the pass also counts the distinct
    residues of its rows' timestamps modulo 61 (the bits of one BIGINT, OR-ed together). That
    count is a lower bound of the distinct timestamps, which is at most the distinct rows,
    which is at most the rows: when it equals the number of rows, the bucket provably has no
    repeat. Only the other buckets (a repeat, or timestamps that collide modulo 61: more than
    61 rows, or a step that is a multiple of 61 ms) are deduplicated by hashing their rows.
    Regular data (one point every 10 s, 1 min, ...: at most 61 points per bucket) is thus
    never hashed row by row, while a repeat always is, and counts once.

    **Finite values without a test per row.** ``v - v`` is 0 for a finite number and NaN for
    NaN and ±Inf, so the sum of ``v - v`` over a bucket is 0 exactly when all its values are
    finite; ``COUNT(v)`` equal to the rows says that none is NULL.

    Rows with a skip reason are not deduplicated: each copy is counted under its reason. The
    result has one row per (groups, bucket) of the rows in the window, and one per (groups,
    bucket) of the rows counted for their timestamp (no rows used: ``#rows`` is 0).

    ``timestamp_range``: ``(min, max)`` of the scan's integer timestamps, known (from Parquet
    footers) to hold every row's. When no value in it can be unusable, the part that counts
    unusable timestamps is left out of the statement: the engine need not even plan it.
    """
    interval = plan.config.agg_interval_ms
    ts = q(TIMESTAMP)

    def bucket_of(t: str) -> str:
        if MIN_TIMESTAMP_MS >= 0:  # a usable timestamp is never negative: truncation is the floor
            return f"({t} - {t} % {interval})"
        # floor, not truncation: ``%`` takes the dividend's sign on both engines, so a
        # timestamp before 1970 still lands in the bucket that starts at or before it
        return f"({t} - ((({t} % {interval}) + {interval}) % {interval}))"

    reasons = plan.reasons()
    bucket = bucket_of(ts)
    keys = [q(k) for k in plan.keys]
    outs = [q(plan.source.output_name(k)) for k in plan.keys]  # the keys' names in the result
    values = [q(v) for v in plan.values]
    row_cols = [*keys, ts, *values]
    reason, rows, dups, n, redo = q(REASON), q(ROWS), q(DUPLICATES), q(COPIES), q(REDO)
    skips = [q(skip_column(i)) for i in range(len(reasons))]
    template = AGGREGATES[plan.config.agg_method]
    value_aggs = [(template.format(v=v, t=ts), q(plan.source.output_name(name))) for v, name in zip(values, plan.values)]
    group_items = [*(f"{k} AS {o}" for k, o in zip(keys, outs)), f"{bucket} AS {ts}"]
    group_by = ", ".join([*keys, bucket])
    value_reasons = [reasons.index(f"{kind}:{name}") for kind in ("invalid_value", "non_finite_value") for name in plan.values]

    # the flattened rows and the two halves of the kept ones
    if flat:
        rows_of = q(scan) if empty == EMPTY else f"(SELECT *, {q(empty)} AS {q(EMPTY)} FROM {q(scan)})"
    else:
        rows_of = f"({flat_sql(plan.fields, scan, start_ms, end_ms)})"
    # Each part reads its rows from the scan: where that is cheap (a table, or a Parquet scan
    # with integer timestamps, which reads only the row groups each part's condition can hold)
    # it does, so that the one pass streams. Else (text timestamps) the scan is read once into
    # the kept rows, a common table expression, which the engine may keep for the parts.
    integer_scan = not flat and integer_timestamp(plan.fields)  # a scan of BIGINT timestamps (Parquet)
    rescan = flat or integer_scan
    if rescan:
        in_window, unusable = _split_keep(plan, start_ms, end_ms, flat=flat)
        with_kept = ""
    else:  # a kept row in the window passed the filter (see _keep_condition)
        in_window, unusable = f"{q(TS_STATE)} = {lit(IN_WINDOW)}", f"{q(TS_STATE)} <> {lit(IN_WINDOW)}"
        with_kept = (f"kept_rows AS (SELECT {', '.join(row_cols)}, {q(EMPTY)}, {q(TS_STATE)} FROM {rows_of} AS flat "
                     f"WHERE {_keep_condition(plan, start_ms, end_ms)})")
        rows_of = "kept_rows"
    # an integer timestamp in the window is usable as it stands: flat_sql's range check need not run per row
    window_ts = f"{q(TS_RAW)} AS {ts}" if integer_scan else ts
    window = f"(SELECT {', '.join([*keys, window_ts, *values])} FROM {rows_of} AS flat WHERE {in_window})"

    # the one pass over the rows in the window, in the result's columns: a bucket with a missing
    # key has no value and counts its rows under the first key missing; #redo marks the buckets
    # whose pass is not proven exact (keys set, and: no repeat, no NULL, no non-finite value)
    keyed = " AND ".join(f"{k} IS NOT NULL" for k in keys) or "TRUE"
    residues = f"BIT_COUNT(BIT_OR(CAST(1 AS BIGINT) << CAST({ts} % {CERTIFICATE_MODULUS} AS INTEGER)))"  # (ts >= 0)
    proofs = [f"COUNT(*) = {residues}", *(f"COUNT({v}) = COUNT(*)" for v in values), *(f"SUM({v} - {v}) = 0" for v in values)]
    first_missing = {}  # skip column -> the condition that its key is the first one missing
    for j, (k, name) in enumerate(zip(keys, plan.keys)):
        first_missing[reasons.index(f"missing_group_key:{name}")] = " AND ".join(
            [*(f"{prev} IS NOT NULL" for prev in keys[:j]), f"{k} IS NULL"])
    pass_cols = [*group_items, *(f"CASE WHEN {keyed} THEN {agg} END AS {name}" for agg, name in value_aggs),
                 f"CASE WHEN {keyed} THEN COUNT(*) ELSE 0 END AS {rows}", f"CAST(0 AS BIGINT) AS {dups}"]
    pass_cols += [f"CASE WHEN {first_missing[i]} THEN COUNT(*) ELSE 0 END AS {s_}" if i in first_missing
                  else f"CAST(0 AS BIGINT) AS {s_}" for i, s_ in enumerate(skips)]
    pass_cols.append(f"({keyed}) AND NOT COALESCE({' AND '.join(proofs)}, FALSE) AS {redo}")
    in_window_part = f"SELECT {', '.join(pass_cols)} FROM {window} AS c GROUP BY {group_by}"
    # the rows whose timestamp cannot be used, by reason (the bucket of one in seconds is its own);
    # reason_sql's first checks, the only ones such a row reaches
    timestamp_reason = (f"CASE WHEN {q(EMPTY)} THEN {reasons.index('unreadable_document')} ELSE CASE {q(TS_STATE)} "
                        + " ".join(f"WHEN {lit(r)} THEN {reasons.index(r)}" for r in TIMESTAMP_REASONS) + " END END")
    unusable_part = (f"SELECT {', '.join(group_items)}, {', '.join(f'NULL AS {name}' for _, name in value_aggs)}"
                     f"{', ' if value_aggs else ''}CAST(0 AS BIGINT) AS {rows}, CAST(0 AS BIGINT) AS {dups}, "
                     + ", ".join(f"COUNT(*) FILTER (WHERE {reason} = {i}) AS {s_}" for i, s_ in enumerate(skips))
                     + f", FALSE AS {redo} FROM (SELECT *, {timestamp_reason} AS {reason} "
                     f"FROM {rows_of} AS flat WHERE {unusable}) AS c GROUP BY {group_by}")
    if integer_scan and _all_usable(timestamp_range, start_ms, end_ms):
        unusable_part = ""
    one_pass = (f"WITH {with_kept} " if with_kept else "") + in_window_part + (
        f" UNION ALL {unusable_part}" if unusable_part else "")

    # the buckets to redo: their rows, each with its reason (the keys are set, the timestamp is in
    # the window: a NULL or non-finite value is the only reason there can be)
    same_bucket = " AND ".join([*(f"c.{k} = r.{o}" for k, o in zip(keys, outs)), f"{bucket_of('c.' + ts)} = r.{ts}"])
    redo_rows = f"SELECT {', '.join(f'c.{c}' for c in row_cols)} FROM {window} AS c JOIN redo AS r ON {same_bucket}"
    # reason_sql's checks that a row in the window with its keys set can fail, in its order
    value_reason = " ".join([*(f"WHEN {v} IS NULL THEN {reasons.index('invalid_value:' + name)}"
                               for v, name in zip(values, plan.values)),
                             *(f"WHEN NOT (({v} - {v}) = 0) THEN {reasons.index('non_finite_value:' + name)}"
                               for v, name in zip(values, plan.values))])
    value_reason = f"CASE {value_reason} END" if values else "CAST(NULL AS INTEGER)"
    # each distinct row once, with its copies; the valid ones are aggregated once, and every
    # copy of a skipped one is counted under its reason
    uniq = (f"SELECT {', '.join(row_cols)}, {reason}, COUNT(*) AS {n} "
            f"FROM (SELECT {', '.join(row_cols)}, {value_reason} AS {reason} FROM ({redo_rows}) AS redo_rows) AS c "
            f"GROUP BY {', '.join([*row_cols, reason])}")
    valid = f"FILTER (WHERE {reason} IS NULL)"
    exact = [*group_items, *(f"{agg} {valid} AS {name}" for agg, name in value_aggs), f"COUNT(*) {valid} AS {rows}",
             f"SUM({n}) {valid} - COUNT(*) {valid} AS {dups}",
             *(f"SUM({n}) FILTER (WHERE {reason} = {i}) AS {skips[i]}" for i in value_reasons)]
    outputs = [*(f"p.{o}" for o in outs), f"p.{ts}"]
    outputs += [f"CASE WHEN p.{redo} THEN e.{name} ELSE p.{name} END AS {name}" for _, name in value_aggs]
    outputs += [f"CASE WHEN p.{redo} THEN COALESCE(e.{rows}, 0) ELSE p.{rows} END AS {rows}",
                f"p.{dups} + COALESCE(e.{dups}, 0) AS {dups}"]
    outputs += [f"p.{s_} + COALESCE(e.{s_}, 0) AS {s_}" if i in value_reasons else f"p.{s_}"
                for i, s_ in enumerate(skips)]
    outputs.append(f"FALSE AS {redo}")
    # (no alias here: the Spark rendering takes a WHERE name that is also a SELECT alias for the alias)
    bucket_cols = ", ".join([*outs, ts])
    join_on = " AND ".join([f"p.{redo}", *(f"p.{o} = e.{o}" for o in outs), f"p.{ts} = e.{ts}"])

    def redo_sql(table: str) -> str:
        ctes = [with_kept] if with_kept else []
        ctes += [f"redo AS (SELECT {bucket_cols} FROM {q(table)} WHERE {redo})",
                 f"exact AS (SELECT {', '.join(exact)} FROM ({uniq}) AS uniq GROUP BY {group_by})"]
        return f"WITH {', '.join(ctes)} SELECT {', '.join(outputs)} FROM {q(table)} AS p LEFT JOIN exact AS e ON {join_on}"

    return AggregateJob(one_pass, redo_sql)


def _all_usable(timestamp_range: tuple[int, int] | None, start_ms: int, end_ms: int) -> bool:
    """Whether every integer timestamp in ``timestamp_range`` (min, max; all set) is usable: in
    1970-2200 and not a number of seconds in the window (flat_sql's integer states)."""
    if timestamp_range is None:
        return False
    low, high = timestamp_range
    seconds_low, seconds_high = -(-start_ms // 1000), -(-end_ms // 1000)  # [ceil(start/1000), ceil(end/1000))
    return (MIN_TIMESTAMP_MS <= low <= high < MAX_TIMESTAMP_MS
            and (high < seconds_low or low >= seconds_high))


def empty_aggregate_sql(plan: SourcePlan) -> str:
    """The aggregate of a source with no files: the right columns, no rows."""
    cols = [f"CAST(NULL AS VARCHAR) AS {q(plan.source.output_name(k))}" for k in plan.keys]
    cols.append(f"CAST(NULL AS BIGINT) AS {q(TIMESTAMP)}")
    cols += [f"CAST(NULL AS DOUBLE) AS {q(plan.source.output_name(v))}" for v in plan.values]
    cols += [f"CAST(0 AS BIGINT) AS {q(ROWS)}", f"CAST(0 AS BIGINT) AS {q(DUPLICATES)}"]
    cols += [f"CAST(0 AS BIGINT) AS {q(skip_column(i))}" for i in range(len(plan.reasons()))]
    cols.append(f"FALSE AS {q(REDO)}")
    return f"SELECT {', '.join(cols)} WHERE 1 = 0"


def report_sql(plan: SourcePlan, table: str) -> str:
    """Totals of one source's aggregate table: rows used, buckets, duplicates and skips, and the
    buckets still to redo (see :class:`AggregateJob`)."""
    rows, duplicates = q(ROWS), q(DUPLICATES)
    sums = [f"COALESCE(SUM({rows}), 0) AS {rows}", f"COUNT(*) FILTER (WHERE {rows} > 0) AS {q(BUCKETS)}",
            f"COALESCE(SUM({duplicates}), 0) AS {duplicates}"]
    sums += [f"COALESCE(SUM({q(skip_column(i))}), 0) AS {q(skip_column(i))}" for i in range(len(plan.reasons()))]
    sums.append(f"COUNT(*) FILTER (WHERE {q(REDO)}) AS {q(TO_REDO)}")
    return f"SELECT {', '.join(sums)} FROM {q(table)}"


def read_totals(plan: SourcePlan, totals: Mapping) -> tuple[int, int, Counter]:
    """``(rows used, buckets, skipped by reason)`` from the one row of :func:`report_sql`."""
    skipped: Counter = Counter()
    if int(totals[DUPLICATES]):
        skipped["duplicate"] = int(totals[DUPLICATES])
    for i, reason in enumerate(plan.reasons()):
        if int(totals[skip_column(i)]):
            skipped[reason] += int(totals[skip_column(i)])
    return int(totals[ROWS]), int(totals[BUCKETS]), skipped


def join_sql(config: InputDataConfig, tables: list[str]) -> str:
    """Full outer join of the per-source aggregates on (group_by…, timestamp), sorted."""
    keys = [*config.group_by, TIMESTAMP]
    using = ", ".join(q(k) for k in keys)
    relations: list[str] = []
    for table, source in zip(tables, config.source_configs):
        values = config.source_value_columns(source)
        cols = ", ".join(q(c) for c in [*keys, *values])
        relations.append(f"(SELECT {cols} FROM {q(table)} WHERE {q(ROWS)} > 0) AS s{len(relations)}")
    body = relations[0] + "".join(f" FULL OUTER JOIN {r} USING ({using})" for r in relations[1:])
    outputs = ", ".join(q(c) for c in config.output_columns())
    order = ", ".join(q(k) for k in keys)
    return f"SELECT {outputs} FROM {body} ORDER BY {order}"
