"""Fixtures of the data-path tests.

``engine`` is what a test passes to ``DataSource(engine, config)``; every test that
takes it runs on every engine: the embedded DuckDB engine and Spark in local mode.
"""

from __future__ import annotations

import os
import sys

import pytest

# ``-m "not spark"`` leaves the Spark half out (e.g. while editing the SQL job).
ENGINES = ["duckdb", pytest.param("spark", marks=pytest.mark.spark)]


@pytest.fixture(scope="session")
def spark():
    """One SparkSession (``local[2]``) for the whole test session: the JVM starts once.

    Tiny data: one shuffle partition (no range-sampling job for ORDER BY), no adaptive
    re-planning and no code generation (interpreting a small plan is faster than compiling
    every new one), no UI, bound to 127.0.0.1. Tests that need several partitions set
    ``spark.sql.shuffle.partitions`` themselves.
    """
    # Python workers (applyInPandas) must run this interpreter, which has admon and pandas.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession  # a dev dependency: never skipped, a missing one fails

    session = (
        SparkSession.builder.master("local[2]")
        .appName("admon-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.adaptive.enabled", "false")
        .config("spark.sql.codegen.wholeStage", "false")
        .config("spark.sql.codegen.factoryMode", "NO_CODEGEN")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", "1g")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.extraJavaOptions", "-XX:+UseSerialGC -XX:TieredStopAtLevel=1")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("OFF")
    yield session
    session.stop()


@pytest.fixture(params=ENGINES)
def engine(request):
    if request.param == "duckdb":
        return None  # the embedded engine, as users select it
    return request.getfixturevalue(request.param)
