"""The foundation detector: zero-shot from the shipped weights, few-shot head adaptation, band, labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from admon.detectors import create
from admon.detectors.base import Detector
from admon.errors import DataError
from admon.pretrain.corpus import generate_corpus
from admon.testing.checks import STEP, T0, make_frame


def _series(values: np.ndarray, host: str = "h") -> pd.DataFrame:
    return pd.DataFrame({"host": host, "timestamp": T0 + np.arange(len(values), dtype="int64") * STEP,
                         "value": values.astype(float)})


def test_zero_shot_finds_a_spike_in_a_daily_pattern_it_never_saw():
    t = np.arange(2000)
    x = 50 + 20 * np.sin(2 * np.pi * t / 288) + np.random.default_rng(0).normal(0, 1, len(t))
    x[1500] += 15
    frame = _series(x)
    scores = create("foundation").fit(frame.iloc[:10]).score(frame)
    assert int(scores.idxmax()) == 1500
    assert scores[1500] > 3 * np.quantile(scores[600:], 0.99)


def test_fit_only_sets_state():
    a = create("foundation").fit(make_frame(seed=1))
    b = create("foundation").fit(make_frame(hosts=("x",), n=30, seed=9))
    other = make_frame(seed=4)
    np.testing.assert_array_equal(a.score(other).to_numpy(), b.score(other).to_numpy())
    assert a.adapted_epochs_ == 0 and len(a.weights_sha256_) == 64


def test_surprise_is_calibrated_on_held_back_normal_points():
    corpus = generate_corpus(seed=123, n_series=20, length=1500)  # another seed than the shipped training corpus
    det = create("foundation").fit(_series(corpus.values[0]))
    inside = []
    for values, labels in zip(corpus.values, corpus.labels, strict=True):
        s = det.score(_series(values)).to_numpy()[600:]
        ok = ~labels[600:] & np.isfinite(values[600:])
        inside.append(s[ok] <= 1.6449)  # within the 5-95 % band if calibrated
    coverage = float(np.concatenate(inside).mean())
    assert 0.75 < coverage < 0.98, coverage


def test_band_brackets_the_series_and_is_in_its_units():
    t = np.arange(800)
    frame = _series(1000 + 100 * np.sin(2 * np.pi * t / 96))
    band = create("foundation").fit(frame).band(frame)
    tail = band.iloc[400:]
    inside = (frame["value"].iloc[400:] >= tail["value_lower"]) & (frame["value"].iloc[400:] <= tail["value_upper"])
    assert inside.mean() > 0.8
    assert (tail["value_lower"] <= tail["value_expected"]).all() and (tail["value_expected"] <= tail["value_upper"]).all()
    assert 800 < tail["value_expected"].median() < 1200


def test_few_shot_adaptation_changes_the_head_and_survives_save_load(tmp_path):
    frame = make_frame(n=400)
    zero = create("foundation").fit(frame)
    adapted = create("foundation").fit(frame, adapt_epochs=3)
    assert adapted.adapted_epochs_ == 3
    assert not np.array_equal(zero.score(frame).to_numpy(), adapted.score(frame).to_numpy())
    adapted.save(tmp_path / "m")
    assert (tmp_path / "m" / "head.safetensors").is_file()
    loaded = Detector.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.score(frame).to_numpy(), adapted.score(frame).to_numpy())
    # the config form gives the same model as the keyword
    again = create("foundation", adapt_epochs=3).fit(frame)
    np.testing.assert_array_equal(again.score(frame).to_numpy(), adapted.score(frame).to_numpy())


def test_labelled_points_are_kept_out_of_the_adaptation():
    frame = make_frame(hosts=("h1",), n=400)
    frame.loc[200:230, "gled_value"] = 1e4  # a labelled incident
    labels = pd.Series(False, index=frame.index)
    labels[200:231] = True
    with_labels = create("foundation").fit(frame, adapt_epochs=5, labels=labels)
    without = create("foundation").fit(frame, adapt_epochs=5)
    assert not np.array_equal(with_labels.score(frame).to_numpy(), without.score(frame).to_numpy())
    with pytest.raises(DataError, match="aligned to the frame"):
        create("foundation").fit(frame, adapt_epochs=1, labels=[True, False])
