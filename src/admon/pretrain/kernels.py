"""Compiled (numba) loops of the foundation model: each point's causal scale and the network's
forward pass, one point at a time.

A point's result is computed from the values it depends on with the same operations in
the same order, whatever else is computed and wherever the series was cut: the window's
median and quantiles come from its sorted finite values, its std from two passes over
them in time order, and each network output sums its inputs in one fixed loop order
(loops run across output channels, so LLVM may vectorise them without reordering a sum;
no fastmath). So a series forecast in pieces, its state carried between them, gives the
very bits of one forecast whole -- which torch's conv1d and pandas' rolling sums do not
promise. Imported lazily by :mod:`admon.pretrain.model`, so importing the detectors does not
import numba; the first call compiles (cached on disk next to this file).

>>> import numpy as np
>>> z, med, spread = causal_scale(np.array([1.0, 2.0, np.nan, 4.0]), 3)
>>> med.tolist(), z.tolist()  # a first point centres on itself; 4.0 is 6.7 IQR-sigmas above 1.5
([1.0, 1.0, 1.5, 1.5], [0.0, 100.0, 0.0, 6.745])
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from admon.detectors.kernels import sorted_quantile

IQR_TO_SIGMA = 1.349  # the IQR of a normal distribution in sigmas
Z_LIMIT = 1e6  # |z| beyond this carries no more information, and stays finite in float32


@njit(cache=True)
def _median(ordered: np.ndarray, count: int) -> float:
    """pandas' rolling median of ``count`` sorted values."""
    mid = count // 2
    if count % 2 == 1:
        return ordered[mid]
    return (ordered[mid] + ordered[mid - 1]) / 2


@njit(cache=True)
def _window_std(window: np.ndarray, head: int, count: int) -> float:
    """Population std (ddof=0) of the window's finite values, two passes in time order from ``head``."""
    size = len(window)
    total = 0.0
    for i in range(size):
        v = window[(head + i) % size]
        if not math.isnan(v):
            total += v
    mean = total / count
    squares = 0.0
    for i in range(size):
        v = window[(head + i) % size]
        if not math.isnan(v):
            squares += (v - mean) * (v - mean)
    return math.sqrt(squares / count)


@njit(cache=True)
def _scale(window: np.ndarray, ordered: np.ndarray, count: int, head: int, x: float) -> tuple[float, float]:
    """(median, spread) of the finite values of the window before a point of value ``x``.

    The spread is IQR/1.349, else the std, else 1 % of |median|, else 1. With no finite value
    in the window the median is ``x`` itself (NaN if it is missing), so a first point is no surprise.
    """
    if count == 0:
        med = x
        iqr = math.nan
    else:
        med = _median(ordered, count)
        iqr = (sorted_quantile(ordered, count, 0.75) - sorted_quantile(ordered, count, 0.25)) / IQR_TO_SIGMA
    if math.isfinite(iqr) and iqr > 1e-12:
        return med, iqr
    if count > 0:
        std = _window_std(window, head, count)
        if math.isfinite(std) and std > 1e-12:
            return med, std
    if abs(med) > 1e-12:
        return med, 0.01 * abs(med)
    return med, 1.0


@njit(cache=True)
def _push(window: np.ndarray, ordered: np.ndarray, count: int, head: int, x: float) -> int:
    """Move the window on by ``x`` (NaN when missing): the oldest value leaves, the sorted finite
    values follow. Returns the new count of finite values (the new head is ``(head + 1) % len``)."""
    old = window[head]
    if not math.isnan(old):
        at = np.searchsorted(ordered[:count], old)
        ordered[at:count - 1] = ordered[at + 1:count].copy()
        count -= 1
    window[head] = x
    if not math.isnan(x):
        at = np.searchsorted(ordered[:count], x)
        ordered[at + 1:count + 1] = ordered[at:count].copy()
        ordered[at] = x
        count += 1
    return count


@njit(cache=True)
def _sorted_finite(window: np.ndarray) -> tuple[np.ndarray, int]:
    ordered = np.full(len(window), np.nan)
    finite = np.sort(window[~np.isnan(window)])
    ordered[:len(finite)] = finite
    return ordered, len(finite)


@njit(cache=True)
def _canonical(x: float) -> float:
    """NaN for a missing (non-finite) value; -0.0 as 0.0, so that sorted windows hold one zero."""
    return x + 0.0 if math.isfinite(x) else math.nan


@njit(cache=True)
def _z(x: float, med: float, spread: float) -> float:
    if math.isnan(x):
        return 0.0
    return min(max((x - med) / spread, -Z_LIMIT), Z_LIMIT)


@njit(cache=True)
def causal_scale(x: np.ndarray, context: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(z, median, spread) of each point of a series from the ``context`` points before it
    (see :func:`admon.pretrain.model.normalise`)."""
    n = len(x)
    z, med, spread = np.zeros(n), np.zeros(n), np.zeros(n)
    window = np.full(context, np.nan)
    ordered = np.full(context, np.nan)
    count = 0
    for t in range(n):
        v = _canonical(x[t])
        med[t], spread[t] = _scale(window, ordered, count, t % context, v)
        z[t] = _z(v, med[t], spread[t])
        count = _push(window, ordered, count, t % context, v)
    return z, med, spread


@njit(cache=True)
def _gelu(v: float) -> float:
    """The exact (erf) GELU, as torch's default ``nn.GELU``."""
    return v * 0.5 * (1.0 + math.erf(v * 0.7071067811865476))


@njit(cache=True)
def _dense(weight: np.ndarray, bias: np.ndarray, inputs: np.ndarray, out: np.ndarray) -> None:
    """``out = bias + weight.T @ inputs`` (weight: inputs x outputs), each output summed in input order."""
    out[:] = bias
    for k in range(weight.shape[0]):
        v = inputs[k]
        for o in range(weight.shape[1]):
            out[o] += weight[k, o] * v


@njit(cache=True)
def forecast_steps(x: np.ndarray, net: tuple, dilations: np.ndarray, window: np.ndarray, queues: np.ndarray,
                   last: np.ndarray, counts: np.ndarray,
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Forecast the next points ``x`` of a series from its state, which moves on (in place).

    ``net`` holds the network's float64 weights, laid out (inputs x outputs) by
    :func:`admon.pretrain.model.network_arrays`. The state: ``window`` the last ``context`` raw
    values (NaN: missing or before the start), ``queues`` each block's last ``dilation`` inputs
    (zeros before the start, as the causal padding; block ``i``'s rows start at the sum of the
    earlier dilations), ``last`` the sorted quantiles the previous point predicted (zeros before
    the start), ``counts`` = (points so far, finite points so far).

    Returns per point: z, median and spread of its scale, the quantiles of z predicted for it
    (points x Q) and the finite points before it.
    """
    inp_w, inp_b, conv_w, conv_b, mix_w, mix_b, head_w, head_b, out_w, out_b = net
    n, channels, n_quantiles = len(x), inp_b.shape[0], out_b.shape[0]
    context = len(window)
    z, med, spread = np.zeros(n), np.zeros(n), np.zeros(n)
    quantiles = np.zeros((n, n_quantiles))
    seen = np.zeros(n, dtype=np.int64)
    ordered, count = _sorted_finite(window)
    h, pre, act, mixed = np.zeros(channels), np.zeros(channels), np.zeros(channels), np.zeros(channels)
    inputs = np.zeros(2)
    out = np.zeros(n_quantiles)
    for t in range(n):
        step = counts[0]
        head = step % context
        v = _canonical(x[t])
        med[t], spread[t] = _scale(window, ordered, count, head, v)
        z[t] = _z(v, med[t], spread[t])
        quantiles[t] = last
        seen[t] = counts[1]
        count = _push(window, ordered, count, head, v)
        # the network's input: float32 as the torch module reads it
        inputs[0] = np.float32(math.asinh(z[t]))
        inputs[1] = 1.0 if math.isnan(v) else 0.0
        _dense(inp_w, inp_b, inputs, h)
        row = 0
        for block in range(len(dilations)):
            slot = row + step % dilations[block]
            # causal conv, kernel 2: tap 0 reads the block's input ``dilation`` points back
            pre[:] = conv_b[block]
            for k in range(channels):
                u = queues[slot, k]
                for o in range(channels):
                    pre[o] += conv_w[block, 0, k, o] * u
            for k in range(channels):
                u = h[k]
                for o in range(channels):
                    pre[o] += conv_w[block, 1, k, o] * u
            queues[slot] = h
            for o in range(channels):
                act[o] = _gelu(pre[o])
            _dense(mix_w[block], mix_b[block], act, mixed)
            for o in range(channels):
                h[o] = h[o] + mixed[o]
            row += dilations[block]
        _dense(head_w, head_b, h, pre)
        for o in range(channels):
            act[o] = _gelu(pre[o])
        _dense(out_w, out_b, act, out)
        last[:] = np.sort(out)
        counts[0] = step + 1
        if not math.isnan(v):
            counts[1] += 1
    return z, med, spread, quantiles, seen
