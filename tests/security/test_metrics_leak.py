"""``/metrics`` does not show a private project's entities to whoever asks.

Run counters are labelled by entity id, never by title. A private entity's series (run counters,
the registry's health gauges and its result gauges, which carry its group keys and monit labels)
appear only to a scraper that presents ``ADMON_METRICS_TOKEN``; with that setting, ``/metrics``
needs it.
The service's ``/metrics`` and the scheduler's metrics server follow the same rule.
"""

from __future__ import annotations

import socket

import httpx
import pytest
from fastapi.testclient import TestClient

from admon.service.app import create_app
from admon.settings import load_settings
from admon.sinks import prometheus as prom
from tests.service.conftest import World, build_world

METRICS_TOKEN = "metrics-scraper-7f3a9c1e2b4d"
# titles and monit labels of the world's entities (tests/service/conftest.py: build_world)
PRIVATE_MARKS = ("Secret xrootd", 'admon_entity="secret"')
PUBLIC_MARKS = ("Public xrootd", 'admon_entity="public"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def world(tmp_path) -> World:
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'metrics.db'}", sinks="prometheus",
                             lake_root=str(tmp_path), model_store=str(tmp_path / "models"))
    world = build_world(settings)  # results and runs of both entities in the registry
    for entity_id in (world.public_entity, world.private_entity):
        prom.record_run(entity_id, "succeeded", 1.5)
    return world


REGISTRY_FAMILIES = ("admon_runs_total", "admon_anomaly_score", "admon_entity_runs",
                     "admon_entity_last_success_timestamp_seconds", "admon_entity_last_data_timestamp_seconds")


def _series(text: str, entity_id: int) -> list[str]:
    return [line for line in text.splitlines()
            if not line.startswith("#") and f'entity_id="{entity_id}"' in line]


def assert_public_only(text: str, world: World) -> None:
    for mark in PRIVATE_MARKS:
        assert mark not in text, mark
    assert _series(text, world.private_entity) == []
    for mark in PUBLIC_MARKS:
        assert mark in text, mark
    public = _series(text, world.public_entity)
    for family in REGISTRY_FAMILIES:
        assert any(line.startswith(family + "{") for line in public), (family, public)


def assert_everything(text: str, world: World) -> None:
    for mark in PRIVATE_MARKS + PUBLIC_MARKS:
        assert mark in text, mark
    private = _series(text, world.private_entity)
    for family in REGISTRY_FAMILIES:
        assert any(line.startswith(family + "{") for line in private), (family, private)


def test_run_counters_are_labelled_by_entity_id_not_title(world):
    text = prom.exposition().decode()
    runs = [line for line in text.splitlines() if line.startswith("admon_runs_total{")]
    assert runs and all("entity=" not in line.replace("entity_id=", "") for line in runs), runs
    assert f'admon_runs_total{{entity_id="{world.private_entity}",status="succeeded"}}' in text


def test_service_metrics_without_a_token_setting_hide_private_entities(world):
    with TestClient(create_app(world.settings)) as client:
        for headers in ({}, world.auth("bob"), {"Authorization": f"Bearer {METRICS_TOKEN}"}):
            r = client.get("/metrics", headers=headers)
            assert r.status_code == 200, r.text
            assert_public_only(r.text, world)
        # a member's API token is not a scraper credential either: the rule is the same for all
        assert_public_only(client.get("/metrics", headers=world.auth("alice")).text, world)


def test_service_metrics_with_a_token_setting_need_it_and_then_show_everything(world):
    settings = world.settings.model_copy(update={"metrics_token": load_settings(
        metrics_token=METRICS_TOKEN).metrics_token})
    with TestClient(create_app(settings)) as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, world.auth("root"),
                        {"Authorization": METRICS_TOKEN}):
            r = client.get("/metrics", headers=headers)
            assert r.status_code == 401, (headers, r.text)
            assert "ADMON_METRICS_TOKEN" in r.json()["detail"]
            assert not any(mark in r.text for mark in PRIVATE_MARKS + PUBLIC_MARKS)
        r = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert r.status_code == 200
        assert_everything(r.text, world)


def test_the_scheduler_metrics_server_follows_the_same_rule(world, monkeypatch):
    monkeypatch.setenv("ADMON_DATABASE_URL", world.settings.database_url)
    monkeypatch.setenv("ADMON_SINKS", "prometheus")
    port = free_port()
    server, _ = prom.serve(port)
    try:
        r = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert r.status_code == 200
        assert_public_only(r.text, world)
    finally:
        server.shutdown()
        server.server_close()

    monkeypatch.setenv("ADMON_METRICS_TOKEN", METRICS_TOKEN)
    port = free_port()
    server, _ = prom.serve(port)
    try:
        r = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert r.status_code == 401 and not any(m in r.text for m in PRIVATE_MARKS + PUBLIC_MARKS)
        r = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10,
                      headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert r.status_code == 200
        assert_everything(r.text, world)
    finally:
        server.shutdown()
        server.server_close()


def test_a_short_metrics_token_is_refused_at_start_up():
    from admon.errors import ConfigError

    with pytest.raises(ConfigError, match="ADMON_METRICS_TOKEN"):
        load_settings(metrics_token="short")
