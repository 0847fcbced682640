"""Parquet timestamps stored as integers are read as such, and count exactly like text ones.

Where every Parquet file of a scan stores the timestamp as integers (INT64, INT32, ...), the
embedded engine scans it as BIGINT and the job checks only its range instead of parsing text
(:func:`admon.data.job.flat_sql`), with the row checks split between one pass over the rows in
the window and a redo of the buckets it cannot prove (:func:`admon.data.job.aggregate_job`).
These tests pin that the integer path is taken only where it is exact, and that it gives the
same frame and the same counts, by reason, as the same documents with text timestamps.
"""

from __future__ import annotations

import math
from dataclasses import replace

import hypothesis.strategies as st
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings

from admon import DataSource
from admon.data.engines.duckdb import DuckDBEngine
from admon.data.job import SourcePlan, aggregate_job
from admon.data.lake import list_files
from admon.data.schema import plan_scan, sample_schema
from admon.timeutil import MAX_TIMESTAMP_MS
from tests.data.lakes import DAY0, MIN, one_source, write_docs
from tests.data.test_property import configs

SPAN = 2 * 3600_000
SOURCE = "collectd/raw/monitoring"


def write_parquet(root, rows: list[dict], *, timestamp: pa.DataType, name: str = "part-0.parquet",
                  monit: bool = False, day: str = "2022/05/10") -> None:
    """Flat rows (timestamp, host, topic, value) as one Parquet file, the timestamp of type ``timestamp``;
    ``monit``: as metadata/data structs."""
    folder = root / SOURCE / day
    folder.mkdir(parents=True, exist_ok=True)
    ts = [r["timestamp"] for r in rows]
    if pa.types.is_string(timestamp):
        ts = [None if t is None else str(t) for t in ts]
    columns = {"timestamp": pa.array(ts, type=timestamp), "host": pa.array([r["host"] for r in rows], pa.string()),
               "topic": pa.array([r["topic"] for r in rows], pa.string()),
               "value": pa.array([r["value"] for r in rows], pa.float64())}
    if monit:
        table = pa.table({"metadata": pa.StructArray.from_arrays(
                              [columns["host"], columns["topic"], columns["timestamp"]], ["host", "topic", "timestamp"]),
                          "data": pa.StructArray.from_arrays([columns["value"]], ["value"])})
    else:
        table = pa.table(columns)
    pq.write_table(table, folder / name)


def write_json(root, rows: list[dict], *, monit: bool = False) -> None:
    docs = [{"metadata": {k: r[k] for k in ("host", "topic", "timestamp")}, "data": {"value": r["value"]}}
            if monit else r for r in rows]
    write_docs(root, docs)


def read(root, config, start=DAY0, end=DAY0 + SPAN):
    source = DataSource(None, config, lake_root=str(root))
    frame = source.read_pandas(start, end)
    return frame, source.last_report


def same_frame(a, b) -> bool:
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return False
    for column in a.columns:
        for x, y in zip(a[column], b[column]):
            if isinstance(x, float) or isinstance(y, float):
                if not (math.isnan(x) and math.isnan(y)) and not math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9):
                    return False
            elif x != y:
                return False
    return True


def scanned_timestamp_type(root, *, integer_timestamp: bool = True) -> str:
    files = list_files(str(root), SOURCE, DAY0, DAY0 + SPAN).files
    config = one_source("avg")
    fields = plan_scan(config.source_configs[0], config, sample_schema(files))
    scanned = DuckDBEngine().register_scan("scan", files, fields, integer_timestamp=integer_timestamp)
    return next(f.sql_type for f in scanned if f.name == "timestamp")


ROWS = [{"timestamp": DAY0 + i * MIN, "host": "h1", "topic": "cpu", "value": float(i)} for i in range(10)]


# --- the integer path is taken only where every file stores integers ---------------------------------
@pytest.mark.parametrize("arrow_type", [pa.int64(), pa.int32(), pa.uint32()])
def test_integer_parquet_timestamps_are_scanned_as_bigint(tmp_path, arrow_type):
    rows = ROWS if arrow_type == pa.int64() else [{**r, "timestamp": (r["timestamp"] - DAY0) // 1000} for r in ROWS]
    write_parquet(tmp_path, rows, timestamp=arrow_type)
    assert scanned_timestamp_type(tmp_path) == "BIGINT"
    assert scanned_timestamp_type(tmp_path, integer_timestamp=False) == "VARCHAR"  # only when asked


@pytest.mark.parametrize("case", ["text", "uint64", "double", "text in one file", "json beside"])
def test_other_timestamps_are_scanned_as_text(tmp_path, case):
    kinds = {"text": pa.string(), "uint64": pa.uint64(), "double": pa.float64()}
    write_parquet(tmp_path, ROWS, timestamp=kinds.get(case, pa.int64()))
    if case == "text in one file":
        write_parquet(tmp_path, ROWS[:2], timestamp=pa.string(), name="part-1.parquet")
    if case == "json beside":
        write_docs(tmp_path, ROWS[:2], name="part-1.json")
    assert scanned_timestamp_type(tmp_path) == "VARCHAR"


# --- and gives what text timestamps give ------------------------------------------------------------
def test_the_same_documents_with_integer_or_text_timestamps_give_the_same_frame_and_counts(tmp_path):
    odd = [  # one of each reason a Parquet row can have, and a re-delivered row
        {"timestamp": None, "host": "h1", "topic": "cpu", "value": 1.0},  # missing_timestamp
        {"timestamp": -5, "host": "h1", "topic": "cpu", "value": 1.0},  # timestamp_out_of_range
        {"timestamp": MAX_TIMESTAMP_MS, "host": "h1", "topic": "cpu", "value": 1.0},  # timestamp_out_of_range
        {"timestamp": DAY0 // 1000 + 60, "host": "h1", "topic": "cpu", "value": 1.0},  # timestamp_in_seconds
        {"timestamp": DAY0 + 30_000, "host": None, "topic": "cpu", "value": 1.0},  # missing_group_key:host
        {"timestamp": DAY0 + 31_000, "host": "h1", "topic": "cpu", "value": None},  # invalid_value:value
        {"timestamp": DAY0 + 32_000, "host": "h1", "topic": "cpu", "value": float("nan")},  # non_finite_value
        {"timestamp": DAY0 + 33_000, "host": "h1", "topic": "cpu", "value": float("-inf")},  # non_finite_value
        {"timestamp": None, "host": "h1", "topic": None, "value": 1.0},  # the filter is NULL: counted
        {"timestamp": DAY0 + 34_000, "host": "h1", "topic": None, "value": 1.0},  # NULL filter, usable: not kept
        {"timestamp": None, "host": "h1", "topic": "other", "value": 1.0},  # filtered out: not counted
        ROWS[3],  # an exact repeat: counted once
    ]
    expected = {"missing_timestamp": 2, "timestamp_out_of_range": 2, "timestamp_in_seconds": 1,
                "missing_group_key:host": 1, "invalid_value:value": 1, "non_finite_value:value": 2, "duplicate": 1}
    results = {}
    for kind, arrow_type in [("int64", pa.int64()), ("text", pa.string())]:
        root = tmp_path / kind
        write_parquet(root, [*ROWS, *odd], timestamp=arrow_type)
        results[kind] = read(root, one_source("avg"))
    (frame, report), (text_frame, text_report) = results["int64"], results["text"]
    assert frame["value"].tolist() == [2.0, 7.0]
    assert same_frame(frame, text_frame)
    assert dict(report.skipped) == dict(text_report.skipped) == expected
    assert report.rows_used == text_report.rows_used == 10


def test_a_redelivered_int64_parquet_file_counts_once_and_its_bad_rows_twice(tmp_path):
    rows = [*ROWS, {"timestamp": DAY0 + 2 * MIN + 1, "host": "h1", "topic": "cpu", "value": float("nan")},
            {"timestamp": None, "host": "h1", "topic": "cpu", "value": 1.0}]
    write_parquet(tmp_path, rows, timestamp=pa.int64())
    write_parquet(tmp_path, rows, timestamp=pa.int64(), name="part-1.parquet")
    assert scanned_timestamp_type(tmp_path) == "BIGINT"
    frame, report = read(tmp_path, one_source("sum"))
    assert frame["value"].tolist() == [0.0 + 1 + 2 + 3 + 4, 5.0 + 6 + 7 + 8 + 9]
    assert report.rows_used == 10
    assert dict(report.skipped) == {"duplicate": 10, "non_finite_value:value": 2, "missing_timestamp": 2}


def test_a_bucket_with_two_reasons_counts_each(tmp_path):
    """The one pass proves nothing for this bucket: its rows are redone one by one."""
    rows = [*ROWS, {"timestamp": DAY0 + 1, "host": "h1", "topic": "cpu", "value": None},
            {"timestamp": DAY0 + 2, "host": "h1", "topic": "cpu", "value": float("inf")},
            {"timestamp": DAY0 + 3, "host": "h1", "topic": "cpu", "value": float("nan")}]
    write_parquet(tmp_path, rows, timestamp=pa.int64())
    frame, report = read(tmp_path, one_source("count"))
    assert frame["value"].tolist() == [5.0, 5.0]
    assert dict(report.skipped) == {"invalid_value:value": 1, "non_finite_value:value": 2}


def test_a_window_near_1970_counts_a_timestamp_in_it_once_even_where_it_could_be_seconds(tmp_path):
    start, end = 1_000, 3_000_000  # timestamps in seconds would lie in [1, 3000): overlapping the window
    rows = [{"timestamp": 1_500, "host": "h1", "topic": "cpu", "value": 1.0},  # in the window: used
            {"timestamp": 500, "host": "h1", "topic": "cpu", "value": 2.0},  # before it, x1000 in it: seconds
            {"timestamp": 2_000_000, "host": "h1", "topic": "cpu", "value": 4.0}]
    results = {}
    for kind, arrow_type in [("int64", pa.int64()), ("text", pa.string())]:
        write_parquet(tmp_path / kind, rows, timestamp=arrow_type, day="1970/01/01")
        results[kind] = read(tmp_path / kind, one_source("sum"), start, end)
    (frame, report), (text_frame, text_report) = results["int64"], results["text"]
    assert frame["value"].tolist() == [1.0, 4.0] and same_frame(frame, text_frame)
    assert dict(report.skipped) == dict(text_report.skipped) == {"timestamp_in_seconds": 1}


# --- a property: whatever the rows, integer and text timestamps agree --------------------------------
timestamps = st.one_of(
    st.integers(DAY0 - 600_000, DAY0 + SPAN + 600_000),
    st.sampled_from([None, -5, 0, DAY0 // 1000 + 60, MAX_TIMESTAMP_MS, MAX_TIMESTAMP_MS - 1, 2**62]),
)
values = st.one_of(st.floats(-1e6, 1e6, allow_nan=False).map(lambda x: round(x, 3)),
                   st.sampled_from([float("nan"), float("inf"), float("-inf"), None]))


@st.composite
def parquet_rows(draw):
    rows = []
    for _ in range(draw(st.integers(1, 40))):
        row = {"timestamp": draw(timestamps), "host": draw(st.sampled_from(["h1", "h2", None])),
               "topic": draw(st.sampled_from(["a", "b", None])), "value": draw(values)}
        rows.append(row)
        if draw(st.integers(0, 4)) == 0:
            rows.append(row)  # a duplicate
    # one usable value, so that the sample sees a number in 'value'
    return [{"timestamp": DAY0 + 1, "host": "h1", "topic": "a", "value": 1.0}, *rows]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=parquet_rows(), config_topics=configs(), monit=st.booleans())
def test_integer_text_and_json_timestamps_agree(tmp_path_factory, rows, config_topics, monit):
    config, _ = config_topics
    results = []
    for kind in ("int64", "text", "json"):
        root = tmp_path_factory.mktemp(kind)
        if kind == "json":
            write_json(root, rows, monit=monit)
        else:
            write_parquet(root, rows, timestamp=pa.int64() if kind == "int64" else pa.string(), monit=monit)
        results.append(read(root, config))
    (frame, report), *others = results
    for other_frame, other_report in others:
        assert same_frame(frame, other_frame), (frame, other_frame)
        assert dict(report.skipped) == dict(other_report.skipped)
        assert report.rows_used == other_report.rows_used



# --- footer statistics that prove every timestamp usable: the unusable part is not planned ----------
def scan_and_sql(root, start=DAY0, end=DAY0 + SPAN):
    """The engine's proven timestamp range of the source's scan, and the source's aggregate SQL."""
    files = list_files(str(root), SOURCE, start, end).files
    config = one_source("avg")
    plan = SourcePlan(config.source_configs[0], config,
                      tuple(plan_scan(config.source_configs[0], config, sample_schema(files))))
    engine = DuckDBEngine()
    scanned = engine.register_scan("scan", files, plan.fields, integer_timestamp=True)
    proven = engine.timestamp_range("scan")
    return proven, aggregate_job(replace(plan, fields=scanned), "scan", start, end, timestamp_range=proven).one_pass


@pytest.mark.parametrize("monit", [False, True])
def test_clean_footer_statistics_leave_the_unusable_timestamp_part_out_with_the_same_frame_and_counts(tmp_path, monit):
    rows = [*ROWS, ROWS[3], {"timestamp": DAY0 + 31_000, "host": "h1", "topic": "cpu", "value": None}]
    results = {}
    for kind, arrow_type in [("int64", pa.int64()), ("text", pa.string())]:
        write_parquet(tmp_path / kind, rows[:6], timestamp=arrow_type, monit=monit)
        write_parquet(tmp_path / kind, rows[6:], timestamp=arrow_type, monit=monit, name="part-1.parquet")
        results[kind] = read(tmp_path / kind, one_source("avg"))
    proven, sql = scan_and_sql(tmp_path / "int64")
    assert proven == (DAY0, DAY0 + 9 * MIN) and "UNION ALL" not in sql
    (frame, report), (text_frame, text_report) = results["int64"], results["text"]
    assert frame["value"].tolist() == [2.0, 7.0] and same_frame(frame, text_frame)
    assert dict(report.skipped) == dict(text_report.skipped) == {"duplicate": 1, "invalid_value:value": 1}
    assert report.rows_used == text_report.rows_used == 10


BAD_IN_ONE_FILE = {  # a second file whose footer does not rule out an unusable timestamp, and its count
    "missing": ({"timestamp": None}, {"missing_timestamp": 1}),
    "missing parent struct": ({"timestamp": None, "host": None, "topic": None, "value": None},
                              {"unreadable_document": 1}),
    "before 1970": ({"timestamp": -5}, {"timestamp_out_of_range": 1}),
    "after 2200": ({"timestamp": MAX_TIMESTAMP_MS}, {"timestamp_out_of_range": 1}),
    "in seconds": ({"timestamp": DAY0 // 1000 + 60}, {"timestamp_in_seconds": 1}),
    "no statistics": ({"timestamp": None}, {"missing_timestamp": 1}),
}


@pytest.mark.parametrize("case", list(BAD_IN_ONE_FILE))
def test_footer_statistics_that_do_not_rule_out_unusable_timestamps_still_count_them(tmp_path, case):
    change, skipped = BAD_IN_ONE_FILE[case]
    write_parquet(tmp_path, ROWS, timestamp=pa.int64())
    bad = [{**ROWS[0], **change}, ROWS[4]]
    folder = tmp_path / SOURCE / "2022/05/10"
    if case == "missing parent struct":  # monit layout: a row whose metadata struct is NULL
        (folder / "part-0.parquet").unlink()
        write_parquet(tmp_path, ROWS, timestamp=pa.int64(), monit=True)
        table = pa.table({"metadata": pa.array([None, {k: ROWS[4][k] for k in ("host", "topic", "timestamp")}],
                                               pa.struct([("host", pa.string()), ("topic", pa.string()),
                                                          ("timestamp", pa.int64())])),
                          "data": pa.array([None, {"value": ROWS[4]["value"]}], pa.struct([("value", pa.float64())]))})
        pq.write_table(table, folder / "part-1.parquet")
    elif case == "no statistics":
        write_parquet(tmp_path, bad, timestamp=pa.int64(), name="part-1.parquet")
        pq.write_table(pq.read_table(folder / "part-1.parquet"), folder / "part-1.parquet", write_statistics=False)
    else:
        write_parquet(tmp_path, bad, timestamp=pa.int64(), name="part-1.parquet")
    assert scanned_timestamp_type(tmp_path) == "BIGINT"
    proven, sql = scan_and_sql(tmp_path)
    assert "UNION ALL" in sql
    frame, report = read(tmp_path, one_source("avg"))
    assert frame["value"].tolist() == [2.0, 7.0]
    assert dict(report.skipped) == {**skipped, "duplicate": 1}


def test_sources_reading_the_same_fields_of_a_path_share_one_scan_and_read_as_alone(tmp_path, monkeypatch):
    from admon import InputDataConfig
    from tests.data.lakes import two_sources

    rows = [{"timestamp": DAY0 + i * MIN, "host": f"h{i % 2}", "topic": topic, "value": float(i)}
            for i in range(12) for topic in ("xrootd_raw_gled", "xrootd_raw_alice")]
    rows.append({**rows[5]})  # a repeat: one source redoes a bucket, the other does not
    write_parquet(tmp_path, rows, timestamp=pa.int64(), monit=True)
    engine = DuckDBEngine()
    views: list[str] = []
    register = engine.register_scan
    monkeypatch.setattr(engine, "register_scan", lambda view, *a, **k: views.append(view) or register(view, *a, **k))
    config = two_sources("sum")
    source = DataSource(engine, config, lake_root=str(tmp_path))
    both = source.read_pandas(DAY0, DAY0 + SPAN)
    assert len(views) == 1  # one scan view, its Parquet footers read once
    for k, name in enumerate(["gled_value", "alice_value"]):
        alone, alone_report = read(tmp_path, InputDataConfig(source_configs=[config.source_configs[k]],
                                                             agg_interval_seconds=300, agg_method="sum", group_by=["host"]))
        assert same_frame(both[["host", "timestamp", name]], alone)
        assert dict(source.last_report.sources[k].skipped) == dict(alone_report.sources[0].skipped)
    assert dict(source.last_report.sources[1].skipped) == {"duplicate": 1}
