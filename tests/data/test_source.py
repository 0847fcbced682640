"""DataSource on hand-computed goldens, the design's example, and every kind of bad input."""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import pandas as pd
import pytest

from admon import DataSource, InputDataConfig, SourceConfig
from admon.errors import ConfigError, DataError
from tests.data.lakes import DAY0, MIN, flat, monit, one_source, two_sources, write_docs

WINDOW = (DAY0, DAY0 + 3600_000)
# h1/cpu: bucket 0 gets 4, 1, 10, 2 (out of order), bucket 1 gets 7.
GOLDEN_DOCS = [monit("h1", "cpu", DAY0 + 3 * MIN, 4.0), monit("h1", "cpu", DAY0, 1.0),
               monit("h1", "cpu", DAY0 + 4 * MIN, 10.0), monit("h1", "cpu", DAY0 + 1 * MIN, 2.0),
               monit("h1", "cpu", DAY0 + 5 * MIN, 7.0), monit("h1", "mem", DAY0, 99.0)]
GOLDEN = {  # method -> (bucket 0, bucket 1), computed by hand
    "avg": (4.25, 7.0), "sum": (17.0, 7.0), "min": (1.0, 7.0), "max": (10.0, 7.0), "count": (4.0, 1.0),
    "median": (3.0, 7.0), "stddev": (math.sqrt(48.75 / 3), None), "first": (1.0, 7.0), "last": (10.0, 7.0),
    "p50": (3.0, 7.0), "p90": (8.2, 7.0), "p95": (9.1, 7.0), "p99": (9.82, 7.0),
}


def read(engine, config, root, *window, **kw):
    source = DataSource(engine, config, lake_root=str(root), **kw)
    return source.read_pandas(*(window or WINDOW)), source.last_report


@pytest.mark.parametrize("method", sorted(GOLDEN))
def test_every_aggregation_matches_hand_computed_values(engine, tmp_path, method):
    write_docs(tmp_path, GOLDEN_DOCS)
    frame, report = read(engine, one_source(method), tmp_path)
    assert frame.columns.tolist() == ["host", "timestamp", "value"]
    assert frame["timestamp"].tolist() == [DAY0, DAY0 + 5 * MIN]
    expected = GOLDEN[method]
    assert frame["value"].iloc[0] == pytest.approx(expected[0], rel=1e-12)
    if expected[1] is None:
        assert math.isnan(frame["value"].iloc[1])  # sample stddev of one value is undefined, not 0
    else:
        assert frame["value"].iloc[1] == pytest.approx(expected[1], rel=1e-12)
    assert report.rows_used == 5 and not report.skipped


def test_join_bucket_present_in_one_source_only_is_null_not_zero(engine, tmp_path):
    write_docs(tmp_path, [monit("h1", "xrootd_raw_gled", DAY0, 10.0), monit("h1", "xrootd_raw_gled", DAY0 + 5 * MIN, 20.0),
                          monit("h1", "xrootd_raw_alice", DAY0 + 5 * MIN, 1.0), monit("h1", "xrootd_raw_alice", DAY0 + 10 * MIN, 2.0),
                          monit("h2", "xrootd_raw_alice", DAY0, 3.0)])
    frame, _ = read(engine, two_sources("sum"), tmp_path)
    rows = [(h, t, None if math.isnan(g) else g, None if math.isnan(a) else a)
            for h, t, g, a in frame.itertuples(index=False)]
    assert rows == [("h1", DAY0, 10.0, None), ("h1", DAY0 + 5 * MIN, 20.0, 1.0),
                    ("h1", DAY0 + 10 * MIN, None, 2.0), ("h2", DAY0, None, 3.0)]


def test_sources_with_different_select_lists_join(engine, tmp_path):
    write_docs(tmp_path, [{"timestamp": DAY0, "host": "h1", "topic": "a", "value": 1.0, "rate": 5.0},
                          {"timestamp": DAY0, "host": "h1", "topic": "b", "value": 2.0, "errors": 3.0}])
    config = InputDataConfig(source_configs=[
        SourceConfig("collectd", "raw", "monitoring", select=["timestamp", "host", "value", "rate"],
                     filter_expression="topic = 'a'", rename={"value": "a_value"}),
        SourceConfig("collectd", "raw", "monitoring", select=["timestamp", "errors", "host"],
                     filter_expression="topic = 'b'"),
    ], agg_interval_seconds=60, group_by=["host"])
    frame, _ = read(engine, config, tmp_path)
    assert frame.columns.tolist() == ["host", "timestamp", "a_value", "rate", "errors"]
    assert frame.iloc[0].tolist() == ["h1", DAY0, 1.0, 5.0, 3.0]


def test_no_group_by_gives_one_series(engine, tmp_path):
    write_docs(tmp_path, GOLDEN_DOCS + [monit("h2", "cpu", DAY0, 11.0)])
    frame, _ = read(engine, one_source("max", group_by=()), tmp_path)
    assert frame.columns.tolist() == ["timestamp", "value"]
    assert frame["value"].tolist() == [11.0, 7.0]


def test_designs_user_code_runs_unchanged(tmp_path, monkeypatch):
    from admon.data.generate import generate_lake

    generate_lake(tmp_path, hosts=3, days=1, start="2022-05-10", seed=1, step_seconds=60)
    monkeypatch.setenv("ADMON_LAKE_ROOT", str(tmp_path))
    spark = None
    start_ms, end_ms = 1652140800000, 1652140800000 + 6 * 3600_000
    # --- verbatim from DESIGN.md -----------------------------------------------------------
    from admonapi import DataSource, InputDataConfig, SourceConfig

    sc_gled = SourceConfig("collectd", "raw", "monitoring",
                           select=["timestamp", "value", "host"],
                           filter_expression="topic=='xrootd_raw_gled'",
                           rename={"value": "gled_value"})
    sc_alice = SourceConfig("collectd", "raw", "monitoring",
                            select=["timestamp", "value", "host"],
                            filter_expression="topic=='xrootd_raw_alice'",
                            rename={"value": "alice_value"})
    idc = InputDataConfig(source_configs=[sc_gled, sc_alice],
                          agg_interval_seconds=300, agg_method="avg", group_by=["host"])

    frame = DataSource(spark, idc).read_hdfs(start_ms, end_ms)   # spark=None: embedded engine
    # ----------------------------------------------------------------------------------------
    assert frame.columns.tolist() == ["host", "timestamp", "gled_value", "alice_value"]
    assert frame["host"].nunique() == 3
    assert frame["timestamp"].dtype == np.int64
    assert (frame["timestamp"] % 300_000 == 0).all()
    assert frame["timestamp"].between(start_ms, end_ms - 1).all()
    # sorted by group then time
    assert frame.equals(frame.sort_values(["host", "timestamp"]).reset_index(drop=True))


def test_documents_have_the_designs_schema(engine, tmp_path):
    write_docs(tmp_path, [monit("h1", "xrootd_raw_gled", DAY0, 10.0), monit("h1", "xrootd_raw_alice", DAY0 + 5 * MIN, 1.0)])
    docs = DataSource(engine, two_sources(), lake_root=str(tmp_path)).documents(*WINDOW)
    assert docs == [{
        "metadata": {"host": "h1", "agg_interval_seconds": "300", "agg_method": "avg"},
        "data": [{"timestamp": DAY0, "gled_value": 10.0, "alice_value": None},
                 {"timestamp": DAY0 + 5 * MIN, "gled_value": None, "alice_value": 1.0}],
    }]
    json.dumps(docs, allow_nan=False)  # valid JSON: no NaN leaks out


def test_time_bounds_are_half_open_and_accept_every_time_type(engine, tmp_path):
    write_docs(tmp_path, [flat("h1", "cpu", DAY0 - 1, 1.0), flat("h1", "cpu", DAY0, 2.0),
                          flat("h1", "cpu", DAY0 + 3600_000 - 1, 3.0), flat("h1", "cpu", DAY0 + 3600_000, 4.0)])
    write_docs(tmp_path, [flat("h1", "cpu", DAY0 - 1, 1.0)], day="2022/05/09")
    expected, _ = read(engine, one_source("sum", interval=3600), tmp_path, DAY0, DAY0 + 3600_000)
    assert expected["value"].tolist() == [5.0]
    for start, end in [("2022-05-10T00:00:00Z", "2022-05-10T01:00:00Z"),
                       (dt.datetime(2022, 5, 10), dt.datetime(2022, 5, 10, 1))]:
        frame, _ = read(engine, one_source("sum", interval=3600), tmp_path, start, end)
        pd.testing.assert_frame_equal(frame, expected)
    with pytest.raises(ConfigError, match="not after start"):
        read(engine, one_source(), tmp_path, DAY0 + 10, DAY0)


def test_timestamps_before_1970_are_counted_out_of_range_and_1970_starts_the_first_bucket(engine, tmp_path):
    # the documented range starts at 0 (issue 12): -1 ms and -299,999 ms are counted, not bucketed
    write_docs(tmp_path, [flat("h1", "cpu", -299_999, 1.0), flat("h1", "cpu", -1, 2.0)], day="1969/12/31")
    write_docs(tmp_path, [flat("h1", "cpu", 0, 4.0), flat("h1", "cpu", 299_999, 5.0)], day="1970/01/01")
    frame, report = read(engine, one_source("sum"), tmp_path, -600_000, 300_000)
    assert frame["timestamp"].tolist() == [0]
    assert frame["value"].tolist() == [9.0]
    assert dict(report.skipped) == {"timestamp_out_of_range": 2}


def test_monit_documents_are_flattened_and_data_wins_a_clash(engine, tmp_path):
    write_docs(tmp_path, [{"metadata": {"host": "h1", "topic": "cpu", "timestamp": DAY0, "value": 1.0},
                           "data": {"value": 5.0}},
                          {"metadata": {"host": "h1", "topic": "cpu", "timestamp": DAY0 + MIN}, "data": {"value": 7.0}},
                          flat("h1", "cpu", DAY0 + 2 * MIN, 9.0)])
    frame, _ = read(engine, one_source("sum"), tmp_path)
    assert frame["value"].tolist() == [21.0]


@pytest.mark.parametrize("name", ["part-0.json", "part-0.json.gz", "part-0.parquet"])
def test_every_file_format_gives_the_same_frame(engine, tmp_path, name):
    docs = [flat("h1", "cpu", DAY0 + i * MIN, float(i)) for i in range(12)]
    write_docs(tmp_path, docs, name=name)
    frame, report = read(engine, one_source("avg"), tmp_path)
    assert frame["value"].tolist() == [2.0, 7.0, 10.5]
    assert report.rows_used == 12


def test_an_empty_window_returns_an_empty_frame_with_the_right_columns(engine, tmp_path):
    frame, report = read(engine, two_sources(), tmp_path)
    assert frame.columns.tolist() == ["host", "timestamp", "gled_value", "alice_value"]
    assert len(frame) == 0 and frame["timestamp"].dtype == np.int64 and frame["gled_value"].dtype == np.float64
    write_docs(tmp_path, [monit("h1", "xrootd_raw_gled", DAY0 + 7200_000, 1.0)])
    frame, report = read(engine, two_sources(), tmp_path)  # files exist, no row in the window
    assert len(frame) == 0 and frame.columns.tolist() == ["host", "timestamp", "gled_value", "alice_value"]


# --- bad input: skipped and counted by reason, or raised in strict mode -----------------------
BAD_CASES = {
    "malformed_json": ('{"metadata": {"host": "h1", "topic": "cpu", "timestamp": 1652140800000}, "data": {"va',
                       "unreadable_document"),
    "not_an_object": ("[1, 2, 3]", "unreadable_document"),
    "missing_value": (json.dumps({"metadata": {"host": "h1", "topic": "cpu", "timestamp": DAY0}}), "invalid_value:value"),
    "missing_host": (json.dumps(monit(None, "cpu", DAY0, 1.0)), "missing_group_key:host"),
    "missing_timestamp": (json.dumps({"metadata": {"host": "h1", "topic": "cpu"}, "data": {"value": 1.0}}),
                          "missing_timestamp"),
    "text_value": (json.dumps(monit("h1", "cpu", DAY0, "abc")), "invalid_value:value"),
    "text_timestamp": (json.dumps(monit("h1", "cpu", "yesterday", 1.0)), "timestamp_not_integer_ms"),
    "nan": (json.dumps(monit("h1", "cpu", DAY0, float("nan"))), "non_finite_value:value"),
    "infinity": (json.dumps(monit("h1", "cpu", DAY0, float("inf"))), "non_finite_value:value"),
    "duplicate": (json.dumps(GOLDEN_DOCS[0]), "duplicate"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_a_bad_row_is_skipped_and_counted_by_reason(engine, tmp_path, case):
    line, reason = BAD_CASES[case]
    write_docs(tmp_path, [*map(json.dumps, GOLDEN_DOCS[:3]), line, *map(json.dumps, GOLDEN_DOCS[3:])])
    frame, report = read(engine, one_source("avg"), tmp_path)
    assert frame["value"].tolist() == [4.25, 7.0]  # the good rows give exactly the golden numbers
    assert dict(report.skipped) == {reason: 1}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_strict_mode_names_file_line_and_reason(engine, tmp_path, case):
    line, reason = BAD_CASES[case]
    path = write_docs(tmp_path, [*map(json.dumps, GOLDEN_DOCS[:3]), line, *map(json.dumps, GOLDEN_DOCS[3:])])
    with pytest.raises(DataError) as err:
        read(engine, one_source("avg"), tmp_path, strict=True)
    message = str(err.value)
    assert str(path) in message and "line 4" in message
    assert reason.split(":")[0] in message


def test_bad_rows_outside_the_filter_are_not_counted(engine, tmp_path):
    write_docs(tmp_path, [*GOLDEN_DOCS, monit("h1", "other", DAY0, "abc")])
    _, report = read(engine, one_source("avg"), tmp_path)
    assert not report.skipped


def test_a_corrupt_file_is_skipped_and_counted_and_strict_mode_names_it(engine, tmp_path):
    write_docs(tmp_path, GOLDEN_DOCS)
    bad = tmp_path / "collectd/raw/monitoring/2022/05/10/part-1.json.gz"
    bad.write_bytes(b"this is not gzip at all")
    frame, report = read(engine, one_source("avg"), tmp_path)
    assert frame["value"].tolist() == [4.25, 7.0]
    assert report.skipped["unreadable_file"] == 1
    with pytest.raises(DataError, match="part-1.json.gz"):
        read(engine, one_source("avg"), tmp_path, strict=True)


def test_files_of_days_outside_the_window_are_not_opened(engine, tmp_path):
    write_docs(tmp_path, GOLDEN_DOCS)
    for day in ("2022/05/09", "2022/05/11"):
        write_docs(tmp_path, ["{corrupt"], day=day, name="part-0.json")
        (tmp_path / f"collectd/raw/monitoring/{day}/part-1.parquet").write_bytes(b"not parquet")
    frame, report = read(engine, one_source("avg"), tmp_path, strict=True)  # strict: any opened bad file would raise
    assert frame["value"].tolist() == [4.25, 7.0]
    assert report.files_opened == [str(tmp_path / "collectd/raw/monitoring/2022/05/10/part-0.json")]


def test_unknown_filter_column_names_it_and_the_columns_that_exist(engine, tmp_path):
    write_docs(tmp_path, GOLDEN_DOCS)
    config = InputDataConfig(source_configs=[SourceConfig("collectd", "raw", "monitoring", select=["timestamp", "value", "host"],
                                                          filter_expression="toppic == 'cpu'")],
                             agg_interval_seconds=300, group_by=["host"])
    with pytest.raises(ConfigError, match=r"\['toppic'\].*columns that exist: host, timestamp, topic, value"):
        read(engine, config, tmp_path)


def test_a_text_column_cannot_be_a_value(engine, tmp_path):
    write_docs(tmp_path, GOLDEN_DOCS)
    config = InputDataConfig(source_configs=[SourceConfig("collectd", "raw", "monitoring", select=["timestamp", "topic", "host"])],
                             agg_interval_seconds=300, group_by=["host"])
    with pytest.raises(ConfigError, match="'topic' holds text"):
        read(engine, config, tmp_path)


def test_a_users_duckdb_connection_is_used_and_left_clean(tmp_path):
    import duckdb

    write_docs(tmp_path, GOLDEN_DOCS)
    con = duckdb.connect()
    frame, _ = read(con, one_source("avg"), tmp_path)
    assert frame["value"].tolist() == [4.25, 7.0]
    leftovers = con.execute("SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'admon_%'").fetchall()
    assert leftovers == []


def test_a_file_url_lake_root_reads_the_same(engine, tmp_path):
    write_docs(tmp_path, GOLDEN_DOCS)
    frame, _ = read(engine, one_source("avg"), f"file://{tmp_path}")
    assert frame["value"].tolist() == [4.25, 7.0]


def test_an_unknown_engine_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="pass None .embedded DuckDB., a duckdb connection or a pyspark SparkSession"):
        DataSource("sqlite", one_source())


@pytest.mark.parametrize("suffix", ["json", "parquet"])
def test_a_strict_read_that_fails_half_way_leaves_no_relation_on_the_users_connection(tmp_path, suffix):
    import duckdb

    docs = [monit("h1", "cpu", DAY0 + i * MIN, float(i)) for i in range(5)]
    # a NULL value: the one pass cannot prove its bucket, the redo runs, then strict mode raises
    write_docs(tmp_path, [*docs, monit("h1", "cpu", DAY0 + 6 * MIN, None)], name=f"part-0.{suffix}")
    con = duckdb.connect()
    with pytest.raises(DataError, match="invalid"):
        DataSource(con, one_source("sum"), lake_root=str(tmp_path), strict=True).read(DAY0, DAY0 + 3600_000)
    left = con.execute("SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'admon_%'").fetchall()
    assert left == []
