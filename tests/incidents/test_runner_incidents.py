"""The runner merges a window's anomalous results into incidents in the run's one commit and
queues each state change as an ``anomaly_incident`` document; a run that lost its lease writes none.

The windows' results come from a job kind registered here (a plugin kind, as a package would
declare one) that turns a script of anomalous windows into result documents, so the test is about
the runner and the registry, not about a detector's scores.
"""

from __future__ import annotations

import json
import time

import pandas as pd
import pytest

from admon import DetectionEntity, InputDataConfig, Project, SourceConfig
from admon.registry import db
from admon.registry import incidents as registry_incidents
from admon.registry.models import OutboxRow
from admon.runs.kinds import JOB_KINDS, JobKind, JobOutput
from admon.runs.runner import Runner
from admon.runs.scheduler import Scheduler
from admon.settings import load_settings
from admon.sinks.base import parse_sinks
from admon.sinks.documents import build_document

MIN = 60_000
START = 1_652_140_800_000  # 2022-05-10T00:00:00Z
#: window end (minutes after START) -> anomalous hosts in that window
ANOMALOUS = {10: ["h1"], 15: ["h1"], 20: ["h1"]}


class ScriptedKind(JobKind):
    name = "scripted_incidents"

    def run(self, ctx, entity, window, loaded, frame, report):
        minute = (window.end_ms - START) // MIN
        docs = [build_document(
            entity_id=entity.id, entity_title=entity.title, project_id=entity.project_id, model_id="script",
            run_id=window.run_id, monit_producer="admon", monit_label={}, group_key={"host": host},
            window_start_ms=window.start_ms, window_end_ms=window.end_ms,
            anomaly_score=90.0 + minute if host in ANOMALOUS.get(minute, []) else 5.0,
            is_anomaly=host in ANOMALOUS.get(minute, []), threshold=50.0, severity="critical",
            top_features=["cpu"], peak_timestamp_ms=window.end_ms - MIN, rows=1) for host in ("h1", "h2")]
        return JobOutput(documents=docs, provenance={}, digest="-", rows=len(docs), groups=len(docs),
                         anomalies=sum(d["is_anomaly"] for d in docs))


@pytest.fixture
def scripted_entity(db_url):
    JOB_KINDS.add(ScriptedKind.name, ScriptedKind)
    idc = InputDataConfig(source_configs=[SourceConfig("collectd", "raw", "monitoring",
                                                       select=["timestamp", "value", "host"])],
                          agg_interval_seconds=60, agg_method="avg", group_by=["host"])
    project = Project.create(title="p", egroup="admon-dev")
    entity = DetectionEntity.create(
        project=project, title="scripted", interval_minutes=10, sliding_interval_minutes=5,
        input_data_config=idc, inference_model="m", inference_namespace="ns", kind=ScriptedKind.name,
        schedule_from_ms=START + 10 * MIN)
    yield entity
    JOB_KINDS.unregister(ScriptedKind.name)


def one_row_per_window(entity, start_ms, end_ms):
    return pd.DataFrame({"timestamp": [end_ms - MIN], "host": ["h1"], "value": [1.0]}), {}


def test_anomalous_windows_become_one_incident_committed_with_the_run_and_queued(scripted_entity, db_url,
                                                                                  tmp_path):
    sinks = parse_sinks(f"jsonl://{tmp_path / 'out'}")
    runner = Runner(load_settings(), sinks=sinks, reader=one_row_per_window)
    # windows ending at minutes 10 .. 35: anomalous at 10, 15, 20, quiet at 25, 30 (resolved), 35
    Scheduler(runner, clock=lambda: START + 35 * MIN).run_forever(until_idle=True)
    with db.session_scope(db_url) as s:
        (incident,) = registry_incidents.list_incidents(s, [scripted_entity.id])
    assert incident.group == {"host": "h1"}
    assert (incident.start_ms, incident.end_ms, incident.status) == (START, START + 20 * MIN, "resolved")
    assert incident.peak_score == 110.0 and incident.peak_timestamp_ms == START + 19 * MIN
    assert len(incident.run_ids) == 3 and incident.revision == 4
    lines = [json.loads(line) for path in sorted((tmp_path / "out").glob("*.jsonl"))
             for line in path.read_text().splitlines()]
    states = [(d["incident_id"], d["status"], d["revision"], d["end"]) for d in lines if d["type"] == "anomaly_incident"]
    assert states == [(incident.id, "open", 1, None), (incident.id, "updated", 2, None),
                      (incident.id, "updated", 3, None), (incident.id, "resolved", 4, START + 20 * MIN)]


def test_a_run_that_lost_its_lease_writes_no_incident(scripted_entity, db_url):
    settings = load_settings(run_lease_seconds=1.0)
    clock = lambda: START + 10 * MIN  # noqa: E731 - one window, anomalous
    sinks = parse_sinks("jsonl:///tmp/unused-admon-incidents")
    dead = Runner(settings, sinks=sinks, reader=one_row_per_window)
    Scheduler(dead, clock=clock).plan()
    claim = dead.claim()
    time.sleep(1.2)
    other = Runner(settings, sinks=sinks, reader=one_row_per_window)
    assert other.claim() is not None  # taken over, not run yet
    assert dead.execute(claim).status == "lost_lease"
    with db.session_scope(db_url) as s:
        assert registry_incidents.list_incidents(s, [scripted_entity.id]) == []
        assert s.query(OutboxRow).count() == 0
