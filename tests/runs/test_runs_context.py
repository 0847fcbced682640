"""A run reads its detector's lookback before the window, so short windows score like the whole series."""

from __future__ import annotations

import pandas as pd
from runs_helpers import LAKE_DAY, make_entity
from sqlalchemy import select

from admon import DataSource
from admon.models.training import train
from admon.registry.db import session_scope
from admon.registry.models import ResultRow, RunRow
from admon.runs import inference
from admon.runs.backfill import backfill
from admon.timeutil import to_epoch_ms


def test_a_short_window_scores_as_the_whole_series_would(lake, db_url, tmp_path):
    entity = make_entity(interval=10, slide=10)  # 10 one-minute buckets per window
    idc = entity.input_data_config
    # a rolling detector whose score at t depends on the 2 * 30 buckets before t
    train(idc, LAKE_DAY, "2022-05-11", "robust_zscore", {"window": 30},
          namespace=entity.inference_namespace, model=entity.inference_model)
    start, end = to_epoch_ms("2022-05-11T10:00:00Z"), to_epoch_ms("2022-05-11T10:10:00Z")
    report = backfill(entity.id, start, end)
    assert report.succeeded == 1

    with session_scope() as s:
        got = {r.group_key["host"]: r.anomaly_score for r in s.scalars(
            select(ResultRow).where(ResultRow.entity_id == entity.id))}
        provenance = s.scalars(select(RunRow.provenance).where(RunRow.entity_id == entity.id)).one()
    assert provenance["context_ms"] == (60 + 2) * 60_000  # and missing_data's 2 rows

    # by hand: score the whole day, keep the window, take each host's peak
    model = inference.load_model(entity.inference_namespace, entity.inference_model)
    day = DataSource(None, idc).read("2022-05-11", "2022-05-12")
    before = day[day["timestamp"] < end]
    window, scored = inference.score_with_context(model, before, start)
    expected = inference.summarize(window, scored, ["host"]).set_index("host")["anomaly_score"]
    assert set(got) == set(expected.index)
    for host, score in got.items():
        assert score == expected[host], host

    # and the test can fail: without the context the window scores differently
    alone = day[(day["timestamp"] >= start) & (day["timestamp"] < end)]
    window, scored = inference.score_with_context(model, alone, start)
    no_context = inference.summarize(window, scored, ["host"]).set_index("host")["anomaly_score"]
    assert not all(pd.Series(got).sort_index() == no_context.sort_index())
