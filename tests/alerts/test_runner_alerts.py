"""The runner queues alerts in the run's commit and the outbox delivers them to the alert webhook
(issue 15, parts 4 and 5): opened, refreshed while open, resolved at the incident's end; rules
filter; a backfill alerts only with ``alert=True``; N no_data runs raise a health alert."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from admon.registry import db
from admon.registry import incidents as registry_incidents
from admon.registry.models import OutboxRow
from admon.runs.backfill import backfill
from admon.runs.runner import Runner
from admon.runs.scheduler import Scheduler
from admon.settings import load_settings

from .conftest import MIN, START, ScriptedKind, no_rows, one_row_per_window

# h1 anomalous in the windows ending at minutes 10, 15, 20; quiet at 25; resolved at 30
SCRIPT = {10: {"h1": 90.0}, 15: {"h1": 95.0}, 20: {"h1": 99.0}}


def iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def alerting_runner(url: str, reader=one_row_per_window, **settings) -> Runner:
    return Runner(load_settings(alert_webhook_url=url, **settings), sinks=[], reader=reader)


def test_an_incident_alerts_when_opened_is_refreshed_while_open_and_resolved_at_its_end(
        scripted_entity, webhook_receiver):
    ScriptedKind.script = SCRIPT
    runner = alerting_runner(webhook_receiver.url)
    Scheduler(runner, clock=lambda: START + 30 * MIN).run_forever(until_idle=True)
    runner.deliver()
    with db.session_scope() as s:
        (incident,) = registry_incidents.list_incidents(s, [scripted_entity.id])
    alerts = webhook_receiver.received
    assert {a["labels"]["incident_id"] for a in alerts} == {incident.id}
    assert [a["labels"]["host"] for a in alerts] == ["h1"] * 5  # open, 2 updates, 1 refresh, resolved
    assert alerts[0]["labels"] == {"alertname": "AdmonIncident", "host": "h1",
                                   "entity": "xrootd", "entity_id": str(scripted_entity.id),
                                   "incident_id": incident.id}
    assert all(a["startsAt"] == iso(START) for a in alerts)
    assert all(a["endsAt"] > iso(START + 60 * MIN) for a in alerts[:-1])  # ahead of the wall clock
    assert alerts[-1]["endsAt"] == iso(START + 20 * MIN)  # resolved: the incident's end
    assert alerts[-1]["annotations"]["summary"] == "xrootd: anomaly on host=h1 (peak score 99.0, critical)"
    assert f"/entities/{scripted_entity.id}?group=host%3Dh1" in alerts[0]["generatorURL"]
    # each state once: running the scheduler again queues nothing new
    Scheduler(runner, clock=lambda: START + 30 * MIN).run_forever(until_idle=True)
    runner.deliver()
    assert len(webhook_receiver.received) == 5


def test_rules_choose_the_incidents_that_alert(scripted_entity, webhook_receiver):
    ScriptedKind.script = {10: {"h1": 90.0, "h2": 60.0}, 15: {"h1": 90.0, "h2": 60.0}}
    scripted_entity.add_alert_rule("loud", min_score=80, labels={"team": "storage"},
                                   annotations={"summary": "{{ group.host }} {{ severity }}"})
    runner = alerting_runner(webhook_receiver.url)
    Scheduler(runner, clock=lambda: START + 25 * MIN).run_forever(until_idle=True)
    runner.deliver()
    with db.session_scope() as s:
        assert len(registry_incidents.list_incidents(s, [scripted_entity.id])) == 2  # both recorded
    alerts = webhook_receiver.received
    assert alerts and {a["labels"]["host"] for a in alerts} == {"h1"}
    assert {a["labels"]["team"] for a in alerts} == {"storage"}
    assert alerts[0]["annotations"]["summary"] == "h1 critical"


def test_a_backfill_records_incidents_without_alerting_unless_asked(scripted_entity, webhook_receiver):
    ScriptedKind.script = SCRIPT
    runner = alerting_runner(webhook_receiver.url)
    report = backfill(scripted_entity.id, START, START + 30 * MIN, runner=runner)
    assert report.succeeded == 5
    with db.session_scope() as s:
        (incident,) = registry_incidents.list_incidents(s, [scripted_entity.id])
        assert s.query(OutboxRow).count() == 0
    assert incident.status == "resolved" and webhook_receiver.received == []
    assert runner.alerting is None  # the runner is left as it was

    backfill(scripted_entity.id, START + 30 * MIN, START + 50 * MIN, runner=runner)  # nothing new to say
    ScriptedKind.script = {60: {"h2": 80.0}}
    backfill(scripted_entity.id, START + 50 * MIN, START + 60 * MIN, runner=runner, alert=True)
    assert [a["labels"]["host"] for a in webhook_receiver.received] == ["h2"]


def test_n_no_data_runs_in_a_row_raise_a_health_alert_that_a_success_resolves(scripted_entity, webhook_receiver):
    state = {"reader": no_rows}
    runner = alerting_runner(webhook_receiver.url, reader=lambda *a: state["reader"](*a), health_alert_runs=3)
    Scheduler(runner, clock=lambda: START + 15 * MIN).run_forever(until_idle=True)  # 2 no_data runs
    runner.deliver()
    assert webhook_receiver.received == []
    Scheduler(runner, clock=lambda: START + 25 * MIN).run_forever(until_idle=True)  # 2 more
    runner.deliver()
    raised = webhook_receiver.received
    assert [a["labels"]["alertname"] for a in raised] == ["AdmonEntityHealth"] * 2  # raised, then refreshed
    assert raised[0]["annotations"]["summary"] == "entity xrootd: no data for 15 min (3 runs in a row)"
    assert raised[1]["annotations"]["summary"] == "entity xrootd: no data for 20 min (4 runs in a row)"
    assert raised[0]["labels"] == raised[1]["labels"] == {
        "alertname": "AdmonEntityHealth", "entity": "xrootd", "entity_id": str(scripted_entity.id),
        "severity": "warning"}
    state["reader"] = one_row_per_window
    Scheduler(runner, clock=lambda: START + 30 * MIN).run_forever(until_idle=True)
    runner.deliver()
    resolved = webhook_receiver.received[-1]
    assert len(webhook_receiver.received) == 3 and resolved["labels"] == raised[0]["labels"]
    assert resolved["endsAt"] < iso(int(pd.Timestamp.now(tz="UTC").value // 1_000_000) + MIN)


def test_failed_runs_in_a_row_raise_a_health_alert_too(scripted_entity, webhook_receiver):
    def broken(entity, start_ms, end_ms):
        raise OSError("the lake is unreachable")

    runner = alerting_runner(webhook_receiver.url, reader=broken, health_alert_runs=2, run_max_attempts=1)
    Scheduler(runner, clock=lambda: START + 15 * MIN).run_forever(until_idle=True)
    runner.deliver()
    (alert,) = webhook_receiver.received
    assert alert["labels"]["alertname"] == "AdmonEntityHealth"
    assert alert["annotations"]["summary"] == "entity xrootd: failed runs for 10 min (2 runs in a row)"
