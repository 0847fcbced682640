"""Query sources of entities made through the web service read only servers the operator
configured: any other URL would make the scheduler fetch what an API user names (SSRF)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from admon.service.app import create_app
from tests.service.conftest import World

METADATA = "http://169.254.169.254"


def entity_body(world: World, source: dict) -> dict:
    return {"project_id": world.public_project, "title": "prom", "interval_minutes": 60,
            "sliding_interval_minutes": 15, "inference_model": "m", "inference_namespace": "ns",
            "input_data_config": {"source_configs": [source], "agg_interval_seconds": 300}}


def client_with(world: World, **settings: str) -> TestClient:
    return TestClient(create_app(world.settings.model_copy(update=settings)))


@pytest.mark.parametrize("url", [METADATA, "http://127.0.0.1:9090", "http://prometheus:9090.evil.example"])
def test_a_source_on_a_server_nobody_configured_is_refused_and_nothing_is_stored(world, url):
    with client_with(world, prometheus_url="http://prometheus:9090") as client:
        before = len(client.get("/api/entities", headers=world.auth("alice")).json())
        r = client.post("/api/entities", headers=world.auth("alice"),
                        json=entity_body(world, {"kind": "prometheus", "query": "up", "url": url}))
        assert r.status_code == 422, r.text
        assert url.rstrip("/") in r.json()["detail"] and "ADMON_SOURCE_URLS" in r.json()["detail"]
        assert len(client.get("/api/entities", headers=world.auth("alice")).json()) == before


def test_configured_servers_and_the_kinds_setting_are_allowed(world):
    with client_with(world, prometheus_url="http://prometheus:9090", source_urls="http://thanos:10902") as client:
        for n, source in enumerate([{"kind": "prometheus", "query": "up"},
                                    {"kind": "prometheus", "query": "up", "url": "http://prometheus:9090/"},
                                    {"kind": "prometheus", "query": "up", "url": "http://thanos:10902"}]):
            body = entity_body(world, source) | {"title": f"prom {n}"}
            r = client.post("/api/entities", headers=world.auth("alice"), json=body)
            assert r.status_code == 201, r.text
        entity_id = r.json()["id"]
        patch = {"input_data_config": body["input_data_config"] | {
            "source_configs": [{"kind": "prometheus", "query": "up", "url": METADATA}]}}
        r = client.patch(f"/api/entities/{entity_id}", headers=world.auth("alice"), json=patch)
        assert r.status_code == 422 and METADATA in r.json()["detail"]
