"""POST/PATCH /api/entities take a job kind and its job_config, validated by the kind."""

from __future__ import annotations


def _body(world, **extra):
    return {"project_id": world.public_project, "title": "links", "interval_minutes": 60,
            "sliding_interval_minutes": 10, "inference_model": "fts-links", "inference_namespace": "noted",
            "input_data_config": {"source_configs": [{"producer": "fts", "type_prefix": "raw",
                                                      "type": "transfers",
                                                      "select": ["timestamp", "throughput", "source_se",
                                                                 "dest_se"]}],
                                  "agg_interval_seconds": 300, "group_by": ["source_se", "dest_se"]},
            **extra}


def test_a_forecast_entity_is_created_with_its_job_config(world, client):
    job = {"forecaster": {"name": "seasonal_naive", "season": None}, "horizon": 6}
    r = client.post("/api/entities", json=_body(world, kind="forecast", job_config=job),
                    headers=world.auth("alice"))
    assert r.status_code in (200, 201), r.text
    entity = r.json()
    assert entity["kind"] == "forecast" and entity["job_config"]["horizon"] == 6
    assert entity["job_config"]["interval_seconds"] == 300  # stored as the kind validated it

    r = client.patch(f"/api/entities/{entity['id']}", json={"job_config": {"horizon": 3}},
                     headers=world.auth("alice"))
    assert r.status_code == 422 and "give kind with it" in r.text
    r = client.patch(f"/api/entities/{entity['id']}", json={"kind": "forecast", "job_config": {"horizon": 3}},
                     headers=world.auth("alice"))
    assert r.status_code == 200 and r.json()["job_config"]["horizon"] == 3


def test_a_bad_job_config_or_kind_is_a_422_naming_it(world, client):
    for extra, needle in [({"kind": "forecast"}, "needs a job_config"),
                          ({"kind": "forecast", "job_config": {"horizon": 0}}, "horizon"),
                          ({"kind": "nope"}, "unknown job kind 'nope'"),
                          ({"job_config": {"horizon": 3}}, "takes no job_config")]:
        r = client.post("/api/entities", json=_body(world, **extra), headers=world.auth("alice"))
        assert r.status_code == 422 and needle in r.text, (extra, r.text)
    r = client.post("/api/entities", json=_body(world), headers=world.auth("alice"))
    assert r.status_code in (200, 201) and r.json()["kind"] == "detect" and r.json()["job_config"] is None
