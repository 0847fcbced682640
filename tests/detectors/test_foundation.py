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


def test_the_compiled_forward_gives_the_torch_networks_quantiles():
    import torch

    from admon.pretrain.model import ForecastStream, model_inputs, network_arrays, normalise

    det = create("foundation").fit(make_frame())
    module = det._network()
    x = np.random.default_rng(5).normal(size=1500).cumsum()
    x[[0, 40, 41, 700]] = np.nan
    fc = ForecastStream(network_arrays(module), module.context).advance(x)
    z, _, _, missing = normalise(x, module.context)
    with torch.no_grad():
        expected = module(torch.from_numpy(model_inputs(z, missing)[None]))[0].numpy().T
    # row t of the forecast is what the network said at t - 1; torch computes in float32
    np.testing.assert_allclose(fc.quantiles[1:], expected[:-1], rtol=1e-5, atol=1e-4)
    assert (fc.quantiles[0] == 0).all()


def test_a_series_scored_in_pieces_gives_the_scores_of_the_series_whole():
    x = 50 + 20 * np.sin(np.arange(1400) / 30.0) + np.random.default_rng(2).normal(0, 1, 1400)
    x[:3] = np.nan  # missing at the start
    x[600:640] = np.nan  # and in the middle
    x[900] += 30
    frame = _series(x)
    det = create("foundation").fit(frame.iloc[:50])
    whole = det.feature_scores(frame).to_numpy()
    streams = det.start_streams(("h",), None)
    pieces = []
    for part in np.split(np.arange(len(x)), [10, 11, 620, 1100, 1101]):  # 7 finite points < MIN_HISTORY first
        arrays = {f"f{j}.{name}": array.copy() for j, s in enumerate(streams) for name, array in s.arrays().items()}
        assert {a.dtype.str for a in arrays.values()} <= {"<f8", "<i8"}
        streams = det.stream_states(arrays, 1)
        pieces.append(det.advance_streams(streams, x[part, None], ("h",)))
    np.testing.assert_array_equal(np.vstack(pieces), whole)
    assert int(np.argmax(whole[:, 0])) == 900


def test_an_adapted_head_scores_through_the_streams_too():
    frame = make_frame(hosts=("h1",), n=300)
    det = create("foundation").fit(frame, adapt_epochs=2)
    values = frame[det.feature_columns_].to_numpy(dtype=float)
    streams = det.start_streams(("h1",), None)
    got = np.vstack([det.advance_streams(streams, values[:150]), det.advance_streams(streams, values[150:])])
    np.testing.assert_array_equal(got, det.feature_scores(frame).to_numpy())
    np.testing.assert_array_equal(det.combine_features(got), det.score(frame).to_numpy())
