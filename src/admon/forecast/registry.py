"""The one name -> forecaster class registry, used by the API, the CLI, backtests and jobs.

>>> from admon.forecast import available, create, from_dict
>>> available()
['arima', 'ets', 'gbm', 'lstm', 'seasonal_naive']
>>> f = create("lstm", look_back=20, epochs=1)
>>> from_dict(f.to_dict()).config == f.config
True
>>> create("prophet")
Traceback (most recent call last):
...
admon.errors.ConfigError: unknown forecaster 'prophet'; use one of: arima, ets, gbm, lstm, seasonal_naive
"""

from __future__ import annotations

from typing import Any

from admon.errors import ConfigError
from admon.forecast.base import Forecaster
from admon.forecast.learned import LSTM, GradientBoosting
from admon.forecast.statistical import ARIMA, ETS, SeasonalNaive

REGISTRY: dict[str, type[Forecaster]] = {
    cls.name: cls for cls in (SeasonalNaive, ETS, ARIMA, GradientBoosting, LSTM)
}


def available() -> list[str]:
    """Names of the registered forecasters, sorted."""
    return sorted(REGISTRY)


def get(name: str) -> type[Forecaster]:
    """The forecaster class registered as ``name``."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown forecaster {name!r}; use one of: {', '.join(available())}") from None


def create(name: str, **params: Any) -> Forecaster:
    """A new, unfitted forecaster ``name`` with ``params`` (validated by its config)."""
    return get(name)(**params)


def from_dict(spec: dict[str, Any]) -> Forecaster:
    """The forecaster described by ``{"name": ..., **params}`` (what ``to_dict`` writes)."""
    if not isinstance(spec, dict) or "name" not in spec:
        raise ConfigError(f"forecaster spec {spec!r} needs a 'name' key, e.g. {{'name': 'gbm'}}")
    params = dict(spec)
    return create(params.pop("name"), **params)
