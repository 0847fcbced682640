"""``admon forecast set-job`` and ``admon entity create`` with kind and job_config."""

from __future__ import annotations

import json

import yaml
from typer.testing import CliRunner

from admon.cli import build_app
from admon.forecast.fts_lake import fts_input_config
from admon.registry.api import DetectionEntity, Project


def test_set_job_makes_an_entity_a_forecast_job_and_entity_create_takes_kind(tmp_path):
    project = Project.create(title="NOTED", egroup="admon-dev")
    entity = DetectionEntity.create(project=project, title="links", interval_minutes=60, sliding_interval_minutes=10,
                                    input_data_config=fts_input_config(300), inference_model="m",
                                    inference_namespace="noted")
    runner = CliRunner()
    out = runner.invoke(build_app(), ["forecast", "set-job", str(entity.id), "--model", "seasonal_naive:season=12",
                                      "--horizon", "6", "--threshold", "5e8", "--minutes", "30",
                                      "--webhook", "http://127.0.0.1:9/hook"])
    assert out.exit_code == 0, out.output
    stored = DetectionEntity.get(entity.id)
    assert stored.kind == "forecast" and stored.job_config["horizon"] == 6
    assert stored.job_config["rule"]["webhook_url"] == "http://127.0.0.1:9/hook"

    job = tmp_path / "job.json"
    assert runner.invoke(build_app(), ["forecast", "job-config", "--horizon", "4", "--out", str(job)]).exit_code == 0
    spec = {"project": "NOTED", "title": "from yaml", "interval_minutes": 60, "sliding_interval_minutes": 10,
            "input_data_config": json.loads(fts_input_config(300).model_dump_json()), "inference_model": "m",
            "inference_namespace": "noted", "kind": "forecast", "job_config": json.loads(job.read_text())}
    path = tmp_path / "entity.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = runner.invoke(build_app(), ["entity", "create", "--from-yaml", str(path)])
    assert out.exit_code == 0, out.output
    created = DetectionEntity.get("from yaml")
    assert created.kind == "forecast" and created.job_config["horizon"] == 4
