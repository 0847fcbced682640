"""Frames for detector tests: small, seeded, several hosts, two value columns."""

from __future__ import annotations

import pandas as pd
import pytest

from admon.testing.checks import make_frame

# Parameters that keep each built-in fast on test-sized data. Detectors registered by
# other modules run with their defaults.
FAST_PARAMS: dict[str, dict] = {
    "autoencoder": {"epochs": 2, "hidden": 8, "window": 6},
    "lstm_forecaster": {"epochs": 2, "hidden": 8, "window": 6},
    "seasonal_stl": {"period_seconds": 3600},
    "isolation_forest": {"n_estimators": 25},
    "ensemble": {"members": [{"name": "robust_zscore"}, {"name": "isolation_forest", "n_estimators": 10}]},
}


@pytest.fixture
def frame() -> pd.DataFrame:
    return make_frame()


@pytest.fixture
def frame_factory():
    return make_frame


@pytest.fixture
def fast_params():
    return FAST_PARAMS
