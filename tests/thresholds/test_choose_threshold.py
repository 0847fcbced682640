"""The pure event-F1 threshold choice (admon.thresholds) and the run policy (admon.thresholds.policy)."""

from __future__ import annotations

import pandas as pd
import pytest

from admon.thresholds import LabelledEvent, choose_threshold, event_counts
from admon.thresholds.policy import RunPolicy, Suppression, apply_policy


def events(*pairs: tuple[str, float | None]) -> list[LabelledEvent]:
    return [LabelledEvent(verdict, peak) for verdict, peak in pairs]


def test_expected_events_are_neither_misses_nor_false_alarms():
    history = events(("confirmed", 90.0), ("expected", 99.0), ("expected", 40.0))
    assert event_counts(history, 95.0) == event_counts(events(("confirmed", 90.0)), 95.0)
    assert (event_counts(history, 95.0).fn, event_counts(history, 95.0).fp) == (1, 0)


def test_confirmed_low_scores_lower_the_threshold_and_false_alarms_raise_it():
    raise_it = events(("false_alarm", 80.0), ("false_alarm", 82.0), ("confirmed", 95.0), ("confirmed", 97.0),
                      ("false_alarm", 78.0))
    decision = choose_threshold(raise_it, current=75.0)
    assert decision.changed and decision.threshold == 88.5 and decision.evidence["f1_after"] == 1.0
    lower_it = events(("confirmed", 60.0), ("confirmed", 65.0), ("false_alarm", 52.0), ("confirmed", 90.0),
                      ("false_alarm", 55.0))
    decision = choose_threshold(lower_it, current=75.0)
    assert decision.changed and decision.threshold == 57.5


def test_the_threshold_stays_within_its_bounds():
    history = events(("false_alarm", 99.5), ("confirmed", 99.9), ("false_alarm", 99.6), ("confirmed", 99.95),
                     ("false_alarm", 99.7))
    decision = choose_threshold(history, current=75.0)
    # every threshold within 50..99 flags them all, as 75 does: nothing to gain, no change
    assert decision.threshold == 75.0 and decision.changed is False
    assert max(c["threshold"] for c in decision.evidence["candidates"]) == 99.0
    history = events(("confirmed", 55.0), ("false_alarm", 10.0), ("confirmed", 60.0), ("false_alarm", 40.0),
                     ("confirmed", 58.0))
    decision = choose_threshold(history, current=75.0)
    assert decision.changed and decision.threshold == 50.0  # the lowest allowed, not the midpoint 47.5


def test_no_change_without_enough_labels_or_without_a_better_f1():
    few = events(("confirmed", 90.0), ("false_alarm", 80.0), ("confirmed", 95.0), ("false_alarm", 70.0))
    decision = choose_threshold(few, current=75.0)
    assert not decision.changed and decision.reason.startswith("not enough labels: 4 scored verdicts")
    only_real = events(*[("confirmed", 90.0 + i) for i in range(6)])
    assert "at least 1 confirmed and 1 false alarm" in choose_threshold(only_real, current=75.0).reason
    unscored = events(("confirmed", None), ("false_alarm", None), ("confirmed", 90.0), ("false_alarm", 70.0),
                      ("confirmed", 91.0))
    assert choose_threshold(unscored, current=75.0).evidence["unscored"] == 2
    perfect = events(("confirmed", 90.0), ("false_alarm", 60.0), ("confirmed", 95.0), ("false_alarm", 70.0),
                     ("confirmed", 80.0))
    decision = choose_threshold(perfect, current=75.0)
    assert not decision.changed and decision.threshold == 75.0 and "already gives the best" in decision.reason


def test_bad_bounds_are_an_error():
    with pytest.raises(ValueError, match="bounds"):
        choose_threshold([], current=75.0, bounds=(90.0, 50.0))


def test_a_suppression_silences_only_its_group_and_window():
    per_group = pd.DataFrame({"host": ["a", "b", "c"], "anomaly_score": [95.0, 95.0, None],
                              "is_anomaly": [True, True, False], "threshold": [75.0] * 3,
                              "severity": ["major", "major", None], "peak_timestamp": [1_000, 1_000, None]})
    rule = Suppression(7, {"host": "a"}, 0, 2_000, "maintenance")
    out, silenced = apply_policy(per_group, RunPolicy(None, (rule,)), ["host"], window_end_ms=3_000)
    assert out["is_anomaly"].tolist() == [False, True, False] and silenced == 1
    assert out["anomaly_score"].tolist()[:2] == [95.0, 95.0] and out["severity"].tolist()[0] is None
    everyone = Suppression(8, {}, 2_000, 4_000, "outside the peaks")
    out, silenced = apply_policy(per_group, RunPolicy(None, (everyone,)), ["host"], window_end_ms=3_000)
    assert out["is_anomaly"].tolist() == [True, True, False] and silenced == 0
