"""Issue 12, items 7, 8 and 10 (documents): every row of a file is used or counted by reason.

The hostile tester's probes, as regressions:
- odd timestamps (negative, year 3000, epoch seconds, ``true``, a fraction of a millisecond, 1e30,
  text, null, missing) are each counted under a reason: ``timestamp_out_of_range`` (outside the
  documented [1970, 2200) range), ``timestamp_not_integer_ms``, ``timestamp_in_seconds`` (with a
  warning in the read report), ``missing_timestamp``; nothing is truncated silently;
- strict mode names the file, line and reason of each of them (1e30 used to raise OverflowError);
- a group key given as a JSON object is read the same way in both modes: used as its JSON text;
- 100,000 nested brackets on one line are a counted ``unreadable_document``, not a RecursionError.

Every read here checks the bookkeeping: rows used + rows counted == lines in the file.
"""

from __future__ import annotations

import json

import pytest

from admon import DataSource
from admon.data.diagnose import skipped_counts
from admon.errors import DataError
from admon.timeutil import MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS
from tests.data.conftest import ENGINES, spark  # noqa: F401 - the session's SparkSession fixture
from tests.data.lakes import DAY0, MIN, monit, one_source, write_docs

WINDOW = (DAY0, DAY0 + 86_400_000)
GOOD = [monit("h1", "cpu", DAY0 + i * MIN, float(i)) for i in range(4)]  # buckets 0 (0..3)

# (the timestamp as raw JSON text, the reason it is counted under; None = used)
ODD_TIMESTAMPS = [
    ("-5", "timestamp_out_of_range"),
    ("32503680000000", "timestamp_out_of_range"),  # year 3000
    (str(MAX_TIMESTAMP_MS), "timestamp_out_of_range"),  # the range is half-open
    (str((DAY0 + 3600_000) // 1000), "timestamp_in_seconds"),  # epoch seconds of this day
    ("true", "timestamp_not_integer_ms"),
    ("1652141000000.5", "timestamp_not_integer_ms"),
    ("1e30", "timestamp_out_of_range"),
    ("100000000000000000000000000", "timestamp_out_of_range"),
    ('"yesterday"', "timestamp_not_integer_ms"),
    ('{"ms": 1652141000000}', "timestamp_not_integer_ms"),
    ("null", "missing_timestamp"),
    ("NaN", "timestamp_not_integer_ms"),
]


@pytest.fixture(params=ENGINES)
def engine(request):
    return None if request.param == "duckdb" else request.getfixturevalue("spark")


def odd_line(ts_text: str, value: float = 100.0) -> str:
    return f'{{"metadata": {{"host": "h1", "topic": "cpu", "timestamp": {ts_text}}}, "data": {{"value": {value}}}}}'


def read(root, *, engine=None, strict=False, config=None):
    source = DataSource(engine, config or one_source("sum"), lake_root=str(root), strict=strict)
    frame = source.read_pandas(*WINDOW)
    return frame, source.last_report


def lines_of(path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.strip())


def test_every_odd_timestamp_is_used_or_counted_by_reason(engine, tmp_path):
    lines = [*map(json.dumps, GOOD), *(odd_line(ts) for ts, _ in ODD_TIMESTAMPS),
             odd_line("1652140860000.0", 1000.0),  # an integral float is a timestamp
             odd_line('"1652140920000"', 2000.0),  # so is integer text
             '{"metadata": {"host": "h1", "topic": "cpu"}, "data": {"value": 1}}']  # missing
    path = write_docs(tmp_path, lines)
    frame, report = read(tmp_path, engine=engine)
    expected: dict[str, int] = {"missing_timestamp": 1}
    for _, reason in ODD_TIMESTAMPS:
        expected[reason] = expected.get(reason, 0) + 1
    assert dict(report.skipped) == expected
    assert report.rows_used + report.skipped_total == lines_of(path)
    # nothing was truncated into the window: the sum is exactly the good rows'
    assert frame["value"].tolist() == [0.0 + 1 + 2 + 3 + 1000 + 2000]


def test_timestamps_in_seconds_are_counted_and_warned_about(tmp_path):
    seconds = [(DAY0 + i * MIN) // 1000 for i in range(3)]
    write_docs(tmp_path, [*GOOD, *(monit("h1", "cpu", s, 1.0) for s in seconds)])
    _, report = read(tmp_path)
    assert report.skipped["timestamp_in_seconds"] == 3
    warning = " ".join(report.warnings)
    assert "epoch seconds" in warning and "milliseconds" in warning and "collectd/raw/monitoring" in warning
    assert report.as_dict()["warnings"] == report.warnings


def test_a_clean_read_has_no_warning(tmp_path):
    write_docs(tmp_path, GOOD)
    _, report = read(tmp_path)
    assert report.warnings == [] and not report.skipped


def test_the_documented_range_is_1970_to_2200():
    assert MIN_TIMESTAMP_MS == 0 and MAX_TIMESTAMP_MS == 7_258_118_400_000


@pytest.mark.parametrize("ts_text, reason", ODD_TIMESTAMPS)
def test_strict_mode_names_file_line_and_reason_of_an_odd_timestamp(tmp_path, ts_text, reason):
    path = write_docs(tmp_path, [*map(json.dumps, GOOD[:2]), odd_line(ts_text), *map(json.dumps, GOOD[2:])])
    with pytest.raises(DataError) as err:
        read(tmp_path, strict=True)
    message = str(err.value)
    assert str(path) in message and "line 3" in message and reason in message


def test_strict_mode_on_1e30_is_a_data_error_not_an_overflow(tmp_path):
    path = write_docs(tmp_path, [*map(json.dumps, GOOD), odd_line("1e30")])
    with pytest.raises(DataError, match="line 5: timestamp_out_of_range") as err:
        read(tmp_path, strict=True)
    assert str(path) in str(err.value)


# --- item 8: one validity rule for both modes -----------------------------------------------------
def test_a_group_key_given_as_an_object_is_read_the_same_way_in_both_modes(tmp_path):
    odd_host = {"metadata": {"host": {"name": "h9"}, "topic": "cpu", "timestamp": DAY0}, "data": {"value": 5.0}}
    bad = monit("h1", "cpu", DAY0 + 5 * MIN, float("nan"))
    path = write_docs(tmp_path, [*GOOD[:1], odd_host, *GOOD[1:], bad])
    frame, report = read(tmp_path)
    assert '{"name":"h9"}' in frame["host"].tolist()  # used as a group, by its JSON text
    assert dict(report.skipped) == {"non_finite_value:value": 1}
    assert report.rows_used + report.skipped_total == lines_of(path)
    # strict mode finds the same (and only the same) problem: the NaN on line 6, not the host on line 2
    with pytest.raises(DataError, match="line 6: non_finite_value"):
        read(tmp_path, strict=True)
    assert skipped_counts(one_source("sum"), str(tmp_path), *WINDOW) == report.skipped


# --- item 10: documents nested too deep ---------------------------------------------------------
DEEP = "[" * 100_000 + "]" * 100_000


def test_a_line_of_100000_nested_brackets_is_counted_not_a_crash(engine, tmp_path):
    path = write_docs(tmp_path, [*map(json.dumps, GOOD), DEEP, "{" * 100_000])
    frame, report = read(tmp_path, engine=engine)
    assert frame["value"].tolist() == [6.0]
    assert dict(report.skipped) == {"unreadable_document": 2}
    assert report.rows_used + report.skipped_total == lines_of(path)


def test_strict_mode_names_the_line_of_100000_nested_brackets(tmp_path):
    path = write_docs(tmp_path, [*map(json.dumps, GOOD[:1]), DEEP, *map(json.dumps, GOOD[1:])])
    with pytest.raises(DataError, match="line 2: unreadable_document") as err:
        read(tmp_path, strict=True)
    assert str(path) in str(err.value)


def test_a_deeply_nested_field_that_is_not_read_does_not_spoil_the_document(tmp_path):
    deep_extra = json.dumps(monit("h1", "cpu", DAY0 + 9 * MIN, 50.0))[:-1] + ', "extra": ' + DEEP + "}"
    deep_value = json.dumps(monit("h1", "cpu", DAY0 + 8 * MIN, "DEEP")).replace('"DEEP"', DEEP)
    path = write_docs(tmp_path, [*map(json.dumps, GOOD), deep_extra, deep_value])
    frame, report = read(tmp_path)
    assert frame["value"].tolist() == [6.0, 50.0]
    assert dict(report.skipped) == {"invalid_value:value": 1}
    assert report.rows_used + report.skipped_total == lines_of(path)
    with pytest.raises(DataError, match="line 6: invalid_value"):
        read(tmp_path, strict=True)
    assert skipped_counts(one_source("sum"), str(tmp_path), *WINDOW) == report.skipped
