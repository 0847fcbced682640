"""A real Prometheus server scrapes admon's /metrics: the anomaly series and the run health
gauges arrive, read from the registry (a backfill's results, after the process's own
metrics were reset as by a restart)."""

from __future__ import annotations

import socket
import time

import pytest

from admon import DetectionEntity, InputDataConfig, Project, SourceConfig
from admon.registry import repository as repo
from admon.registry.db import session_scope
from admon.runs.backfill import backfill
from admon.sinks import prometheus as prom


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.integration
def test_prometheus_scrapes_anomaly_scores(prometheus_server, tmp_path, monkeypatch):
    from admon.data.generate import generate_lake

    lake = tmp_path / "lake"
    generate_lake(lake, hosts=3, days=1, start="2022-05-10", seed=3, step_seconds=60,
                  topics=["xrootd_raw_gled"])
    monkeypatch.setenv("ADMON_LAKE_ROOT", str(lake))
    monkeypatch.setenv("ADMON_SINKS", "prometheus")
    idc = InputDataConfig(source_configs=[SourceConfig(
        "collectd", "raw", "monitoring", select=["timestamp", "value", "host"],
        filter_expression="topic=='xrootd_raw_gled'", rename={"value": "gled_value"})],
        agg_interval_seconds=60, group_by=["host"])
    project = Project.create(title="prom")
    de = DetectionEntity.create(project=project, title="prom-entity", interval_minutes=10,
                                sliding_interval_minutes=5, input_data_config=idc,
                                inference_model="m", inference_namespace="ns",
                                monit_label={"admon_entity": "prom_check"})
    report = backfill(de.id, "2022-05-10T00:00:00Z", "2022-05-10T00:30:00Z")
    assert report.succeeded == 5
    with session_scope() as s:
        last = repo.list_runs(s, de.id)[0]
        expected = {r.group_key["host"]: r.anomaly_score for r in repo.list_results(s, last.id)}
        last_finished_ms = max(r.finished_ms for r in repo.list_runs(s, de.id))

    prom._state.clear()  # a restart: the process's own counters and anything in memory are gone
    port = free_port()
    server, _thread = prom.serve(port)
    try:
        prometheus_server.scrape([f"127.0.0.1:{port}"])
        deadline = time.monotonic() + 60
        series = []
        while time.monotonic() < deadline:
            series = prometheus_server.query('admon_anomaly_score{admon_entity="prom_check"}')
            if len(series) == 3:
                break
            time.sleep(0.5)
        assert len(series) == 3, series
        got = {s["metric"]["host"]: float(s["value"][1]) for s in series}
        assert got.keys() == expected.keys()
        for host, value in got.items():
            assert value == pytest.approx(expected[host])
        metric = series[0]["metric"]
        assert metric["entity"] == "prom-entity" and metric["entity_id"] == str(de.id)
        assert metric["job"] == "admon"
        runs = prometheus_server.query(f'admon_entity_runs{{entity_id="{de.id}"}}')
        assert {r["metric"]["status"]: float(r["value"][1]) for r in runs} == {
            "pending": 0, "running": 0, "retrying": 0, "succeeded": 5, "failed": 0, "no_data": 0}
        success = prometheus_server.query(f'admon_entity_last_success_timestamp_seconds{{entity_id="{de.id}"}}')
        assert [float(r["value"][1]) for r in success] == [pytest.approx(last_finished_ms / 1000)]
        data = prometheus_server.query(f'admon_entity_last_data_timestamp_seconds{{entity_id="{de.id}"}}')
        assert [float(r["value"][1]) for r in data] == [last.window_end_ms / 1000]
        window = prometheus_server.query('admon_result_window_end_seconds{admon_entity="prom_check"}')
        assert {float(w["value"][1]) for w in window} == {last.window_end_ms / 1000}
    finally:
        server.shutdown()
        server.server_close()
