"""An FTS forecast entity on the standard scheduler fires its webhook once for a generated episode."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from admon.data.source import DataSource
from admon.errors import NotFoundError
from admon.forecast.actions import ThroughputRule
from admon.forecast.fts_lake import fts_input_config, generate_fts_lake, read_episodes
from admon.forecast.job import ForecastJobConfig
from admon.forecast.scheduling import load_forecast_job, save_forecast_job
from admon.registry import repository as repo
from admon.registry.api import DetectionEntity, Project
from admon.registry.db import dispose_all, session_scope
from admon.registry.models import RunRow
from admon.runs.runner import Runner
from admon.runs.scheduler import Scheduler
from admon.settings import load_settings

MIN = 60_000


@pytest.fixture
def fts_lake(tmp_path, monkeypatch):
    root = tmp_path / "lake"
    monkeypatch.setenv("ADMON_LAKE_ROOT", str(root))
    generate_fts_lake(root, links=1, days=3, start="2022-05-10", seed=1, step_seconds=60)
    yield root
    dispose_all()


def test_fts_forecast_entity_runs_on_the_scheduler_and_fires_once(fts_lake, receiver, tmp_path, monkeypatch):
    monkeypatch.setenv("ADMON_SINKS", f"jsonl://{tmp_path / 'out'}")
    episode = read_episodes(fts_lake)[0]
    idc = fts_input_config(300)
    frame = DataSource(None, idc, lake_root=str(fts_lake)).read("2022-05-10", "2022-05-13")
    ts = frame["timestamp"]
    quiet = frame["throughput"][ts < episode["start_ms"] - 5 * MIN].max()
    busy = frame["throughput"][(ts >= episode["start_ms"] + 15 * MIN) & (ts < episode["end_ms"] - 15 * MIN)].min()
    rule = ThroughputRule(threshold=(quiet + busy) / 2, min_duration_minutes=30, webhook_url=receiver.url)
    job = ForecastJobConfig(forecaster={"name": "seasonal_naive", "season": None}, interval_seconds=300,
                            horizon=12, rule=rule, state_path=str(tmp_path / "actions.sqlite"))
    save_forecast_job("fts-links", job)
    assert load_forecast_job("fts-links") == job

    project = Project.create(title="NOTED", egroup="admon-dev")
    entity = DetectionEntity.create(
        project=project, title="FTS link throughput", interval_minutes=6 * 60, sliding_interval_minutes=10,
        input_data_config=idc, inference_model="fts-links", inference_namespace="forecast",
        monit_producer="admon", monit_label={"admon_entity": "fts_forecast"},
        schedule_from_ms=episode["start_ms"] // (10 * MIN) * (10 * MIN) - 60 * MIN,
    )
    clock = {"now": episode["end_ms"] + 60 * MIN}
    scheduler = Scheduler(Runner(load_settings(max_catch_up_windows=500)), clock=lambda: clock["now"])
    report = scheduler.tick()
    assert report.executed > 20 and all(o.status == "succeeded" for o in report.outcomes), report.outcomes
    assert len(receiver.received) == 1
    notice = receiver.received[0]
    assert notice["link"] == {"source_se": "CERN-PROD", "dest_se": "BNL-ATLAS"}
    assert episode["start_ms"] <= notice["expected_start_ms"] <= episode["start_ms"] + 30 * MIN

    # What the sinks got: one forecast document per link and window, the firing run marked.
    docs = [json.loads(line) for f in sorted((tmp_path / "out").rglob("*.jsonl")) for line in f.read_text().splitlines()]
    assert len(docs) == report.executed and {d["type"] for d in docs} == {"forecast_result"}
    assert sum(d["action"] is not None for d in docs) == 1
    flagged = [d for d in docs if d["is_anomaly"]]
    assert flagged and all(d["predicted_episode"]["predicted_volume_bytes"] > 0 for d in flagged)
    assert all(len(d["forecast"]) == 12 and d["source_se"] == "CERN-PROD" for d in docs)
    with session_scope() as s:
        runs = repo.list_runs(s, entity.id)
        assert {r.status for r in runs} == {"succeeded"}
        assert sum(len(r.provenance["fired"]) for r in runs) == 1

    # A restart later: the same windows are not run (nor announced) twice.
    clock["now"] += 5 * MIN
    again = Scheduler(Runner(load_settings(max_catch_up_windows=500)), clock=lambda: clock["now"]).tick()
    assert again.executed == 0 and len(receiver.received) == 1


def test_a_missing_job_config_fails_the_run_clearly(fts_lake):
    project = Project.create(title="NOTED", egroup="admon-dev")
    DetectionEntity.create(
        project=project, title="no job", interval_minutes=60, sliding_interval_minutes=10,
        input_data_config=fts_input_config(300), inference_model="nope", inference_namespace="forecast",
        schedule_from_ms=pd.Timestamp("2022-05-11").value // 10**6,
    )
    clock = pd.Timestamp("2022-05-11 00:10").value // 10**6
    report = Scheduler(Runner(load_settings()), clock=lambda: clock).tick()
    assert report.outcomes and all(o.status != "succeeded" for o in report.outcomes)
    with session_scope() as s:
        run = s.get(RunRow, report.outcomes[0].run_id)
        assert "no forecast job 'nope'" in run.error
    with pytest.raises(NotFoundError):
        load_forecast_job("nope")
