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
            if below == count:  # a new record: above 1 - 1/n by how far it beats the old maximum
                excess = (raw[t] - prev_max[t]) / (abs(prev_max[t]) + 1e-12)
                out[t] = 1.0 - 0.5 / count * math.exp(-min(excess, 50.0))
            else:
                out[t] = (below + 0.5 * equal) / count
        _tree_add(tree, codes[t], 1)
        if t >= history:
            _tree_add(tree, codes[t - history], -1)
    return out


@njit(cache=True)
def rolling_quantiles(x: np.ndarray, window: int, min_periods: int, quantiles: np.ndarray) -> np.ndarray:
    """``out[k, t]``: quantile ``quantiles[k]`` of ``x[t - window + 1 : t + 1]`` (linear
    interpolation, as pandas and numpy); NaN until ``min_periods`` values are in.

    One sorted buffer serves every quantile: insert the new value, drop the one leaving.
    """
    n = len(x)
    out = np.full((len(quantiles), n), np.nan)
    buf = np.empty(window + 1)
    size = 0
    for t in range(n):
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
