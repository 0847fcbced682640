"""Threshold regimes and leave-one-category-out against brute force with the NAB scorer."""

from __future__ import annotations

import math

import numpy as np
import pytest

from admon.errors import DataError
from admon.evaluation.corpus import load_corpus, read_results
from admon.evaluation.nab import PROFILES, corpus_nab_scores, optimize_threshold, score_file
from admon.evaluation.protocol import ThresholdProtocol, threshold_protocol

STANDARD = PROFILES["standard"]
PUBLISHED = ["numenta", "contextOSE", "ARTime", "knncad", "windowedGaussian"]


def _random_corpus(seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Three categories, one without windows; quantised scores so that thresholds tie."""
    rng = np.random.default_rng(seed)
    files = {}
    for cat, n_files, has_windows in [("a", 4, True), ("b", 3, True), ("none", 2, False)]:
        for i in range(n_files):
            n = int(rng.integers(300, 900))
            s = np.round(rng.random(n) ** 6, 2)
            wins = []
            if has_windows:
                for lo in sorted(rng.choice(np.arange(150, n - 40, 60), size=2, replace=False)):
                    wins.append([lo, lo + int(rng.integers(5, 30))])
                    s[lo + int(rng.integers(0, 5))] = round(float(rng.random()), 2)
            files[f"{cat}/f{i}.csv"] = (s, np.array(wins, dtype=np.int64).reshape(-1, 2))
    return files


def _raw(files, keys, threshold):
    return sum(score_file(files[k][0], files[k][1], STANDARD, threshold).score for k in keys)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_regime_matches_brute_force_with_the_nab_scorer(seed):
    files = _random_corpus(seed)
    res = threshold_protocol(files)
    pairs = list(files.values())
    perfect = float(sum(len(w) for _, w in pairs))
    null = optimize_threshold([(np.full(len(s), 0.5), w) for s, w in pairs], STANDARD).score
    assert (res.null, res.perfect) == (pytest.approx(null), perfect)

    def norm(raw):
        return 100 * (raw - null) / (perfect - null)

    shared = optimize_threshold(pairs, STANDARD)
    assert res.shared_threshold == shared.threshold
    assert res.shared == pytest.approx(norm(_raw(files, files, shared.threshold)))
    per_file = sum(optimize_threshold([files[k]], STANDARD).score for k in files)
    assert res.per_file == pytest.approx(norm(per_file))
    for k in files:
        assert res.file_thresholds[k] == optimize_threshold([files[k]], STANDARD).threshold
    cats = {"a": [k for k in files if k.startswith("a/")], "b": [k for k in files if k.startswith("b/")],
            "none": [k for k in files if k.startswith("none/")]}
    per_cat = sum(optimize_threshold([files[k] for k in ks], STANDARD).score for ks in cats.values())
    assert res.per_category == pytest.approx(norm(per_cat))
    loco_raw, loco_norm = 0.0, []
    for cat, ks in cats.items():
        others = [files[k] for k in files if k not in ks]
        t = optimize_threshold(others, STANDARD).threshold
        raw = _raw(files, ks, t)
        got = res.categories[cat]
        assert got.loco_threshold == t
        assert got.loco_raw == pytest.approx(raw)
        loco_raw += raw
        if cat != "none":
            cat_null = optimize_threshold([(np.full(len(files[k][0]), 0.5), files[k][1]) for k in ks], STANDARD).score
            cat_perfect = float(sum(len(files[k][1]) for k in ks))
            loco_norm.append(100 * (raw - cat_null) / (cat_perfect - cat_null))
            assert got.loco == pytest.approx(loco_norm[-1])
    assert math.isnan(res.categories["none"].loco)  # no window: undefined, left out of the mean ...
    assert res.categories["none"].loco_raw <= 0  # ... but its false positives cost in the pooled score
    assert res.loco_mean == pytest.approx(np.mean(loco_norm))
    assert res.loco_pooled == pytest.approx(norm(loco_raw))
    assert res.per_file >= res.per_category >= res.shared
    assert res.gap == pytest.approx(res.per_file - res.shared)


def test_shared_equals_nab_scorer_on_the_vendored_slice(nab_fixture, nab_fixture_reference):
    corpus = load_corpus(nab_fixture)
    protocol = ThresholdProtocol.from_corpus(corpus)
    for detector in ["numenta", "windowedGaussian", "knncad"]:
        res = protocol.evaluate(read_results(nab_fixture / "results", detector, corpus))
        assert res.shared == pytest.approx(nab_fixture_reference["normalized"][detector]["standard"], abs=0.01)
        assert res.shared_threshold == pytest.approx(
            nab_fixture_reference["raw"][detector]["standard"]["threshold"], abs=0.01)


@pytest.mark.parametrize("detector", PUBLISHED)
def test_shared_equals_nab_scorer_on_the_dev_subset(nab_dev, detector):
    corpus = load_corpus(nab_dev)
    scores = read_results(nab_dev / "results", detector, corpus)
    res = ThresholdProtocol.from_corpus(corpus).evaluate(scores)
    ref = corpus_nab_scores(corpus, scores, profiles={"standard": STANDARD})["standard"]
    assert res.shared == pytest.approx(ref.normalized, abs=1e-6)
    assert res.shared_threshold == ref.threshold
    assert set(res.categories) == {"artificialNoAnomaly", "artificialWithAnomaly", "realAWSCloudwatch",
                                   "realAdExchange"}
    assert res.per_file >= res.per_category >= res.shared


def test_scores_must_match_the_corpus():
    files = _random_corpus(0)
    protocol = ThresholdProtocol({k: w for k, (_, w) in files.items()}, {k: len(s) for k, (s, _) in files.items()})
    scores = {k: s for k, (s, _) in files.items()}
    with pytest.raises(DataError, match="no scores for"):
        protocol.evaluate({k: v for k, v in list(scores.items())[1:]})
    key = next(iter(scores))
    with pytest.raises(DataError, match="give one score per row"):
        protocol.evaluate(scores | {key: scores[key][:-1]})
