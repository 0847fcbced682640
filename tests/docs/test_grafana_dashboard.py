"""docs/grafana/admon-dashboard.json: a Grafana dashboard over the series admon exposes. Its
structure is checked, every query must name only metrics that admon's exposition really
contains (taken from an exposition built here, not from a list), the docs must show each
panel's PromQL, and every query must run on a real Prometheus scraping admon."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from admon.registry.db import session_scope
from admon.settings import load_settings
from admon.sinks import prometheus as prom

DOCS = Path(__file__).resolve().parents[2] / "docs" / "grafana"
METRIC = re.compile(r"\badmon_[a-zA-Z0-9_]+")


def dashboard() -> dict:
    return json.loads((DOCS / "admon-dashboard.json").read_text())


def query_panels() -> list[dict]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def queries() -> list[str]:
    return [t["expr"] for p in query_panels() for t in p["targets"]]


def test_the_dashboard_is_a_grafana_dashboard_over_a_prometheus_variable():
    board = dashboard()
    assert board["schemaVersion"] >= 39 and board["uid"] and board["title"]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24 and grid["h"] >= 1, panel["title"]
    for panel in query_panels():
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"] and panel["title"] and panel["description"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs))
        assert all(t["datasource"]["uid"] == "${datasource}" and t["expr"].strip() for t in panel["targets"])
    for variable in board["templating"]["list"][1:]:
        assert variable["datasource"]["uid"] == "${datasource}"
        assert METRIC.search(variable["definition"])


def test_it_covers_scores_incidents_and_health():
    named = {m for q in queries() for m in METRIC.findall(q)}
    assert {"admon_anomaly_score", "admon_is_anomaly", "admon_entity_open_incidents", "admon_entity_runs",
            "admon_entity_last_success_timestamp_seconds",
            "admon_entity_last_data_timestamp_seconds"} <= named


def _exported_names(world) -> set[str]:
    """Every sample name admon's /metrics exposition holds, with results, health and this process's
    own run metrics."""
    prom.record_run(world.public_entity, "succeeded", 0.2)
    with session_scope(world.settings.database_url) as s:
        text = prom.exposition(None, session=s, results=True).decode()
    return {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}


def test_every_query_names_a_metric_admon_exports(world):
    exported = _exported_names(world)
    assert "admon_anomaly_score" in exported and "admon_entity_open_incidents" in exported
    for expr in queries() + [v["definition"] for v in dashboard()["templating"]["list"][1:]]:
        names = METRIC.findall(expr)
        assert names, expr
        unknown = sorted(set(names) - exported)
        assert not unknown, f"{expr} names {unknown}, which admon does not export"


def test_the_docs_show_every_panels_promql():
    text = (DOCS / "README.md").read_text()
    for panel in query_panels():
        assert panel["title"] in text, panel["title"]
        for target in panel["targets"]:
            assert f"`{target['expr']}`" in text, target["expr"]


@pytest.mark.integration
def test_every_query_runs_on_a_real_prometheus_scraping_admon(world, prometheus_server):
    settings = load_settings(database_url=world.settings.database_url, lake_root=world.settings.lake_root,
                             sinks="prometheus")
    prom.record_run(world.public_entity, "succeeded", 0.2)
    server, _thread = prom.serve(0, settings=settings)
    try:
        prometheus_server.scrape([f"127.0.0.1:{server.server_port}"])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(prometheus_server.query("admon_runs_total")) == 0:
            time.sleep(0.5)
        time.sleep(3)  # a few scrapes: rate() needs two samples
        empty = []
        for expr in queries():
            if not prometheus_server.query(expr.replace("$entity_id", ".*")):
                empty.append(expr)
        # only failed runs may be absent: the world's runs all succeeded
        assert [e for e in empty if 'status="failed"' not in e] == []
    finally:
        prometheus_server.scrape([])
        server.shutdown()
        server.server_close()
