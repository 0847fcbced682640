"""User transformation functions, applied identically at training and at inference.

A transform is a function ``f(frame, **params) -> frame`` registered by name
(``@register_transform("name")``) or through the ``admon.transforms`` entry-point
group. A model records the list of specs ``{"name": ..., **params}`` it was
trained with in its manifest, and every inference path (scheduled runs, the v2
endpoint) applies exactly that list before scoring.

>>> import pandas as pd
>>> frame = pd.DataFrame({"host": ["a", "a"], "timestamp": [0, 300_000], "v": [0.0, 9.0]})
>>> apply_transforms(frame, [{"name": "log1p", "columns": ["v"]}])["v"].round(3).tolist()
[0.0, 2.303]
>>> @register_transform("times_two")
... def times_two(frame, columns=()):
...     out = frame.copy()
...     for c in columns:
...         out[c] = out[c] * 2
...     return out
>>> apply_transforms(frame, [{"name": "times_two", "columns": ["v"]}])["v"].tolist()
[0.0, 18.0]
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from admon.errors import ConfigError, DataError
from admon.plugins import Registry

Transform = Callable[..., pd.DataFrame]
ENTRY_POINT_GROUP = "admon.transforms"
#: The one name -> transform function registry (plugins: entry-point group ``admon.transforms``).
TRANSFORMS: Registry[Transform] = Registry("transform", ENTRY_POINT_GROUP)


def register_transform(name: str) -> Callable[[Transform], Transform]:
    """Decorator registering ``f(frame, **params) -> frame`` under ``name``."""
    return TRANSFORMS.register(name)


def available_transforms() -> list[str]:
    return TRANSFORMS.names()


def validate_transforms(specs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Check every spec names a known transform with parameters it accepts."""
    out = []
    for spec in specs or []:
        if not isinstance(spec, dict) or "name" not in spec:
            raise ConfigError(f"a transform spec is {{'name': ..., **params}}; got {spec!r}")
        fn = TRANSFORMS.get(spec["name"])
        params = {k: v for k, v in spec.items() if k != "name"}
        sig = inspect.signature(fn)
        accepts_any = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
        allowed = [p for p in list(sig.parameters)[1:]]
        unknown = [k for k in params if k not in allowed]
        if unknown and not accepts_any:
            raise ConfigError(
                f"transform {spec['name']!r} has no parameter(s) {unknown}; valid: {', '.join(allowed)}"
            )
        out.append(dict(spec))
    return out


def apply_transforms(frame: pd.DataFrame, specs: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Apply ``specs`` in order; the input frame is not modified."""
    for spec in validate_transforms(specs):
        params = {k: v for k, v in spec.items() if k != "name"}
        result = TRANSFORMS.get(spec["name"])(frame, **params)
        if not isinstance(result, pd.DataFrame):
            raise DataError(f"transform {spec['name']!r} returned {type(result).__name__}, not a DataFrame")
        frame = result
    return frame


def _value_columns(frame: pd.DataFrame, columns: Sequence[str] | None) -> list[str]:
    if columns:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise DataError(f"transform column(s) {missing} not in frame columns {list(frame.columns)}")
        return list(columns)
    return [c for c in frame.columns if c != "timestamp" and pd.api.types.is_float_dtype(frame[c])]


@register_transform("log1p")
def log1p(frame: pd.DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """``log(1 + max(x, 0))`` of value columns: tames heavy-tailed traffic counters."""
    out = frame.copy()
    for c in _value_columns(frame, columns):
        out[c] = np.log1p(out[c].clip(lower=0.0))
    return out


@register_transform("clip")
def clip(frame: pd.DataFrame, columns: Sequence[str] | None = None, lower: float | None = None,
         upper: float | None = None) -> pd.DataFrame:
    """Clip value columns to ``[lower, upper]``."""
    out = frame.copy()
    for c in _value_columns(frame, columns):
        out[c] = out[c].clip(lower=lower, upper=upper)
    return out


@register_transform("ratio")
def ratio(frame: pd.DataFrame, numerator: str, denominator: str, name: str = "ratio") -> pd.DataFrame:
    """Add ``numerator / denominator`` as a new column (NaN where the denominator is 0)."""
    out = frame.copy()
    den = out[denominator].where(out[denominator] != 0)
    out[name] = out[numerator] / den
    return out
