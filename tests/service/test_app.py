"""The app as a whole: OpenAPI docs, metrics, the embedded scheduler, settings that fail fast."""

from __future__ import annotations

import time

import pytest

from admon.errors import ConfigError


def test_openapi_lists_every_endpoint_of_the_issue(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/projects", "/api/projects/{project_id}", "/api/entities", "/api/entities/{entity_id}",
                 "/api/entities/{entity_id}/runs", "/api/entities/{entity_id}/results",
                 "/api/entities/{entity_id}/annotations", "/api/models"):
        assert path in paths, path
    assert client.get("/v2/health/live").json() == {"live": True}  # admon.models.serving is mounted
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_docs_work_offline(client):
    page = client.get("/docs").text
    assert "cdn." not in page and "/static/swagger-ui/swagger-ui-bundle.js" in page
    js = client.get("/static/swagger-ui/swagger-ui-bundle.js")
    assert js.status_code == 200 and len(js.content) > 500_000
    assert client.get("/static/swagger-ui/swagger-ui.css").status_code == 200
    assert client.get("/static/app.css").status_code == 200  # the UI's own assets are still served


def test_health_and_metrics(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")


def test_runs_carry_status_and_stage_timings(world, client):
    runs = client.get(f"/api/entities/{world.public_entity}/runs").json()
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"]
    assert runs[0]["window_end_ms"] > runs[1]["window_end_ms"]  # newest first
    assert runs[0]["timings"] == {"read": 0.8, "transform": 0.1, "model": 0.4, "export": 0.2}
    assert len(client.get(f"/api/entities/{world.public_entity}/runs?limit=1").json()) == 1
    assert client.get(f"/api/entities/{world.public_entity}/runs?limit=0").status_code == 422


def test_a_bad_database_url_fails_at_start(tmp_path):
    from admon.service.app import create_app
    from admon.settings import load_settings

    with pytest.raises(ConfigError, match="not a database URL"):
        create_app(load_settings(database_url="not a url", lake_root=str(tmp_path)))


def test_the_embedded_scheduler_runs_in_the_service_process(world, client):
    from fastapi.testclient import TestClient

    from admon.service.app import create_app
    from admon.timeutil import MS_PER_DAY, now_ms

    settings = world.settings.model_copy(update={"scheduler_poll_seconds": 0.2, "max_catch_up_windows": 2})
    body = {"project_id": world.public_project, "title": "scheduled", "interval_minutes": 60,
            "sliding_interval_minutes": 60, "inference_model": "none", "inference_namespace": "ns",
            "schedule_from_ms": now_ms() - MS_PER_DAY,
            "input_data_config": {"source_configs": [{"producer": "collectd", "type_prefix": "raw",
                                                      "type": "monitoring",
                                                      "select": ["timestamp", "value", "host"]}],
                                  "agg_interval_seconds": 300, "group_by": ["host"]}}
    entity = client.post("/api/entities", json=body, headers=world.auth("alice")).json()["id"]
    with TestClient(create_app(settings, scheduler=True)) as served:
        deadline = time.monotonic() + 30
        runs = []
        while time.monotonic() < deadline and not runs:
            runs = served.get(f"/api/entities/{entity}/runs").json()
            time.sleep(0.2)
    assert runs and {r["trigger"] for r in runs} == {"scheduler"}
    # without the scheduler, nothing is planned
    with TestClient(create_app(world.settings)) as idle:
        assert idle.app.state.scheduler_enabled is False


def test_cached_results_follow_new_runs_and_never_skip_access_control(world, client):
    from admon.registry.db import session_scope
    from admon.registry.models import ResultRow, RunRow

    e = world.private_entity
    url = f"/api/entities/{e}/results?start=1652140800000&end=1652313600000"
    first = client.get(url, headers=world.auth("alice")).json()
    assert client.get(url, headers=world.auth("alice")).json() == first  # served from the cache
    assert client.get(url, headers=world.auth("bob")).status_code == 404  # the cache is behind access
    assert client.get(url).status_code == 404
    end = 1652227200000 + 3_600_000
    with session_scope(world.settings.database_url) as s:
        run = RunRow(entity_id=e, window_start_ms=1652227200000, window_end_ms=end, status="succeeded",
                     attempts=1, next_attempt_ms=0, trigger="manual", created_ms=end, started_ms=end,
                     finished_ms=end + 10)
        s.add(run)
        s.flush()
        s.add(ResultRow(id="new-result", run_id=run.id, entity_id=e, window_end_ms=end,
                        group_key={"host": "monit-xrootd-000"}, timestamp_ms=1652227200000,
                        anomaly_score=2.0, is_anomaly=False, threshold=5.0, document={}))
    second = client.get(url, headers=world.auth("alice")).json()
    assert len(second) == len(first) + 1 and second[-1]["id"] == "new-result"


def test_the_run_history_stacks_stages_and_leaves_the_total_out():
    from types import SimpleNamespace

    from admon.service.routes.ui import _run_history

    run = SimpleNamespace(id=1, window_start_ms=0, window_end_ms=3_600_000, status="succeeded",
                          timings={"read_s": 0.3, "score_s": 0.1, "write_s": 0.05, "total_s": 0.5},
                          started_ms=1000, finished_ms=1600)
    view = _run_history([run])
    assert view["stages"] == ["read_s", "score_s", "write_s"]
    assert view["runs"][0]["stages"] == [0.3, 0.1, 0.05] and view["runs"][0]["total"] == 0.5



def test_the_entity_page_links_to_its_labelling_queue(world, client):
    page = client.get(f"/entities/{world.public_entity}").text
    assert f'href="/entities/{world.public_entity}/queue"' in page
