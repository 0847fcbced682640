"""Event, point-adjusted, range-based and AUC-PR metrics on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from admon.errors import ConfigError
from admon.evaluation.metrics import (
    auc_pr,
    event_counts,
    event_f1,
    point_adjust,
    point_adjusted_f1,
    range_precision_recall,
    to_events,
)


def test_to_events_edges():
    assert to_events([]) == []
    assert to_events([1, 1, 0, 0, 1]) == [(0, 1), (4, 4)]
    assert to_events([0, 0]) == []


def test_event_f1_orion_overlap_rules():
    # labelled: [2,4], [10,11], [20,25]; detected: [4,5] (hits first), [6,6] (FP),
    # [21,21] and [24,24] (both hit the third: one TP, neither is an FP)
    lab = np.zeros(30, int)
    lab[2:5] = 1
    lab[10:12] = 1
    lab[20:26] = 1
    pred = np.zeros(30, int)
    pred[4:7] = 1  # one run [4,6] overlapping the first event
    pred[21] = pred[24] = 1
    assert event_counts(to_events(lab), to_events(pred)) == (2, 0, 1)
    prf = event_f1(lab, pred)
    assert prf.precision == 1.0 and prf.recall == pytest.approx(2 / 3)
    assert prf.f1 == pytest.approx(0.8)
    # touching is overlapping (Orion pads the end by one), adjacency is not
    assert event_counts([(2, 4)], [(4, 4)]) == (1, 0, 0)
    assert event_counts([(2, 4)], [(5, 6)]) == (0, 1, 1)


def test_event_f1_nothing_detected_is_zero():
    assert event_f1([0, 1, 1, 0], [0, 0, 0, 0]) == (0.0, 0.0, 0.0)


def test_point_adjusted_f1_by_hand():
    lab = [0, 1, 1, 1, 1, 0, 0, 0, 1, 1]
    pred = [1, 0, 0, 1, 0, 0, 0, 0, 0, 0]
    adj = point_adjust(lab, pred)
    assert adj.astype(int).tolist() == [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    # tp = 4, fp = 1, fn = 2 -> P = 0.8, R = 4/6
    prf = point_adjusted_f1(lab, pred)
    assert prf.precision == pytest.approx(0.8)
    assert prf.recall == pytest.approx(4 / 6)
    assert prf.f1 == pytest.approx(2 * 0.8 * (4 / 6) / (0.8 + 4 / 6))


def test_range_precision_recall_by_hand():
    # real range R = [2, 9] (8 rows); predicted P1 = [0, 3], P2 = [8, 8]
    lab = np.zeros(12, int)
    lab[2:10] = 1
    pred = np.zeros(12, int)
    pred[0:4] = 1
    pred[8] = 1
    # recall (alpha=0, flat, reciprocal): gamma = 1/2, overlaps 2 rows + 1 row of 8 -> 0.5 * 3/8
    prf = range_precision_recall(lab, pred)
    assert prf.recall == pytest.approx(0.5 * 3 / 8)
    # precision: P1 overlaps 2 of its 4 rows, P2 1 of 1 -> mean(0.5, 1) = 0.75
    assert prf.precision == pytest.approx(0.75)
    # alpha = 1: recall is pure existence
    assert range_precision_recall(lab, pred, alpha=1.0).recall == 1.0
    # cardinality "one": no 1/2 penalty
    assert range_precision_recall(lab, pred, cardinality="one").recall == pytest.approx(3 / 8)


def test_range_positional_bias_front_by_hand():
    # R = [0, 3]: front weights 4,3,2,1 (sum 10); P covers rows 0..1 -> 7/10
    lab = [1, 1, 1, 1, 0]
    pred = [1, 1, 0, 0, 0]
    assert range_precision_recall(lab, pred, bias="front").recall == pytest.approx(0.7)
    assert range_precision_recall(lab, pred, bias="back").recall == pytest.approx(0.3)
    # middle weights 1,2,2,1 -> 3/6
    assert range_precision_recall(lab, pred, bias="middle").recall == pytest.approx(0.5)
    with pytest.raises(ConfigError):
        range_precision_recall(lab, pred, alpha=2.0)


def test_auc_pr_by_hand_and_against_sklearn():
    # sorted: 1(0.9) 0(0.8) 1(0.7) 0(0.1): P at R=0.5 is 1, at R=1 is 2/3 -> 0.5 + 1/3
    assert auc_pr([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]) == pytest.approx(0.5 + 1 / 3)
    # ties enter together
    assert auc_pr([1, 0], [0.5, 0.5]) == pytest.approx(0.5)
    rng = np.random.default_rng(0)
    lab = rng.random(500) < 0.1
    s = np.round(rng.random(500) + lab * 0.3, 2)
    assert auc_pr(lab, s) == pytest.approx(average_precision_score(lab, s))
    assert auc_pr([0, 0], [0.1, 0.2]) == 0.0
