"""Engines that run the data job: DuckDB (embedded, default) and Spark."""

from __future__ import annotations

from typing import Any

from duckdb import DuckDBPyConnection  # not `import duckdb`: the submodule .duckdb would shadow it

from admon.data.engines.base import Engine
from admon.data.engines.duckdb import DuckDBEngine
from admon.errors import ConfigError


def engine_for(handle: Any) -> Engine:
    """The engine for what the user passed to ``DataSource``: None or a DuckDB connection
    (embedded engine), a SparkSession (Spark engine), or an Engine itself."""
    if handle is None:
        return DuckDBEngine()
    if isinstance(handle, Engine) and hasattr(handle, "register_scan"):
        return handle
    if isinstance(handle, DuckDBPyConnection):
        return DuckDBEngine(handle)
    module = type(handle).__module__
    if module.startswith("pyspark"):
        from admon.data.engines.spark import (
            SparkEngine,  # late: it needs pyspark, a heavy optional dependency
        )

        return SparkEngine(handle)
    raise ConfigError(
        f"DataSource got an engine of type {type(handle).__name__}; pass None (embedded DuckDB), "
        "a duckdb connection or a pyspark SparkSession"
    )
