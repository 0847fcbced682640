"""A forecast entity's page (issue 17, part 3): history, forecast and band, the rule's threshold
and the predicted episodes, from the documents of real runs (a generated FTS lake with one
transfer episode, a seasonal-naive forecaster, hourly runs backfilled around the episode)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

MIN = 60_000


def build_forecast_world(home: Path) -> tuple:
    """``(settings, entity id, token of a member, the lake's episode)``; the project is private."""
    from admon.data.source import DataSource
    from admon.forecast.actions import ThroughputRule
    from admon.forecast.fts_lake import fts_input_config, generate_fts_lake, read_episodes
    from admon.forecast.job import ForecastJobConfig
    from admon.registry import repository as registry
    from admon.registry.db import init_database, session_scope
    from admon.registry.schemas import EntityCreate, ProjectCreate
    from admon.runs.backfill import backfill
    from admon.runs.runner import Runner
    from admon.settings import load_settings

    generate_fts_lake(home / "lake", links=1, days=3, start="2022-05-10", seed=1, step_seconds=60)
    episode = read_episodes(home / "lake")[0]
    frame = DataSource(None, fts_input_config(300), lake_root=str(home / "lake")).read("2022-05-10", "2022-05-13")
    ts, value = frame["timestamp"], frame["throughput"]
    quiet = value[ts < episode["start_ms"] - 5 * MIN].max()
    busy = value[(ts >= episode["start_ms"] + 15 * MIN) & (ts < episode["end_ms"] - 15 * MIN)].min()
    rule = ThroughputRule(threshold=(quiet + busy) / 2, min_duration_minutes=30, webhook_url="http://127.0.0.1:9/hook")
    job = ForecastJobConfig(forecaster={"name": "seasonal_naive", "season": None}, interval_seconds=300,
                            horizon=12, rule=rule)
    settings = load_settings(database_url=f"sqlite:///{home / 'forecast.db'}", lake_root=str(home / "lake"),
                             model_store=str(home / "models"))
    init_database(settings.database_url)
    with session_scope(settings.database_url) as s:
        alice = registry.create_user(s, "alice")
        registry.add_member(s, alice.id, "noted")
        token = registry.create_api_token(s, alice.id, "test")[1]
        project = registry.create_project(s, ProjectCreate(title="NOTED", egroup="noted", is_private=True))
        entity_id = registry.create_entity(s, EntityCreate(
            project_id=project.id, title="FTS link CERN to BNL", interval_minutes=360, sliding_interval_minutes=30,
            input_data_config=fts_input_config(300), inference_model="fts-links", inference_namespace="noted",
            kind="forecast", job_config=job.model_dump(mode="json"))).id
    report = backfill(entity_id, episode["start_ms"] - 6 * 3_600_000, episode["end_ms"] + 3_600_000,
                      runner=Runner(settings))
    assert report.failed == 0 and report.succeeded > 5
    return settings, entity_id, token, episode, job


@pytest.fixture(scope="module")
def forecast_world(tmp_path_factory):
    return build_forecast_world(tmp_path_factory.mktemp("forecast"))


@pytest.fixture
def fclient(forecast_world):
    from fastapi.testclient import TestClient

    from admon.service.app import create_app

    with TestClient(create_app(forecast_world[0])) as client:
        yield client


def test_the_forecast_api_gives_history_forecast_threshold_and_the_predicted_episode(fclient, forecast_world):
    _, entity_id, token, episode, job = forecast_world
    body = fclient.get(f"/api/entities/{entity_id}/forecast", headers={"Authorization": f"Bearer {token}"}).json()
    assert body["group"] == {"source_se": episode["source_se"], "dest_se": episode["dest_se"]}
    assert len(body["history"]["timestamp"]) == 288 and body["threshold"] == job.rule.threshold
    fc = body["forecast"]
    assert len(fc["timestamp"]) > 12 and all(lo <= m <= hi for m, lo, hi in zip(fc["mean"], fc["lower"], fc["upper"],
                                                                                  strict=True))
    assert len(body["latest"]["timestamp"]) == 12 and body["latest"]["timestamp"][0] >= body["latest"]["window_end_ms"]
    # the predictions of successive runs are one episode, announced once, over the lake's episode
    announced = [e for e in body["episodes"] if e["announced"]]
    assert len(announced) == 1
    e = announced[0]
    assert e["start_ms"] < episode["end_ms"] and e["end_ms"] > episode["start_ms"]


def test_a_forecast_entity_opens_on_its_forecast_page(fclient, forecast_world):
    _, entity_id, token, _, _ = forecast_world
    auth = {"Authorization": f"Bearer {token}"}
    moved = fclient.get(f"/entities/{entity_id}?start=2022-05-11T00:00:00Z&end=2022-05-12T00:00:00Z", headers=auth,
                        follow_redirects=False)
    assert moved.status_code == 303
    assert moved.headers["location"] == (f"/entities/{entity_id}/forecast?start=2022-05-11T00:00:00Z"
                                         "&end=2022-05-12T00:00:00Z")
    page = fclient.get(f"/entities/{entity_id}/forecast", headers=auth).text
    assert 'id="forecast-plot"' in page and "/static/vendor/uplot/uPlot.iife.min.js" in page
    assert re.findall(r"<(?:script|link)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//", page) == []
    assert "<td>yes</td>" in page  # the announced episode


def test_the_forecast_page_is_private_and_only_for_forecast_entities(fclient, forecast_world, client, world):
    _, entity_id, _, _, _ = forecast_world
    assert fclient.get(f"/api/entities/{entity_id}/forecast").status_code == 404
    assert fclient.get(f"/entities/{entity_id}/forecast").status_code == 404
    other = client.get(f"/api/entities/{world.public_entity}/forecast")
    assert other.status_code == 422 and "not a forecast one" in other.json()["detail"]
