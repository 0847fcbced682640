"""The default detector's compiled loops against pandas and numpy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from admon.detectors.kernels import rolling_quantiles


@pytest.mark.parametrize(("window", "min_periods"), [(1, 1), (5, 3), (64, 64), (500, 10)])
def test_rolling_quantiles_match_pandas_with_ties(window, min_periods):
    x = np.round(np.random.default_rng(window).standard_normal(300), 1)  # many ties
    qs = np.array([0.0, 0.1, 0.25, 0.5, 0.9, 1.0])
    got = rolling_quantiles(x, window, min_periods, qs)
    roll = pd.Series(x).rolling(window, min_periods=min_periods)
    for k, q in enumerate(qs):
        np.testing.assert_allclose(got[k], roll.quantile(q).to_numpy(), rtol=0, atol=1e-12)
