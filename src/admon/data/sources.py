"""Where raw samples come from: the :class:`Source` protocol and its registry (``admon.sources``).

A source of an :class:`~admon.config.InputDataConfig` yields *raw samples*: rows of
``timestamp`` (epoch ms, in the window) and its selected columns under their output
names, filtered, every row valid (skipped rows are the job's to count). The one data
job buckets, aggregates and joins them, so an aggregation means the same for every
source. A source kind is registered by name like every other plugin point
(:mod:`admon.plugins`); a plugin package declares one with
``[project.entry-points."admon.sources"] my_kind = "my_package:MySource"``.

The only built-in kind is ``lake`` (:class:`LakeSource`, configured by a
:class:`~admon.config.SourceConfig`). The data job (:class:`~admon.data.source.DataSource`)
still reads the lake with its own SQL, which pushes the filter and the aggregation into
the scan; :meth:`LakeSource.samples` runs that same SQL up to the raw rows, so what it
yields is exactly what the job aggregates. Sources that are not the lake (issue 16:
Prometheus, InfluxDB) are read through :meth:`Source.samples`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from admon.config import TIMESTAMP, InputDataConfig, SourceConfig
from admon.data.engines import engine_for
from admon.data.engines.base import render
from admon.data.job import REASON, SourcePlan, checked_sql, q
from admon.data.lake import list_files
from admon.data.schema import plan_scan, sample_schema
from admon.errors import ConfigError
from admon.plugins import Registry
from admon.settings import load_settings


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


#: Source kinds by name; a kind is a class built from its config (``kind(config)``).
SOURCES: Registry[type] = Registry("source", "admon.sources", builtin_modules=("admon.data.sources",))
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
    """The registered source built from ``config``: its kind is the one whose ``config_class`` it is."""
    for _, kind in SOURCES.items():
        if isinstance(config, getattr(kind, "config_class", ())):
            return kind(config)
    raise ConfigError(f"no registered source kind takes a {type(config).__name__}; known kinds: "
                      f"{', '.join(SOURCES.names())} (a SourceConfig is a lake source)")
