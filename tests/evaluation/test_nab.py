"""The NAB scorer against NAB's own numbers and hand-computed cases."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from admon.evaluation.corpus import load_corpus, read_results
from admon.evaluation.nab import (
    PROFILES,
    corpus_nab_scores,
    nab_scores,
    optimize_threshold,
    probationary_length,
    row_weights,
    scaled_sigmoid,
    score_file,
    threshold_sweep,
)

STANDARD = PROFILES["standard"]


def _sig(x):
    return -1.0 if x > 3 else 2 / (1 + math.exp(5 * x)) - 1


@pytest.mark.parametrize("detector", ["numenta", "windowedGaussian", "knncad"])
def test_reproduces_nab_reference_on_vendored_slice(nab_fixture, nab_fixture_reference, detector):
    corpus = load_corpus(nab_fixture)
    res = corpus_nab_scores(corpus, read_results(nab_fixture / "results", detector, corpus))
    for profile, r in res.items():
        ref_raw = nab_fixture_reference["raw"][detector][profile]
        assert r.normalized == pytest.approx(nab_fixture_reference["normalized"][detector][profile], abs=0.01)
        assert r.raw == pytest.approx(ref_raw["raw"], abs=0.01)
        assert r.threshold == pytest.approx(ref_raw["threshold"], abs=0.01)
        assert r.null == pytest.approx(nab_fixture_reference["raw"]["null"][profile]["raw"], abs=1e-9)


def test_reproduces_reference_scores_of_nab_dev_subset(nab_dev):
    """The full 34-file check against ../shared/data/nab-dev/results/reference_scores.json."""
    NAB_DEV = nab_dev
    ref = json.loads((NAB_DEV / "results" / "reference_scores.json").read_text())
    corpus = load_corpus(NAB_DEV)
    assert len(corpus) == ref["files"]
    for detector in ["numenta", "windowedGaussian", "knncad"]:
        res = corpus_nab_scores(corpus, read_results(NAB_DEV / "results", detector, corpus))
        for profile, r in res.items():
            assert r.normalized == pytest.approx(ref["normalized"][detector][profile], abs=0.01)
            assert r.raw == pytest.approx(ref["raw"][detector][profile]["raw"], abs=0.01)
            assert r.threshold == pytest.approx(ref["raw"][detector][profile]["threshold"], abs=0.01)


def test_scaled_sigmoid_values():
    assert float(scaled_sigmoid(-1.0)) == pytest.approx(2 / (1 + math.exp(-5)) - 1)
    assert float(scaled_sigmoid(0.0)) == 0.0
    assert float(scaled_sigmoid(3.0)) == pytest.approx(2 / (1 + math.exp(15)) - 1)
    assert float(scaled_sigmoid(3.0001)) == -1.0


def test_probationary_length_caps_at_750_rows():
    assert probationary_length(100) == 15
    assert probationary_length(4999) == 749
    assert probationary_length(6000) == 750


def test_row_weights_by_hand():
    # 20 rows, one window rows 8..11 (width 4)
    w, win = row_weights(20, np.array([[8, 11]]), STANDARD)
    assert win.tolist() == [-1] * 8 + [0] * 4 + [-1] * 8
    max_tp = _sig(-1)
    # inside: position -(11 - i + 1) / 4
    assert w[8] == pytest.approx(_sig(-1.0) / max_tp) == pytest.approx(1.0)
    assert w[10] == pytest.approx(_sig(-0.5) / max_tp)
    assert w[11] == pytest.approx(_sig(-0.25) / max_tp)
    # before any window: -A_fp; after: A_fp * S(|i - 11| / 3)
    assert w[0] == pytest.approx(-0.11)
    assert w[12] == pytest.approx(0.11 * _sig(1 / 3))
    assert w[19] == pytest.approx(0.11 * _sig(8 / 3))


def test_hand_computed_file_score():
    scores = np.zeros(100)
    windows = np.array([[40, 49]])
    # probation = 15 rows; detection at 5 is ignored
    scores[5] = 1.0
    # earliest detection at 43: weight S(-(49-43+1)/10)/S(-1); 46 too but later (ignored)
    scores[43] = scores[46] = 1.0
    # false positives: at 30 (before the window: -0.11) and at 52 (0.11 * S(3/9))
    scores[30] = scores[52] = 1.0
    fs = score_file(scores, windows, STANDARD, threshold=0.5)
    expected = _sig(-0.7) / _sig(-1) - 0.11 + 0.11 * _sig(3 / 9)
    assert fs.score == pytest.approx(expected)
    assert (fs.tp, fs.fp, fs.fn) == (2, 2, 8)
    assert fs.tn == 100 - 15 - 10 - 2
    # a missed window costs A_fn
    assert score_file(np.zeros(100), windows, PROFILES["reward_low_FN_rate"], 0.5).score == -2.0


def test_sweep_and_optimizer_tie_break_to_highest_threshold():
    s = np.zeros(100)
    s[42] = 0.9  # detects the window
    s[45] = 0.8  # later in the same window: same score as 0.9
    s[70] = 0.7  # false positive far away
    rows = threshold_sweep([(s, np.array([[40, 49]]))], STANDARD)
    assert [r.threshold for r in rows] == [1.1, 0.9, 0.8, 0.7, 0.0]
    assert rows[0].score == -1.0
    assert rows[1].score == rows[2].score == pytest.approx(_sig(-0.8) / _sig(-1))
    assert rows[3].score == pytest.approx(rows[1].score + 0.11 * _sig(21 / 9))
    best = optimize_threshold([(s, np.array([[40, 49]]))], STANDARD)
    assert best.threshold == 0.9


def test_window_inside_probation_is_not_scored():
    s = np.zeros(100)
    res = nab_scores({"a": (s, np.array([[2, 5]])), "b": (s, np.array([[50, 59]]))})
    # only the window of b is scorable: null = -1, perfect counts both labelled windows
    assert res["standard"].null == -1.0
    assert res["standard"].perfect == 2.0


def test_normalisation_perfect_and_null():
    s = np.zeros(200)
    s[100] = 1.0
    res = nab_scores({"f": (s, np.array([[100, 119]]))})
    for name, r in res.items():
        assert r.normalized == pytest.approx(100.0), name
    res = nab_scores({"f": (np.full(200, 0.5), np.array([[100, 119]]))})
    assert all(r.normalized == 0.0 for r in res.values())
