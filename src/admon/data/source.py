"""``DataSource``: read what an :class:`~admon.config.InputDataConfig` declares, on any engine.

>>> import tempfile, json, os
>>> from admon import SourceConfig, InputDataConfig, DataSource
>>> root = tempfile.mkdtemp()
>>> os.makedirs(f"{root}/collectd/raw/monitoring/2022/05/10")
>>> with open(f"{root}/collectd/raw/monitoring/2022/05/10/part-0.json", "w") as f:
...     for ts, v in [(1652169600000, 1.0), (1652169660000, 3.0), (1652169900000, 5.0)]:
...         _ = f.write(json.dumps({"metadata": {"host": "h1", "topic": "cpu", "timestamp": ts},
...                                 "data": {"value": v}}) + "\\n")
>>> idc = InputDataConfig(source_configs=[SourceConfig("collectd", "raw", "monitoring",
...                       select=["timestamp", "value", "host"], filter_expression="topic == 'cpu'")],
...                       agg_interval_seconds=300, agg_method="avg", group_by=["host"])
>>> DataSource(None, idc, lake_root=root).read(1652169600000, 1652173200000)
  host      timestamp  value
0   h1  1652169600000    2.0
1   h1  1652169900000    5.0
"""

from __future__ import annotations

import json
import math
import time
import uuid
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from admon.config import TIMESTAMP, InputDataConfig, QuerySource, SourceConfig, source_label
from admon.data.diagnose import first_problem
from admon.data.engines import engine_for
from admon.data.engines.base import Engine, render
from admon.data.job import (
    BUCKETS,
    DUPLICATES,
    ROWS,
    TO_REDO,
    AggregateJob,
    SourcePlan,
    aggregate_job,
    empty_aggregate_sql,
    join_sql,
    prefilter_sql,
    q,
    read_totals,
    report_sql,
    shared_empty,
    shared_fields,
    skip_column,
)
from admon.data.lake import LakeFile, list_files
from admon.data.report import FILE_REASONS, BucketCounts, ReadReport, SourceReport
from admon.data.schema import ScanField, plan_scan, sample_schema
from admon.data.sources import SampleContext, read_samples, sample_plan
from admon.errors import AdmonError, ConfigError, DataError, SourceReadError
from admon.settings import load_settings
from admon.timeutil import TimeLike, check_window


class DataSource:
    """Reads, shapes and joins monitoring data for one :class:`InputDataConfig`.

    ``engine``: None or a duckdb connection (embedded engine), or a SparkSession.
    ``lake_root``: overrides the ``ADMON_LAKE_ROOT`` setting.
    ``strict``: raise :class:`DataError` naming file, line and reason at the first bad row,
    instead of skipping and counting it in :attr:`last_report`.
    ``count_buckets``: also keep each source's counts per bucket (``SourceReport.by_bucket``), which
    :mod:`admon.data.bucket_cache` needs to report a read assembled from cached buckets.
    """

    def __init__(self, engine: Any, input_data_config: InputDataConfig, *, lake_root: str | None = None,
                 strict: bool = False, count_buckets: bool = False):
        if not isinstance(input_data_config, InputDataConfig):
            raise ConfigError(
                f"DataSource needs an InputDataConfig, got {type(input_data_config).__name__}; "
                "build one with InputDataConfig(source_configs=[...], agg_interval_seconds=...)"
            )
        self.engine: Engine = engine_for(engine)
        self.config = input_data_config
        self.lake_root = lake_root if lake_root is not None else load_settings().lake_root
        self.strict = strict
        self.count_buckets = count_buckets
        self.last_report: ReadReport | None = None

    # --- public API ----------------------------------------------------------------------
    def read(self, start: TimeLike, end: TimeLike) -> Any:
        """The joined frame of ``[start, end)``: ``[*group_by, "timestamp", *value_columns]``.

        A pandas DataFrame on the embedded engine (the engine's own frame on Spark).
        """
        return self._run(start, end, native=True)

    read_hdfs = read

    def read_pandas(self, start: TimeLike, end: TimeLike) -> pd.DataFrame:
        """Like :meth:`read`, always as a pandas DataFrame."""
        return self._run(start, end, native=False)

    def documents(self, start: TimeLike, end: TimeLike) -> list[dict]:
        """One result document per group, as in DESIGN.md (metadata values are strings)."""
        return frame_to_documents(self.read_pandas(start, end), self.config)

    # --- the job -------------------------------------------------------------------------
    def _run(self, start: TimeLike, end: TimeLike, *, native: bool) -> Any:
        started = time.perf_counter()
        start_ms, end_ms = check_window(start, end)
        report = ReadReport(start_ms, end_ms, engine=self.engine.name)
        prefix = f"admon_{uuid.uuid4().hex[:10]}"
        sources = self.config.source_configs
        tables = [f"{prefix}_agg_{i}" for i in range(len(sources))]
        report.sources = [SourceReport(source_label(s)) for s in sources]
        created: list[str] = []
        by_path: dict[str, list[int]] = {}
        for i, source in enumerate(sources):
            if isinstance(source, SourceConfig):
                by_path.setdefault(source.lake_path(), []).append(i)
        try:
            for i, source in enumerate(sources):
                if isinstance(source, QuerySource):
                    self._aggregate_samples(prefix, i, source, tables, created, start_ms, end_ms,
                                                       report.sources[i])
            for path, members in by_path.items():
                listing = list_files(self.lake_root, path, start_ms, end_ms)
                self._skip_entries(listing.skipped, [report.sources[i] for i in members])
                files = listing.files
                schema = sample_schema(files) if files else None
                plans = {i: self._plan(sources[i], schema) for i in members}
                for i in members:
                    report.sources[i].days = sorted({str(f.day) for f in files})
                try:
                    self._aggregate_path(prefix, members, plans, files, tables, created, start_ms, end_ms, report)
                except Exception as exc:
                    filters = [s.filter_expression for i in members
                               if isinstance(s := sources[i], SourceConfig) and s.filter_expression]
                    if isinstance(exc, AdmonError) or not filters or not self.engine.is_data_error(exc):
                        raise
                    # the engine's message quotes the data value: name the filter instead
                    raise DataError(
                        f"source {path}: filter_expression {' / '.join(map(repr, filters))} failed on the data "
                        f"({type(exc).__name__}: a value of another kind than the filter compares it with, or "
                        "arithmetic out of range); compare columns with values of their kind and keep arithmetic "
                        "within range (timestamps are epoch ms, up to 7.3e12)"
                    ) from None
            frame = self.engine.result(render(join_sql(self.config, tables), self.engine.dialect))
            # a Spark result stays on the cluster (counted there); DuckDB's native result is pandas
            report.rows_out, report.groups_out = self.engine.count(frame, self.config.group_by)
            stays = native and not isinstance(frame, pd.DataFrame)
            result = frame if stays else self._typed(self.engine.to_pandas(frame))
        finally:
            self.engine.drop([*created, *tables])
        report.seconds = time.perf_counter() - started
        self.last_report = report
        return result

    def _plan(self, source, schema) -> SourcePlan:
        if schema is None:  # no files: nothing to check columns against, read them as declared
            fields = [
                ScanField(c, ("",), "BIGINT" if c == TIMESTAMP else
                          "VARCHAR" if source.output_name(c) in self.config.group_by else "DOUBLE")
                for c in dict.fromkeys([*source.select, *source.filter_columns()])
            ]
            return SourcePlan(source, self.config, tuple(fields))
        return SourcePlan(source, self.config, tuple(plan_scan(source, self.config, schema)))

    def _aggregate_path(self, prefix: str, members: list[int], plans: dict[int, SourcePlan],
                        files: list[LakeFile], tables: list[str], created: list[str], start_ms: int,
                        end_ms: int, report: ReadReport) -> None:
        """Run the job of the sources that read one lake path, adding each relation it makes to
        ``created`` as it makes it (so that a read that fails half-way still drops them).

        Sources of the same path share one scan of JSON files (parsing is the dominant cost):
        the rows any of them keeps are materialised once and each source aggregates those.
        """
        jobs: dict[int, AggregateJob] = {}  # of the sources with files read
        reports = [report.sources[i] for i in members]
        # Sharing pays where parsing dominates (JSON); Parquet is cheaper to read twice, with the
        # filter pushed into each scan, than to copy the rows once.
        parses = any(f.format == "json" for f in files)
        shared = shared_fields([plans[i] for i in members]) if len(members) > 1 and parses else None
        if shared is not None:
            scan, kept = f"{prefix}_scan_{members[0]}", f"{prefix}_kept_{members[0]}"
            created += [scan, kept]

            def run_shared(readable: list[LakeFile]) -> None:
                self.engine.register_scan(scan, readable, shared)
                sql = prefilter_sql([plans[i] for i in members], scan, start_ms, end_ms)
                self.engine.materialize(kept, render(sql, self.engine.dialect))

            files = self._with_readable(files, shared, run_shared, reports)
            for k, i in enumerate(members):
                jobs[i] = aggregate_job(plans[i], kept, start_ms, end_ms, flat=True, empty=shared_empty(k))
                self.engine.materialize(tables[i], render(jobs[i].one_pass, self.engine.dialect))
        used = {i: files for i in members}
        if shared is None:
            # sources that read the same fields of the same files share one scan view (its footers are read once)
            scans: dict[tuple, tuple[str, tuple[ScanField, ...], tuple[int, int] | None]] = {}
            for i in members:

                def run_one(readable: list[LakeFile], i: int = i) -> None:
                    key = (tuple(f.path for f in readable), plans[i].fields)
                    if key not in scans:
                        scan = f"{prefix}_scan_{len(scans)}"
                        created.append(scan)
                        # the engine may scan integer timestamps as such (Parquet): the job then skips parsing
                        scanned = self.engine.register_scan(scan, readable, plans[i].fields, integer_timestamp=True)
                        # where Parquet footers prove every timestamp usable, that part is not even planned
                        in_range = getattr(self.engine, "timestamp_range", None)
                        scans[key] = (scan, scanned, in_range(scan) if in_range else None)
                    scan, scanned, proven = scans[key]
                    jobs[i] = aggregate_job(replace(plans[i], fields=scanned), scan, start_ms, end_ms,
                                            timestamp_range=proven)
                    self.engine.materialize(tables[i], render(jobs[i].one_pass, self.engine.dialect))

                used[i] = self._with_readable(files, plans[i].fields, run_one, [report.sources[i]])
        for i in members:
            if not used[i]:
                jobs.pop(i, None)
                self.engine.materialize(tables[i], render(empty_aggregate_sql(plans[i]), self.engine.dialect))
            report.sources[i].files = [f.path for f in used[i]]
            self._count(plans[i], tables, i, report.sources[i], jobs.get(i), created)
            if self.strict and report.sources[i].skipped:
                self._raise_first_problem(plans[i], used[i], start_ms, end_ms, report.sources[i])

    def _aggregate_samples(self, prefix: str, i: int, source: QuerySource, tables: list[str], created: list[str],
                           start_ms: int, end_ms: int, report: SourceReport) -> None:
        """Run the job of a query source on its raw samples, adding the relations it makes to ``created``.

        A source that cannot be read gives no samples at all (never a part of them, which would
        make partly filled buckets): its buckets are null and the reason is counted.
        """
        plan = sample_plan(source, self.config)
        context = SampleContext(self.config, lake_root=self.lake_root, engine=self.engine)
        try:
            samples = read_samples(source, start_ms, end_ms, context)
        except SourceReadError as exc:
            if self.strict:
                raise
            report.skipped[exc.reason] += 1
            samples = None
        if samples is not None and not len(samples):
            if self.strict:
                raise DataError(f"source {source.describe()}: the query returned no series for the window; "
                                "check the query, or read without strict=True to count it (no_series)")
            report.skipped["no_series"] += 1
        scan, job = f"{prefix}_samples_{i}", None
        if samples is not None and len(samples):
            created.append(scan)
            self.engine.register_samples(scan, samples, plan.fields)
            job = aggregate_job(plan, scan, start_ms, end_ms)
            self.engine.materialize(tables[i], render(job.one_pass, self.engine.dialect))
        else:
            self.engine.materialize(tables[i], render(empty_aggregate_sql(plan), self.engine.dialect))
        self._count(plan, tables, i, report, job, created)
        if self.strict and report.skipped:
            detail = ", ".join(f"{k}={v}" for k, v in sorted(report.skipped.items()))
            raise DataError(f"source {source.describe()}: bad samples ({detail}); fix the query or the data, "
                            "or read without strict=True to skip and count them")

    def _skip_entries(self, skipped: list[tuple[str, str]], reports: list[SourceReport]) -> None:
        """Count the lake entries that are not read (never opened), or raise in strict mode."""
        if self.strict and skipped:
            shown = ", ".join(f"{path!r} ({reason})" for reason, path in skipped[:5])
            more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
            why = "; ".join(f"{r}: {FILE_REASONS[r]}" for r in sorted({r for r, _ in skipped}))
            raise DataError(
                f"lake entries that cannot be read: {shown}{more} ({why}); remove them from the lake, "
                "or read without strict=True to skip and count them"
            )
        for reason, _ in skipped:
            for r in reports:
                r.skipped[reason] += 1

    def _with_readable(self, files: list[LakeFile], fields, run, reports: list[SourceReport]) -> list[LakeFile]:
        """``run(files)``; on a read error, set unreadable files aside (counted) and run again.

        Files are not checked one by one up front (that would read everything twice): only
        when the engine fails to read, each file is probed, the unreadable ones are set
        aside and counted in every report (or raised in strict mode), and the job runs again.
        """
        if not files:
            return files
        try:
            run(files)
            return files
        except Exception as exc:  # noqa: BLE001 - only read errors are handled, others re-raised
            if not self.engine.is_read_error(exc):
                raise
        readable = self._readable(fields, files, reports)
        if readable:
            run(readable)
        return readable

    def _readable(self, fields, files: list[LakeFile], reports: list[SourceReport]) -> list[LakeFile]:
        """Files the engine can open; unreadable ones are counted, or raised in strict mode."""
        good = []
        for f in files:
            problem = self.engine.probe(f, fields)
            if problem is None:
                good.append(f)
            elif self.strict:
                raise DataError(f"{f.path}: unreadable file ({problem}); fix or remove it")
            else:
                for r in reports:
                    r.skipped["unreadable_file"] += 1
        return good

    def _count(self, plan: SourcePlan, tables: list[str], i: int, report: SourceReport,
               job: AggregateJob | None, created: list[str]) -> None:
        """Count source ``i``'s aggregate ``tables[i]`` into its report (relations made: to ``created``).

        The totals also say how many buckets ``job``'s one pass could not prove exact (nearly
        always none): those are redone first, into a table that then stands in ``tables[i]``.
        """
        dialect = self.engine.dialect
        totals = self.engine.fetch(render(report_sql(plan, tables[i]), dialect)).iloc[0]
        if job is not None and int(totals[TO_REDO]):
            exact = f"{tables[i]}_exact"
            self.engine.materialize(exact, render(job.redo(tables[i]), dialect))
            created.append(tables[i])  # (the one pass: dropped with the read's relations)
            tables[i] = exact
            totals = self.engine.fetch(render(report_sql(plan, tables[i]), dialect)).iloc[0]
        report.rows_used, report.buckets, skipped = read_totals(plan, totals)
        report.skipped.update(skipped)
        if self.count_buckets:
            report.by_bucket = self._bucket_counts(plan, tables[i])

    def _bucket_counts(self, plan: SourcePlan, table: str) -> dict[int | None, BucketCounts]:
        """:meth:`_count`'s totals per bucket start (None: the rows without a usable timestamp)."""
        counters = [ROWS, DUPLICATES, *(skip_column(i) for i in range(len(plan.reasons())))]
        cells = self.engine.fetch(render(f"SELECT {', '.join(q(c) for c in [TIMESTAMP, *counters])} "
                                         f"FROM {q(table)}", self.engine.dialect))
        if not len(cells):
            return {}
        # a few hundred (group, bucket) cells: summed per bucket in numpy (pandas' per-call cost dominates)
        stamps = cells[TIMESTAMP].to_numpy(dtype="float64")  # NULL -> NaN (bucket starts are exact below 2**53)
        counts = cells[counters].fillna(0).to_numpy(dtype="int64")
        buckets, which = np.unique(stamps, return_inverse=True)  # NaNs (no bucket) collapse into one, last
        sums = np.zeros((len(buckets), len(counters)), dtype="int64")
        np.add.at(sums, which, counts)
        with_rows = np.bincount(which, weights=counts[:, 0] > 0, minlength=len(buckets)).astype("int64")
        out: dict[int | None, BucketCounts] = {}
        for bucket, row, cells_with_rows in zip(buckets.tolist(), sums.tolist(), with_rows.tolist()):
            key = None if math.isnan(bucket) else int(bucket)
            if any(row[1:]):  # duplicates or skips: named as the whole read names them
                out[key] = BucketCounts(*read_totals(plan, {**dict(zip(counters, row)), BUCKETS: cells_with_rows}))
            else:
                out[key] = BucketCounts(row[0], cells_with_rows)
        return out

    def _raise_first_problem(self, plan, files, start_ms, end_ms, report: SourceReport) -> None:
        problem = first_problem(plan, files, start_ms, end_ms)
        detail = ", ".join(f"{k}={v}" for k, v in sorted(report.skipped.items()))
        if problem is None:
            raise DataError(f"source {plan.source.lake_path()}: bad rows ({detail}); read without strict=True to skip them")
        path, line, reason = problem
        raise DataError(
            f"{path}, line {line}: {reason} (source {plan.source.lake_path()}; all problems: {detail}); "
            "fix the data or read without strict=True to skip and count bad rows"
        )

    def _typed(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The frame contract: group columns as text, int64 timestamps, float64 values."""
        frame = frame.reset_index(drop=True)
        out = pd.DataFrame(index=frame.index)
        for g in self.config.group_by:
            out[g] = frame[g].astype(object) if g in frame else pd.Series(dtype=object)
        out[TIMESTAMP] = frame[TIMESTAMP].astype("int64") if len(frame) else pd.Series(dtype="int64")
        for v in self.config.value_columns():
            out[v] = pd.to_numeric(frame[v], errors="coerce").astype("float64") if v in frame else pd.Series(dtype="float64")
        return out


def frame_to_documents(frame: pd.DataFrame, config: InputDataConfig) -> list[dict]:
    """Result documents of a frame: one per group, metadata values as strings, NaN as null."""
    values = config.value_columns()
    meta_common = {"agg_interval_seconds": str(config.agg_interval_seconds), "agg_method": config.agg_method}
    groups = [((), frame)] if not config.group_by else frame.groupby(list(config.group_by), sort=True, dropna=False)
    docs = []
    for key, part in groups:
        key = key if isinstance(key, tuple) else (key,)
        metadata = {g: str(k) for g, k in zip(config.group_by, key)}
        metadata.update(meta_common)
        rows = []
        for record in part[[TIMESTAMP, *values]].itertuples(index=False):
            row = {TIMESTAMP: int(record[0])}
            for name, value in zip(values, record[1:]):
                row[name] = None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
            rows.append(row)
        if rows:
            docs.append({"metadata": metadata, "data": rows})
    return docs


def documents_json(docs: list[dict]) -> str:
    """JSON lines of result documents (how the CLI prints them)."""
    return "\n".join(json.dumps(d, separators=(",", ":")) for d in docs)
