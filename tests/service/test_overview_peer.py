"""The overview marks peer anomalies (issue 20, part 5): groups of an entity scored by a detector
that compares each group with the others (``population``) carry ``peer``; others do not."""

from __future__ import annotations

from fastapi.testclient import TestClient

from admon import DetectionEntity, InputDataConfig, Project, SourceConfig
from admon.models.training import train
from admon.runs.backfill import backfill
from admon.service.app import create_app
from admon.settings import load_settings


def test_groups_scored_against_their_peers_are_marked_in_the_overview(tmp_path, monkeypatch):
    from admon.data.generate import generate_lake

    generate_lake(tmp_path / "lake", hosts=5, days=2, start="2022-05-10", seed=11, step_seconds=300,
                  topics=["xrootd_raw_gled"])
    monkeypatch.setenv("ADMON_LAKE_ROOT", str(tmp_path / "lake"))
    monkeypatch.setenv("ADMON_MODEL_STORE", str(tmp_path / "models"))
    idc = InputDataConfig(source_configs=[SourceConfig("collectd", "raw", "monitoring",
                                                       select=["timestamp", "value", "host"])],
                          agg_interval_seconds=300, group_by=["host"])
    project = Project.create(title="fleet", egroup="ops")
    entities = {}
    for detector in ("population", "robust_zscore"):
        entity = DetectionEntity.create(project=project, title=detector, interval_minutes=60,
                                        sliding_interval_minutes=60, input_data_config=idc,
                                        inference_model=detector, inference_namespace="ns")
        train(idc, "2022-05-10", "2022-05-11", detector, namespace="ns", model=detector)
        assert backfill(entity.id, "2022-05-11T00:00:00Z", "2022-05-11T06:00:00Z").succeeded == 6
        entities[detector] = entity.id
    with TestClient(create_app(load_settings())) as client:
        peer = client.get(f"/api/entities/{entities['population']}/overview").json()
        own = client.get(f"/api/entities/{entities['robust_zscore']}/overview").json()
        page = client.get(f"/entities/{entities['population']}/overview").text
        plain_page = client.get(f"/entities/{entities['robust_zscore']}/overview").text
    assert len(peer["groups"]) == 5 and all(g["peer"] for g in peer["groups"])
    assert own["groups"] and not any(g["peer"] for g in own["groups"])
    assert 'id="legend-peer"' in page and 'id="legend-peer"' not in plain_page
