"""Frames for detector tests: small, seeded, several hosts, two value columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

STEP = 300_000  # 5-minute buckets
T0 = 1_652_169_600_000

# Parameters that keep each built-in fast on test-sized data. Detectors registered by
# other modules run with their defaults.
FAST_PARAMS: dict[str, dict] = {
    "autoencoder": {"epochs": 2, "hidden": 8, "window": 6},
    "lstm_forecaster": {"epochs": 2, "hidden": 8, "window": 6},
    "seasonal_stl": {"period_seconds": 3600},
    "isolation_forest": {"n_estimators": 25},
    "ensemble": {"members": [{"name": "robust_zscore"}, {"name": "isolation_forest", "n_estimators": 10}]},
}


def make_frame(hosts=("h1", "h2", "h3"), n=160, seed=0, spike: tuple[str, int, str, float] | None = None):
    """A data-layer-shaped frame: host (str), timestamp (int64 ms), gled_value, alice_value."""
    rng = np.random.default_rng(seed)
    parts = []
    t = np.arange(n)
    for i, h in enumerate(hosts):
        gled = 100 + 10 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 1, n) + i
        alice = 5 + rng.normal(0, 0.5, n)
        parts.append(pd.DataFrame({"host": h, "timestamp": T0 + t.astype("int64") * STEP,
                                   "gled_value": gled, "alice_value": alice}))
    frame = pd.concat(parts, ignore_index=True)
    frame["host"] = frame["host"].astype("str")
    if spike is not None:
        host, idx, col, value = spike
        frame.loc[(frame["host"] == host) & (frame["timestamp"] == T0 + idx * STEP), col] = value
    return frame


@pytest.fixture
def frame() -> pd.DataFrame:
    return make_frame()


@pytest.fixture
def frame_factory():
    return make_frame


@pytest.fixture
def fast_params():
    return FAST_PARAMS
