"""Fixtures of the alerts tests: a registry on SQLite or PostgreSQL, a real Alertmanager, a webhook
receiver, and an entity whose windows' results follow a script (:class:`ScriptedKind`)."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest_servers import (  # noqa: F401
    alertmanager_server,
    db_url,
    postgres_server,
    postgres_url,
    webhook_receiver,
)

from admon import DetectionEntity, InputDataConfig, Project, SourceConfig
from admon.runs.kinds import JOB_KINDS, JobKind, JobOutput
from admon.sinks.documents import build_document

MIN = 60_000
START = 1_652_140_800_000  # 2022-05-10T00:00:00Z
HOSTS = ("h1", "h2")


class ScriptedKind(JobKind):
    """Result documents from :attr:`script`: window end (minutes after START) -> {host: score};
    a score at or above 50 (the threshold) is anomalous, a host not named scores 5."""

    name = "scripted_alerts"
    script: dict[int, dict[str, float]] = {}

    def run(self, ctx, entity, window, loaded, frame, report):
        minute = (window.end_ms - START) // MIN
        scores = self.script.get(minute, {})
        docs = [build_document(
            entity_id=entity.id, entity_title=entity.title, project_id=entity.project_id, model_id="script",
            run_id=window.run_id, monit_producer="admon", monit_label={}, group_key={"host": host},
            window_start_ms=window.start_ms, window_end_ms=window.end_ms, anomaly_score=scores.get(host, 5.0),
            is_anomaly=scores.get(host, 5.0) >= 50, threshold=50.0, severity="critical",
            top_features=["cpu"], peak_timestamp_ms=window.end_ms - MIN, rows=1) for host in HOSTS]
        return JobOutput(documents=docs, provenance={}, digest="-", rows=len(docs), groups=len(docs),
                         anomalies=sum(d["is_anomaly"] for d in docs))


@pytest.fixture
def scripted_entity(db_url):  # noqa: F811 - the fixture imported above
    """An entity (10-minute windows every 5 minutes from START + 10 min, grouped by host) of kind
    :class:`ScriptedKind`; set ``ScriptedKind.script`` in the test."""
    JOB_KINDS.add(ScriptedKind.name, ScriptedKind)
    idc = InputDataConfig(source_configs=[SourceConfig("collectd", "raw", "monitoring",
                                                       select=["timestamp", "value", "host"])],
                          agg_interval_seconds=60, agg_method="avg", group_by=["host"])
    project = Project.create(title="p", egroup="admon-dev")
    entity = DetectionEntity.create(
        project=project, title="xrootd", interval_minutes=10, sliding_interval_minutes=5,
        input_data_config=idc, inference_model="m", inference_namespace="ns", kind=ScriptedKind.name,
        schedule_from_ms=START + 10 * MIN)
    yield entity
    ScriptedKind.script = {}
    JOB_KINDS.unregister(ScriptedKind.name)


def one_row_per_window(entity, start_ms, end_ms):
    return pd.DataFrame({"timestamp": [end_ms - MIN], "host": ["h1"], "value": [1.0]}), {}


def no_rows(entity, start_ms, end_ms):
    return pd.DataFrame({"timestamp": pd.Series([], dtype="int64"), "host": pd.Series([], dtype=object)}), {}
