"""The issue's 'done when': a model trained with `admon train` is used by a scheduled run and by
the v2 endpoint with identical scores (CLI -> model store -> runner -> sink, and -> v2)."""

from __future__ import annotations

import json

import pandas as pd
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from admon.cli import build_app
from admon.data.source import DataSource
from admon.models.oip import frame_to_v2_inputs
from admon.service.app import create_app
from admon.settings import load_settings


def test_admon_train_then_scheduled_run_and_v2_give_identical_scores(lake, xrootd_config, tmp_path, monkeypatch):
    from admon import DetectionEntity, Project

    monkeypatch.setenv("ADMON_LAKE_ROOT", lake)
    monkeypatch.setenv("ADMON_SINKS", f"jsonl://{tmp_path / 'out'}")
    project = Project.create(title="XRootD", project_url="https://example.org/x", description="d",
                             is_private=False, egroup="admon-dev")
    DetectionEntity.create(project=project, title="xrootd 1h", interval_minutes=60, sliding_interval_minutes=60,
                           input_data_config=xrootd_config, inference_model="xrootd-model",
                           inference_namespace="admon-dev", monit_producer="admon", monit_label={"a": "b"})
    cli = CliRunner()
    res = cli.invoke(build_app(), ["train", "xrootd 1h", "--from", "2022-05-10T00:00:00Z", "--to",
                                   "2022-05-11T00:00:00Z", "--detector", "isolation_forest", "--no-progress"],
                     catch_exceptions=False)
    assert res.exit_code == 0, res.output
    res = cli.invoke(build_app(), ["run", "xrootd 1h", "--from", "2022-05-11T00:00:00Z", "--to",
                                   "2022-05-11T02:00:00Z"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    docs = [json.loads(line) for f in sorted((tmp_path / "out").glob("*.jsonl")) for line in f.read_text().splitlines()]
    assert len(docs) == 6 and {d["model_id"] for d in docs} == {"admon-dev/xrootd-model/1"}

    v2 = TestClient(create_app(load_settings()))  # the service's v2 routes; the project is public
    source = DataSource(None, xrootd_config)
    for (start, end), window_docs in pd.DataFrame(docs).groupby(["window_start", "window_end"]):
        frame = source.read_pandas(int(start), int(end))
        out = v2.post("/v2/models/admon-dev:xrootd-model/infer", json={"inputs": frame_to_v2_inputs(frame)}).json()
        scores = {t["name"]: t["data"] for t in out["outputs"]}
        served = frame.assign(anomaly_score=scores["anomaly_score"])
        peaks = served.loc[served.groupby("host")["anomaly_score"].idxmax()].set_index("host")
        for doc in window_docs.itertuples():
            assert doc.anomaly_score == peaks.loc[doc.host, "anomaly_score"]  # identical, not close
            assert doc.peak_timestamp == peaks.loc[doc.host, "timestamp"]
