"""Exact repeats count once, whichever way the job finds them.

The job proves most buckets free of repeats from their timestamps' residues modulo 61 and
hashes the rows of the others only (:func:`admon.data.job.aggregate_job`); these cases cover
both paths and the edges between them: a re-delivered file, a bucket of more than 61 rows,
distinct rows whose timestamps collide modulo 61, one timestamp with two values, and an
aggregate that a repeat must not change (the sample stddev of one distinct row).
"""

from __future__ import annotations

import json
import math

import pytest

from admon import DataSource
from tests.data.lakes import DAY0, MIN, monit, one_source, write_docs


def read(engine, config, root, start=DAY0, end=DAY0 + 3600_000):
    source = DataSource(engine, config, lake_root=str(root))
    return source.read_pandas(start, end), source.last_report


@pytest.mark.parametrize("suffix", ["json", "parquet"])
def test_a_redelivered_file_counts_once(engine, tmp_path, suffix):
    docs = [monit("h1", "cpu", DAY0 + i * MIN, float(i)) for i in range(10)]  # two 5-minute buckets
    write_docs(tmp_path, docs, name=f"part-0.{suffix}")
    write_docs(tmp_path, docs, name=f"part-1.{suffix}")  # the same documents delivered again
    frame, report = read(engine, one_source("sum"), tmp_path)
    assert frame["value"].tolist() == [0.0 + 1 + 2 + 3 + 4, 5.0 + 6 + 7 + 8 + 9]
    assert report.rows_used == 10 and dict(report.skipped) == {"duplicate": 10}


def test_a_repeat_in_a_bucket_of_more_than_61_rows_counts_once(engine, tmp_path):
    docs = [monit("h1", "cpu", DAY0 + i * 10_000, float(i)) for i in range(70)]  # 70 rows in one 15-minute bucket
    write_docs(tmp_path, [*docs, docs[33]])
    frame, report = read(engine, one_source("count", interval=900), tmp_path)
    assert frame["value"].tolist() == [70.0]
    assert dict(report.skipped) == {"duplicate": 1}


def test_distinct_rows_whose_timestamps_collide_modulo_61_are_all_used(engine, tmp_path):
    docs = [monit("h1", "cpu", DAY0 + k * 61, float(k)) for k in range(5)]  # one residue, five documents
    write_docs(tmp_path, docs)
    frame, report = read(engine, one_source("sum"), tmp_path)
    assert frame["value"].tolist() == [10.0]
    assert report.rows_used == 5 and not report.skipped


def test_one_timestamp_with_two_values_is_two_documents(engine, tmp_path):
    write_docs(tmp_path, [monit("h1", "cpu", DAY0, 1.0), monit("h1", "cpu", DAY0, 3.0), monit("h1", "cpu", DAY0, 3.0)])
    frame, report = read(engine, one_source("avg"), tmp_path)
    assert frame["value"].tolist() == [2.0]
    assert report.rows_used == 2 and dict(report.skipped) == {"duplicate": 1}


def test_the_stddev_of_one_repeated_row_stays_undefined(engine, tmp_path):
    # bucket 0: one document delivered twice (stddev of one value: undefined, not the 0 of two
    # copies); bucket 1: two different documents
    write_docs(tmp_path, [monit("h1", "cpu", DAY0, 5.0), monit("h1", "cpu", DAY0, 5.0),
                          monit("h1", "cpu", DAY0 + 5 * MIN, 1.0), monit("h1", "cpu", DAY0 + 6 * MIN, 3.0)])
    frame, report = read(engine, one_source("stddev"), tmp_path)
    assert math.isnan(frame["value"].iloc[0])
    assert frame["value"].iloc[1] == pytest.approx(math.sqrt(2.0))
    assert dict(report.skipped) == {"duplicate": 1}


def test_each_copy_of_a_bad_document_is_counted_under_its_reason(engine, tmp_path):
    bad = json.dumps(monit("h1", "cpu", DAY0 + MIN, "abc"))
    write_docs(tmp_path, [json.dumps(monit("h1", "cpu", DAY0, 1.0)), bad, bad])
    frame, report = read(engine, one_source("avg"), tmp_path)
    assert frame["value"].tolist() == [1.0]
    assert dict(report.skipped) == {"invalid_value:value": 2}


# --- the second statement runs only for buckets the one pass cannot prove --------------------------
def statements(engine, monkeypatch) -> list[str]:
    """The SQL of every table the reads on ``engine`` materialise, in order."""
    seen: list[str] = []
    materialize = engine.materialize

    def recording(table, sql):
        seen.append(sql)
        return materialize(table, sql)

    monkeypatch.setattr(engine, "materialize", recording)
    return seen


@pytest.mark.parametrize("suffix", ["json", "parquet"])
def test_only_a_read_with_an_unproven_bucket_runs_the_exact_redo(engine, tmp_path, monkeypatch, suffix):
    from admon.data.engines import engine_for

    job_engine = engine_for(engine)
    seen = statements(job_engine, monkeypatch)
    docs = [monit("h1", "cpu", DAY0 + i * MIN, float(i)) for i in range(10)]
    write_docs(tmp_path / "clean", docs, name=f"part-0.{suffix}")
    frame, report = read(job_engine, one_source("sum"), tmp_path / "clean")
    assert frame["value"].tolist() == [10.0, 35.0] and not report.skipped
    assert not any("exact AS" in sql for sql in seen)  # every bucket proven: rows read once
    seen.clear()
    write_docs(tmp_path / "repeat", [*docs, docs[7]], name=f"part-0.{suffix}")  # a repeat in the second bucket
    frame, report = read(job_engine, one_source("sum"), tmp_path / "repeat")
    assert frame["value"].tolist() == [10.0, 35.0] and dict(report.skipped) == {"duplicate": 1}
    assert sum("exact AS" in sql for sql in seen) == 1
