"""Alert rules: matching, templates, and bad input refused with the field and the fix, nothing stored
(issue 15, parts 4 and 8), through the Python API."""

from __future__ import annotations

import pytest

from admon.alerts import AlertRule, incident_alerts, matching_rule
from admon.alerts.payload import AlertContext
from admon.errors import ConfigError
from admon.incidents import Incident
from admon.registry.api import add_alert_rule

CTX = AlertContext(entity_id=7, entity="xrootd", slide_ms=300_000, public_url="http://admon.example:8000")


def incident(**changes) -> Incident:
    values = dict(id="ab" * 32, entity_id=7, group={"host": "web-1"}, start_ms=0, end_ms=None,
                  last_window_end_ms=1_800_000, peak_score=97.0, peak_timestamp_ms=600_000, features=["gled"],
                  status="open", run_ids=[3], revision=1)
    return Incident(**(values | changes))


def test_the_first_matching_rule_decides_and_no_rules_means_every_incident():
    big = AlertRule(1, 7, "big", min_score=90, min_duration_minutes=20, groups={"host": ["web-*"]})
    db = AlertRule(2, 7, "db", groups={"host": ["db-?"]})
    assert matching_rule([], {"host": "x"}, 1.0, 0).name == "default"
    assert matching_rule([big, db], {"host": "web-1"}, 97.0, 30 * 60_000) is big
    assert matching_rule([big, db], {"host": "web-1"}, 97.0, 10 * 60_000) is None  # too short
    assert matching_rule([big, db], {"host": "web-1"}, 80.0, 30 * 60_000) is None  # too low
    assert matching_rule([big, db], {"host": "db-1"}, 10.0, 0) is db


def test_an_incident_alert_carries_its_identity_templates_and_a_link_and_expires_unless_refreshed():
    rule = AlertRule(1, 7, "r", labels={"team": "{{ 'storage' if group.host.startswith('web') else 'db' }}"},
                     annotations={"summary": "{{ entity }}: {{ group.host }} peaked at {{ peak_score | round(1) }} "
                                             "({{ features | join(', ') }})"})
    (alert,) = incident_alerts(incident(), rule, CTX, now_ms=1_800_000)
    assert alert["labels"] == {"alertname": "AdmonIncident", "team": "storage",
                               "host": "web-1", "entity": "xrootd", "entity_id": "7", "incident_id": "ab" * 32}
    assert alert["annotations"]["summary"] == "xrootd: web-1 peaked at 97.0 (gled)"
    assert alert["startsAt"] == "1970-01-01T00:00:00.000Z"
    assert alert["endsAt"] == "1970-01-01T00:45:00.000Z"  # three 5-minute windows after now
    assert alert["generatorURL"].startswith("http://admon.example:8000/entities/7?group=host%3Dweb-1&")
    (resolved,) = incident_alerts(incident(end_ms=1_800_000, status="resolved", revision=3), rule, CTX,
                                  now_ms=2_400_000)
    assert resolved["endsAt"] == "1970-01-01T00:30:00.000Z"  # the incident's end
    assert resolved["labels"] == alert["labels"] and resolved["id"] != alert["id"]


def test_a_growing_peak_stays_one_alert_whose_severity_annotation_follows_it():
    rule = AlertRule(None, None, "default")
    before = incident(peak_score=30.0)
    after = incident(peak_score=97.0, revision=2, status="updated")
    (current,) = incident_alerts(after, rule, CTX, now_ms=1_800_000, previous=before)
    (first,) = incident_alerts(before, rule, CTX, now_ms=1_500_000)
    assert current["labels"] == first["labels"] and "severity" not in current["labels"]
    assert (first["annotations"]["severity"], current["annotations"]["severity"]) == ("minor", "critical")


def test_a_rule_that_routes_on_severity_ends_the_alert_under_the_old_labels():
    rule = AlertRule(None, None, "by-band", labels={"severity": "{{ severity }}"})
    before = incident(peak_score=30.0)
    after = incident(peak_score=97.0, revision=2, status="updated")
    ended, current = incident_alerts(after, rule, CTX, now_ms=1_800_000, previous=before)
    assert (ended["labels"]["severity"], current["labels"]["severity"]) == ("minor", "critical")
    assert ended["endsAt"] < current["endsAt"]


def test_bad_rules_are_config_errors_naming_the_field_and_nothing_is_stored(scripted_entity):
    entity = scripted_entity
    cases = [
        (dict(entity=99_999, name="x"), r"entity: no detection entity 99999"),
        (dict(entity=entity.id, name="x", min_duration_minutes=-5),
         r"min_duration_minutes: -5.0 is negative; give 0 \(any duration\) or more minutes"),
        (dict(entity=entity.id, name="x", min_score=150), r"min_score 150.0 is off the calibrated 0-100 scale"),
        (dict(entity=entity.id, name="x", groups={"site": ["cern"]}),
         r"groups.site: the entity does not group by 'site'; use one of its group keys \(host\)"),
        (dict(entity=entity.id, name="x", annotations={"summary": "{{ hots }}"}),
         r"annotations.summary: template '\{\{ hots \}\}' cannot be rendered: 'hots' is undefined; use only"),
        (dict(entity=entity.id, name="x", labels={"team": "{% if %}"}), r"labels.team: template"),
        (dict(entity=entity.id, name="x", labels={"bad-name": "a"}), r"labels.bad-name: 'bad-name' is not a valid"),
        (dict(entity=entity.id, name="x", labels={"host": "a"}), r"labels.host: admon sets the label 'host'"),
        (dict(entity=entity.id, name="x", colour="red"), r"unknown field 'colour'; remove it"),
    ]
    for fields, message in cases:
        with pytest.raises(ConfigError, match=message):
            add_alert_rule(fields.pop("entity"), **fields)
    assert entity.alert_rules() == []  # nothing half-saved

    rule = entity.add_alert_rule("web", min_score=80, groups={"host": ["h*"]},
                                 annotations={"summary": "{{ entity }} {{ group.host }}"})
    assert [r.name for r in entity.alert_rules()] == ["web"] and rule.id is not None
    entity.delete_alert_rule(rule.id)
    assert entity.alert_rules() == []
