"""Read each document once: consecutive windows and entities with the same config share buckets
(:mod:`admon.data.bucket_cache`), and every run records what it recorded without the cache."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import pandas as pd
import pytest
from runs_helpers import HOSTS, make_entity

from admon import DataSource, DetectionEntity, InputDataConfig, Project
from admon.config import QuerySource
from admon.data.sources import SOURCES
from admon.registry import repository as repo
from admon.registry.db import session_scope
from admon.runs.backfill import backfill
from admon.runs.runner import Runner
from admon.settings import load_settings
from admon.timeutil import to_epoch_ms

START, END = "2022-05-10T00:00:00Z", "2022-05-10T06:00:00Z"


def runs_of(entity_id: int) -> list[tuple]:
    """What each run of an entity recorded: window, rows, groups, rows read, scores."""
    with session_scope() as s:
        runs = repo.list_runs(s, entity_id)
        return sorted((r.window_end_ms, r.status, r.rows, r.groups, r.provenance["rows_in"], r.scores_hash)
                      for r in runs)


def test_a_sliding_entity_scans_each_document_once_and_entities_share_the_scans(db_url, lake):
    first, second, uncached = (make_entity(interval=60, slide=15, title=t) for t in ("a", "b", "uncached"))
    assert first.config_hash == second.config_hash == uncached.config_hash
    runner = Runner(load_settings())
    report = backfill(first.id, START, END, runner=runner)
    assert report.windows == 21 and report.succeeded == 21
    context_ms = repo_context_ms(first.id)
    # every raw row of the windows and their lookback was taken in by exactly one source read:
    # one per minute, host and topic from 00:00 (the lake's start) to 06:00
    union = DataSource(None, first.input_data_config, lake_root=str(lake))
    union.read_pandas(to_epoch_ms(START) - context_ms, to_epoch_ms(END))
    assert runner.bucket_cache.stats.rows_in == union.last_report.rows_in == 6 * 60 * 2 * HOSTS
    assert runner.bucket_cache.stats.source_reads == 21

    # an entity with the same config reads nothing from the lake: its buckets are all cached
    backfill(second.id, START, END, runner=runner)
    assert runner.bucket_cache.stats.rows_in == union.last_report.rows_in
    assert runner.bucket_cache.stats.source_reads == 21

    # without the cache, each window reads its hour (and lookback) again: 4 reads and more per row
    off = Runner(load_settings(bucket_cache_mb=0))
    backfill(uncached.id, START, END, runner=off)
    lookback = 60 + context_ms // 60_000  # minutes a window's read covers (the lake starts at 00:00)
    assert off.bucket_cache.stats.rows_in == sum(2 * HOSTS * (end - max(0, end - lookback))
                                                 for end in range(60, 361, 15))
    assert off.bucket_cache.stats.rows_in > 4 * runner.bucket_cache.stats.rows_in
    # ... and the same runs: rows, groups, the rows_in of the read report, the scores
    assert runs_of(first.id) == runs_of(second.id) == runs_of(uncached.id)


def repo_context_ms(entity_id: int) -> int:
    with session_scope() as s:
        (context,) = {r.provenance["context_ms"] for r in repo.list_runs(s, entity_id)}
    return int(context)


class FileSamples(QuerySource):
    """A plugin query source whose samples are the JSON rows ``[host, timestamp, v]`` of a file."""

    kind: Literal["file_samples_runs"] = "file_samples_runs"
    path: str

    def value_inputs(self) -> list[str]:
        return ["v"]

    def samples(self, start_ms, end_ms, context):
        rows = json.loads(Path(self.path).read_text())
        yield pd.DataFrame([{"host": h, "timestamp": t, "v": v} for h, t, v in rows], dtype=object)


@pytest.fixture
def file_samples():
    SOURCES.add("file_samples_runs", FileSamples)
    yield FileSamples
    SOURCES.unregister("file_samples_runs")


def test_late_data_of_a_query_source_reopens_its_window_despite_the_cache(db_url, lake, tmp_path, file_samples):
    """A query source has no files to list: the late-data check forgets the window's cached
    buckets before reading it again, so it sees the late samples and re-runs the window."""
    path = tmp_path / "samples.json"
    day = to_epoch_ms(START)
    rows = [["h1", day + m * 60_000, float(m % 7)] for m in range(180)]
    path.write_text(json.dumps(rows))
    idc = InputDataConfig(source_configs=[FileSamples(path=str(path))], agg_interval_seconds=300, group_by=["host"])
    entity = DetectionEntity.create(project=Project.create(title="q", egroup="admon-dev"), title="query",
                                    interval_minutes=60, sliding_interval_minutes=15, input_data_config=idc,
                                    inference_model="m", inference_namespace="admon-dev")
    runner = Runner(load_settings())
    first = backfill(entity.id, START, "2022-05-10T03:00:00Z", runner=runner)
    assert first.succeeded == 9 and len(runner.bucket_cache) > 0
    # a late sample at 02:50: the windows ending 03:00 (and only it, of the range) hold it
    path.write_text(json.dumps(rows + [["h1", day + 170 * 60_000 + 30_000, 1000.0]]))
    again = backfill(entity.id, START, "2022-05-10T03:00:00Z", runner=runner)
    assert list(again.late.reopened) == [day + 180 * 60_000] and again.succeeded == 1
