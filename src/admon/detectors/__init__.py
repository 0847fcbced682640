"""Unsupervised anomaly detectors behind one interface, and their name registry.

One name -> class registry serves the API, the CLI and the stored entities:

>>> import admon.detectors as detectors
>>> "robust_zscore" in detectors.available()
True
>>> det = detectors.create("robust_zscore", window=12)
>>> cfg = detectors.to_config(det)
>>> cfg["name"], cfg["window"]
('robust_zscore', 12)
>>> detectors.to_config(detectors.from_config(cfg)) == cfg
True
>>> detectors.create("robust_zscore", windw=3)
Traceback (most recent call last):
...
admon.errors.ConfigError: invalid config for robust_zscore: unknown parameter 'windw'; remove it (valid parameters: features, group_by, window, min_periods, aggregate)

Registering a detector of your own (a plugin package declares it in the
``admon.detectors`` entry-point group instead, see :mod:`admon.plugins`; plugin authors
run the conformance suite of :mod:`admon.testing.checks` on it):

>>> from admon.detectors.base import Detector
>>> @detectors.register("always_zero")
... class AlwaysZero(Detector):
...     def _fit(self, frame): pass
...     def _score(self, frame): return [0.0] * len(frame)
>>> detectors.create("always_zero").name
'always_zero'
>>> detectors.unregister("always_zero")

Importing this package is cheap: heavy libraries (scikit-learn, PyOD,
statsmodels, torch) are imported inside ``fit``/``score`` of the detectors that use them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from admon.detectors.base import DETECTORS, Detector, DetectorConfig
from admon.errors import ConfigError

__all__ = [
    "DETECTORS",
    "ENTRY_POINT_GROUP",
    "Detector",
    "DetectorConfig",
    "available",
    "create",
    "from_config",
    "get_class",
    "register",
    "to_config",
    "unregister",
]

ENTRY_POINT_GROUP = DETECTORS.group

D = TypeVar("D", bound=type[Detector])


def register(name: str) -> Callable[[D], D]:
    """Class decorator adding a :class:`Detector` subclass to the registry under ``name``."""
    return DETECTORS.register(name)  # type: ignore[return-value]


def unregister(name: str) -> None:
    """Remove ``name`` from the registry (tests and notebooks)."""
    DETECTORS.unregister(name)


def available() -> list[str]:
    """Sorted names of every registered detector."""
    return DETECTORS.names()


def get_class(name: str) -> type[Detector]:
    """The detector class registered as ``name``; ConfigError listing valid names otherwise."""
    return DETECTORS.get(name)


def create(name: str, **params: Any) -> Detector:
    """A new, unfitted detector ``name`` with ``params`` (validated by its config)."""
    return get_class(name)(**params)


def from_config(config: dict[str, Any]) -> Detector:
    """Build a detector from ``{"name": ..., **params}`` (the inverse of :func:`to_config`)."""
    if not isinstance(config, dict) or "name" not in config:
        raise ConfigError(f"detector config needs a 'name' key, e.g. {{'name': 'robust_zscore'}}; got {config!r}")
    params = dict(config)
    return create(params.pop("name"), **params)


def to_config(detector: Detector) -> dict[str, Any]:
    """``{"name": ..., **params}`` of ``detector``: JSON-able, stable, round-trips."""
    return detector.get_config()
