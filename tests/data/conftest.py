"""Fixtures of the data-path tests.

``engine`` is what a test passes to ``DataSource(engine, config)``; every test that
takes it runs on every engine: the embedded DuckDB engine and Spark in local mode.
"""

from __future__ import annotations

import pytest

ENGINES = ["duckdb", "spark"]


@pytest.fixture(scope="session")
def spark():
    """One SparkSession (``local[2]``) for the whole test session: the JVM starts once.

    Small data: two shuffle partitions, no adaptive re-planning, no UI, bound to 127.0.0.1.
    """
    pyspark_sql = pytest.importorskip("pyspark.sql", reason="pyspark is a dev dependency: pip install -e '.[dev]'")
    session = (
        pyspark_sql.SparkSession.builder.master("local[2]")
        .appName("admon-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.adaptive.enabled", "false")
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
