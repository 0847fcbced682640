"""The expected value and band the entity plot draws behind each input series.

A detector that can say what it expected (``expected(frame)``: the robust z-score, EWMA and
seasonal detectors, :mod:`admon.detectors.statistical`) gives, per bucket, the value it
expected and a band of a few of its scales; the plot shows it when the entity's stored model
has such a detector and scores the series as they are read (no transforms in between, which
would put the band on another scale). Otherwise the plot has no band and says why.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import pandas as pd

from admon.errors import AdmonError
from admon.registry.models import EntityRow
from admon.runs.inference import load_model
from admon.settings import Settings

log = logging.getLogger("admon.service")


def expected_band(settings: Settings, entity: EntityRow, frame: pd.DataFrame,
                  value_columns: list[str]) -> tuple[dict[str, dict[str, list]] | None, str | None]:
    """``({column: {"mean", "lower", "upper"}}, None)`` aligned to ``frame``'s rows (one group,
    in time order), or ``(None, why not)``."""
    if not len(frame):
        return None, "no input in this range"
    try:
        model = load_model(entity.inference_namespace, entity.inference_model, store=settings.model_store,
                           expected_sha256=entity.model_sha256)
    except AdmonError as exc:
        return None, f"the entity's model cannot be loaded: {exc}"
    detector = getattr(model, "detector", None)
    if detector is None or not hasattr(detector, "expected"):
        return None, f"the model's detector ({getattr(model, 'config', {}).get('name', 'remote')}) gives no expected value"
    manifest = getattr(model, "manifest", None)
    if manifest is not None and manifest.transforms:
        return None, "the model transforms the input before the detector: its expected values are on another scale"
    try:
        band = detector.expected(frame)
    except AdmonError as exc:  # e.g. the frame lacks a feature the model was trained on
        log.info("no expected band for entity %s: %s", entity.id, exc)
        return None, f"the model cannot score this input: {exc}"
    out: dict[str, dict[str, list]] = {}
    for column in value_columns:
        if f"{column}:expected" in band.columns:
            out[column] = {part: [_num(v) for v in band[f"{column}:{key}"]]
                           for part, key in (("mean", "expected"), ("lower", "lower"), ("upper", "upper"))}
    return (out or None), (None if out else "the model was trained on other columns")


def _num(value: Any) -> float | None:
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value
