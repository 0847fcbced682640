"""Compiled (numba) loops of the ``default`` detector: causal ranks and rolling quantiles.

Both are per-point loops over a sliding window that numpy cannot vectorise; in
Python they cost more than the whole nearest-neighbour search. Imported lazily by
:mod:`admon.detectors.streaming`, so importing the detectors does not import numba;
the first call compiles (cached on disk next to this file).

>>> import numpy as np
>>> rolling_quantiles(np.array([3.0, 1.0, 2.0, 5.0]), 3, 2, np.array([0.5])).round(2).tolist()
[[nan, 2.0, 2.0, 2.0]]
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def _tree_add(tree: np.ndarray, index: int, value: int) -> None:
    index += 1
    while index < len(tree):
        tree[index] += value
        index += index & (-index)


@njit(cache=True)
def _tree_prefix(tree: np.ndarray, index: int) -> int:
    """How many inserted codes are below ``index``."""
    total = 0
    while index > 0:
        total += tree[index]
        index -= index & (-index)
    return total


@njit(cache=True)
def _rank_value(value: float, below: int, equal: int, count: int, prev_max: float) -> float:
    """The rank of ``value`` among ``count`` earlier values, ``below`` of them smaller and ``equal``
    the same, ``prev_max`` their maximum: the one formula of both rank kernels (so that a
    stream ranked piece by piece gives the very bits of one ranked whole)."""
    if below == count:  # a new record: above 1 - 1/n by how far it beats the old maximum
        excess = (value - prev_max) / (abs(prev_max) + 1e-12)
        return 1.0 - 0.5 / count * math.exp(-min(excess, 50.0))
    return (below + 0.5 * equal) / count


@njit(cache=True)
def rank_codes(codes: np.ndarray, raw: np.ndarray, prev_max: np.ndarray, history: int, warmup: int) -> np.ndarray:
    """Causal rank of each value among the previous ``history`` (see ``streaming.causal_rank``).

    ``codes`` are the values' positions in their sorted distinct values, so a Fenwick
    tree over codes counts the earlier values below and equal to the current one in
    O(log n); only values already inserted (earlier in time) are ever counted.
    """
    n = len(codes)
    tree = np.zeros((codes.max() + 2) if n else 1, np.int64)
    out = np.zeros(n)
    for t in range(n):
        count = min(t, history)
        if count >= warmup:
            below = _tree_prefix(tree, codes[t])
            equal = _tree_prefix(tree, codes[t] + 1) - below
            out[t] = _rank_value(raw[t], below, equal, count, prev_max[t])
        _tree_add(tree, codes[t], 1)
        if t >= history:
            _tree_add(tree, codes[t - history], -1)
    return out


@njit(cache=True)
def rank_after(tail: np.ndarray, raw: np.ndarray, seen: int, history: int, warmup: int) -> np.ndarray:
    """Causal ranks of ``raw``, the next values of a stream whose last ``min(seen, history)``
    values are ``tail`` (``seen`` values so far): what :func:`rank_codes` gives them, by a scan
    of the earlier values (cheaper than a tree for a few new points)."""
    held = len(tail)
    values = np.empty(held + len(raw))
    values[:held] = tail
    values[held:] = raw
    out = np.zeros(len(raw))
    for i in range(len(raw)):
        count = min(seen + i, history)
        if count < warmup:
            continue
        t = held + i
        value = values[t]
        below = 0
        equal = 0
        prev_max = -np.inf
        for j in range(t - count, t):
            v = values[j]
            if v < value:
                below += 1
            elif v == value:
                equal += 1
            if v > prev_max:
                prev_max = v
        out[i] = _rank_value(value, below, equal, count, prev_max)
    return out


@njit(cache=True)
def rolling_quantiles(x: np.ndarray, window: int, min_periods: int, quantiles: np.ndarray,
                      start: int = 0) -> np.ndarray:
    """``out[k, t]``: quantile ``quantiles[k]`` of ``x[t - window + 1 : t + 1]`` (linear
    interpolation, as pandas and numpy); NaN until ``min_periods`` values are in, and before
    ``start`` (positions a caller does not need: a stream's new points).

    One sorted buffer serves every quantile: insert the new value, drop the one leaving. The
    buffer holds the same values whatever ``start`` is, so a quantile is the same number.
    """
    n = len(x)
    out = np.full((len(quantiles), n), np.nan)
    buf = np.empty(window + 1)
    first = max(start - window, 0)
    size = start - first
    if size > 0:
        buf[:size] = np.sort(x[first:start])
    for t in range(start, n):
        value = x[t]
        i = np.searchsorted(buf[:size], value)
        for j in range(size, i, -1):
            buf[j] = buf[j - 1]
        buf[i] = value
        size += 1
        if t >= window:
            j = np.searchsorted(buf[:size], x[t - window])
            for k in range(j, size - 1):
                buf[k] = buf[k + 1]
            size -= 1
        if size >= min_periods:
            for k in range(len(quantiles)):
                pos = (size - 1) * quantiles[k]
                lo = int(math.floor(pos))
                hi = min(lo + 1, size - 1)
                out[k, t] = buf[lo] + (buf[hi] - buf[lo]) * (pos - lo)
    return out


@njit(cache=True)
def rolling_std(x: np.ndarray, window: int, min_periods: int, start: int = 0) -> np.ndarray:
    """Sample standard deviation of ``x[t - window + 1 : t + 1]`` for ``t >= start`` (NaN until
    ``min_periods`` values are in), each from its own window in two passes: a number depends
    only on its window's values, never on where the series started (pandas' running sums do)."""
    n = len(x)
    out = np.full(n, np.nan)
    for t in range(start, n):
        begin = max(t - window + 1, 0)
        count = t + 1 - begin
        if count < min_periods or count < 2:
            continue
        total = 0.0
        for j in range(begin, t + 1):
            total += x[j]
        mean = total / count
        square = 0.0
        for j in range(begin, t + 1):
            square += (x[j] - mean) ** 2
        out[t] = math.sqrt(square / (count - 1))
    return out


#: The slots of an EWMA stream's state (:func:`ewm_stream`).
EWM_STATE = ("started", "mean", "mean_weight", "observations", "cov_mean", "cov", "cov_weight",
             "last_mean", "last_std")


@njit(cache=True)
def ewm_stream(x: np.ndarray, alpha: float, min_periods: int, state: np.ndarray) -> tuple:
    """pandas' ``ewm(alpha, min_periods, adjust=True, ignore_na=True)`` mean and biased std of
    ``x``, shifted by one row (what was known before each row), continued from ``state`` (the
    :data:`EWM_STATE` slots after the previous rows; all zero for a new stream), as pandas'
    own recursions compute them (``pandas/_libs/window/aggregations.pyx``: ``ewm``, ``ewmcov``).
    Returns ``(mean before each row, std before each row, state after the last row)``."""
    n = len(x)
    out_mean = np.full(n, np.nan)
    out_std = np.full(n, np.nan)
    s = state.copy()
    decay = 1.0 - alpha
    for i in range(n):
        out_mean[i] = s[7]
        out_std[i] = s[8]
        cur = x[i]
        seen = cur == cur
        if s[0] == 0.0:  # the first row of the stream
            s[0] = 1.0
            s[1] = cur
            s[2] = 1.0
            s[3] = 1.0 if seen else 0.0
            s[4] = cur if seen else np.nan
            s[5] = 0.0
            s[6] = 1.0
        else:
            if seen:
                s[3] += 1.0
            weighted = s[1]
            if weighted == weighted:
                if seen:
                    s[2] *= decay
                    if weighted != cur:
                        weighted = s[2] * weighted + cur
                        weighted /= s[2] + 1.0
                    s[2] += 1.0
            elif seen:
                weighted = cur
            s[1] = weighted
            mean = s[4]
            if mean == mean:
                if seen:
                    s[6] *= decay
                    old = mean
                    if mean != cur:
                        mean = ((s[6] * old) + cur) / (s[6] + 1.0)
                    s[5] = ((s[6] * (s[5] + ((old - mean) * (old - mean)))) + ((cur - mean) * (cur - mean))) / (s[6] + 1.0)
                    s[6] += 1.0
            elif seen:
                mean = cur
            s[4] = mean
        if s[3] >= min_periods:
            s[7] = s[1]
            s[8] = math.sqrt(s[5]) if s[5] > 0.0 else 0.0
        else:
            s[7] = np.nan
            s[8] = np.nan
    return out_mean, out_std, s
