"""Post-rules, kept apart from detectors: calibration to 0-100, severity, threshold, contributions.

Raw detector scores have arbitrary scales. :class:`Calibrator` learns the
distribution of training scores and maps a raw score to 0-100 from how rare it
is (as Elastic's anomaly score does): ``100 * surprise / max_surprise`` with
``surprise = -log10(tail probability)``, the tail beyond the training data
extrapolated by an exponential fit to the top of the training scores. Then
Elastic's severity bands apply (warning < 25 <= minor < 50 <= major < 75 <= critical)
and one threshold on the 0-100 score makes the label, for every detector alike.

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> rules = PostRules(threshold=75).fit(pd.Series(rng.normal(size=2000)))
>>> out = rules.apply(pd.Series([0.0, 3.0, 8.0]))
>>> out["severity"].tolist()
['warning', 'minor', 'critical']
>>> out["is_anomaly"].tolist()
[False, False, True]
>>> PostRules.from_dict(rules.to_dict()).apply(pd.Series([8.0]))["anomaly_score"].round(3).tolist() == out["anomaly_score"].iloc[[2]].round(3).tolist()
True
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from admon.errors import ConfigError, NotFittedError

#: Elastic's severity bands on the 0-100 score: (lower bound, name), ascending.
SEVERITY_BANDS: tuple[tuple[float, str], ...] = (
    (0.0, "warning"),
    (25.0, "minor"),
    (50.0, "major"),
    (75.0, "critical"),
)


def severity(score: float) -> str:
    """Severity band of a 0-100 score.

    >>> [severity(s) for s in (3, 30, 60, 90)]
    ['warning', 'minor', 'major', 'critical']
    """
    name = SEVERITY_BANDS[0][1]
    for lower, band in SEVERITY_BANDS:
        if score >= lower:
            name = band
    return name


class CalibratorConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_surprise: float = Field(6.0, gt=0, description="-log10 tail probability that maps to 100.")
    tail_quantile: float = Field(0.9, gt=0.5, lt=1.0, description="Where the exponential tail starts.")
    n_quantiles: int = Field(201, ge=11, description="Stored quantiles of the training scores.")


class Calibrator:
    """Raw score -> 0-100 from the training-score distribution (fit once, JSON-serialisable)."""

    def __init__(self, **params: Any) -> None:
        self.config = CalibratorConfig(**params)

    def fit(self, scores: pd.Series | np.ndarray) -> Calibrator:
        s = np.asarray(scores, dtype=float)
        s = s[np.isfinite(s)]
        if s.size == 0:
            raise ConfigError("calibration needs at least one finite training score")
        probs = np.linspace(0.0, 1.0, self.config.n_quantiles)
        self.quantiles_ = np.quantile(s, probs).tolist()
        self.probs_ = probs.tolist()
        u = float(np.quantile(s, self.config.tail_quantile))
        excess = s[s > u] - u
        # mean excess over u = scale of the exponential tail; a floor keeps constant scores finite
        spread = float(np.quantile(s, 0.75) - np.quantile(s, 0.25))
        floor = max(1e-9, 1e-3 * (abs(u) + spread))
        self.tail_start_ = u
        self.tail_scale_ = max(float(excess.mean()) if excess.size else 0.0, floor)
        self.n_ = int(s.size)
        return self

    def tail_probability(self, scores: pd.Series | np.ndarray) -> np.ndarray:
        """P(training score >= s), with the exponential tail beyond ``tail_start_``."""
        if not hasattr(self, "quantiles_"):
            raise NotFittedError("Calibrator is not fitted; call fit(training_scores) first")
        s = np.nan_to_num(np.asarray(scores, dtype=float), nan=-np.inf)
        q, p = np.asarray(self.quantiles_), np.asarray(self.probs_)
        # body: empirical CDF through the stored quantiles (flat stretches take their upper prob)
        cdf = np.interp(s, q, p, left=0.0, right=1.0)
        body = 1.0 - cdf
        tail_p0 = 1.0 - self.config.tail_quantile
        tail = tail_p0 * np.exp(-(np.maximum(s, self.tail_start_) - self.tail_start_) / self.tail_scale_)
        prob = np.where(s > self.tail_start_, tail, body)
        return np.clip(prob, 10.0 ** (-self.config.max_surprise * 2), 1.0)

    def transform(self, scores: pd.Series | np.ndarray) -> np.ndarray:
        """Calibrated 0-100 scores."""
        surprise = -np.log10(self.tail_probability(scores))
        return np.clip(100.0 * surprise / self.config.max_surprise, 0.0, 100.0)

    def to_dict(self) -> dict[str, Any]:
        state = {k: getattr(self, k) for k in ("quantiles_", "probs_", "tail_start_", "tail_scale_", "n_") if hasattr(self, k)}
        return {"config": self.config.model_dump(), "state": state}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        cal = cls(**data.get("config", {}))
        for k, v in data.get("state", {}).items():
            setattr(cal, k, v)
        return cal


class PostRules:
    """Calibration + severity + threshold, applied to raw detector scores.

    ``threshold`` is on the calibrated 0-100 scale (default 75 = Elastic's "critical").
    """

    def __init__(self, threshold: float = 75.0, **calibrator_params: Any) -> None:
        if not (0.0 <= float(threshold) <= 100.0) or math.isnan(float(threshold)):
            raise ConfigError(f"threshold {threshold!r} must be within 0..100 (calibrated scale)")
        self.threshold = float(threshold)
        self.calibrator = Calibrator(**calibrator_params)

    def fit(self, training_scores: pd.Series | np.ndarray) -> PostRules:
        self.calibrator.fit(training_scores)
        return self

    def apply(self, raw_scores: pd.Series) -> pd.DataFrame:
        """``anomaly_score`` (0-100), ``severity``, ``is_anomaly``, ``threshold``, ``raw_score`` per row."""
        raw = pd.Series(raw_scores, dtype=float)
        calibrated = self.calibrator.transform(raw.to_numpy())
        return pd.DataFrame(
            {
                "raw_score": raw.to_numpy(),
                "anomaly_score": calibrated,
                "severity": [severity(c) for c in calibrated],
                "is_anomaly": calibrated >= self.threshold,
                "threshold": self.threshold,
            },
            index=raw.index,
        )

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "calibrator": self.calibrator.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PostRules:
        rules = cls(threshold=data.get("threshold", 75.0))
        rules.calibrator = Calibrator.from_dict(data.get("calibrator", {}))
        return rules


def contributions(detector, frame: pd.DataFrame) -> pd.DataFrame:
    """Share (0..1, summing to 1 per row) of each feature in a row's score: which column drove it.

    Uses the detector's native per-feature scores when it has them; otherwise
    the score drop when one feature is replaced by its training median.

    >>> import numpy as np, pandas as pd
    >>> from admon.detectors import create
    >>> rng = np.random.default_rng(1)
    >>> f = pd.DataFrame({"host": "h", "timestamp": np.arange(200, dtype="int64") * 300_000,
    ...                   "gled": rng.normal(size=200), "alice": rng.normal(size=200)})
    >>> det = create("robust_zscore").fit(f)
    >>> spike = f.copy(); spike.loc[150, "alice"] = 40.0
    >>> contributions(det, spike).loc[150].idxmax()
    'alice'
    """
    if hasattr(detector, "inner") and hasattr(detector, "transform"):
        # a stored model with transforms: attribute in the space the detector was fitted in
        frame, detector = detector.transform(frame), detector.inner
    cols = list(detector.feature_columns_)
    native = detector.feature_scores(frame)
    if native is not None:
        parts = native.clip(lower=0.0).to_numpy()
    else:
        base = detector.score(frame).to_numpy()
        parts = np.zeros((len(frame), len(cols)))
        for j, col in enumerate(cols):
            neutral = frame.copy()
            neutral[col] = detector.feature_medians_[j]
            parts[:, j] = np.maximum(base - detector.score(neutral).to_numpy(), 0.0)
    total = parts.sum(axis=1, keepdims=True)
    with np.errstate(all="ignore"):
        share = np.where(total > 0, parts / np.where(total > 0, total, 1.0), 1.0 / max(len(cols), 1))
    return pd.DataFrame(share, index=frame.index, columns=cols)


def top_features(shares: pd.DataFrame, top: int = 3) -> list[list[str]]:
    """Per row, the names of the ``top`` contributing features, largest first.

    >>> import pandas as pd
    >>> top_features(pd.DataFrame({"a": [0.9, 0.1], "b": [0.1, 0.9]}), top=1)
    [['a'], ['b']]
    """
    cols = np.asarray(shares.columns)
    order = np.argsort(-shares.to_numpy(), axis=1, kind="stable")[:, :top]
    return [cols[row].tolist() for row in order]
