"""The Spark adapter's own parts: unreadable files, SQL rewrites, Hadoop URLs."""

from __future__ import annotations

import gzip
import json

import pytest

from admon import DataSource
from admon.data.engines.spark import spark_path, spark_sql
from tests.data.lakes import DAY0, MIN, monit, one_source, write_docs

WINDOW = (DAY0, DAY0 + 3600_000)
DOCS = [monit("h1", "cpu", DAY0 + i * MIN, float(i)) for i in range(10)]


@pytest.mark.parametrize("kind", ["truncated-gzip", "corrupt-parquet"])
def test_an_unreadable_file_is_counted_the_same_on_both_engines(engine, tmp_path, kind):
    write_docs(tmp_path, DOCS)
    folder = tmp_path / "collectd/raw/monitoring/2022/05/10"
    if kind == "truncated-gzip":
        text = "".join(json.dumps(monit("h1", "cpu", DAY0 + i, 100.0)) + "\n" for i in range(2000))
        (folder / "part-1.json.gz").write_bytes(gzip.compress(text.encode())[:700])
    else:
        (folder / "part-1.parquet").write_bytes(b"PAR1 not really a parquet file PAR1")
    source = DataSource(engine, one_source("sum"), lake_root=str(tmp_path))
    frame = source.read_pandas(*WINDOW)
    assert frame["value"].tolist() == [10.0, 35.0]
    assert source.last_report.skipped["unreadable_file"] == 1


def test_job_sql_is_rendered_with_the_spark_fixes():
    assert spark_sql("SELECT QUANTILE_CONT(v, 0.99) FROM t") == "SELECT PERCENTILE(v, 0.99) FROM t"
    assert spark_sql("SELECT MEDIAN(v) FROM t") == "SELECT MEDIAN(v) FROM t"
    # integer // stays integer division; the bucket arithmetic is all BIGINT
    assert spark_sql('SELECT ("timestamp" // 300000) * 300000 FROM t') == "SELECT (`timestamp` DIV 300000) * 300000 FROM t"
    # a WHERE on a SELECT alias (DuckDB only) filters a subquery instead
    sql = spark_sql('SELECT COALESCE("a.x", "b.x") AS x FROM s WHERE x > 1')
    assert sql == "SELECT * FROM (SELECT COALESCE(`a.x`, `b.x`) AS x FROM s) AS _where WHERE x > 1"


@pytest.mark.spark
def test_division_matches_duckdb(spark):
    import duckdb

    con = duckdb.connect()
    cases = [("/", 1.0, 0.0), ("/", -1.0, 0.0), ("/", 0.0, 0.0), ("/", 7.5, 2.0), ("//", 7.5, 2.0),
             ("//", -7.0, 2.0), ("/", 7, 2)]
    for op, a, b in cases:  # (DuckDB refuses // by zero; Spark's rendering then gives ±inf)
        expr = f"{a!r} {op} {b!r} AS r" if isinstance(a, int) else f"CAST({a} AS DOUBLE) {op} CAST({b} AS DOUBLE) AS r"
        want = con.execute(f"SELECT {expr}").fetchone()[0]
        got = spark.sql(spark_sql(f"SELECT {expr}")).first()[0]
        assert str(got) == str(want), (op, a, b, got, want)


def test_lake_paths_become_hadoop_urls():
    assert spark_path("/lake/x.json").startswith("file:///lake/")
    assert spark_path("s3://bucket/lake/x.json") == "s3a://bucket/lake/x.json"
    assert spark_path("hdfs://nn:8020/lake/x.json") == "hdfs://nn:8020/lake/x.json"


def test_a_native_spark_read_is_counted_on_the_cluster_like_a_pandas_read(spark, tmp_path):
    write_docs(tmp_path, [*DOCS, monit("h2", "cpu", DAY0, 1.0), monit("h3", "cpu", DAY0 + 20 * MIN, 2.0)])
    source = DataSource(spark, one_source("sum"), lake_root=str(tmp_path))
    native = source.read(*WINDOW)
    native_report = source.last_report
    frame = source.read_pandas(*WINDOW)
    assert type(native).__name__ == "DataFrame" and not hasattr(native, "iloc")  # still a Spark frame
    assert (native_report.rows_out, native_report.groups_out) == (len(frame), 3) == (4, 3)
    assert native.count() == len(frame)  # the result outlives the job's temporary views
