"""Fixtures of the forecast tests."""

from __future__ import annotations

import pandas as pd
import pytest
from forecast_helpers import WebhookReceiver, seasonal_series


@pytest.fixture
def series() -> pd.Series:
    return seasonal_series()


@pytest.fixture
def receiver():
    r = WebhookReceiver()
    yield r
    r.close()
