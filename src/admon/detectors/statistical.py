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

from typing import ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from admon.detectors import register
from admon.detectors.base import Detector, DetectorConfig, group_key_str

MAD_TO_SIGMA = 1.4826
#: Half-width of the expected band (:meth:`_PerGroupBaseline.expected`), in the detector's scales.
EXPECTED_BAND_SCALES = 3.0


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

    def _center_scale(self, x: np.ndarray, key: tuple, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """What the detector expects of each value of a group's series (``x``, rows in time
        order) and the scale a deviation from it is measured in (both shaped like ``x``)."""
        raise NotImplementedError

    def expected(self, frame: pd.DataFrame, width: float = EXPECTED_BAND_SCALES) -> pd.DataFrame:
        """What the detector expected of each feature at each row of ``frame``, and a band of
        ``width`` scales around it: columns ``<feature>:expected``, ``<feature>:lower`` and
        ``<feature>:upper``, aligned to ``frame``'s index. A value outside the band is more than
        ``width`` of the detector's scales from what it expected (its per-feature score > ``width``).
        """
        self._check_scorable(frame)
        x = self._values(frame)
        ts = frame["timestamp"].to_numpy() if "timestamp" in frame.columns else np.arange(len(frame))
        center, scale = np.full_like(x, np.nan), np.full_like(x, np.nan)
        for key, pos in self._iter_groups(frame):
            center[pos], scale[pos] = self._center_scale(x[pos], key, ts[pos])
        out: dict[str, np.ndarray] = {}
        for j, feature in enumerate(self.feature_columns_):
            out[f"{feature}:expected"] = center[:, j]
            out[f"{feature}:lower"] = center[:, j] - width * scale[:, j]
            out[f"{feature}:upper"] = center[:, j] + width * scale[:, j]
        return pd.DataFrame(out, index=frame.index)

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

    @property
    def lookback(self) -> int:
        return 2 * self.config.window  # rolling median, then a rolling MAD of the deviations

    def _fit(self, frame: pd.DataFrame) -> None:
        self._fit_baseline(frame)

    def _score_group(self, x: np.ndarray, key: tuple) -> np.ndarray:
        center, scale = self._center_scale(x, key, np.arange(len(x)))
        return np.abs(x - center) / scale

    def _center_scale(self, x: np.ndarray, key: tuple, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
        return center, scale


class EwmaConfig(DetectorConfig):
    alpha: float = Field(0.1, gt=0.0, le=1.0, description="Smoothing factor of the EWMA mean/variance.")
    min_periods: int = Field(3, ge=1, description="History needed before the EWMA stats are used.")
    aggregate: Literal["max", "mean"] = Field("max", description="How per-feature scores combine.")


@register("ewma")
class Ewma(_PerGroupBaseline):
    """|x - EWMA mean| / EWMA std of the previous points of a group (pandas ``ewm``'s recursions).

    It carries state between runs (:mod:`admon.runs.state`): nine numbers per group and feature.

    Before ``min_periods`` points of history the group's training median/MAD are used.
    """

    Config = EwmaConfig

    @property
    def lookback(self) -> int:
        # points until an old value's weight falls below 0.1 %
        return int(np.ceil(np.log(1e-3) / np.log(1.0 - self.config.alpha))) if self.config.alpha < 1 else 1

    def _fit(self, frame: pd.DataFrame) -> None:
        self._fit_baseline(frame)

    def _score_group(self, x: np.ndarray, key: tuple) -> np.ndarray:
        center, scale = self._center_scale(x, key, np.arange(len(x)))
        return np.abs(x - center) / scale

    def _center_scale(self, x: np.ndarray, key: tuple, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        streams = self.start_streams(key, None)
        return self._stream_center_scale(streams, x, key)

    def _stream_center_scale(self, streams: list[EwmaStream], x: np.ndarray,
                             key: tuple) -> tuple[np.ndarray, np.ndarray]:
        center0, scale0 = self._baseline(key)
        center, scale = np.full_like(x, np.nan), np.full_like(x, np.nan)
        for j, stream in enumerate(streams):
            center[:, j], scale[:, j] = stream.advance(x[:, j])
        center = np.where(np.isfinite(center), center, center0[None, :])
        scale = np.where(np.isfinite(scale), scale, scale0[None, :])
        scale = np.maximum(scale, 0.25 * scale0[None, :])
        return center, scale

    # ------------------------------------------------------------- carried state
    supports_state: ClassVar[bool] = True

    def start_streams(self, key: tuple, before: int | None) -> list[EwmaStream]:
        """One :class:`EwmaStream` per feature (a new one: this detector keeps no training tail)."""
        return [EwmaStream(self.config.alpha, self.config.min_periods) for _ in self.feature_columns_]  # type: ignore[attr-defined]

    def stream_states(self, arrays: dict[str, np.ndarray], width: int) -> list[EwmaStream]:
        """The streams of a group from the arrays a run stored (feature ``j``'s under ``f{j}.``)."""
        return [EwmaStream.from_arrays(self.config.alpha, self.config.min_periods, arrays[f"f{j}.ewm"])  # type: ignore[attr-defined]
                for j in range(width)]

    def advance_streams(self, streams: list[EwmaStream], values: np.ndarray, key: tuple = ()) -> np.ndarray:
        """The next rows (rows x features) of group ``key`` scored by its streams: per-feature scores."""
        center, scale = self._stream_center_scale(streams, values, key)
        return np.nan_to_num(np.abs(values - center) / scale, nan=0.0)

    def combine_features(self, per_feature: np.ndarray) -> np.ndarray:
        return self._aggregate(per_feature)


class EwmaStream:
    """pandas' EWMA mean and std of one feature before each row, fed piece by piece
    (:func:`admon.detectors.kernels.ewm_stream`: the same recursions, so the same bits)."""

    def __init__(self, alpha: float, min_periods: int, state: np.ndarray | None = None) -> None:
        self.alpha, self.min_periods = alpha, min_periods
        self.state = state if state is not None else np.array([0, 0, 0, 0, 0, 0, 0, np.nan, np.nan], dtype=float)

    continuable = True

    def advance(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from admon.detectors.kernels import ewm_stream  # numba: imported on first score

        mean, std, self.state = ewm_stream(np.asarray(x, dtype=float), self.alpha, self.min_periods, self.state)
        return mean, std

    def arrays(self) -> dict[str, np.ndarray]:
        return {"ewm": self.state}

    @classmethod
    def from_arrays(cls, alpha: float, min_periods: int, state: np.ndarray) -> EwmaStream:
        return cls(alpha, min_periods, np.asarray(state, dtype=float).copy())


class SeasonalConfig(DetectorConfig):
    period_seconds: int = Field(86_400, ge=2, description="Length of the season (default one day).")
    level_window: int = Field(12, ge=1, description="Trailing points for the deseasonalised level.")
    robust: bool = Field(True, description="Robust STL fitting (statsmodels).")
    aggregate: Literal["max", "mean"] = Field("max", description="How per-feature scores combine.")


@register("seasonal_stl")
class SeasonalStl(_PerGroupBaseline):
    """Residual of an STL decomposition (statsmodels), per group and feature.

    ``fit`` runs STL on each group's training series and keeps the seasonal
    profile by phase of the season, the level and the robust spread of the
    residuals. ``score`` removes the stored seasonal profile, the trailing
    level, and divides by the residual spread, so it works on short inference
    windows. A group with less than two seasons of training data has no
    seasonal profile (a robust z-score of the level remains).
    """

    Config = SeasonalConfig

    @property
    def lookback(self) -> int:
        return self.config.level_window

    def _fit(self, frame: pd.DataFrame) -> None:
        from statsmodels.tsa.seasonal import STL

        self._fit_baseline(frame)
        self.interval_ms_ = _interval_ms(self, frame)
        period = max(2, int(round(self.config.period_seconds * 1000 / self.interval_ms_)))
        self.period_ = period
        x = self._values(frame)
        ts = frame["timestamp"].to_numpy() if "timestamp" in frame.columns else np.arange(len(frame)) * self.interval_ms_
        profiles = {}
        for key, pos in self._iter_groups(frame):
            k = group_key_str(key)
            center, _ = self._baseline(key)
            grid, phase0 = _regular_grid(x[pos], ts[pos], self.interval_ms_, period)
            prof = np.zeros((period, x.shape[1]))
            resid_scale = np.asarray(self.group_stats_[k][1], dtype=float).copy()
            if grid.shape[0] >= 2 * period + 1:
                for j in range(x.shape[1]):
                    col = pd.Series(grid[:, j]).interpolate(limit_direction="both").to_numpy()
                    if not np.isfinite(col).all() or np.ptp(col) == 0:
                        continue
                    res = STL(col, period=period, robust=self.config.robust).fit()
                    phases = (phase0 + np.arange(len(col))) % period
                    seas = pd.Series(res.seasonal).groupby(phases).mean()
                    prof[seas.index.to_numpy(), j] = seas.to_numpy()
            # spread of the residuals exactly as score() computes them
            r = self._residuals(x[pos], ts[pos], prof, center)
            _, mad = _robust_center_scale(r)
            ok = np.isfinite(mad) & (mad > 0)
            resid_scale = np.where(ok, np.maximum(mad, self.scale_floor_), resid_scale)
            profiles[k] = [prof.tolist(), resid_scale.tolist()]
        self.profiles_ = profiles

    def _score_group(self, x: np.ndarray, key: tuple) -> np.ndarray:
        raise NotImplementedError  # scored in _per_feature, which needs the timestamps

    def _per_feature(self, frame: pd.DataFrame) -> np.ndarray:
        x = self._values(frame)
        ts = frame["timestamp"].to_numpy() if "timestamp" in frame.columns else np.arange(len(frame)) * self.interval_ms_
        out = np.zeros_like(x)
        for key, pos in self._iter_groups(frame):
            k = group_key_str(key)
            center0, scale0 = self._baseline(key)
            if k in self.profiles_:
                prof = np.asarray(self.profiles_[k][0], dtype=float)
                rscale = np.asarray(self.profiles_[k][1], dtype=float)
            else:
                prof = np.zeros((self.period_, x.shape[1]))
                rscale = scale0
            r = self._residuals(x[pos], ts[pos], prof, center0)
            out[pos] = np.abs(r) / np.maximum(rscale, np.asarray(self.scale_floor_))[None, :]
        return np.nan_to_num(out, nan=0.0)

    def _center_scale(self, x: np.ndarray, key: tuple, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # what score() subtracts (the seasonal profile at the phase, plus the trailing level) and
        # the residual spread it divides by
        k = group_key_str(key)
        center0, scale0 = self._baseline(key)
        if k in self.profiles_:
            prof, rscale = np.asarray(self.profiles_[k][0], dtype=float), np.asarray(self.profiles_[k][1], dtype=float)
        else:
            prof, rscale = np.zeros((self.period_, x.shape[1])), scale0
        seasonal = prof[(ts // self.interval_ms_) % self.period_]
        level = pd.DataFrame(x - seasonal).rolling(self.config.level_window, min_periods=1).median()
        level = level.shift(1).to_numpy()
        level = np.where(np.isfinite(level), level, center0[None, :])
        scale = np.maximum(rscale, np.asarray(self.scale_floor_))[None, :]
        return seasonal + level, np.broadcast_to(scale, x.shape).copy()

    def _residuals(self, x: np.ndarray, ts: np.ndarray, prof: np.ndarray, center0: np.ndarray) -> np.ndarray:
        phases = (ts // self.interval_ms_) % self.period_
        deseason = x - prof[phases]
        level = pd.DataFrame(deseason).rolling(self.config.level_window, min_periods=1).median()
        level = level.shift(1).to_numpy()
        level = np.where(np.isfinite(level), level, center0[None, :])
        return deseason - level


def _interval_ms(det: Detector, frame: pd.DataFrame) -> int:
    """The bucket interval: the smallest positive step between timestamps within a group."""
    if "timestamp" not in frame.columns or len(frame) < 2:
        return 300_000
    ts = frame["timestamp"].to_numpy()
    steps = [np.diff(ts[pos]) for _, pos in det._iter_groups(frame) if len(pos) > 1]
    steps = np.concatenate(steps) if steps else np.array([])
    steps = steps[steps > 0]
    return int(steps.min()) if steps.size else 300_000


def _regular_grid(x: np.ndarray, ts: np.ndarray, interval: int, period: int) -> tuple[np.ndarray, int]:
    """Values on a gap-free grid of ``interval`` (NaN where a bucket is absent), and the first phase."""
    slots = (ts - ts[0]) // interval
    grid = np.full((int(slots[-1]) + 1, x.shape[1]), np.nan)
    grid[slots] = x
    return grid, int((ts[0] // interval) % period)
