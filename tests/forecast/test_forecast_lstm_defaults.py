"""The LSTM forecaster's practical defaults (issue 17, part 3): mini-batches of 16, early
stopping on the last windows and an epoch cap; the NOTED slides' settings stay a preset."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

import admon.forecast as fc
from admon.errors import ConfigError
from admon.forecast.learned import LSTM_PRESETS, validation_size


def _noisy_sine(n: int = 400, seed: int = 1) -> pd.Series:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return pd.Series(10 + 3 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 1.0, n),
                     index=pd.date_range("2022-05-10", periods=n, freq="30min"))


def test_the_default_lstm_is_the_practical_preset_and_the_slides_preset_stays():
    cfg = fc.create("lstm").config
    assert cfg.preset == "practical"
    assert (cfg.batch_size, cfg.epochs, cfg.validation_fraction, cfg.patience) == (16, 30, 0.1, 3)
    noted = fc.create("lstm", preset="noted").config
    assert (noted.batch_size, noted.epochs, noted.validation_fraction, noted.look_back) == (1, 100, 0.0, 1)
    # Explicit parameters win over the preset, and a spec round-trips with its preset.
    corner = fc.create("lstm", preset="noted", look_back=20, batch_size=16)
    assert (corner.config.epochs, corner.config.batch_size, corner.config.look_back) == (100, 16, 20)
    assert fc.from_dict(corner.to_dict()).config == corner.config
    assert set(LSTM_PRESETS) == {"practical", "noted"}
    with pytest.raises(ConfigError, match=r"preset.*'slides'"):
        fc.create("lstm", preset="slides")


def test_early_stopping_stops_before_the_cap_and_keeps_the_best_epoch():
    series = _noisy_sine()
    model = fc.create("lstm", epochs=300, learning_rate=0.02, patience=2).fit(series)
    assert model.epochs_run_ < 300, "early stopping never stopped on a plateaued noisy sine"
    assert len(model.val_losses_) == model.epochs_run_
    assert model.best_epoch_ == int(np.argmin(model.val_losses_)) + 1 <= model.epochs_run_ - 2
    # The kept weights are the best epoch's: their loss on the held-out windows is the minimum.
    y = series.to_numpy()
    n_val = validation_size(len(y) - 1, 0.1)
    scaled_err = (model.fitted_.to_numpy()[-n_val:] - y[-n_val:]) / model.span_
    assert float(np.mean(scaled_err**2)) == pytest.approx(min(model.val_losses_), rel=1e-4)
    clone = pickle.loads(pickle.dumps(model))
    pd.testing.assert_frame_equal(clone.forecast(3), model.forecast(3))


def test_without_a_validation_split_every_epoch_runs():
    model = fc.create("lstm", preset="noted", epochs=3, batch_size=64).fit(_noisy_sine(120))
    assert (model.epochs_run_, model.val_losses_) == (3, [])
    assert np.isfinite(model.forecast(4).to_numpy()).all()


def test_the_noted_backtest_preset_uses_the_slides_settings():
    from admon.forecast.backtest import PRESETS, model_label, resolve_models

    models = [m for m in resolve_models("noted") if m.name == "lstm"]
    assert all(m.config.validation_fraction == 0.0 for m in models)
    assert model_label(models[0]) == "lstm(preset=noted, look_back=1, epochs=1, batch_size=1)"
    assert [m for m in PRESETS["default"] if m["name"] == "lstm"][0]["preset"] == "practical"
