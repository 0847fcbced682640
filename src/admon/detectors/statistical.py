"""Per-group time-series detectors: robust rolling z-score, EWMA, seasonal (STL residual).

Each group (e.g. host) is scored on its own series, ordered by timestamp. The
first points of a short inference window have little history, so every detector
falls back to per-group statistics learned at ``fit`` (and to global ones for
a group never seen in training).

>>> import numpy as np, pandas as pd
>>> from admon.detectors import create
>>> ts = np.arange(48, dtype="int64") * 300_000
>>> vals = np.r_[np.tile([1.0, 1.2, 0.9, 1.1], 12)]
>>> vals[40] = 9.0
>>> frame = pd.DataFrame({"host": "h1", "timestamp": ts, "cpu": vals})
>>> s = create("robust_zscore", window=12).fit(frame).score(frame)
>>> int(s.idxmax())
40
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from admon.detectors import register
from admon.detectors.base import Detector, DetectorConfig, group_key_str

MAD_TO_SIGMA = 1.4826


def _robust_center_scale(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column median and MAD*1.4826 of a 2-D array, ignoring NaN (NaN where a column is empty)."""
    with np.errstate(all="ignore"), _quiet():
        med = np.nanmedian(x, axis=0)
        mad = np.nanmedian(np.abs(x - med[None, :]), axis=0) * MAD_TO_SIGMA
    return med, mad


class _quiet:
    """Silence numpy's 'All-NaN slice' RuntimeWarning: an empty column is expected here."""

    def __enter__(self):
        import warnings

        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


class _PerGroupBaseline(Detector):
    """Shared fit for per-group detectors: robust centre/scale per group and overall."""

    def _fit_baseline(self, frame: pd.DataFrame) -> None:
        x = self._values(frame)
        med, scale = _robust_center_scale(x)
        med = np.where(np.isfinite(med), med, 0.0)
        with np.errstate(all="ignore"), _quiet():
            std = np.nanstd(x, axis=0)
        scale = np.where(np.isfinite(scale) & (scale > 0), scale, np.where(np.isfinite(std), std, 0.0))
        # floor: a constant training series must not turn tiny deviations into infinities
        self.global_center_ = med.tolist()
        self.scale_floor_ = np.maximum(1e-3 * scale, 1e-6 * (np.abs(med) + 1.0)).tolist()
        self.global_scale_ = np.maximum(scale, self.scale_floor_).tolist()
        groups = {}
        for key, pos in self._iter_groups(frame):
            gm, gs = _robust_center_scale(x[pos])
            gm = np.where(np.isfinite(gm), gm, med)
            gs = np.where(np.isfinite(gs), gs, scale)
            groups[group_key_str(key)] = [gm.tolist(), np.maximum(gs, self.scale_floor_).tolist()]
        self.group_stats_ = groups

    def _baseline(self, key: tuple) -> tuple[np.ndarray, np.ndarray]:
        stats = self.group_stats_.get(group_key_str(key))
        if stats is None:
            return np.asarray(self.global_center_), np.asarray(self.global_scale_)
        return np.asarray(stats[0], dtype=float), np.asarray(stats[1], dtype=float)

    def _per_feature(self, frame: pd.DataFrame) -> np.ndarray:
        x = self._values(frame)
        out = np.zeros_like(x)
        for key, pos in self._iter_groups(frame):
            out[pos] = self._score_group(x[pos], key)
        return np.nan_to_num(out, nan=0.0)

    def _score_group(self, x: np.ndarray, key: tuple) -> np.ndarray:
        raise NotImplementedError

    def _aggregate(self, per_feature: np.ndarray) -> np.ndarray:
        if self.config.aggregate == "max":
            return per_feature.max(axis=1)
        return per_feature.mean(axis=1)

    def _score(self, frame: pd.DataFrame) -> np.ndarray:
        return self._aggregate(self._per_feature(frame))

    def _feature_scores(self, frame: pd.DataFrame) -> np.ndarray:
        return self._per_feature(frame)


class RobustZScoreConfig(DetectorConfig):
    window: int = Field(12, ge=2, description="Trailing points in the rolling median/MAD.")
    min_periods: int = Field(3, ge=1, description="History needed before the rolling stats are used.")
    aggregate: Literal["max", "mean"] = Field("max", description="How per-feature z-scores combine.")


@register("robust_zscore")
class RobustZScore(_PerGroupBaseline):
    """|x - rolling median| / (1.4826 * rolling MAD) over the previous ``window`` points of a group.

    The current point is excluded from its own baseline, so a spike does not
    hide itself. Before ``min_periods`` points of history the group's training
    median/MAD are used.
    """

    Config = RobustZScoreConfig
    multivariate = False

    def _fit(self, frame: pd.DataFrame) -> None:
        self._fit_baseline(frame)

    def _score_group(self, x: np.ndarray, key: tuple) -> np.ndarray:
        cfg = self.config
        center0, scale0 = self._baseline(key)
        df = pd.DataFrame(x)
        roll_med = df.rolling(cfg.window, min_periods=cfg.min_periods).median()
        dev = (df - roll_med).abs()
        roll_mad = dev.rolling(cfg.window, min_periods=cfg.min_periods).median() * MAD_TO_SIGMA
        # baseline of point t = stats of points t-window..t-1
        center = roll_med.shift(1).to_numpy()
        scale = roll_mad.shift(1).to_numpy()
        center = np.where(np.isfinite(center), center, center0[None, :])
        scale = np.where(np.isfinite(scale), scale, scale0[None, :])
        # a flat stretch (rolling MAD 0) must not make every wiggle extreme: keep a
        # quarter of the group's training spread as the least scale
        scale = np.maximum(scale, 0.25 * scale0[None, :])
        return np.abs(x - center) / scale
