"""Detector state carried between runs (issue 18): the state path and the context path agree.

A day of 60/15-minute windows of an entity whose ``default`` model carries state: every run
that continued its groups' streams from the stored states is reproduced by the context path
(``admon reproduce`` reads each run's context and stores nothing) with identical scores --
across a gap in all hosts' data, a host silent for hours, anchor moves, a model change and
windows the scheduler missed.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from runs_helpers import make_entity, xrootd_idc
from sqlalchemy import select

from admon import DataSource
from admon.models.training import train
from admon.registry import states as registry_states
from admon.registry.db import session_scope
from admon.registry.models import RunRow
from admon.runs.backfill import backfill
from admon.runs.reproduce import reproduce
from admon.timeutil import to_epoch_ms

NS, MODEL = "admon-dev", "xrootd-model"


def _cut(lake: Path, day: str, start: str, end: str, host: str | None = None) -> int:
    """Remove the lake's documents of ``[start, end)`` (of one host, if given): a gap in the data."""
    path = lake / "collectd" / "raw" / "monitoring" / day.replace("-", "/") / "part-00000.json"
    lo, hi = to_epoch_ms(start), to_epoch_ms(end)
    kept, removed = [], 0
    for line in path.read_text().splitlines():
        meta = json.loads(line)["metadata"]
        if lo <= meta["timestamp"] < hi and (host is None or meta["host"] == host):
            removed += 1
        else:
            kept.append(line)
    path.write_text("\n".join(kept) + "\n")
    return removed


def _train(lake: Path, params: dict, detector: str = "default") -> str:
    frame = DataSource(None, xrootd_idc(60), lake_root=str(lake)).read_pandas("2022-05-10T00:00:00Z",
                                                                            "2022-05-11T00:00:00Z")
    return train(None, "2022-05-10T00:00:00Z", "2022-05-11T00:00:00Z", detector, params, namespace=NS,
                 model=MODEL, frame=frame).manifest.content_sha256


def _runs(entity_id: int, since: str) -> list[RunRow]:
    with session_scope() as s:
        rows = s.scalars(select(RunRow).where(RunRow.entity_id == entity_id, RunRow.status == "succeeded",
                                              RunRow.window_end_ms > to_epoch_ms(since))
                         .order_by(RunRow.window_end_ms)).all()
        s.expunge_all()
    return list(rows)


def _reproduce_all(runs: list[RunRow]) -> Counter:
    why: Counter = Counter()
    for run in runs:
        report = reproduce(run.id)
        assert report.identical, (run.window_end_ms, report)
        assert report.model_hash_matches and report.max_abs_score_diff in (None, 0.0)
        why.update(run.provenance["streams"]["why_started"])
    return why


def test_runs_continued_from_stored_states_score_as_the_context_path_over_a_day(db_url, lake, monkeypatch):
    monkeypatch.setenv("ADMON_MAX_CONTEXT_BUCKETS", "480")  # 8 h of context: the anchor moves every 2 h
    assert _cut(lake, "2022-05-11", "2022-05-11T05:10:00Z", "2022-05-11T05:50:00Z") > 0  # every host
    assert _cut(lake, "2022-05-11", "2022-05-11T06:30:00Z", "2022-05-11T09:00:00Z", "monit-xrootd-002") > 0
    entity = make_entity(interval=60, slide=15)
    first = _train(lake, {})

    morning = backfill(entity.id, "2022-05-11T00:00:00Z", "2022-05-11T12:00:00Z")
    assert morning.succeeded == morning.windows >= 44 and morning.failed == 0
    runs = _runs(entity.id, "2022-05-11T00:00:00Z")
    continued = sum(r.provenance["streams"]["continued"] for r in runs)
    started = sum(r.provenance["streams"]["started"] for r in runs)
    assert continued > 4 * started  # the state path did the work
    assert all(r.model_sha256 == first for r in runs)
    why = _reproduce_all(runs)
    assert set(why) == {"no state", "new anchor"}, why

    second = _train(lake, {"history": 300, "event_minutes": 240.0})  # a new version: states of the old one are void
    assert second != first
    # the scheduler was down from 14:00 to 22:00: more than the chain's rows were missed
    for start, end in [("2022-05-11T12:00:00Z", "2022-05-11T14:00:00Z"), ("2022-05-11T22:00:00Z", "2022-05-12T00:00:00Z")]:
        evening = backfill(entity.id, start, end)
        assert evening.succeeded == evening.windows >= 4
    later = _runs(entity.id, "2022-05-11T12:00:00Z")
    assert all(r.model_sha256 == second for r in later)
    assert later[0].provenance["streams"]["why_started"] == {"no state": 3}
    after_the_hole = next(r for r in later if r.window_end_ms > to_epoch_ms("2022-05-11T22:00:00Z"))
    assert after_the_hole.provenance["streams"]["why_started"] == {"missed windows": 3}
    _reproduce_all(later)
    with session_scope() as s:
        rows, size = registry_states.size(s, entity.id)
    assert rows == 3 and size > 0  # one state per host, of the second model only


def test_without_the_store_every_run_takes_the_context_path_with_the_same_scores(db_url, lake, monkeypatch):
    monkeypatch.setenv("ADMON_MAX_CONTEXT_BUCKETS", "480")
    entity = make_entity(interval=60, slide=15)
    _train(lake, {})
    monkeypatch.setenv("ADMON_DETECTOR_STATE", "false")
    assert backfill(entity.id, "2022-05-11T00:00:00Z", "2022-05-11T03:00:00Z").succeeded == 9
    runs = _runs(entity.id, "2022-05-11T00:00:00Z")
    assert all(r.provenance["streams"]["continued"] == 0 for r in runs)
    with session_scope() as s:
        assert registry_states.size(s, entity.id) == (0, 0)
    monkeypatch.setenv("ADMON_DETECTOR_STATE", "true")
    digests = {r.window_end_ms: r.scores_hash for r in runs}
    assert _reproduce_all(runs) == Counter({"no state": 3 * 9})
    assert all(digests[r.window_end_ms] == r.scores_hash for r in runs)


def test_a_damaged_or_foreign_state_is_an_error_not_a_wrong_score():
    import numpy as np

    from admon.runs.state import MAGIC, pack, unpack

    good = pack({"a": np.arange(5.0), "n": np.array([3], dtype=np.int64)})
    assert unpack(good)["a"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    header = b'[["x","|O",[1]]]'  # an object array: what a pickle would smuggle in
    foreign = MAGIC + len(header).to_bytes(4, "little") + header + b"x" * 8
    for bad in [b"\x80\x04pickle", good[:-3], good[:12] + b"{x" + good[14:], foreign]:
        with pytest.raises(ValueError, match="detector state|states hold"):
            unpack(bad)
    with pytest.raises(TypeError, match="states hold"):
        pack({"objects": np.array([{"a": 1}], dtype=object)})


def test_late_data_drops_the_states_and_the_re_runs_start_their_streams_again(db_url, lake, monkeypatch):
    monkeypatch.setenv("ADMON_MAX_CONTEXT_BUCKETS", "480")
    entity = make_entity(interval=60, slide=15)
    _train(lake, {})
    assert backfill(entity.id, "2022-05-11T00:00:00Z", "2022-05-11T03:00:00Z").succeeded == 9
    # documents of an hour already scored change (a collector re-sent corrected values)
    path = lake / "collectd" / "raw" / "monitoring" / "2022" / "05" / "11" / "part-00000.json"
    lo, hi = to_epoch_ms("2022-05-11T01:40:00Z"), to_epoch_ms("2022-05-11T01:50:00Z")
    lines = []
    for line in path.read_text().splitlines():
        doc = json.loads(line)
        if lo <= doc["metadata"]["timestamp"] < hi and doc["metadata"]["host"] == "monit-xrootd-001":
            doc["data"]["value"] *= 3.0
        lines.append(json.dumps(doc))
    path.write_text("\n".join(lines) + "\n")
    again = backfill(entity.id, "2022-05-11T00:00:00Z", "2022-05-11T03:00:00Z")
    assert sorted(again.late.reopened) and again.succeeded == len(again.late.reopened)
    reruns = [r for r in _runs(entity.id, "2022-05-11T00:00:00Z") if r.revision == 2]
    assert len(reruns) == len(again.late.reopened)
    assert reruns[0].provenance["streams"]["why_started"] == {"no state": 3}  # dropped, not continued from stale streams
    _reproduce_all(reruns)


def test_an_ewma_model_carries_its_state_too(db_url, lake, monkeypatch):
    monkeypatch.setenv("ADMON_MAX_CONTEXT_BUCKETS", "480")
    entity = make_entity(interval=60, slide=15)
    _train(lake, {"alpha": 0.05, "aggregate": "mean"}, detector="ewma")
    assert _cut(lake, "2022-05-11", "2022-05-11T01:10:00Z", "2022-05-11T01:40:00Z") > 0
    assert backfill(entity.id, "2022-05-11T00:00:00Z", "2022-05-11T04:00:00Z").succeeded == 13
    runs = _runs(entity.id, "2022-05-11T00:00:00Z")
    continued = sum(r.provenance["streams"]["continued"] for r in runs)
    started = sum(r.provenance["streams"]["started"] for r in runs)
    assert continued > started  # its anchor moves every ~35 minutes: a lookback of 137 buckets
    assert set(_reproduce_all(runs)) == {"no state", "new anchor"}


def test_a_forecaster_model_carries_its_state_too(db_url, lake, monkeypatch):
    """The LSTM's state is its last ``window`` scaled rows, scored row by row (not by a BLAS
    product, whose rounding follows the batch): runs that score three new rows give the bits
    of the context path, which scores every row from the anchor."""
    entity = make_entity(interval=60, slide=15)
    _train(lake, {"window": 12, "hidden": 8, "epochs": 2}, detector="lstm_forecaster")
    assert _cut(lake, "2022-05-11", "2022-05-11T01:10:00Z", "2022-05-11T01:40:00Z") > 0
    assert backfill(entity.id, "2022-05-11T00:00:00Z", "2022-05-11T05:00:00Z").succeeded == 17
    runs = _runs(entity.id, "2022-05-11T00:00:00Z")
    continued = sum(r.provenance["streams"]["continued"] for r in runs)
    started = sum(r.provenance["streams"]["started"] for r in runs)
    # a lookback of 12 rows: the anchor moves every MIN_ANCHOR_PERIOD_MS (2 h), not every slide
    assert continued > 3 * started
    assert set(_reproduce_all(runs)) == {"no state", "new anchor"}


def test_a_foundation_model_carries_its_state_too(db_url, lake, monkeypatch):
    """The pretrained forecaster's streams (its causal scale's window and the network's
    per-block queues) continue from run to run with the bits of the context path."""
    entity = make_entity(interval=60, slide=15)
    _train(lake, {}, detector="foundation")
    assert backfill(entity.id, "2022-05-11T00:00:00Z", "2022-05-11T03:00:00Z").succeeded == 9
    runs = _runs(entity.id, "2022-05-11T00:00:00Z")
    continued = sum(r.provenance["streams"]["continued"] for r in runs)
    assert continued >= 3 * 7  # every run after the first continues each host (the anchor moves every 4 h)
    assert set(_reproduce_all(runs)) <= {"no state", "new anchor"}


def test_a_run_recorded_before_streams_is_reproduced_from_its_recorded_context(db_url, lake, monkeypatch):
    """Runs of a default model recorded by an admon without streams (no ``streams`` in their
    provenance) read their whole lookback: ``reproduce`` scores them that way, not as streams."""
    from admon.runs import detect

    monkeypatch.setenv("ADMON_MAX_CONTEXT_BUCKETS", "480")
    entity = make_entity(interval=60, slide=15)
    _train(lake, {})
    with monkeypatch.context() as old_admon:
        old_admon.setattr(detect, "stream_detector", lambda model: None)
        assert backfill(entity.id, "2022-05-11T00:00:00Z", "2022-05-11T01:30:00Z").succeeded == 3
    runs = _runs(entity.id, "2022-05-11T00:00:00Z")
    assert all("streams" not in r.provenance for r in runs)
    for run in runs:
        assert reproduce(run.id).identical
