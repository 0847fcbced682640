"""The service on PostgreSQL (the production database): the same world, the same answers."""

from __future__ import annotations

import pytest

from tests.conftest_servers import postgres_server, postgres_url  # noqa: F401

DAY0 = 1652140800000


@pytest.fixture
def pg_client(postgres_url, lake_root, tmp_path):  # noqa: F811
    from fastapi.testclient import TestClient

    from admon.service.app import create_app
    from admon.settings import load_settings
    from tests.service.conftest import build_world

    world = build_world(load_settings(database_url=postgres_url, lake_root=lake_root,
                                      model_store=str(tmp_path / "models")))
    with TestClient(create_app(world.settings)) as client:
        yield world, client


def test_reads_writes_and_privacy_on_postgres(pg_client):
    world, client = pg_client
    e = world.private_entity
    assert {p["title"] for p in client.get("/api/projects", headers=world.auth("bob")).json()} == {"Public"}
    assert client.get(f"/api/entities/{e}/results", headers=world.auth("bob")).status_code == 404
    rows = client.get(f"/api/entities/{e}/results", headers=world.auth("alice"),
                      params={"start": DAY0, "end": DAY0 + 86_400_000, "group": "host=monit-xrootd-001"}).json()
    assert len(rows) == 288 and {tuple(r["group_key"].items()) for r in rows} == {(("host", "monit-xrootd-001"),)}
    created = client.post(f"/api/entities/{e}/annotations", headers=world.auth("alice"),
                          json={"label": "anomaly", "start_ms": DAY0, "end_ms": DAY0 + 3_600_000, "kind": "spike"})
    assert created.status_code == 201, created.text
    verdict = client.post(f"/api/entities/{e}/annotations", headers=world.auth("alice"),
                          json={"label": "confirmed", "detection_id": world.anomaly_ids[e][0]})
    assert verdict.status_code == 201, verdict.text
    plot = client.get(f"/api/entities/{e}/plot", headers=world.auth("alice"),
                      params={"start": DAY0, "end": DAY0 + 86_400_000}).json()
    assert len(plot["anomalies"]) == 1 and len(plot["annotations"]) == 2
    bad = client.post(f"/api/entities/{e}/annotations", headers=world.auth("alice"),
                      json={"label": "anomaly", "start_ms": DAY0 + 1, "end_ms": DAY0})
    assert bad.status_code == 422
    assert len(client.get(f"/api/entities/{e}/annotations", headers=world.auth("alice")).json()) == 2
