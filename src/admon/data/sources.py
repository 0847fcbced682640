"""Where raw samples come from: the :class:`Source` protocol and its registry (``admon.sources``).

**One rule for every kind.** A source of an :class:`~admon.config.InputDataConfig` yields
*raw samples*: rows of ``(group columns…, timestamp, value columns)`` under their output names.
The one data job (:class:`~admon.data.source.DataSource`) checks, buckets, aggregates and
joins them, so ``avg``, ``max``, ``p95``, the skip reasons and the null-not-0 rule mean the
same whatever the source. A source kind is registered by name like every other plugin point
(:mod:`admon.plugins`); a plugin package declares one with
``[project.entry-points."admon.sources"] my_kind = "my_package:MySource"``.

Built-in kinds: ``lake`` (:class:`LakeSource`, configured by a
:class:`~admon.config.SourceConfig`), ``prometheus``
(:class:`~admon.data.prometheus.PrometheusSource`) and ``influx``
(:class:`~admon.data.influx.InfluxSource`). The job reads the lake with its own SQL, which
pushes the filter and the aggregation into the scan; :meth:`LakeSource.samples` runs that same
SQL up to the raw rows, so what it yields is exactly what the job aggregates. A
:class:`~admon.config.QuerySource` (every other kind) is its own config and reader: the job
puts the frames its ``samples`` yields into the engine as a relation of top-level fields and
runs the same SQL on it as on a lake scan (:func:`sample_plan`).

A query source that cannot be read raises :class:`~admon.errors.SourceReadError` with a reason
(:data:`SOURCE_REASONS`): the read counts it for that source (its buckets are then null, never
partly filled) or, in strict mode, raises it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from admon.config import SOURCES, TIMESTAMP, InputDataConfig, QuerySource, SourceConfig
from admon.data.engines import engine_for
from admon.data.engines.base import render
from admon.data.job import REASON, SampleColumns, SourcePlan, checked_sql, q
from admon.data.lake import list_files
from admon.data.schema import ScanField, plan_scan, sample_schema
from admon.errors import ConfigError, DataError
from admon.settings import load_settings

#: Why a query source gave no samples, counted once per read of the source (not per row).
SOURCE_REASONS = {
    "source_unreachable": "the server could not be reached (connection refused, DNS, TLS), even after retries",
    "source_timeout": "the server did not answer within the source's timeout_s, even after retries",
    "source_server_error": "the server answered with an error (HTTP 5xx) even after retries",
    "no_series": "the query returned no series (no sample at all) for the window",
}


@dataclass(frozen=True)
class SampleContext:
    """What a source reads with: the input config it belongs to, the lake root and an engine
    handle (None: the embedded engine)."""

    input_config: InputDataConfig
    lake_root: str | None = None
    engine: Any = None


@runtime_checkable
class Source(Protocol):
    """One source of an input config."""

    def samples(self, start_ms: int, end_ms: int, context: SampleContext) -> Iterator[pd.DataFrame]:
        """Raw samples of ``[start_ms, end_ms)``: frames of ``timestamp`` and the output columns."""


#: Source kinds by name (defined with the configs, which look kinds up to read JSON and YAML).
register_source = SOURCES.register


@register_source("lake")
class LakeSource:
    """The lake (``<root>/<producer>/<type_prefix>/<type>/YYYY/MM/DD``), configured by a SourceConfig.

    >>> LakeSource(SourceConfig("collectd", "raw", "monitoring", select=["timestamp", "value"])).name
    'lake'
    """

    config_class = SourceConfig

    def __init__(self, config: SourceConfig) -> None:
        self.config = config

    def __repr__(self) -> str:
        return f"LakeSource({self.config.lake_path()!r})"

    def samples(self, start_ms: int, end_ms: int, context: SampleContext) -> Iterator[pd.DataFrame]:
        """The valid, distinct rows the job would aggregate (one frame; none when no file is there).
        Unreadable files raise here; the job skips and counts them."""
        root = context.lake_root if context.lake_root is not None else load_settings().lake_root
        files = list_files(root, self.config.lake_path(), start_ms, end_ms).files
        if not files:
            return
        plan = SourcePlan(self.config, context.input_config,
                          tuple(plan_scan(self.config, context.input_config, sample_schema(files))))
        engine = engine_for(context.engine)
        scan = f"admon_{uuid.uuid4().hex[:10]}_samples"
        columns = [*plan.keys, TIMESTAMP, *plan.values]
        outputs = ", ".join(f"{q(c)} AS {q(self.config.output_name(c))}" for c in columns)
        sql = (f"SELECT DISTINCT {outputs} FROM ({checked_sql(plan, scan, start_ms, end_ms)}) AS checked "
               f"WHERE {q(REASON)} IS NULL")
        engine.register_scan(scan, files, plan.fields)
        try:
            frame = engine.to_pandas(engine.result(render(sql, engine.dialect)))
        finally:
            engine.drop([scan])
        yield frame


def source_for(config: Any) -> Source:
    """The source that reads ``config``: a query source itself, or the registered kind whose
    ``config_class`` it is (a SourceConfig: the lake)."""
    if isinstance(config, QuerySource):
        return config  # type: ignore[return-value]  # its kind implements samples()
    for _, kind in SOURCES.items():
        if isinstance(config, getattr(kind, "config_class", ())):
            return kind(config)
    raise ConfigError(f"no registered source kind takes a {type(config).__name__}; known kinds: "
                      f"{', '.join(SOURCES.names())} (a SourceConfig is a lake source)")


def sample_plan(source: QuerySource, config: InputDataConfig) -> SourcePlan:
    """The job's plan of a query source's samples: top-level fields under the source's own
    names (renamed by the job, as a lake source's are), the groups as text, the values as
    numbers, and the timestamp as text, as the lake's is read, so that the job parses and checks
    it the same way (a fraction of a ms is counted, not rounded)."""
    inputs = _input_names(source, config)
    groups = [inputs[g] for g in config.group_by]
    values = [inputs[v] for v in config.source_value_columns(source)]
    fields = [ScanField(g, ("",), "VARCHAR") for g in groups]
    fields.append(ScanField(TIMESTAMP, ("",), "VARCHAR"))
    fields += [ScanField(v, ("",), "DOUBLE") for v in values]
    shape = SampleColumns(source.describe(), (*groups, TIMESTAMP, *values), dict(source.rename))
    return SourcePlan(shape, config, tuple(fields))


def _input_names(source: QuerySource, config: InputDataConfig) -> dict[str, str]:
    """Output name -> the source's own name, for the group and value columns."""
    own = {new: old for old, new in source.rename.items()}
    outputs = [*config.group_by, *config.source_value_columns(source)]
    return {name: own.get(name, name) for name in outputs}


def read_samples(source: QuerySource, start_ms: int, end_ms: int, context: SampleContext) -> pd.DataFrame:
    """Every sample a query source yields for ``[start_ms, end_ms)``, as one frame of the columns
    of :func:`sample_plan` (object dtype: None stays null and NaN stays NaN, so each is counted
    as what it is). A source yields its samples under their output names."""
    config = context.input_config
    columns = [*config.group_by, TIMESTAMP, *config.source_value_columns(source)]
    frames = [f for f in source.samples(start_ms, end_ms, context) if len(f)]  # type: ignore[attr-defined]
    for frame in frames:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise DataError(f"source {source.describe()} yielded samples without the column(s) {missing}; "
                            f"a source's samples have the columns {columns} (a bug of the source's kind)")
    inputs = _input_names(source, config)
    if not frames:
        return pd.DataFrame({inputs.get(c, c): pd.Series(dtype=object) for c in columns})
    samples = pd.concat([f[columns].astype(object) for f in frames], ignore_index=True)
    samples[TIMESTAMP] = [None if t is None else str(t) for t in samples[TIMESTAMP].tolist()]
    return samples.rename(columns=inputs)
