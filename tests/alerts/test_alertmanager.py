"""End to end against a real Alertmanager (Debian ``prometheus-alertmanager`` on 127.0.0.1) whose
receiver is a webhook the test runs (issue 15, parts 4 and 5): an incident becomes one alert,
delivered by Alertmanager, resolved when the incident ends; a silence stops the notification; N
no_data runs raise a health alert that a succeeded run resolves. Polls with a deadline, no timing
assertions."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from admon.registry import db
from admon.registry import incidents as registry_incidents
from admon.runs.runner import Runner
from admon.runs.scheduler import Scheduler
from admon.settings import load_settings

from .conftest import MIN, START, ScriptedKind, no_rows, one_row_per_window

DEADLINE_SECONDS = 60


def wait_for(what: str, found: Callable[[], Any]) -> Any:
    """``found()`` once it is truthy; fails after DEADLINE_SECONDS naming ``what``."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"no {what} within {DEADLINE_SECONDS} s")


def notified(server, status: str, **labels: str) -> list[dict]:
    """The alerts of ``status`` with these labels in the notifications the receiver got."""
    return [a for n in server.receiver.received for a in n["alerts"]
            if a["status"] == status and all(a["labels"].get(k) == v for k, v in labels.items())]


def run(runner: Runner, minute: int) -> None:
    Scheduler(runner, clock=lambda: START + minute * MIN).run_forever(until_idle=True)
    runner.deliver()


def test_an_incident_is_one_alert_delivered_by_alertmanager_and_resolved_when_it_ends(
        scripted_entity, alertmanager_server):
    am = alertmanager_server
    ScriptedKind.script = {10: {"h1": 90.0}, 15: {"h1": 95.0}, 20: {"h1": 99.0}}
    runner = Runner(load_settings(alertmanager_url=am.url), sinks=[], reader=one_row_per_window)
    run(runner, 10)  # opened
    with db.session_scope() as s:
        (incident,) = registry_incidents.list_incidents(s, [scripted_entity.id])
    (alert,) = wait_for("alert in Alertmanager", lambda: am.alerts(filter=f'incident_id="{incident.id}"'))
    assert alert["labels"]["alertname"] == "AdmonIncident" and alert["labels"]["host"] == "h1"
    assert alert["status"]["state"] == "active"
    assert alert["generatorURL"].startswith(f"http://localhost:8000/entities/{scripted_entity.id}?")
    wait_for("firing notification", lambda: notified(am, "firing", incident_id=incident.id))

    run(runner, 30)  # updated at 15 and 20, quiet at 25, resolved at 30
    assert len(am.alerts(filter='alertname="AdmonIncident"')) <= 1  # never two alerts for one incident
    (resolved, *_) = wait_for("resolved notification", lambda: notified(am, "resolved", incident_id=incident.id))
    assert resolved["endsAt"].startswith("2022-05-10T00:20:00")  # the incident's end
    wait_for("alert to leave the active list", lambda: am.alerts(filter='alertname="AdmonIncident"') == [])


def test_a_silence_made_in_alertmanager_stops_the_notification(scripted_entity, alertmanager_server):
    am = alertmanager_server
    am.silence({"host": "h2"})
    ScriptedKind.script = {10: {"h2": 90.0}, 15: {"h1": 90.0, "h2": 90.0}}
    runner = Runner(load_settings(alertmanager_url=am.url), sinks=[], reader=one_row_per_window)
    run(runner, 10)
    (silenced,) = wait_for("silenced alert", lambda: am.alerts(filter='host="h2"'))
    assert silenced["status"]["state"] == "suppressed" and silenced["status"]["silencedBy"]
    run(runner, 15)  # h1 opens after h2: its notification shows Alertmanager has notified since
    wait_for("h1's notification", lambda: notified(am, "firing", host="h1"))
    assert notified(am, "firing", host="h2") == []


def test_no_data_runs_raise_a_health_alert_in_alertmanager_that_a_success_resolves(
        scripted_entity, alertmanager_server):
    am = alertmanager_server
    state = {"reader": no_rows}
    runner = Runner(load_settings(alertmanager_url=am.url, health_alert_runs=3), sinks=[],
                    reader=lambda *a: state["reader"](*a))
    run(runner, 20)  # windows ending at 10, 15, 20: no data
    (alert,) = wait_for("health alert", lambda: am.alerts(filter='alertname="AdmonEntityHealth"'))
    assert alert["labels"]["entity"] == "xrootd"
    assert alert["annotations"]["summary"] == "entity xrootd: no data for 15 min (3 runs in a row)"
    wait_for("health notification", lambda: notified(am, "firing", alertname="AdmonEntityHealth"))
    state["reader"] = one_row_per_window
    run(runner, 25)
    wait_for("resolved health notification", lambda: notified(am, "resolved", alertname="AdmonEntityHealth"))
    assert am.alerts(filter='alertname="AdmonEntityHealth"') == []
