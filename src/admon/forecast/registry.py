"""The one name -> forecaster class registry, used by the API, the CLI, backtests and jobs.

Built-in forecasters register themselves (:func:`register`); a plugin package declares
its own in the ``admon.forecasters`` entry-point group (see :mod:`admon.plugins`).

>>> from admon.forecast import available, create, from_dict
>>> available()
['arima', 'ets', 'gbm', 'lstm', 'seasonal_naive']
>>> f = create("lstm", look_back=20, epochs=1)
>>> from_dict(f.to_dict()).config == f.config
True
>>> create("prophet")
Traceback (most recent call last):
...
admon.errors.ConfigError: unknown forecaster 'prophet'; available forecasters: arima, ets, gbm, lstm, seasonal_naive
"""

from __future__ import annotations

from typing import Any

from admon.errors import ConfigError
from admon.forecast.base import FORECASTERS, Forecaster, register_forecaster

__all__ = ["FORECASTERS", "available", "create", "from_dict", "get", "register", "unregister"]

register = register_forecaster


def unregister(name: str) -> None:
    """Remove ``name`` from the registry (tests and notebooks)."""
    FORECASTERS.unregister(name)


def available() -> list[str]:
    """Names of the registered forecasters, sorted."""
    return FORECASTERS.names()


def get(name: str) -> type[Forecaster]:
    """The forecaster class registered as ``name``."""
    return FORECASTERS.get(name)


def create(name: str, **params: Any) -> Forecaster:
    """A new, unfitted forecaster ``name`` with ``params`` (validated by its config)."""
    return get(name)(**params)


def from_dict(spec: dict[str, Any]) -> Forecaster:
    """The forecaster described by ``{"name": ..., **params}`` (what ``to_dict`` writes)."""
    if not isinstance(spec, dict) or "name" not in spec:
        raise ConfigError(f"forecaster spec {spec!r} needs a 'name' key, e.g. {{'name': 'gbm'}}")
    params = dict(spec)
    return create(params.pop("name"), **params)
