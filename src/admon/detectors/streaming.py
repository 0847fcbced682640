"""The ``default_v1`` detector (``default`` until issue 14): a causal, streaming ensemble for monitoring series.

Kept for comparison; ``default`` is now :mod:`admon.detectors.events`, which reuses these channels.

Design (what the leaders of the Numenta Anomaly Benchmark teach, in fast numpy)
-------------------------------------------------------------------------------
Every point is scored from the points before it only, by four ideas:

1. **Context novelty at two time scales** (the idea behind HTM's sequence
   memory, CAD OSE's contexts and k-NN CAD, in its cheapest exact form: the
   *left matrix profile* of Keogh's group). The raw score of point ``t`` is the
   Euclidean distance from the last ``short_window`` values to the most similar
   earlier stretch of the same length among the previous ``history`` points
   ("have I ever seen this shape at this level?"). A second channel does the
   same on the series averaged over blocks of ``paa`` points (PAA) with
   ``long_window`` blocks, i.e. a ``paa * long_window``-point context searched over
   ``paa * history`` points: it sees slow shape changes that a short context
   cannot. Repeating patterns, periodic spikes and square waves match their
   past and stay quiet; a new shape does not.
2. **Calibration by causal rank** (the spirit of HTM's anomaly likelihood): a
   raw distance means nothing across series, so each channel's raw score is
   replaced by its rank among that channel's previous ``rank_history`` raw
   scores (HTM's 8640-point historic window), a value in [0, 1]; a new record is
   placed above 1 - 1/n by how far it beats the old maximum. The two context
   channels are averaged, so an alarm needs unusual evidence at both scales.
3. **Distribution shift as corroborating evidence** (the idea of NAB's relative
   entropy detector, made scale-free): at ``shift_windows`` scales ``w``, the
   distance between the value distribution of the last ``w`` points and that of
   the ``shift_reference`` points before them -- the mean absolute difference of
   their 10/25/50/75/90 % quantiles (a 1-D Wasserstein distance), in units of
   the reference's interquartile range. Ranked like the other channels, it only
   counts at a *record* (rank above ``1 - shift_tail``): then the score is at
   least ``shift_weight * shift + (1 - shift_weight) * context``. Two kinds of
   evidence agreeing lower the bar for the context channels; a shift alone
   never raises an alarm, so a series whose level wanders stays quiet.
4. **Spatial anomaly** (HTM's NAB detector rule): a value beyond the range seen
   so far by more than ``spatial_tolerance`` of that range scores at least 0.99.

Post-rule: a **refractory period** -- a score is halved unless it beats the
largest score of the previous ``refractory`` points *and* closes
``refractory_gap`` of the gap between that maximum and 1. One event raises one
alarm at its start (NAB rewards early detection and charges every extra alarm
outside the labelled window), even when its evidence keeps creeping upward.
The detector only scores: the period is the ``suppress`` rule of
:mod:`admon.detectors.postrules`, which starts this detector's post-rule chain
(:meth:`DefaultDetector.default_post_rules`; runs and ``admon benchmark`` apply it).

All parameters are fixed: nothing is tuned per file or per category, and no
parameter depends on a series' length or scale (everything is rank-, range- or
IQR-relative). Cost per point is O(history) vectorised numpy work.

Evidence (``admon benchmark ../shared/data/nab-dev --detector default_v1``; BENCHMARKS.md
has the tables). NAB standard score on the 34-file development subset: 75.2
(Numenta HTM 73.6, CAD OSE 71.7, ARTime 71.1). Without the shift channels and
the gap the design scores 72.1; every parameter moved to x0.5-x1.5 keeps the
full design above that level, and its own new parameters keep 73.5-75.6. Honest
caveat: the gain over 72.1 is about three labelled windows (two of them in
realAdExchange) on a corpus where one window is worth about one point.
``startup`` (never match the first points of a stream) is off: 256 happened to
score 75.5 on the old design, but 128 or 320 scored 72, a sign of luck.

Tried on the development subset and dropped (each cost 1-15 points there or
added nothing): HTM's Gaussian likelihood of the averaged rank, k-th nearest
neighbours, recency-weighted matches, z-normalised contexts, a third averaged
channel (first differences, volatility, level shift, prediction error, relative
entropy, windowed Gaussian), Fisher/Stouffer/harmonic-mean fusion, a fuzzy-ART
novelty channel (ARTime's idea: +1 point, fragile in its own window), and an
analogue-forecast error likelihood (+1.6, all from one window, and nothing on
top of the shift channels). Known blind spots: a *missing* daily event (NAB's
``art_daily_nojump``) and spikes that stop (an absence) need more context.

Streaming: ``fit`` keeps the last ``state_points`` values of each group; ``score``
prepends the kept values strictly older than the frame's first timestamp, so
``fit(a).score(b)`` continues the stream, and ``fit(f).score(f)`` is a causal
run over ``f`` from scratch. Scores lie in [0, 1].

>>> import numpy as np, pandas as pd
>>> from admon.detectors.postrules import PostRuleChain
>>> rng = np.random.default_rng(0)
>>> x = np.sin(np.arange(600) * 2 * np.pi / 50) + 0.05 * rng.standard_normal(600)
>>> x[500:505] += 3.0
>>> frame = pd.DataFrame({"timestamp": np.arange(600) * 300_000, "value": x})
>>> det = DefaultDetector().fit(frame)
>>> s = det.score(frame)
>>> int(s.iloc[450:].idxmax()) in range(500, 505), float(s.min()) >= 0.0, float(s.max()) <= 1.0
(True, True, True)
>>> chain = PostRuleChain(det.default_post_rules())
>>> [rule.name for rule in chain], int(chain.apply(s, frame)["anomaly_score"].iloc[450:].idxmax()) in range(500, 505)
(['suppress'], True)
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from pydantic import Field, field_validator

from admon.detectors import register
from admon.detectors.base import TIMESTAMP, Detector, DetectorConfig, group_key_str

#: Quantiles compared by the distribution-shift channels.
SHIFT_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


class ChannelConfig(DetectorConfig):
    """The evidence channels' settings (:func:`score_series`), shared by ``default_v1`` and ``default``."""

    short_window: int = Field(4, ge=1, le=64, description="Points in the short context.")
    long_window: int = Field(8, ge=1, le=64, description="PAA blocks in the long context.")
    paa: int = Field(4, ge=2, le=64, description="Points averaged into one block of the long channel.")
    history: int = Field(1000, ge=10, le=20_000, description="Earlier contexts searched (per channel, in its own steps).")
    startup: int = Field(0, ge=0, description="First points of a stream never used as a match (0: off).")
    rank_history: int = Field(8640, ge=100, description="Previous raw scores a score is ranked against.")
    warmup: int = Field(50, ge=1, description="Points before a channel's rank is trusted (score 0 before).")
    shift_windows: tuple[int, ...] = Field(
        (16, 32, 64), description="Recent-window lengths of the distribution-shift channels (() turns them off)."
    )
    shift_reference: int = Field(1000, ge=10, description="Points before the recent window it is compared with.")
    shift_tail: float = Field(0.001, ge=0.0, lt=1.0, description="A shift counts when its rank exceeds 1 - this.")
    shift_weight: float = Field(0.5, ge=0.0, le=1.0, description="Weight of a record shift against the context score.")
    spatial_tolerance: float = Field(0.05, ge=0.0, description="Range fraction a new extreme must exceed.")
    spatial_warmup: int = Field(100, ge=1, description="Points before new extremes count.")
    state_points: int = Field(10_000, ge=100, description="Values per group kept by fit for streaming.")

    @field_validator("shift_windows")
    @classmethod
    def _windows_at_least_two(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(w < 2 for w in value):
            raise ValueError(f"every shift window needs at least 2 points, got {list(value)}")
        return value


class DefaultConfig(ChannelConfig):
    # The two parameters of the ``suppress`` rule this detector's chain starts with (score() does not
    # apply it): kept in its config, as Merlion keeps a model's post-rule settings in the model's
    # config, so that `admon benchmark --param refractory=...` and stored models keep working.
    refractory: int = Field(
        50, ge=0, description="suppress rule: points after a peak during which lower scores are halved."
    )
    refractory_gap: float = Field(
        0.25, ge=0.0, lt=1.0,
        description="suppress rule: fraction of the gap to 1 a score must close over the recent peak.",
    )


# ---------------------------------------------------------------------------- kernels
SENTINEL = np.float32(1e17)  # a candidate that can never be the nearest neighbour


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


def nn_tail(cand: np.ndarray, cur: np.ndarray, first: int, window: int, history: int,
            block: int = 256) -> np.ndarray:
    """Left nearest-neighbour distances of positions ``first..len(cur)-1`` of a stream.

    ``cur`` holds the stream's (shifted, float32) values and ``cand`` the same values as
    candidates (:data:`SENTINEL` where a position may not be matched), aligned; position ``t``
    is compared with every stretch ending ``window..history`` points before it, each distance
    summed in float32 in the same order whatever ``first`` is, so a stream continued from its
    last ``history + window - 1`` values gives the very numbers of one scored from its start.
    ``first`` must be at least ``window - 1``.
    """
    n = len(cur)
    out = np.zeros(max(n - first, 0))
    if n <= first:
        return out
    off = history + window
    padded = np.concatenate([np.full(off, SENTINEL, dtype=np.float32), cand])
    rows = slice(first - window + 1, n)  # the rows a distance of positions first.. sums over
    current = cur[rows][:, None]
    m = n - first

    # lags k = window..history; for a block of lags [k0, k1) the candidate values
    # padded[off + t - k] for every t are the rows of one strided view (no copy).
    def block_min(k0: int) -> np.ndarray:
        k1 = min(k0 + block, history + 1)
        view = sliding_window_view(padded[off - k1 + 1 + rows.start: off + n - k0], k1 - k0)
        diff = view - current
        diff *= diff
        acc = diff[window - 1:].copy()
        for j in range(1, window):
            acc += diff[window - 1 - j: window - 1 - j + m]
        return acc.min(axis=1)

    if history < window:
        return out
    best = np.minimum.reduce([block_min(k0) for k0 in range(window, history + 1, block)]).astype(np.float64)
    best[best >= 1e30] = 0.0  # only sentinel candidates: nothing to compare with yet
    return np.sqrt(np.maximum(best, 0.0))


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
    stream = NNStream(window, history, exclude_first)
    return stream.advance(np.asarray(x, dtype=np.float64), block=block)


class NNStream:
    """:func:`nn_tail` over a stream fed piece by piece: it keeps the values a later point can match.

    The values are shifted by the stream's first value (causal) and held in float32: half the
    memory traffic, and the precision of large-valued series kept.
    """

    def __init__(self, window: int, history: int, exclude_first: int = 0) -> None:
        self.window, self.history, self.exclude_first = window, history, exclude_first
        self.n = 0
        self.origin = 0.0
        self.cand = np.zeros(0, dtype=np.float32)
        self.cur = np.zeros(0, dtype=np.float32)

    @property
    def keep(self) -> int:
        return self.history + self.window - 1

    def advance(self, x: np.ndarray, block: int = 256) -> np.ndarray:
        if len(x) == 0:
            return np.zeros(0)
        if self.n == 0:
            self.origin = float(x[0])
        xs = np.clip(x - self.origin, -1e12, 1e12).astype(np.float32)
        cand = xs.copy()
        excluded = self.exclude_first - self.n
        if excluded > 0:
            cand[:excluded] = SENTINEL
        cur = np.concatenate([self.cur, xs])
        cands = np.concatenate([self.cand, cand])
        held = len(self.cur)
        first = max(held, self.window - 1)
        # lags reaching before the stream's start only meet sentinels: leave them out
        history = min(self.history, self.n + len(x) - 1)
        dist = nn_tail(cands, cur, first, self.window, history, block)
        out = np.zeros(len(x))
        out[first - held:] = dist
        self.n += len(x)
        self.cur, self.cand = cur[-self.keep:].copy(), cands[-self.keep:].copy()
        return out

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}.n": np.array([self.n, self.origin]), f"{prefix}.cand": self.cand,
                f"{prefix}.cur": self.cur}

    def load(self, arrays: dict[str, np.ndarray], prefix: str) -> None:
        n, origin = arrays[f"{prefix}.n"]
        self.n, self.origin = int(n), float(origin)
        self.cand = arrays[f"{prefix}.cand"].astype(np.float32)
        self.cur = arrays[f"{prefix}.cur"].astype(np.float32)


#: New points up to which a stream ranks by scanning its tail (above: one sorted pass).
RANK_SCAN_POINTS = 64


class RankStream:
    """:func:`causal_rank` over a stream fed piece by piece: it keeps the last ``history`` values."""

    def __init__(self, history: int, warmup: int) -> None:
        self.history, self.warmup = history, warmup
        self.n = 0
        self.tail = np.zeros(0)

    def advance(self, raw: np.ndarray) -> np.ndarray:
        from admon.detectors.kernels import rank_after  # numba: imported on first score

        raw = np.asarray(raw, dtype=float)
        if len(raw) == 0:
            return np.zeros(0)
        if len(raw) > RANK_SCAN_POINTS:
            # the tail holds every earlier value a rank counts, so ranks over tail + raw are the stream's
            out = causal_rank(np.concatenate([self.tail, raw]), self.history, self.warmup)[len(self.tail):]
        else:
            out = rank_after(self.tail, raw, self.n, self.history, self.warmup)
        self.n += len(raw)
        self.tail = np.concatenate([self.tail, raw])[-self.history:].copy()
        return out

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}.n": np.array([self.n]), f"{prefix}.tail": self.tail}

    def load(self, arrays: dict[str, np.ndarray], prefix: str) -> None:
        self.n = int(arrays[f"{prefix}.n"][0])
        self.tail = arrays[f"{prefix}.tail"].astype(np.float64)


class PAAStream:
    """:func:`paa_channel` over a stream: block means of ``paa`` points, matched as an :class:`NNStream`.

    A point gets the distance of its last complete block (blocks count from the stream's start).
    """

    def __init__(self, paa: int, window: int, history: int, exclude_first: int = 0) -> None:
        self.paa = paa
        self.blocks = NNStream(window, history, exclude_first // paa)
        self.partial = np.zeros(0)
        self.last = 0.0

    def advance(self, x: np.ndarray) -> np.ndarray:
        values = np.concatenate([self.partial, x])
        m = len(values) // self.paa
        out = np.empty(len(x))
        if m:
            means = values[: m * self.paa].reshape(m, self.paa).mean(axis=1)
            dist = self.blocks.advance(means)
            # point i of values ends block (i + 1) // paa - 1 (or lies in the next, incomplete one)
            idx = (np.arange(len(self.partial), len(values)) + 1) // self.paa - 1
            known = np.concatenate([[self.last], dist])
            out[:] = known[idx + 1]
            self.last = float(dist[-1])
        else:
            out[:] = self.last
        self.partial = values[m * self.paa:].copy()
        return out

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {**self.blocks.arrays(f"{prefix}.blocks"), f"{prefix}.partial": self.partial,
                f"{prefix}.last": np.array([self.last])}

    def load(self, arrays: dict[str, np.ndarray], prefix: str) -> None:
        self.blocks.load(arrays, f"{prefix}.blocks")
        self.partial = arrays[f"{prefix}.partial"].astype(np.float64)
        self.last = float(arrays[f"{prefix}.last"][0])


class ShiftStream:
    """:func:`quantile_shift` over a stream: it keeps the last ``reference + max(windows)`` values."""

    def __init__(self, windows: tuple[int, ...], reference: int) -> None:
        self.windows, self.reference = tuple(windows), reference
        self.tail = np.zeros(0)

    @property
    def keep(self) -> int:
        return self.reference + max(self.windows) - 1

    def advance(self, x: np.ndarray) -> list[np.ndarray]:
        from admon.detectors.kernels import (  # numba: imported on first score
            rolling_quantiles,
            rolling_std,
        )

        held = len(self.tail)
        values = np.concatenate([self.tail, x])
        n, k = len(values), len(x)
        qs = np.array(SHIFT_QUANTILES)  # includes the quartiles of the scale
        widest = max(self.windows)
        # only the references of the new points are needed: those ending w points before them
        first = max(held - widest, 0)
        ref_q = rolling_quantiles(values, self.reference, widest, qs, first)
        ref_sd = rolling_std(values, self.reference, widest, first)
        q25, q75 = SHIFT_QUANTILES.index(0.25), SHIFT_QUANTILES.index(0.75)
        new = np.arange(held, n)
        out = []
        for w in self.windows:
            # the reference ends w points back; before the stream's start it is missing
            back = new - w
            ok = back >= 0
            ref = np.full((len(qs), k), np.nan)
            sd = np.full(k, np.nan)
            ref[:, ok], sd[ok] = ref_q[:, back[ok]], ref_sd[back[ok]]
            recent = rolling_quantiles(values, w, w, qs, held)[:, held:]
            gaps = np.abs(recent - ref)
            dist = gaps[0].copy()
            for row in gaps[1:]:
                dist += row
            dist /= len(qs)
            scale = np.maximum(ref[q75] - ref[q25], 0.1 * sd) + 1e-9
            out.append(np.nan_to_num(dist / scale, nan=0.0))
        self.tail = values[-self.keep:].copy()
        return out

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}.tail": self.tail}

    def load(self, arrays: dict[str, np.ndarray], prefix: str) -> None:
        self.tail = arrays[f"{prefix}.tail"].astype(np.float64)


class SeriesStream:
    """:func:`score_series` of one univariate series fed piece by piece, and its state.

    ``advance(values)`` scores the new values exactly as a call of :func:`score_series` on
    the whole stream would score them (to the last bit: every channel keeps the values a later
    point depends on and computes a new point with the same operations in the same order),
    so a scheduled run can carry the state to the next run and score only its new points.
    :meth:`arrays` and :meth:`from_arrays` are the state as plain numpy arrays (no pickle).
    """

    def __init__(self, config: ChannelConfig) -> None:
        cfg = self.config = config
        self.n = 0
        self.last = np.nan  # the last known value (NaN: none yet)
        self.high = self.low = np.nan  # the range of the values so far
        self.short = NNStream(cfg.short_window, cfg.history, cfg.startup)
        self.long = PAAStream(cfg.paa, cfg.long_window, cfg.history, cfg.startup)
        self.shift = ShiftStream(cfg.shift_windows, cfg.shift_reference) if cfg.shift_windows else None
        ranks = ["short", "long", *(f"shift{w}" for w in cfg.shift_windows)]
        self.ranks = {name: RankStream(cfg.rank_history, cfg.warmup) for name in ranks}

    @property
    def continuable(self) -> bool:
        """Can a later piece continue this stream? Not while no value is known: a whole-series
        score fills leading gaps with the first value to come, which a state cannot know."""
        return self.n > 0 and np.isfinite(self.last)

    def advance(self, values: np.ndarray) -> np.ndarray:
        """Scores in [0, 1] of ``values``, the next points of the stream."""
        cfg = self.config
        values = np.asarray(values, dtype=float)
        if len(values) == 0:
            return np.zeros(0)
        if self.n and not self.continuable:
            raise ValueError("this stream has no known value yet and cannot be continued; score it whole")
        if self.n:
            x, known = forward_fill(np.concatenate([[self.last], values]))[1:], True
        else:  # leading gaps take the first known value, as in a whole-series score
            x, known = forward_fill(values), bool(np.isfinite(values).any())
        self.last = float(x[-1]) if known else np.nan
        short = self.ranks["short"].advance(self.short.advance(x))
        long = self.ranks["long"].advance(self.long.advance(x))
        context = 0.5 * (short + long)
        score = context
        if self.shift is not None:
            for w, raw in zip(cfg.shift_windows, self.shift.advance(x)):
                shift = self.ranks[f"shift{w}"].advance(raw)
                corroborated = cfg.shift_weight * shift + (1.0 - cfg.shift_weight) * context
                score = np.maximum(score, np.where(shift > 1.0 - cfg.shift_tail, corroborated, 0.0))
        excess = self._spatial(x)
        score = np.where(excess > 0, 0.99 + 0.01 * np.tanh(excess), score)
        self.n += len(values)
        return np.clip(score, 0.0, 1.0)

    def _spatial(self, x: np.ndarray) -> np.ndarray:
        """:func:`spatial_anomaly` of the new points: the range so far is two numbers."""
        if self.n == 0:
            self.high = self.low = float(x[0])
        prev_max = np.maximum.accumulate(np.concatenate([[self.high], x]))[:-1]
        prev_min = np.minimum.accumulate(np.concatenate([[self.low], x]))[:-1]
        self.high, self.low = float(max(prev_max[-1], x[-1])), float(min(prev_min[-1], x[-1]))
        span = prev_max - prev_min
        with np.errstate(divide="ignore", invalid="ignore"):
            excess = np.maximum(x - prev_max, prev_min - x) / np.where(span > 0, span, np.inf)
        excess = np.where(excess > self.config.spatial_tolerance, excess, 0.0)
        excess[: max(self.config.spatial_warmup - self.n, 0)] = 0.0
        return excess

    def arrays(self) -> dict[str, np.ndarray]:
        """The state as named numpy arrays."""
        out = {"series": np.array([self.n, self.last, self.high, self.low])}
        out |= self.short.arrays("short") | self.long.arrays("long")
        if self.shift is not None:
            out |= self.shift.arrays("shift")
        for name, rank in self.ranks.items():
            out |= rank.arrays(f"rank.{name}")
        return out

    @classmethod
    def from_arrays(cls, config: ChannelConfig, arrays: dict[str, np.ndarray]) -> SeriesStream:
        """The stream :meth:`arrays` described."""
        stream = cls(config)
        n, stream.last, stream.high, stream.low = arrays["series"].tolist()
        stream.n = int(n)
        stream.short.load(arrays, "short")
        stream.long.load(arrays, "long")
        if stream.shift is not None:
            stream.shift.load(arrays, "shift")
        for name, rank in stream.ranks.items():
            rank.load(arrays, f"rank.{name}")
        return stream


def causal_rank(raw: np.ndarray, history: int, warmup: int) -> np.ndarray:
    """Rank of each value among the previous ``history`` values, in [0, 1].

    A tie counts half. A new maximum gets ``1 - 0.5/n * exp(-excess)`` (``excess``
    relative to the old maximum), so bigger records rank higher. 0 during warm-up.

    >>> causal_rank(np.array([1.0, 2, 3, 2, 10]), history=100, warmup=2).round(3).tolist()
    [0.0, 0.0, 0.848, 0.5, 0.988]
    """
    from admon.detectors.kernels import (
        rank_codes,  # numba: imported on first score, not with the registry
    )

    raw = np.asarray(raw, dtype=float)
    if len(raw) == 0:
        return np.zeros(0)
    maxima = pd.Series(raw).rolling(history, min_periods=1).max().shift(1).to_numpy()
    codes = np.unique(raw, return_inverse=True)[1].reshape(-1).astype(np.int64)
    return rank_codes(codes, raw, maxima, history, warmup)


def paa_channel(x: np.ndarray, paa: int, window: int, history: int, exclude_first: int = 0) -> np.ndarray:
    """Left-NN distance on block means; point ``t`` gets its last complete block's value.

    ``exclude_first`` is in points (rounded down to whole blocks).
    """
    return PAAStream(paa, window, history, exclude_first).advance(np.asarray(x, dtype=float))


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


def quantile_shift(x: np.ndarray, windows: tuple[int, ...], reference: int) -> list[np.ndarray]:
    """Per window ``w``: distance between the last ``w`` values and the ``reference`` before them.

    The distance is the mean absolute difference of the :data:`SHIFT_QUANTILES` of
    the two stretches, divided by the reference's interquartile range (floored at a
    tenth of its standard deviation, so a flat reference does not divide by 0).
    0 until the reference holds ``max(windows)`` points.

    >>> x = np.r_[np.zeros(100), np.ones(20)] + np.tile([0.0, 0.1], 60)  # IQR 0.1, then a shift of 1
    >>> d = quantile_shift(x, (8,), 50)[0]
    >>> float(d[99]), round(float(d[107]), 1)
    (0.0, 10.0)
    """
    return ShiftStream(tuple(windows), reference).advance(np.asarray(x, dtype=float))


def score_series(values: np.ndarray, config: DefaultConfig | None = None) -> np.ndarray:
    """Scores in [0, 1] of one univariate series, each from the values up to it (before post-rules)."""
    return SeriesStream(config or DefaultConfig()).advance(values)


# ---------------------------------------------------------------------------- detector
@register("default_v1")
class DefaultDetector(Detector):
    """admon's first default detector (``default_v1``): causal two-scale context novelty + HTM-style calibration.

    See the module docstring for the design. Features are scored one by one and
    combined by their maximum.
    """

    Config = DefaultConfig
    multivariate = False

    @property
    def lookback(self) -> int:
        """The points a score depends on: the widest channel span plus the raw scores its ranks
        are measured against. Scheduled runs read this much before their window (capped by
        ``ADMON_MAX_CONTEXT_BUCKETS``), so the stream moves on from run to run instead of
        restarting from the fitted state each time."""
        c = self.config
        span = max(c.short_window + c.history, c.paa * (c.long_window + c.history),
                   c.shift_reference + max(c.shift_windows, default=0))
        return span + c.rank_history

    def default_post_rules(self) -> list[dict[str, Any]]:
        """The ``suppress`` rule (the refractory period) on the [0, 1] scores, before calibration."""
        return [{"name": "suppress", "period": self.config.refractory, "gap": self.config.refractory_gap,
                 "factor": 0.5, "top": 1.0}]

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

    def channel_config(self) -> ChannelConfig:
        """The evidence channels' settings (:class:`SeriesStream` takes them)."""
        return self.config  # type: ignore[return-value]

    def _score(self, frame: pd.DataFrame) -> np.ndarray:
        return self.combine_features(self._feature_scores(frame))

    def _feature_scores(self, frame: pd.DataFrame) -> np.ndarray:
        """Each feature's own score (the detector scores features one by one; ``score`` is their maximum)."""
        out = np.zeros((len(frame), len(self.feature_columns_)))
        values = self._values(frame)
        ts_all = frame[TIMESTAMP].to_numpy() if TIMESTAMP in frame.columns else None
        for key, pos in self._iter_groups(frame):
            streams = self.start_streams(key, int(ts_all[pos[0]]) if ts_all is not None else None)
            out[pos] = self.advance_streams(streams, values[pos])
        return out

    # ------------------------------------------------------------- carried state
    supports_state: ClassVar[bool] = True

    def start_streams(self, key: tuple, before: int | None) -> list[SeriesStream]:
        """One :class:`SeriesStream` per feature for group ``key``, fed the values ``fit`` kept of
        it strictly before ``before`` (ms): where a score of a frame starting at ``before`` starts."""
        cfg = self.channel_config()
        streams = [SeriesStream(cfg) for _ in self.feature_columns_]
        past = self._history(key, before)
        if len(past):
            for j, stream in enumerate(streams):
                stream.advance(past[:, j])
        return streams

    def combine_features(self, per_feature: np.ndarray) -> np.ndarray:
        """A row's score from its per-feature scores (as ``score`` does): their maximum."""
        return per_feature.max(axis=1)

    def stream_states(self, arrays: dict[str, np.ndarray], width: int) -> list[SeriesStream]:
        """The streams of a group from the arrays a run stored (feature ``j``'s under ``f{j}.``)."""
        cfg = self.channel_config()
        streams = []
        for j in range(width):
            prefix = f"f{j}."
            streams.append(SeriesStream.from_arrays(
                cfg, {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}))
        return streams

    def advance_streams(self, streams: list[SeriesStream], values: np.ndarray, key: tuple = ()) -> np.ndarray:
        """The next rows (rows x features) of group ``key`` scored by its streams: per-feature scores."""
        if len(values) == 0:
            return np.zeros((0, len(streams)))
        return np.column_stack([stream.advance(values[:, j]) for j, stream in enumerate(streams)])

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
