"""One conformance suite over every detector in ``admon.detectors.available()``.

It parametrises over the registry at collection time, so detectors registered by
other modules (e.g. the streaming default) are covered without editing this file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import admon.detectors as detectors
from admon.detectors.base import Detector
from admon.errors import ConfigError, NotFittedError

NAMES = detectors.available()


@pytest.fixture(params=NAMES)
def name(request):
    return request.param


def _make(name, fast_params, **extra):
    return detectors.create(name, **{**fast_params.get(name, {}), **extra})


def _check_scores(scores, frame):
    assert isinstance(scores, pd.Series)
    assert scores.dtype == np.float64
    assert scores.index.equals(frame.index)
    assert np.isfinite(scores.to_numpy()).all()


def test_builtins_are_registered():
    expected = {"robust_zscore", "ewma", "seasonal_stl", "isolation_forest", "lof", "one_class_svm",
                "pca", "autoencoder", "lstm_forecaster", "ensemble", "hbos"}
    assert expected <= set(NAMES)


def test_fit_returns_self_and_scores_are_finite_and_aligned(name, fast_params, frame):
    det = _make(name, fast_params)
    assert det.fit(frame) is det
    _check_scores(det.score(frame), frame)


def test_input_frame_is_unchanged(name, fast_params, frame):
    before = frame.copy(deep=True)
    det = _make(name, fast_params).fit(frame)
    det.score(frame)
    pd.testing.assert_frame_equal(frame, before)


def test_save_load_gives_identical_scores(name, fast_params, frame, tmp_path):
    det = _make(name, fast_params).fit(frame)
    det.save(tmp_path / "m")
    loaded = Detector.load(tmp_path / "m")
    assert type(loaded) is type(det)
    assert detectors.to_config(loaded) == detectors.to_config(det)
    np.testing.assert_array_equal(loaded.score(frame).to_numpy(), det.score(frame).to_numpy())


def test_saved_artifacts_are_not_pickles(name, fast_params, frame, tmp_path):
    _make(name, fast_params).fit(frame).save(tmp_path / "m")
    for path in (tmp_path / "m").rglob("*"):
        if path.is_file():
            assert path.suffix in {".json", ".npz", ".skops", ".safetensors"}, path
            assert not path.read_bytes().startswith(b"\x80"), f"{path} looks like a pickle"


def test_same_seed_gives_same_scores(name, fast_params, frame):
    a = _make(name, fast_params).fit(frame).score(frame)
    b = _make(name, fast_params).fit(frame).score(frame)
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())


def test_nan_gaps_are_handled(name, fast_params, frame_factory):
    frame = frame_factory()
    rng = np.random.default_rng(3)
    holes = rng.choice(len(frame), size=len(frame) // 10, replace=False)
    frame.loc[holes, "gled_value"] = np.nan
    frame.loc[frame.index[20:30], "alice_value"] = np.nan  # a whole gap
    frame = frame.drop(index=frame.index[40:45])  # missing buckets (absent rows)
    det = _make(name, fast_params).fit(frame)
    _check_scores(det.score(frame), frame)


def test_constant_series_raises_nothing(name, fast_params, frame_factory):
    frame = frame_factory(hosts=("c1", "c2"), n=80)
    frame["gled_value"] = 7.0
    frame["alice_value"] = 0.0
    det = _make(name, fast_params).fit(frame)
    scores = det.score(frame)
    _check_scores(scores, frame)
    bumped = frame.copy()
    bumped.loc[50, "gled_value"] = 8.0
    _check_scores(det.score(bumped), bumped)


def test_score_before_fit_raises_not_fitted(name, fast_params, frame):
    with pytest.raises(NotFittedError, match="fit"):
        _make(name, fast_params).score(frame)


def test_config_round_trips(name, fast_params):
    det = _make(name, fast_params)
    cfg = detectors.to_config(det)
    assert cfg["name"] == name
    assert detectors.to_config(detectors.from_config(cfg)) == cfg
    import json

    assert json.loads(json.dumps(cfg)) == cfg


def test_unknown_parameter_is_a_config_error_naming_it(name):
    with pytest.raises(ConfigError, match="no_such_param"):
        detectors.create(name, no_such_param=1)


def test_config_is_frozen(name, fast_params):
    det = _make(name, fast_params)
    with pytest.raises(Exception):
        det.config.features = ("x",)  # type: ignore[misc]


def test_row_order_does_not_change_a_rows_score(name, fast_params, frame):
    det = _make(name, fast_params).fit(frame)
    expected = det.score(frame)
    shuffled = frame.sample(frac=1.0, random_state=7)
    got = det.score(shuffled)
    assert got.index.equals(shuffled.index)
    np.testing.assert_allclose(got.sort_index().to_numpy(), expected.sort_index().to_numpy(), rtol=1e-5, atol=1e-6)


def test_unseen_group_and_short_window_are_scored(name, fast_params, frame, frame_factory):
    det = _make(name, fast_params).fit(frame)
    window = frame_factory(hosts=("h1", "new-host"), n=12, seed=5)
    _check_scores(det.score(window), window)


def test_empty_frame_scores_empty(name, fast_params, frame):
    det = _make(name, fast_params).fit(frame)
    scores = det.score(frame.iloc[0:0])
    assert len(scores) == 0 and scores.dtype == np.float64


def test_a_groups_scores_do_not_depend_on_the_other_groups(name, fast_params, frame):
    # what per-group scoring (and the Spark adapter, one group per task) relies on
    det = _make(name, fast_params).fit(frame)
    together = det.score(frame)
    for host in ("h1", "h3"):
        alone = frame[frame["host"] == host]
        np.testing.assert_allclose(det.score(alone).to_numpy(), together[alone.index].to_numpy(),
                                   rtol=1e-6, atol=1e-9)
