"""``/metrics`` reads results and run health from the registry (issue 15, parts 5 and 6).

A backfill in one process and a scrape in another (here: the process's in-memory metrics
reset) show each group's latest window; an older window re-run after a newer one does not
replace it; the health gauges count runs by status and date the last success and data.
"""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from admon import DetectionEntity, InputDataConfig, Project, SourceConfig
from admon.registry import repository as repo
from admon.registry.db import session_scope
from admon.registry.models import FAILED, RunRow
from admon.runs.backfill import backfill
from admon.settings import load_settings
from admon.sinks import prometheus as prom

DAY = "2022-05-10"
HOSTS = 3


@pytest.fixture
def entity(tmp_path, monkeypatch, db_url) -> DetectionEntity:
    """An entity over a one-day lake of three hosts, in a registry on SQLite and on PostgreSQL."""
    from admon.data.generate import generate_lake

    lake = tmp_path / "lake"
    generate_lake(lake, hosts=HOSTS, days=1, start=DAY, seed=3, step_seconds=60, topics=["xrootd_raw_gled"])
    monkeypatch.setenv("ADMON_LAKE_ROOT", str(lake))
    idc = InputDataConfig(source_configs=[SourceConfig(
        "collectd", "raw", "monitoring", select=["timestamp", "value", "host"],
        filter_expression="topic=='xrootd_raw_gled'", rename={"value": "gled_value"})],
        agg_interval_seconds=60, group_by=["host"])
    project = Project.create(title="prom-registry")
    return DetectionEntity.create(project=project, title="prom-registry-entity", interval_minutes=10,
                                  sliding_interval_minutes=5, input_data_config=idc,
                                  inference_model="m", inference_namespace="ns",
                                  monit_label={"admon_entity": "registry_check"})


def fresh_scrape(visible: set[int] | None = None) -> dict[str, dict[tuple, float]]:
    """The exposition of a process that ran nothing itself: family -> {sorted labels: value}."""
    prom._state.clear()  # as after a restart: no counters, nothing kept in memory
    with session_scope() as s:
        text = prom.exposition(visible, session=s).decode()
    families: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            families.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return families


def by_host(families: dict, name: str, entity_id: int) -> dict[str, float]:
    return {dict(k)["host"]: v for k, v in families.get(name, {}).items()
            if dict(k)["entity_id"] == str(entity_id)}


def last_run_scores(entity_id: int, window_end_ms: int) -> dict[str, float]:
    with session_scope() as s:
        run = next(r for r in repo.list_runs(s, entity_id) if r.window_end_ms == window_end_ms)
        return {r.group_key["host"]: r.anomaly_score for r in repo.list_results(s, run.id)}


def test_a_backfill_reaches_a_fresh_exposition_with_each_groups_latest_window(entity):
    report = backfill(entity.id, f"{DAY}T00:00:00Z", f"{DAY}T00:30:00Z")
    assert report.succeeded == 5  # sliding: windows ending 00:10, 00:15, ... 00:30
    families = fresh_scrape()
    last_end_ms = 1652140800000 + 30 * 60_000
    scores = by_host(families, "admon_anomaly_score", entity.id)
    assert scores == pytest.approx(last_run_scores(entity.id, last_end_ms)) and len(scores) == HOSTS
    assert set(by_host(families, "admon_result_window_end_seconds", entity.id).values()) == {last_end_ms / 1000}
    assert set(by_host(families, "admon_anomaly_threshold", entity.id)) == set(scores)
    labels = dict(next(iter(families["admon_anomaly_score"])))
    assert labels["entity"] == "prom-registry-entity" and labels["admon_entity"] == "registry_check"


def test_an_older_window_run_after_a_newer_one_does_not_replace_it(entity):
    newer_end_ms = 1652140800000 + 30 * 60_000
    assert backfill(entity.id, f"{DAY}T00:20:00Z", f"{DAY}T00:30:00Z").succeeded == 1
    # the window ending 00:25 overlaps the newer one (slide 5 of 10 minutes) and runs last
    assert backfill(entity.id, f"{DAY}T00:15:00Z", f"{DAY}T00:25:00Z").succeeded == 1
    families = fresh_scrape()
    assert set(by_host(families, "admon_result_window_end_seconds", entity.id).values()) == {newer_end_ms / 1000}
    assert by_host(families, "admon_anomaly_score", entity.id) == pytest.approx(
        last_run_scores(entity.id, newer_end_ms))


def test_health_gauges_count_runs_by_status_and_date_the_last_success_and_data(entity):
    assert backfill(entity.id, f"{DAY}T00:00:00Z", f"{DAY}T00:10:00Z").succeeded == 1
    # the lake holds one day: a window of the next day reads no input at all
    assert backfill(entity.id, "2022-05-11T00:00:00Z", "2022-05-11T00:10:00Z").no_data == 1
    with session_scope() as s:
        s.add(RunRow(entity_id=entity.id, window_start_ms=1652140800000 + 3_600_000,
                     window_end_ms=1652140800000 + 4_200_000, status=FAILED, attempts=3, failures=3,
                     next_attempt_ms=0, trigger="scheduler", error="DataError: unreadable",
                     created_ms=1, finished_ms=2))
        succeeded = repo.list_runs(s, entity.id, status="succeeded")[0]
        finished_s, data_end_s = succeeded.finished_ms / 1000, succeeded.window_end_ms / 1000
    families = fresh_scrape()
    key = str(entity.id)
    runs = {dict(k)["status"]: v for k, v in families["admon_entity_runs"].items()
            if dict(k)["entity_id"] == key}
    assert runs == {"pending": 0, "running": 0, "retrying": 0, "succeeded": 1, "failed": 1, "no_data": 1}
    assert families["admon_entity_last_success_timestamp_seconds"] == {(("entity_id", key),): finished_s}
    # the no_data window is newer, but had no input: the last data is the succeeded window's end
    assert families["admon_entity_last_data_timestamp_seconds"] == {(("entity_id", key),): data_end_s}


def test_entities_outside_the_visible_set_have_no_series(entity):
    assert backfill(entity.id, f"{DAY}T00:00:00Z", f"{DAY}T00:10:00Z").succeeded == 1
    families = fresh_scrape(visible={entity.id + 1000})
    assert not [k for samples in families.values() for k in samples if ("entity_id", str(entity.id)) in k]
    assert by_host(fresh_scrape(visible={entity.id}), "admon_anomaly_score", entity.id)


def test_without_the_prometheus_sink_only_the_health_gauges_are_served(entity):
    assert backfill(entity.id, f"{DAY}T00:00:00Z", f"{DAY}T00:10:00Z").succeeded == 1
    assert prom.serves_results(load_settings(sinks="jsonl:///tmp/x, prometheus"))
    assert not prom.serves_results(load_settings())  # the tests' ADMON_SINKS is empty
    with session_scope() as s:
        text = prom.exposition(session=s, results=False).decode()
    assert f'admon_entity_runs{{entity_id="{entity.id}",status="succeeded"}} 1.0' in text
    assert "admon_anomaly_score{" not in text


def test_the_open_incidents_gauge_counts_each_entitys_unresolved_incidents(entity):
    from admon.incidents import WindowResult, merge_window
    from admon.registry import incidents as registry_incidents

    assert backfill(entity.id, f"{DAY}T00:00:00Z", f"{DAY}T00:10:00Z").succeeded == 1
    key = (("entity_id", str(entity.id)),)
    assert fresh_scrape()["admon_entity_open_incidents"] == {key: 0.0}  # none yet: 0, not absent
    start = 1652140800000
    with session_scope() as s:  # h0 and h1 open an incident; h0's is resolved two quiet windows later
        for end, hosts in ((10, ["h0", "h1"]), (15, ["h1"]), (20, ["h1"])):
            results = [WindowResult({"host": h}, start, start + end * 60_000, 90.0, None, [], 1) for h in hosts]
            changes = merge_window(entity.id, registry_incidents.open_incidents(s, entity.id), results,
                                   window_end_ms=start + end * 60_000)
            registry_incidents.apply_incident_changes(s, entity.id, changes, now=1)
        assert len(registry_incidents.list_incidents(s, [entity.id])) == 2
    assert fresh_scrape()["admon_entity_open_incidents"] == {key: 1.0}
    assert "admon_entity_open_incidents" not in fresh_scrape(visible={entity.id + 1000})
