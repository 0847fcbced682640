"""admon: anomaly detection on monitoring data, as a service.

The names of the user's code (see DESIGN.md) are importable from here. They are
loaded on first use, so ``import admon`` stays cheap and does no work.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "SourceConfig": "admon.config",
    "InputDataConfig": "admon.config",
    "DataSource": "admon.data.source",
    "PrometheusSource": "admon.data.prometheus",
    "InfluxSource": "admon.data.influx",
    "ReadReport": "admon.data.report",
    "Project": "admon.registry.api",
    "DetectionEntity": "admon.registry.api",
    "Settings": "admon.settings",
    "load_settings": "admon.settings",
    "AdmonError": "admon.errors",
    "ConfigError": "admon.errors",
    "DataError": "admon.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'admon' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
