"""Incidents from hand-built windows: merge, peak, features, open -> updated -> resolved."""

from __future__ import annotations

import pytest

from admon.incidents import (
    OPEN,
    RESOLVED,
    UPDATED,
    IncidentChange,
    WindowResult,
    group_id,
    incident_document,
    incident_id,
    incident_state_id,
    merge_window,
    window_results,
)

MIN = 60_000
H1, H2 = {"host": "h1"}, {"host": "h2"}


def anomalous(group, end_min, score, features=("cpu",), run_id=None, interval_min=15):
    return WindowResult(dict(group), (end_min - interval_min) * MIN, end_min * MIN, score,
                        (end_min - 1) * MIN, list(features), run_id if run_id is not None else end_min)


def replay(windows, quiet_windows=2, entity_id=7):
    """Feed windows ``(end_min, [results])`` in order; every change, and the final incidents by id."""
    open_incidents: dict = {}
    every: list[IncidentChange] = []
    final: dict = {}
    for end_min, results in windows:
        changes = merge_window(entity_id, open_incidents, results, window_end_ms=end_min * MIN,
                               quiet_windows=quiet_windows)
        for change in changes:
            inc = change.incident
            final[inc.id] = inc
            if inc.is_open:
                open_incidents[group_id(inc.group)] = inc
            else:
                open_incidents.pop(group_id(inc.group), None)
        every += changes
    return every, final


def test_overlapping_anomalous_windows_of_one_group_are_one_incident():
    # a 15-minute window sliding by 5: 11 anomalous windows in a row, then quiet
    windows = [(end, [anomalous(H1, end, 90.0 + (end == 50) * 5)]) for end in range(15, 70, 5)]
    windows += [(70, []), (75, [])]
    changes, final = replay(windows)
    assert len(final) == 1
    (incident,) = final.values()
    assert incident.id == incident_id(7, H1, 0)
    assert (incident.start_ms, incident.end_ms) == (0, 65 * MIN)
    assert incident.peak_score == 95.0 and incident.peak_timestamp_ms == 49 * MIN
    assert incident.status == RESOLVED and incident.revision == 12
    assert incident.run_ids == list(range(15, 70, 5))
    statuses = [c.incident.status for c in changes if c.emits]
    assert statuses == [OPEN] + [UPDATED] * 10 + [RESOLVED]


def test_an_open_incident_has_no_end_and_one_quiet_window_does_not_split_it():
    changes, final = replay([(15, [anomalous(H1, 15, 80)]), (20, []), (25, [anomalous(H1, 25, 85)])])
    (incident,) = final.values()
    assert incident.end_ms is None and incident.status == UPDATED and incident.quiet_windows == 0
    assert [c.emits for c in changes] == [True, False, True]


def test_quiet_windows_is_configurable():
    _, final = replay([(15, [anomalous(H1, 15, 80)]), (20, []), (25, [anomalous(H1, 25, 85)])],
                      quiet_windows=1)
    assert sorted((i.start_ms, i.end_ms, i.status) for i in final.values()) == [
        (0, 15 * MIN, RESOLVED), (10 * MIN, None, OPEN)]
    with pytest.raises(ValueError, match="quiet_windows must be at least 1, got 0"):
        merge_window(7, {}, [], window_end_ms=0, quiet_windows=0)


def test_groups_have_their_own_incidents():
    _, final = replay([(15, [anomalous(H1, 15, 80), anomalous(H2, 15, 70)]), (20, [anomalous(H2, 20, 75)]),
                       (25, []), (30, [])])
    by_group = {group_id(i.group): i for i in final.values()}
    assert by_group[group_id(H1)].end_ms == 15 * MIN and by_group[group_id(H2)].end_ms == 20 * MIN
    assert {i.status for i in final.values()} == {RESOLVED}


def test_an_anomaly_after_resolution_opens_a_new_incident():
    _, final = replay([(15, [anomalous(H1, 15, 80)]), (20, []), (25, []), (30, [anomalous(H1, 30, 90)])])
    assert sorted((i.status, i.start_ms) for i in final.values()) == [(OPEN, 15 * MIN), (RESOLVED, 0)]


def test_features_most_contributing_first_follow_the_peak():
    _, final = replay([(15, [anomalous(H1, 15, 80, ["cpu", "mem"])]),
                       (20, [anomalous(H1, 20, 95, ["disk", "cpu"])]),
                       (25, [anomalous(H1, 25, 85, ["net"])])])
    (incident,) = final.values()
    assert incident.features == ["disk", "cpu", "mem", "net"]


def test_a_window_at_or_before_the_last_anomalous_one_is_not_a_quiet_window():
    _, final = replay([(20, [anomalous(H1, 20, 80)]), (15, []), (20, [])])
    (incident,) = final.values()
    assert incident.status == OPEN and incident.quiet_windows == 0


def test_window_results_take_only_anomalous_documents_and_the_document_carries_the_state():
    docs = [
        {"group": H1, "window_start": 0, "window_end": 900_000, "anomaly_score": 99.0, "is_anomaly": True,
         "peak_timestamp": 600_000, "top_features": ["cpu"], "run_id": 3},
        {"group": H2, "window_start": 0, "window_end": 900_000, "anomaly_score": 10.0, "is_anomaly": False,
         "peak_timestamp": 600_000, "top_features": ["cpu"], "run_id": 3},
    ]
    (result,) = window_results(docs)
    assert result.group == H1 and result.run_id == 3
    (change,) = merge_window(7, {}, [result], window_end_ms=900_000)
    doc = incident_document(change.incident, entity_title="e", project_id=1, producer="p", updated_ms=5)
    assert doc["type"] == "anomaly_incident" and doc["incident_id"] == incident_id(7, H1, 0)
    assert doc["id"] == incident_state_id(incident_id(7, H1, 0), 1) != incident_state_id(incident_id(7, H1, 0), 2)
    assert (doc["status"], doc["revision"], doc["end"], doc["start"]) == ("open", 1, None, 0)
