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
admon.errors.ConfigError: invalid config for robust_zscore: unknown parameter 'windw'; valid parameters: features, group_by, window, min_periods, aggregate

Registering a detector of your own (modules listed in ``_BUILTIN_MODULES`` and the
``admon.detectors`` entry-point group are imported by :func:`available`):

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

import importlib
from collections.abc import Callable
from typing import Any, TypeVar

from admon.detectors.base import Detector, DetectorConfig
from admon.errors import ConfigError

__all__ = [
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

# Modules whose import registers built-in detectors (cheap: no heavy imports at top level).
_BUILTIN_MODULES = (
    "admon.detectors.statistical",
    "admon.detectors.sklearn_based",
    "admon.detectors.deep",
    "admon.detectors.ensemble",
    "admon.detectors.streaming",
)
ENTRY_POINT_GROUP = "admon.detectors"

_REGISTRY: dict[str, type[Detector]] = {}
_loaded = False

D = TypeVar("D", bound=type[Detector])


def register(name: str) -> Callable[[D], D]:
    """Class decorator adding a :class:`Detector` subclass to the registry under ``name``."""
    if not name or not name.replace("_", "").isalnum() or name != name.lower():
        raise ConfigError(f"detector name {name!r} must be lower_snake_case, e.g. 'my_detector'")

    def decorate(cls: D) -> D:
        if not (isinstance(cls, type) and issubclass(cls, Detector)):
            raise ConfigError(f"@register({name!r}) needs a Detector subclass, got {cls!r}")
        existing = _REGISTRY.get(name)
        if existing is not None and existing.__qualname__ != cls.__qualname__:
            raise ConfigError(f"detector name {name!r} is already used by {existing.__qualname__}")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def unregister(name: str) -> None:
    """Remove ``name`` from the registry (tests and notebooks)."""
    _REGISTRY.pop(name, None)


def _load_builtins() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in _BUILTIN_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # a real missing dependency inside the module: report it
                raise
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        ep.load()


def available() -> list[str]:
    """Sorted names of every registered detector."""
    _load_builtins()
    return sorted(_REGISTRY)


def get_class(name: str) -> type[Detector]:
    """The detector class registered as ``name``; ConfigError listing valid names otherwise."""
    _load_builtins()
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"unknown detector {name!r}; available detectors: {', '.join(sorted(_REGISTRY))}"
        ) from None


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
