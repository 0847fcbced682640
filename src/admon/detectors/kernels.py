"""Compiled (numba) loops: the ``default`` detector's causal ranks and rolling quantiles, and the
deep detectors' forward passes row by row.

The first are per-point loops over a sliding window that numpy cannot vectorise; in
Python they cost more than the whole nearest-neighbour search. The second score each
row on its own, in a fixed order (see below). Imported lazily by
:mod:`admon.detectors.streaming` and :mod:`admon.detectors.deep`, so importing the
detectors does not import numba; the first call compiles (cached on disk next to this file).

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
                out[k, t] = sorted_quantile(buf, size, quantiles[k])
    return out


@njit(cache=True)
def sorted_quantile(ordered: np.ndarray, size: int, q: float) -> float:
    """Quantile ``q`` of the first ``size`` values of ``ordered`` (sorted), with linear
    interpolation as pandas and numpy: the one formula of every rolling quantile in admon."""
    pos = (size - 1) * q
    lo = int(math.floor(pos))
    hi = min(lo + 1, size - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


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


# ------------------------------------------------------------------ torch detectors, row by row
# A BLAS product's rounding follows the batch's shape (torch gives other bits for a row scored
# alone than in a batch), so the deep detectors score with these loops instead: each output is
# its bias plus the products in input order, whatever else is computed beside it. That makes a
# row's score the same whether its group is scored whole or a few rows per run (admon.runs.state).


@njit(cache=True)
def dense_rows(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, relu: bool) -> np.ndarray:
    """torch's ``nn.Linear`` (``weight`` is outputs x inputs) on each row of ``x``, then ReLU if
    ``relu``; in float64, each row on its own."""
    n, k = x.shape
    m = weight.shape[0]
    by_input = np.ascontiguousarray(weight.T).astype(np.float64)  # inputs x outputs: the inner loop is contiguous
    out = np.empty((n, m))
    for r in range(n):
        for j in range(m):
            out[r, j] = bias[j]
        for i in range(k):
            xi = x[r, i]
            for j in range(m):
                out[r, j] += by_input[i, j] * xi
        if relu:
            for j in range(m):
                if out[r, j] < 0.0:
                    out[r, j] = 0.0
    return out


@njit(cache=True)
def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


@njit(cache=True)
def lstm_last_hidden(windows: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray, b_ih: np.ndarray,
                     b_hh: np.ndarray) -> np.ndarray:
    """torch's one-layer ``nn.LSTM`` (gates in torch's order: input, forget, cell, output) run over
    each window of ``windows`` (rows x steps x features) from a zero state: the hidden state after
    the window's last step (rows x hidden); in float64, each row on its own."""
    n, steps, f = windows.shape
    g4 = w_ih.shape[0]
    h = g4 // 4
    ih = np.ascontiguousarray(w_ih.T).astype(np.float64)
    hh = np.ascontiguousarray(w_hh.T).astype(np.float64)
    out = np.empty((n, h))
    gates = np.empty(g4)
    hidden = np.empty(h)
    cell = np.empty(h)
    for r in range(n):
        hidden[:] = 0.0
        cell[:] = 0.0
        for t in range(steps):
            for j in range(g4):
                gates[j] = b_ih[j] + b_hh[j]
            for i in range(f):
                xi = windows[r, t, i]
                for j in range(g4):
                    gates[j] += ih[i, j] * xi
            for i in range(h):
                hi = hidden[i]
                for j in range(g4):
                    gates[j] += hh[i, j] * hi
            for j in range(h):  # the gates are computed: the state may change in place
                cell[j] = _sigmoid(gates[h + j]) * cell[j] + _sigmoid(gates[j]) * math.tanh(gates[2 * h + j])
                hidden[j] = _sigmoid(gates[3 * h + j]) * math.tanh(cell[j])
        out[r] = hidden
    return out
