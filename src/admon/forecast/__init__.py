"""Forecasting of link throughput (NOTED-style) and the actions it triggers.

``available()`` lists the forecasters, ``create(name, **params)`` makes one; each has
``fit(series) -> self`` and ``forecast(horizon) -> DataFrame[mean, lower, upper]``.
Names are loaded on first use, so importing this package stays cheap.

>>> import admon.forecast as fc
>>> "gbm" in fc.available()
True
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "available": "admon.forecast.registry",
    "create": "admon.forecast.registry",
    "from_dict": "admon.forecast.registry",
    "get": "admon.forecast.registry",
    "Forecaster": "admon.forecast.base",
    "ForecasterConfig": "admon.forecast.base",
    "backtest": "admon.forecast.backtest",
    "BacktestConfig": "admon.forecast.backtest",
    "PRESETS": "admon.forecast.backtest",
    "generate_fts_lake": "admon.forecast.fts_lake",
    "ThroughputRule": "admon.forecast.actions",
    "ForecastJobConfig": "admon.forecast.job",
    "run_forecast_job": "admon.forecast.job",
    "execute_forecast": "admon.forecast.scheduling",
    "save_forecast_job": "admon.forecast.scheduling",
    "load_forecast_job": "admon.forecast.scheduling",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'admon.forecast' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
