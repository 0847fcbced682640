"""A forecast entity (job kind ``forecast``) on the standard scheduler and runner.

Its notice is a document for the webhook sink, queued in the run's one commit with the
episode it opens (``action_episodes``) and POSTed through the outbox after that commit: a
run that lost its lease announces nothing, and a receiver down then up gets it once.
"""

from __future__ import annotations

import json
import socket

import pandas as pd
import pytest
from forecast_helpers import WebhookReceiver
from sqlalchemy import select, update

from admon.data.source import DataSource
from admon.errors import ConfigError
from admon.forecast.actions import ThroughputRule
from admon.forecast.fts_lake import fts_input_config, generate_fts_lake, read_episodes
from admon.forecast.job import ForecastJobConfig
from admon.forecast.scheduling import legacy_job_path
from admon.registry import repository as repo
from admon.registry.api import DetectionEntity, Project
from admon.registry.db import dispose_all, session_scope
from admon.registry.models import EntityRow, EpisodeRow, OutboxRow, RunRow
from admon.runs.reproduce import reproduce
from admon.runs.runner import Runner
from admon.runs.scheduler import Scheduler
from admon.settings import load_settings

MIN = 60_000
SLIDE = 10 * MIN


@pytest.fixture
def fts_lake(tmp_path, monkeypatch):
    root = tmp_path / "lake"
    monkeypatch.setenv("ADMON_LAKE_ROOT", str(root))
    generate_fts_lake(root, links=1, days=3, start="2022-05-10", seed=1, step_seconds=60)
    yield root
    dispose_all()


def episode_job(lake, webhook_url: str) -> tuple[ForecastJobConfig, dict]:
    """A job whose rule holds during the lake's (only) episode, and that episode."""
    episode = read_episodes(lake)[0]
    frame = DataSource(None, fts_input_config(300), lake_root=str(lake)).read("2022-05-10", "2022-05-13")
    ts = frame["timestamp"]
    quiet = frame["throughput"][ts < episode["start_ms"] - 5 * MIN].max()
    busy = frame["throughput"][(ts >= episode["start_ms"] + 15 * MIN) & (ts < episode["end_ms"] - 15 * MIN)].min()
    rule = ThroughputRule(threshold=(quiet + busy) / 2, min_duration_minutes=30, webhook_url=webhook_url)
    job = ForecastJobConfig(forecaster={"name": "seasonal_naive", "season": None}, interval_seconds=300,
                            horizon=12, rule=rule)
    return job, episode


def forecast_entity(job, schedule_from_ms: int, title: str = "FTS link throughput") -> DetectionEntity:
    project = Project.create(title=f"NOTED {title}", egroup="admon-dev")
    return DetectionEntity.create(
        project=project, title=title, interval_minutes=6 * 60, sliding_interval_minutes=10,
        input_data_config=fts_input_config(300), inference_model="fts-links", inference_namespace="noted",
        monit_producer="admon", monit_label={"admon_entity": "fts_forecast"},
        schedule_from_ms=schedule_from_ms, kind="forecast", job_config=job,
    )


def test_fts_forecast_entity_runs_on_the_scheduler_and_notifies_once(fts_lake, receiver, tmp_path, monkeypatch):
    monkeypatch.setenv("ADMON_SINKS", f"jsonl://{tmp_path / 'out'}")
    job, episode = episode_job(fts_lake, receiver.url)
    entity = forecast_entity(job, episode["start_ms"] // SLIDE * SLIDE - 60 * MIN)
    assert (entity.kind, entity.job_config) == ("forecast", job.model_dump(mode="json"))
    clock = {"now": episode["end_ms"] + 60 * MIN}
    scheduler = Scheduler(Runner(load_settings(max_catch_up_windows=500)), clock=lambda: clock["now"])
    report = scheduler.tick()
    assert report.executed > 20 and all(o.status == "succeeded" for o in report.outcomes), report.outcomes
    assert len(receiver.received) == 1
    notice = receiver.received[0]
    assert notice["type"] == "forecast_notice" and notice["entity_id"] == entity.id
    assert notice["link"] == {"source_se": "CERN-PROD", "dest_se": "BNL-ATLAS"}
    assert episode["start_ms"] <= notice["expected_start_ms"] <= episode["start_ms"] + 30 * MIN
    from admon.sinks.monit_http import idempotency_key

    assert receiver.headers[0]["Idempotency-Key"] == idempotency_key([notice["id"]])

    # What the sinks got: one forecast document per link and window, the announcing run marked.
    docs = [json.loads(line) for f in sorted((tmp_path / "out").rglob("*.jsonl")) for line in f.read_text().splitlines()]
    assert len(docs) == report.executed and {d["type"] for d in docs} == {"forecast_result"}
    announced = [d for d in docs if d["action"] is not None]
    assert len(announced) == 1 and announced[0]["action"]["notice_id"] == notice["id"]
    flagged = [d for d in docs if d["is_anomaly"]]
    assert flagged and all(d["predicted_episode"]["predicted_volume_bytes"] > 0 for d in flagged)
    assert all(len(d["forecast"]) == 12 and d["source_se"] == "CERN-PROD" for d in docs)
    with session_scope() as s:
        runs = repo.list_runs(s, entity.id)
        assert {r.status for r in runs} == {"succeeded"}
        assert sum(len(r.provenance["fired"]) for r in runs) == 1
        assert {r.provenance["kind"] for r in runs} == {"forecast"}
        assert s.scalars(select(EpisodeRow)).all() == [], "the episode closed once it cleared"

    # A restart later: the same windows are not run (nor announced) twice.
    clock["now"] += 5 * MIN
    again = Scheduler(Runner(load_settings(max_catch_up_windows=500)), clock=lambda: clock["now"]).tick()
    assert again.executed == 0 and len(receiver.received) == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_windows(runner: Runner, entity_id: int, window_ends: list[int], *, steal_before: int | None = None):
    """Run the windows in order with ``runner``; before window ``steal_before`` commits, another
    scheduler takes its lease (the runner's reader hands it over while the window computes)."""
    from admon.runs.scheduler import insert_runs, run_row

    spec = runner.entity(entity_id)
    insert_runs(runner, [run_row(spec, end, "scheduler", 0) for end in window_ends])
    outcomes = []
    for _ in window_ends:
        claim = runner.claim(entity_id=entity_id)
        if claim.window_end_ms == steal_before:
            read = runner.reader

            def stealing_reader(entity, start, end, _claim=claim, _read=read):
                with session_scope() as s:
                    s.execute(update(RunRow).where(RunRow.id == _claim.run_id).values(lease_owner="another"))
                return _read(entity, start, end)

            runner.reader = stealing_reader
            outcomes.append(runner.execute(claim))
            runner.reader = read
        else:
            outcomes.append(runner.execute(claim))
    return outcomes


def _window_ends_around(episode: dict) -> list[int]:
    first = episode["start_ms"] // SLIDE * SLIDE - 30 * MIN
    return list(range(first, episode["start_ms"] + 60 * MIN, SLIDE))


def test_a_run_that_lost_its_lease_announces_nothing(fts_lake, receiver, monkeypatch):
    monkeypatch.setenv("ADMON_SINKS", "")
    job, episode = episode_job(fts_lake, receiver.url)
    entity = forecast_entity(job, 0)
    runner = Runner(load_settings())
    ends = _window_ends_around(episode)
    # find the window that announces the episode: run them all on a throw-away entity first
    probe = forecast_entity(job, 0, title="probe")
    _run_windows(runner, probe.id, ends)
    with session_scope() as s:
        announcing = [r.window_end_ms for r in repo.list_runs(s, probe.id) if r.provenance["fired"]]
        s.execute(OutboxRow.__table__.delete())
    assert len(announcing) == 1

    # the windows up to the announcing one (a later one would announce the episode in its place)
    ends = [end for end in ends if end <= announcing[0]]
    outcomes = _run_windows(runner, entity.id, ends, steal_before=announcing[0])
    lost = [o for o in outcomes if o.window_end_ms == announcing[0]]
    assert [o.status for o in lost] == ["lost_lease"]
    runner.deliver()
    assert receiver.received == [], "the run that lost its lease must not have announced anything"
    with session_scope() as s:
        assert s.scalars(select(EpisodeRow).where(EpisodeRow.entity_id == entity.id)).all() == []
        assert s.scalars(select(OutboxRow)).all() == []

    # the window's new owner (its lease expired) runs it again: announced once, by that run
    with session_scope() as s:
        s.execute(update(RunRow).where(RunRow.entity_id == entity.id, RunRow.window_end_ms == announcing[0])
                  .values(status="pending", lease_owner=None, next_attempt_ms=0))
    claim = runner.claim(entity_id=entity.id)
    assert claim.window_end_ms == announcing[0] and runner.execute(claim).status == "succeeded"
    runner.deliver()
    assert len(receiver.received) == 1 and receiver.received[0]["entity_id"] == entity.id
    with session_scope() as s:
        assert [e.key for e in s.scalars(select(EpisodeRow).where(EpisodeRow.entity_id == entity.id))] == [
            "source_se=CERN-PROD|dest_se=BNL-ATLAS"]


def test_a_webhook_down_then_up_receives_each_notice_exactly_once(fts_lake, monkeypatch):
    monkeypatch.setenv("ADMON_SINKS", "")
    monkeypatch.setenv("ADMON_SINK_RETRY_BACKOFF_SECONDS", "0.01")
    port = _free_port()  # nobody listens there yet: the receiver is down
    job, episode = episode_job(fts_lake, f"http://127.0.0.1:{port}/hook")
    entities = [forecast_entity(job, 0, title=f"link {i}") for i in range(2)]  # two notices
    runner = Runner(load_settings())
    for entity in entities:
        _run_windows(runner, entity.id, _window_ends_around(episode))
    report = runner.deliver()
    assert report.delivered == 0 and report.failed_batches >= 1
    with session_scope() as s:
        pending = s.scalars(select(OutboxRow)).all()
        assert len(pending) == 2 and all(r.sink == f"webhook:http://127.0.0.1:{port}/hook" for r in pending)

    receiver = WebhookReceiver(port)  # up
    try:
        delivered = 0
        for _ in range(50):  # until the backoff has passed
            delivered += runner.deliver().delivered
            if delivered == 2:
                break
        assert delivered == 2
        assert runner.deliver().delivered == 0
        assert sorted(n["entity_id"] for n in receiver.received) == sorted(e.id for e in entities)
        assert len({n["id"] for n in receiver.received}) == 2
    finally:
        receiver.close()


def test_a_forecast_window_without_input_is_no_data(fts_lake, receiver):
    job, _ = episode_job(fts_lake, receiver.url)
    entity = forecast_entity(job, 0)
    runner = Runner(load_settings())
    after = pd.Timestamp("2022-06-01").value // 10**6  # the lake ends on 2022-05-13
    outcomes = _run_windows(runner, entity.id, [after])
    assert [o.status for o in outcomes] == ["no_data"]


def test_a_forecast_run_reproduces(fts_lake, receiver):
    job, episode = episode_job(fts_lake, receiver.url)
    entity = forecast_entity(job, 0)
    runner = Runner(load_settings())
    outcomes = _run_windows(runner, entity.id, [episode["start_ms"] // SLIDE * SLIDE])
    assert [o.status for o in outcomes] == ["succeeded"]
    report = reproduce(outcomes[0].run_id)
    assert report.identical, report.summary()
    assert report.kind == "forecast" and report.rows_now == report.rows_recorded > 0
    assert "forecast result IDENTICAL" in report.summary()
    assert receiver.received == [], "reproducing sends nothing"


def test_a_job_config_of_the_first_cut_moves_from_the_model_store_at_first_run(fts_lake, tmp_path, receiver):
    job, episode = episode_job(fts_lake, receiver.url)
    entity = forecast_entity(job, 0)
    with session_scope() as s:  # as migration 0005 leaves an entity of the first cut
        s.execute(update(EntityRow).where(EntityRow.id == entity.id).values(job_config=None))
    runner = Runner(load_settings())
    end = episode["start_ms"] // SLIDE * SLIDE
    first = _run_windows(runner, entity.id, [end])
    assert first[0].status == "retrying"
    with session_scope() as s:
        error = s.get(RunRow, first[0].run_id).error
    path = legacy_job_path("fts-links", load_settings().model_store)
    assert "no forecast job 'fts-links'" in error and path in error

    legacy = {**job.model_dump(mode="json"), "state_path": ".admon/forecast_actions.sqlite"}
    import fsspec

    fs, inner = fsspec.core.url_to_fs(path)
    fs.makedirs(inner.rsplit("/", 1)[0], exist_ok=True)
    with fs.open(inner, "w") as fh:
        fh.write(json.dumps(legacy))
    runner = Runner(load_settings())
    with session_scope() as s:
        s.execute(update(RunRow).where(RunRow.id == first[0].run_id).values(next_attempt_ms=0))
    claim = runner.claim(entity_id=entity.id)
    assert runner.execute(claim).status == "succeeded"
    assert DetectionEntity.get(entity.id).job_config == job.model_dump(mode="json")


def test_entity_creation_validates_the_job_config_by_its_kind(fts_lake):
    project = Project.create(title="NOTED", egroup="admon-dev")
    common = dict(project=project, interval_minutes=60, sliding_interval_minutes=10,
                  input_data_config=fts_input_config(300), inference_model="m", inference_namespace="forecast")
    with pytest.raises(ConfigError, match="a forecast entity needs a job_config"):
        DetectionEntity.create(title="a", kind="forecast", **common)
    with pytest.raises(ConfigError, match="horizon"):
        DetectionEntity.create(title="b", kind="forecast", job_config={"horizon": 0}, **common)
    with pytest.raises(ConfigError, match="unknown job kind 'nope'"):
        DetectionEntity.create(title="c", kind="nope", **common)
    with pytest.raises(ConfigError, match="takes no job_config"):
        DetectionEntity.create(title="d", job_config={"horizon": 3}, **common)
    # the namespace chooses nothing: an entity without a kind is a detect entity
    assert DetectionEntity.create(title="e", **common).kind == "detect"
