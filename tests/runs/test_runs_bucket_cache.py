"""Read each document once: consecutive windows and entities with the same config share buckets
(:mod:`admon.data.bucket_cache`), and every run records what it recorded without the cache."""

from __future__ import annotations

from runs_helpers import HOSTS, make_entity

from admon import DataSource
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
