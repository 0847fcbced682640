"""The bucket cache: a read assembled from cached buckets is the direct read, frame and report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import pandas as pd
import pytest
from lakes import DAY0, MIN, flat, one_source, two_sources, write_docs

from admon import DataSource, InputDataConfig
from admon.config import QuerySource
from admon.data.bucket_cache import BucketCache
from admon.data.sources import SOURCES
from admon.errors import SourceReadError

GLED, ALICE = "xrootd_raw_gled", "xrootd_raw_alice"


def ragged_docs() -> list:
    """A day of 1-minute points of three hosts and two topics, with holes: h3 missing for hours,
    h2 every 7th minute, h1's alice every 3rd minute, nothing at all 05:00-06:00; an exact
    repeat and a row without a value (counted in their buckets)."""
    docs: list = []
    for minute in range(24 * 60):
        if 300 <= minute < 360:
            continue  # empty buckets
        for host in ("h1", "h2", "h3"):
            if host == "h3" and 100 <= minute < 300 or host == "h2" and minute % 7 == 0:
                continue
            docs.append(flat(host, GLED, DAY0 + minute * MIN + 1000, float(minute)))
            if host != "h1" or minute % 3:
                docs.append(flat(host, ALICE, DAY0 + minute * MIN + 2000, float(2 * minute + 1)))
    docs.append(flat("h1", GLED, DAY0 + 10 * MIN + 1000, 10.0))  # an exact repeat
    docs.append({"host": "h1", "topic": GLED, "timestamp": DAY0 + 12 * MIN})  # no value
    return docs


def direct(config: InputDataConfig, root: Path, start: int, end: int) -> tuple[pd.DataFrame, dict]:
    source = DataSource(None, config, lake_root=str(root))
    frame = source.read_pandas(start, end)
    return frame, source.last_report.as_dict()


def cached(cache: BucketCache, config: InputDataConfig, root: Path, start: int, end: int,
           **kwargs) -> tuple[pd.DataFrame, dict, dict]:
    frame, report = cache.read(config, start, end, lake_root=str(root), **kwargs)
    return frame, report, report.pop("cache")


def assert_same_read(got: tuple, want: tuple) -> None:
    """The same frame (rows, order, dtypes) and the same report but for its duration."""
    pd.testing.assert_frame_equal(got[0], want[0])
    assert {**got[1], "seconds": 0} == {**want[1], "seconds": 0}


def test_sliding_windows_from_the_cache_are_the_direct_reads(tmp_path):
    write_docs(tmp_path, ragged_docs())
    config, cache = two_sources(), BucketCache(64 * 2**20)
    served = 0
    for k in range(4, 40):
        # a 60-minute window sliding by 15 minutes; every third one starts off the 5-minute grid
        start = DAY0 + (k - 4) * 15 * MIN + (2 * MIN if k % 3 == 0 else 0)
        end = DAY0 + k * 15 * MIN
        frame, report, info = cached(cache, config, tmp_path, start, end)
        assert_same_read((frame, report), direct(config, tmp_path, start, end))
        served += info["buckets_cached"]
    assert served > 300 and cache.stats.buckets_cached == served
    # the empty hour is cached (as empty buckets) like any other
    frame, report, info = cached(cache, config, tmp_path, DAY0 + 5 * 60 * MIN, DAY0 + 6 * 60 * MIN)
    assert info == {"buckets_cached": 12, "buckets_read": 0, "source_reads": 0, "rows_in": 0}
    assert frame.empty and list(frame.dtypes.astype(str)) == ["object", "int64", "float64", "float64"]
    assert_same_read((frame, report), direct(config, tmp_path, DAY0 + 5 * 60 * MIN, DAY0 + 6 * 60 * MIN))
    # one long read around cached and missing buckets: several source reads, one frame
    frame, report, info = cached(cache, config, tmp_path, DAY0 + 3 * MIN, DAY0 + 23 * 60 * MIN)
    assert info["buckets_cached"] and info["source_reads"] == 2  # the partial first bucket, and after 09:45
    assert_same_read((frame, report), direct(config, tmp_path, DAY0 + 3 * MIN, DAY0 + 23 * 60 * MIN))
    assert report["rows_used"] > 0 and report["skipped"] == {"duplicate": 1, "invalid_value:value": 1}


def test_each_bucket_is_read_from_the_source_once(tmp_path):
    write_docs(tmp_path, ragged_docs())
    config, cache = one_source(topic=GLED), BucketCache(64 * 2**20)
    for k in range(4, 24):
        cached(cache, config, tmp_path, DAY0 + (k - 4) * 15 * MIN, DAY0 + k * 15 * MIN)
    _, report = direct(config, tmp_path, DAY0, DAY0 + 23 * 15 * MIN)
    assert cache.stats.rows_in == report["rows_used"] + sum(report["skipped"].values())
    assert cache.stats.source_reads == 20 and cache.stats.buckets_read == 23 * 3


def test_rows_outside_every_bucket_are_reported_as_a_direct_read_reports_them(tmp_path):
    """A row without a usable timestamp is counted by every read of its file: such reads are not
    assembled from buckets (nor kept), so the count is the direct read's, never 0 or twice."""
    write_docs(tmp_path, ragged_docs())
    config, cache = two_sources(), BucketCache(64 * 2**20)
    cached(cache, config, tmp_path, DAY0, DAY0 + 60 * MIN)
    assert len(cache) == 12
    write_docs(tmp_path, [{"host": "h1", "topic": GLED, "value": 1.0},
                          flat("h2", ALICE, (DAY0 + 30 * MIN) // 1000, 1.0)], name="late.json")
    for start, end in [(DAY0 + 15 * MIN, DAY0 + 75 * MIN), (DAY0 + 15 * MIN, DAY0 + 75 * MIN),
                       (DAY0 + 30 * MIN, DAY0 + 90 * MIN)]:
        frame, report, info = cached(cache, config, tmp_path, start, end)
        assert_same_read((frame, report), direct(config, tmp_path, start, end))
        assert report["skipped"]["missing_timestamp"] == 1 and info["buckets_cached"] == 0
    assert report["skipped"]["timestamp_in_seconds"] == 1
    # nothing of these reads was kept; the three stale buckets before 00:15 go when a read meets them
    assert len(cache) == 3
    frame, report, info = cached(cache, config, tmp_path, DAY0, DAY0 + 15 * MIN)
    assert_same_read((frame, report), direct(config, tmp_path, DAY0, DAY0 + 15 * MIN))
    assert info["buckets_cached"] == 0 and len(cache) == 0


def test_a_late_file_drops_the_buckets_of_its_day(tmp_path):
    write_docs(tmp_path, ragged_docs())
    write_docs(tmp_path, [flat("h1", GLED, DAY0 + 86_400_000 + MIN, 1.0)], day="2022/05/11")
    config, cache = one_source(topic=GLED), BucketCache(64 * 2**20)
    start, end = DAY0 + 23 * 60 * MIN, DAY0 + 25 * 60 * MIN  # two days
    cached(cache, config, tmp_path, start, end)
    write_docs(tmp_path, [flat("h9", GLED, DAY0 + 23 * 60 * MIN + 5, 100.0)], name="late.json")
    frame, report, info = cached(cache, config, tmp_path, start, end)
    assert_same_read((frame, report), direct(config, tmp_path, start, end))
    assert "h9" in set(frame.host) and info["buckets_cached"] == 12  # the next day's stayed
    # a file rewritten in place (its size or modification time changes) too
    write_docs(tmp_path, [flat("h9", GLED, DAY0 + 23 * 60 * MIN + 5, 1234.5)], name="late.json")
    frame, report, _ = cached(cache, config, tmp_path, start, end)
    assert_same_read((frame, report), direct(config, tmp_path, start, end))
    assert frame[frame.host == "h9"].value.tolist() == [1234.5]


def test_open_buckets_are_read_every_time(tmp_path):
    write_docs(tmp_path, ragged_docs())
    config, cache = one_source(topic=GLED), BucketCache(64 * 2**20)
    start, end = DAY0 + 60 * MIN, DAY0 + 120 * MIN
    # the last 10 minutes may still receive data (a query delay): read, not kept
    cached(cache, config, tmp_path, start, end, closed_until_ms=end - 10 * MIN)
    assert len(cache) == 10
    frame, report, info = cached(cache, config, tmp_path, start, end, closed_until_ms=end - 10 * MIN)
    assert (info["buckets_cached"], info["buckets_read"], info["source_reads"]) == (10, 2, 1)
    assert_same_read((frame, report), direct(config, tmp_path, start, end))


def test_the_cache_is_bounded_in_bytes_and_evicts_the_least_recently_used(tmp_path):
    write_docs(tmp_path, ragged_docs())
    config = one_source(topic=GLED)
    probe = BucketCache(64 * 2**20)
    cached(probe, config, tmp_path, DAY0, DAY0 + 60 * MIN)
    per_bucket = probe.nbytes // len(probe)
    cache = BucketCache(30 * per_bucket)
    for hour in range(6):
        frame, report, _ = cached(cache, config, tmp_path, DAY0 + hour * 60 * MIN, DAY0 + (hour + 1) * 60 * MIN)
        assert_same_read((frame, report), direct(config, tmp_path, DAY0 + hour * 60 * MIN, DAY0 + (hour + 1) * 60 * MIN))
        cached(cache, config, tmp_path, DAY0, DAY0 + 5 * MIN)  # the first bucket: used again and again
        assert cache.nbytes <= cache.max_bytes
    assert cache.stats.evicted > 0 and len(cache) < 6 * 12
    # the bucket used last stayed; the second hour's first bucket was evicted
    assert cached(cache, config, tmp_path, DAY0, DAY0 + 5 * MIN)[2]["buckets_cached"] == 1
    assert cached(cache, config, tmp_path, DAY0 + 60 * MIN, DAY0 + 65 * MIN)[2]["buckets_read"] == 1
    off = BucketCache(0)
    cached(off, config, tmp_path, DAY0, DAY0 + 60 * MIN)
    assert len(off) == 0 and cached(off, config, tmp_path, DAY0, DAY0 + 60 * MIN)[2]["source_reads"] == 1


def test_configs_share_only_their_own_buckets(tmp_path):
    write_docs(tmp_path, ragged_docs())
    gled, alice, cache = one_source(topic=GLED), one_source(topic=ALICE), BucketCache(64 * 2**20)
    cached(cache, gled, tmp_path, DAY0, DAY0 + 60 * MIN)
    frame, report, info = cached(cache, alice, tmp_path, DAY0, DAY0 + 60 * MIN)
    assert info["buckets_cached"] == 0
    assert_same_read((frame, report), direct(alice, tmp_path, DAY0, DAY0 + 60 * MIN))
    assert cached(cache, one_source(topic=GLED), tmp_path, DAY0, DAY0 + 60 * MIN)[2]["buckets_cached"] == 12


# --- a query source: no files, so its buckets stay until they are forgotten ------------------------------
class FileSamples(QuerySource):
    """A plugin query source whose samples are the JSON rows of a local file (none: unreachable)."""

    kind: Literal["file_samples"] = "file_samples"
    path: str

    def value_inputs(self) -> list[str]:
        return ["v"]

    def samples(self, start_ms, end_ms, context):
        if not Path(self.path).exists():
            raise SourceReadError("source_unreachable", f"{self.path} is missing")
        rows = json.loads(Path(self.path).read_text())
        yield pd.DataFrame([{"host": h, "timestamp": t, "v": v} for h, t, v in rows], dtype=object)


@pytest.fixture
def file_samples():
    SOURCES.add("file_samples", FileSamples)
    yield FileSamples
    SOURCES.unregister("file_samples")


def test_a_query_sources_buckets_stay_until_forgotten_and_a_failed_read_is_not_kept(tmp_path, file_samples):
    path = tmp_path / "samples.json"
    config = InputDataConfig(source_configs=[FileSamples(path=str(path))], agg_interval_seconds=300,
                             group_by=["host"])
    rows = [["h1", DAY0 + m * MIN, float(m)] for m in range(120)]
    path.write_text(json.dumps(rows))
    cache = BucketCache(64 * 2**20)
    first = cached(cache, config, tmp_path, DAY0, DAY0 + 60 * MIN)
    assert_same_read(first[:2], direct(config, tmp_path, DAY0, DAY0 + 60 * MIN))
    assert len(cache) == 12
    path.write_text(json.dumps([[h, t, v + 1] for h, t, v in rows]))  # late data nobody listed
    assert cached(cache, config, tmp_path, DAY0, DAY0 + 60 * MIN)[0].v.tolist() == first[0].v.tolist()
    assert cache.forget(config.content_hash(), DAY0 + 30 * MIN, DAY0 + 40 * MIN) == 2
    frame, report, info = cached(cache, config, tmp_path, DAY0 + 15 * MIN, DAY0 + 75 * MIN)
    assert (info["buckets_cached"], info["buckets_read"], info["source_reads"]) == (7, 5, 2)
    assert frame.set_index("timestamp").v.loc[DAY0 + 30 * MIN] == first[0].set_index("timestamp").v.loc[DAY0 + 30 * MIN] + 1
    # a read that fails is counted, its null buckets are not kept, and the next read tries again
    path.unlink()
    frame, report, info = cached(cache, config, tmp_path, DAY0 + 60 * MIN, DAY0 + 120 * MIN)
    assert_same_read((frame, report), direct(config, tmp_path, DAY0 + 60 * MIN, DAY0 + 120 * MIN))
    assert report["skipped"] == {"source_unreachable": 1} and frame.empty
    assert (info["buckets_cached"], info["source_reads"]) == (0, 2)  # the gap failed: read again, directly
    path.write_text(json.dumps(rows))
    frame, report, info = cached(cache, config, tmp_path, DAY0 + 60 * MIN, DAY0 + 120 * MIN)
    assert len(frame) == 12 and info["buckets_cached"] == 3 and not report["skipped"]


def test_groups_sort_as_the_job_sorts_them(tmp_path):
    hosts = ["b", "B", "a10", "a9", "é", "z", "Ω", "_x", "10"]
    write_docs(tmp_path, [flat(h, GLED, DAY0 + m * MIN, float(m)) for m in range(0, 120, 2) for h in hosts
                          if (m // 10 + len(h)) % 3])  # each host missing from some buckets
    config, cache = one_source(topic=GLED), BucketCache(64 * 2**20)
    for k in range(4, 9):
        start, end = DAY0 + (k - 4) * 15 * MIN, DAY0 + k * 15 * MIN
        frame, report, _ = cached(cache, config, tmp_path, start, end)
        assert_same_read((frame, report), direct(config, tmp_path, start, end))
    assert cache.stats.buckets_cached > 0
