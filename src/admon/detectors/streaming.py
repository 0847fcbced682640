"""The ``default`` detector: a causal, streaming ensemble for monitoring series, built on NAB.

Design (what the leaders of the Numenta Anomaly Benchmark teach, in fast numpy)
-------------------------------------------------------------------------------
Every point is scored from the points before it only, by three ideas:

1. **Context novelty at two time scales** (the idea behind HTM's sequence
   memory, CAD OSE's contexts and k-NN CAD, in its cheapest exact form: the
   *left matrix profile* of Keogh's group). The raw score of point ``t`` is the
   Euclidean distance from the last ``short_window`` values to the most similar
   earlier stretch of the same length among the previous ``history`` points
   ("have I ever seen this shape at this level?"). A second channel does the
   same on the series averaged over blocks of ``paa`` points (PAA) with
   ``long_window`` blocks, i.e. a ``paa * long_window``-point context searched over
   ``paa * history`` points: it sees slow shape changes and missing daily jumps
   that a short context cannot. Repeating patterns, periodic spikes and
   square waves match their past and stay quiet; a new shape does not.
   The first ``startup`` points of a stream are never used as matches: start-up
   transients (a spike while a service warms up, a not-yet-settled level) must
   not make a later, real occurrence look familiar.
2. **Calibration by causal rank** (the spirit of HTM's anomaly likelihood): a
   raw distance means nothing across series, so each channel's raw score is
   replaced by its rank among that channel's previous ``rank_history`` raw
   scores (HTM's 8640-point historic window), a value in [0, 1]; a new record is
   placed above 1 - 1/n by how far it beats the old maximum. The two channels
   are averaged, so an alarm needs unusual evidence at both scales.
3. **Spatial anomaly** (HTM's NAB detector rule): a value beyond the range seen
   so far by more than ``spatial_tolerance`` of that range scores at least 0.99.

Post-rule: a **refractory period** -- a score that does not exceed the largest
score of the previous ``refractory`` points is halved, so one event raises one
alarm at its start (NAB rewards early detection and charges every extra alarm
outside the labelled window).

All parameters are fixed: nothing is tuned per file or per category, and no
parameter depends on a series' length or scale (everything is rank- or
range-relative). Cost per point is O(history) vectorised numpy work.

Provenance of the numbers: ``spatial_tolerance`` (5 %) and ``rank_history`` (8640)
are HTM's own NAB settings; the window sizes, ``refractory`` and ``startup`` were
chosen on the NAB development subset (34 files, 50 windows), where one window
is worth about one point of the normalised score. Honest caveat: the design's
robust level there is about 72 (``startup`` 0, 128, 200 or 300 give 71.7-72.1);
``startup=256`` scores 75.5 because it happens to help two files whose labelled
windows sit right after NAB's probationary period -- treat the margin over
Numenta HTM's 73.6 on that subset as luck, not as evidence.

Tried on the development subset and dropped (each cost 1-15 points there): a
Gaussian likelihood over a 10-point average of the raw score (HTM's exact
post-processing), the 2nd/3rd nearest neighbour instead of the 1st, a log
transform, distances between value ranks instead of values, a third channel
(value novelty, a prediction error, or a day-long context), Fisher's method or
the maximum instead of the mean of the channels. Known blind spot: a *missing*
daily event (NAB's ``art_daily_nojump``) needs more context than 32 points.

Streaming: ``fit`` keeps the last ``state_points`` values of each group; ``score``
prepends the kept values strictly older than the frame's first timestamp, so
``fit(a).score(b)`` continues the stream, and ``fit(f).score(f)`` is a causal
run over ``f`` from scratch. Scores lie in [0, 1].

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> x = np.sin(np.arange(600) * 2 * np.pi / 50) + 0.05 * rng.standard_normal(600)
>>> x[500:505] += 3.0
>>> frame = pd.DataFrame({"timestamp": np.arange(600) * 300_000, "value": x})
>>> s = DefaultDetector().fit(frame).score(frame)
>>> int(s.iloc[450:].idxmax()) in range(500, 505), float(s.min()) >= 0.0, float(s.max()) <= 1.0
(True, True, True)
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from typing import Any

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from pydantic import Field

from admon.detectors import register
from admon.detectors.base import TIMESTAMP, Detector, DetectorConfig, group_key_str


class DefaultConfig(DetectorConfig):
    short_window: int = Field(4, ge=1, le=64, description="Points in the short context.")
    long_window: int = Field(8, ge=1, le=64, description="PAA blocks in the long context.")
    paa: int = Field(4, ge=2, le=64, description="Points averaged into one block of the long channel.")
    history: int = Field(1000, ge=10, le=20_000, description="Earlier contexts searched (per channel, in its own steps).")
    startup: int = Field(256, ge=0, description="First points of a stream never used as a match (start-up transients).")
    rank_history: int = Field(8640, ge=100, description="Previous raw scores a score is ranked against.")
    warmup: int = Field(50, ge=1, description="Points before a channel's rank is trusted (score 0 before).")
    spatial_tolerance: float = Field(0.05, ge=0.0, description="Range fraction a new extreme must exceed.")
    spatial_warmup: int = Field(100, ge=1, description="Points before new extremes count.")
    refractory: int = Field(50, ge=0, description="Points after a peak during which lower scores are halved.")
    state_points: int = Field(10_000, ge=100, description="Values per group kept by fit for streaming.")


# ---------------------------------------------------------------------------- kernels
def forward_fill(x: np.ndarray) -> np.ndarray:
    """Missing values take the previous value (the first known one at the start).

    >>> forward_fill(np.array([np.nan, 1.0, np.nan, 3.0])).tolist()
    [1.0, 1.0, 1.0, 3.0]
    """
    x = np.asarray(x, dtype=float)
    good = np.isfinite(x)
    if good.all():
        return x.copy()
    if not good.any():
        return np.zeros_like(x)
    idx = np.where(good, np.arange(len(x)), 0)
    np.maximum.accumulate(idx, out=idx)
    out = x[idx]
    out[: int(np.argmax(good))] = x[int(np.argmax(good))]
    return out


def left_nn_distance(
    x: np.ndarray, window: int, history: int, block: int = 256, exclude_first: int = 0
) -> np.ndarray:
    """Distance from each length-``window`` stretch ending at ``t`` to its nearest earlier one.

    Only stretches ending ``window..history`` points before ``t`` are candidates
    (no overlap with itself), and none touching the first ``exclude_first``
    points. ``0`` where no candidate exists yet.

    >>> x = np.array([0, 1, 0, 1, 0, 1, 5, 1.0])
    >>> left_nn_distance(x, 2, 10).round(3).tolist()
    [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 4.123, 4.123]
    """
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    history = min(history, n - 1)
    if n == 0 or history < window:
        return np.zeros(n)
    # float32 halves the memory traffic; shifting by the first value (causal) keeps
    # the precision of large-valued series. Lags reaching before the start see a
    # huge sentinel, so they can never be the nearest neighbour.
    sentinel = np.float32(1e17)
    xs = np.clip(x - x[0], -1e12, 1e12).astype(np.float32)
    padded = np.concatenate([np.full(history + window, sentinel, dtype=np.float32), xs])
    off = history + window  # padded[off + t] == xs[t]
    padded[off : off + exclude_first] = sentinel
    cur = xs[:, None]

    # lags k = window..history; for a block of lags [k0, k1) the candidate values
    # padded[off + t - k] for every t are the rows of one strided view (no copy).
    def block_min(k0: int) -> np.ndarray:
        k1 = min(k0 + block, history + 1)
        view = sliding_window_view(padded[off - k1 + 1 : off + n - k0], k1 - k0)
        diff = view - cur
        diff *= diff
        acc = diff[window - 1 :].copy()
        for j in range(1, window):
            acc += diff[window - 1 - j : n - j]
        return acc.min(axis=1)

    best = np.minimum.reduce([block_min(k0) for k0 in range(window, history + 1, block)]).astype(np.float64)
    best[best >= 1e30] = 0.0  # only sentinel candidates: nothing to compare with yet
    out = np.zeros(n)
    out[window - 1 :] = np.sqrt(np.maximum(best, 0.0))
    return out


def causal_rank(raw: np.ndarray, history: int, warmup: int) -> np.ndarray:
    """Rank of each value among the previous ``history`` values, in [0, 1].

    A tie counts half. A new maximum gets ``1 - 0.5/n * exp(-excess)`` (``excess``
    relative to the old maximum), so bigger records rank higher. 0 during warm-up.

    >>> causal_rank(np.array([1.0, 2, 3, 2, 10]), history=100, warmup=2).round(3).tolist()
    [0.0, 0.0, 0.848, 0.5, 0.988]
    """
    out = np.zeros(len(raw))
    window: list[float] = []
    fifo: deque[float] = deque()
    maxima = pd.Series(raw).rolling(history, min_periods=1).max().shift(1).to_numpy()
    insort, left, right, exp = bisect.insort, bisect.bisect_left, bisect.bisect_right, math.exp
    for t, r in enumerate(np.asarray(raw, dtype=float).tolist()):
        n = len(window)
        if n >= warmup:
            lo = left(window, r)
            if lo == n:
                mx = maxima[t]
                excess = (r - mx) / (abs(mx) + 1e-12)
                out[t] = 1.0 - 0.5 / n * exp(-min(excess, 50.0))
            else:
                out[t] = (lo + 0.5 * (right(window, r, lo) - lo)) / n
        insort(window, r)
        fifo.append(r)
        if len(fifo) > history:
            del window[left(window, fifo.popleft())]
    return out


def paa_channel(x: np.ndarray, paa: int, window: int, history: int, exclude_first: int = 0) -> np.ndarray:
    """Left-NN distance on block means; point ``t`` gets its last complete block's value.

    ``exclude_first`` is in points (rounded down to whole blocks).
    """
    m = len(x) // paa
    out = np.zeros(len(x))
    if m < 2:
        return out
    blocks = x[: m * paa].reshape(m, paa).mean(axis=1)
    dist = left_nn_distance(blocks, window, history, exclude_first=exclude_first // paa)
    idx = (np.arange(len(x)) + 1) // paa - 1
    ok = idx >= 0
    out[ok] = dist[idx[ok]]
    return out


def spatial_anomaly(x: np.ndarray, tolerance: float, warmup: int) -> np.ndarray:
    """Excess of a value beyond the previous range, in range units; 0 if within tolerance."""
    if len(x) < 2:
        return np.zeros(len(x))
    prev_max = np.concatenate([[x[0]], np.maximum.accumulate(x)[:-1]])
    prev_min = np.concatenate([[x[0]], np.minimum.accumulate(x)[:-1]])
    span = prev_max - prev_min
    with np.errstate(divide="ignore", invalid="ignore"):
        excess = np.maximum(x - prev_max, prev_min - x) / np.where(span > 0, span, np.inf)
    excess = np.where(excess > tolerance, excess, 0.0)
    excess[:warmup] = 0.0
    return excess


def refractory(scores: np.ndarray, period: int) -> np.ndarray:
    """Halve every score not above the largest of the previous ``period`` scores."""
    if period <= 0 or len(scores) == 0:
        return scores
    prev = pd.Series(scores).rolling(period, min_periods=1).max().shift(1).fillna(-np.inf).to_numpy()
    return np.where(prev >= scores, 0.5 * scores, scores)


def score_series(values: np.ndarray, config: DefaultConfig | None = None) -> np.ndarray:
    """Scores in [0, 1] of one univariate series, each from the values up to it."""
    cfg = config or DefaultConfig()
    x = forward_fill(values)
    if len(x) == 0:
        return np.zeros(0)
    short = causal_rank(
        left_nn_distance(x, cfg.short_window, cfg.history, exclude_first=cfg.startup),
        cfg.rank_history, cfg.warmup,
    )
    long = causal_rank(
        paa_channel(x, cfg.paa, cfg.long_window, cfg.history, exclude_first=cfg.startup),
        cfg.rank_history, cfg.warmup,
    )
    score = 0.5 * (short + long)
    excess = spatial_anomaly(x, cfg.spatial_tolerance, cfg.spatial_warmup)
    score = np.where(excess > 0, 0.99 + 0.01 * np.tanh(excess), score)
    return np.clip(refractory(score, cfg.refractory), 0.0, 1.0)


# ---------------------------------------------------------------------------- detector
@register("default")
class DefaultDetector(Detector):
    """admon's default detector: causal two-scale context novelty + HTM-style calibration.

    See the module docstring for the design. Features are scored one by one and
    combined by their maximum.
    """

    Config = DefaultConfig
    multivariate = False

    def _fit(self, frame: pd.DataFrame) -> None:
        keys, times, values, lengths = [], [], [], []
        keep = self.config.state_points
        for key, pos in self._iter_groups(frame):
            keys.append(group_key_str(key))
            pos = pos[-keep:]
            ts = frame[TIMESTAMP].to_numpy()[pos] if TIMESTAMP in frame.columns else np.arange(len(pos))
            times.append(np.asarray(ts, dtype=np.int64))
            values.append(self._values(frame.iloc[pos]))
            lengths.append(len(pos))
        self.groups_ = keys
        self.lengths_ = np.asarray(lengths, dtype=np.int64)
        self.times_ = np.concatenate(times) if times else np.zeros(0, dtype=np.int64)
        width = len(self.feature_columns_)
        self.values_ = np.concatenate(values) if values else np.zeros((0, width))

    def _history(self, key: tuple, before: int | None) -> np.ndarray:
        name = group_key_str(key)
        if name not in self.groups_:
            return np.zeros((0, len(self.feature_columns_)))
        i = self.groups_.index(name)
        start = int(self.lengths_[:i].sum())
        stop = start + int(self.lengths_[i])
        ts, vals = self.times_[start:stop], self.values_[start:stop]
        if before is not None:
            vals = vals[ts < before]
        return vals

    def _score(self, frame: pd.DataFrame) -> np.ndarray:
        out = np.zeros(len(frame))
        values = self._values(frame)
        ts_all = frame[TIMESTAMP].to_numpy() if TIMESTAMP in frame.columns else None
        for key, pos in self._iter_groups(frame):
            first = int(ts_all[pos[0]]) if ts_all is not None else None
            past = self._history(key, first)
            series = np.concatenate([past, values[pos]]) if len(past) else values[pos]
            per_feature = [score_series(series[:, j], self.config)[len(past) :] for j in range(series.shape[1])]
            out[pos] = np.max(per_feature, axis=0)
        return out

    def _state(self) -> dict[str, Any]:
        return {
            "groups_": list(self.groups_),
            "lengths_": self.lengths_,
            "times_": self.times_,
            "values_": self.values_,
            "feature_columns_": list(self.feature_columns_),
            "group_columns_": list(self.group_columns_),
            "feature_medians_": list(self.feature_medians_),
        }
