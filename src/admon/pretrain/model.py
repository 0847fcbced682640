"""The foundation model: a dilated causal CNN over scale-normalised series, predicting next-step quantiles.

Scale normalisation is causal and per point: ``stats[t]`` (median and robust spread)
describe the ``context`` points *before* ``t``, and ``z[t] = (x[t] - median[t]) / spread[t]``.
The network sees ``asinh(z)`` and a missing-value flag; its output at position ``t``
predicts the quantiles of ``z[t + 1]``. Nine dilated causal convolutions (kernel 2,
dilations 1..256) give a receptive field of 512 points, so a score depends on at most
``2 * context`` points of history: bounded, and the same whether the series is scored
whole or in windows with that lookback.

Forecasts run point by point in compiled loops (:mod:`admon.pretrain.kernels`) with the
weights torch trained: a series advanced in pieces, its :class:`ForecastStream` state
carried between them, gives the very bits of the series forecast whole.

From the quantiles come an expected value (the median), a band (the 5-95 % quantiles,
mapped back to the series' units) and a surprise score: the distance of the observed
value from the median in units of the predicted spread on its side (|z-score|-like,
so 3 means "as unlikely as 3 sigma" when the quantiles are calibrated).

torch is imported inside the functions that need it (a heavy optional dependency), numba likewise.

>>> x = np.sin(np.arange(700) / 10.0)
>>> z, med, spread, missing = normalise(x, context=512)
>>> z.shape, bool(np.isfinite(z).all()), int(missing.sum())
((700,), True, 0)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

QUANTILES = (0.02, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.98)
MEDIAN = QUANTILES.index(0.5)
Q10, Q90 = QUANTILES.index(0.1), QUANTILES.index(0.9)
Q05, Q95 = QUANTILES.index(0.05), QUANTILES.index(0.95)
Z_CLIP = 50.0  # targets beyond this many spreads carry no more information
MIN_HISTORY = 16  # finite points before a row's surprise counts


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the network; saved in the manifest so that weights are rebuilt exactly."""

    context: int = 512
    channels: int = 32
    dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256)
    quantiles: tuple[float, ...] = QUANTILES

    def to_json(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ModelConfig:
        return cls(context=int(doc["context"]), channels=int(doc["channels"]),
                   dilations=tuple(int(d) for d in doc["dilations"]),
                   quantiles=tuple(float(q) for q in doc["quantiles"]))


def normalise(x: np.ndarray, context: int = 512) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Causal robust scaling of one series: ``(z, median, spread, missing)``, all of ``len(x)``.

    ``median[t]``/``spread[t]`` come from the up to ``context`` finite points before ``t``
    (the spread is IQR/1.349, else the std, else 1 % of |median|, else 1); with none, the
    median is the point itself (NaN if it is missing), so a first point is no surprise.
    Missing points have ``z = 0`` and ``missing = 1``. The very function the forecasts use
    (:func:`admon.pretrain.kernels.causal_scale`), so training sees what scoring sees.
    """
    from admon.pretrain.kernels import causal_scale  # numba: compiled on first use

    x = np.asarray(x, dtype=float)
    z, med, spread = causal_scale(x, int(context))
    return z, med, spread, (~np.isfinite(x)).astype(np.float32)


def model_inputs(z: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """The network's two input channels (2 x len): compressed z and the missing flag."""
    return np.stack([np.arcsinh(z), missing]).astype(np.float32)


def build_network(config: ModelConfig):
    """The torch module: (batch, 2, length) -> (batch, n_quantiles, length), causal."""
    import torch
    from torch import nn

    class CausalBlock(nn.Module):
        def __init__(self, channels: int, dilation: int) -> None:
            super().__init__()
            self.pad = dilation
            self.conv = nn.Conv1d(channels, channels, kernel_size=2, dilation=dilation)
            self.mix = nn.Conv1d(channels, channels, kernel_size=1)

        def forward(self, h: torch.Tensor) -> torch.Tensor:
            out = self.conv(nn.functional.pad(h, (self.pad, 0)))
            return h + self.mix(nn.functional.gelu(out))

    class QuantileCNN(nn.Module):
        def __init__(self, cfg: ModelConfig) -> None:
            super().__init__()
            c = cfg.channels
            self.inp = nn.Conv1d(2, c, kernel_size=1)
            self.body = nn.Sequential(*[CausalBlock(c, d) for d in cfg.dilations])
            # the head is what few-shot adaptation fine-tunes
            self.head = nn.Sequential(nn.Conv1d(c, c, kernel_size=1), nn.GELU(),
                                      nn.Conv1d(c, len(cfg.quantiles), kernel_size=1))

        def features(self, x: torch.Tensor) -> torch.Tensor:
            return self.body(self.inp(x))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return sort_quantiles(self.head(self.features(x)))

    return QuantileCNN(config)


def sort_quantiles(q):
    """Quantiles in ascending order along dim 1 (a monotone output without crossing)."""
    import torch

    return torch.sort(q, dim=1).values


def pinball_loss(pred, target, weight, quantiles: tuple[float, ...]):
    """Mean quantile (pinball) loss; ``pred`` (B, Q, L), ``target``/``weight`` (B, L)."""
    import torch

    qs = torch.tensor(quantiles, dtype=pred.dtype, device=pred.device).view(1, -1, 1)
    diff = target.unsqueeze(1) - pred
    loss = torch.maximum(qs * diff, (qs - 1) * diff)
    return (loss.mean(dim=1) * weight).sum() / weight.sum().clamp_min(1.0)


def training_arrays(values: np.ndarray, labels: np.ndarray, context: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(inputs (N, 2, L), targets (N, L), weights (N, L)) of a batch of series.

    Target at position ``t`` is ``z[t + 1]`` (clipped); the weight is 0 where that point is
    missing or labelled anomalous (the model learns normal behaviour) and at the last position.
    """
    n, length = values.shape
    inputs = np.zeros((n, 2, length), dtype=np.float32)
    targets = np.zeros((n, length), dtype=np.float32)
    weights = np.zeros((n, length), dtype=np.float32)
    for i in range(n):
        z, _, _, missing = normalise(values[i], context)
        inputs[i] = model_inputs(z, missing)
        targets[i, :-1] = np.clip(z[1:], -Z_CLIP, Z_CLIP)
        ok = (missing[1:] == 0) & ~labels[i, 1:]
        weights[i, :-1] = ok.astype(np.float32)
    return inputs, targets, weights


@dataclass(frozen=True)
class Forecast:
    """Per point of a series: quantiles of z (len x Q, row t predicts t), expected value, band, surprise."""

    quantiles: np.ndarray
    expected: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    surprise: np.ndarray


def surprise_from_quantiles(z: np.ndarray, q: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """|distance from the median| in units of the predicted spread on that side (1.2816 = z of the 90 % quantile)."""
    med = q[:, MEDIAN]
    up = np.maximum(q[:, Q90] - med, 0.0) / 1.2816
    down = np.maximum(med - q[:, Q10], 0.0) / 1.2816
    side = np.where(z >= med, up, down)
    # a floor on the spread: a model sure of a flat line still scores a tiny wiggle finitely
    out = np.abs(z - med) / np.maximum(side, 0.05)
    return np.where(missing > 0, 0.0, out)


def network_arrays(module) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """The weights of a :func:`build_network` module as the compiled forward reads them:
    ``(net, dilations)``, float64 arrays laid out (inputs x outputs) per layer (see
    :func:`admon.pretrain.kernels.forecast_steps`). Read once per module: it costs a copy."""
    state = {k: v.detach().cpu().numpy().astype(np.float64) for k, v in module.state_dict().items()}
    blocks = list(module.body)

    def dense(name: str) -> np.ndarray:  # (out, in, 1) -> (in, out)
        return np.ascontiguousarray(state[name][:, :, 0].T)

    conv = np.stack([np.stack([state[f"body.{i}.conv.weight"][:, :, tap].T for tap in (0, 1)])
                     for i in range(len(blocks))])
    net = (dense("inp.weight"), state["inp.bias"],
           np.ascontiguousarray(conv), np.stack([state[f"body.{i}.conv.bias"] for i in range(len(blocks))]),
           np.stack([dense(f"body.{i}.mix.weight") for i in range(len(blocks))]),
           np.stack([state[f"body.{i}.mix.bias"] for i in range(len(blocks))]),
           dense("head.0.weight"), state["head.0.bias"], dense("head.2.weight"), state["head.2.bias"])
    dilations = np.array([int(block.conv.dilation[0]) for block in blocks], dtype=np.int64)
    return net, dilations


class ForecastStream:
    """One series forecast point by point, its state carried from piece to piece.

    The state (:meth:`arrays`) is what later points depend on: the last ``context`` raw values
    (the causal scale), each causal block's last ``dilation`` inputs (the queues of a "fast
    WaveNet"), the quantiles the last point predicted and the counts of points. A series
    advanced in pieces gives the bits of one advanced whole (:mod:`admon.pretrain.kernels`).

    >>> module = build_network(ModelConfig(context=8, channels=4, dilations=(1, 2)))
    >>> net = network_arrays(module)
    >>> x = np.sin(np.arange(40) / 3.0)
    >>> whole = ForecastStream(net, 8).advance(x).surprise
    >>> first = ForecastStream(net, 8)
    >>> head = first.advance(x[:25]).surprise
    >>> tail = ForecastStream.from_arrays(net, first.arrays()).advance(x[25:]).surprise
    >>> bool((np.concatenate([head, tail]) == whole).all())
    True
    """

    #: The names of the state's arrays.
    ARRAYS = ("window", "queues", "last", "counts")
    continuable = True

    def __init__(self, net: tuple[tuple[np.ndarray, ...], np.ndarray], context: int,
                 state: dict[str, np.ndarray] | None = None) -> None:
        self.net, self.dilations = net
        if state is None:
            channels, n_quantiles = len(self.net[1]), len(self.net[-1])
            state = {"window": np.full(context, np.nan),
                     "queues": np.zeros((int(self.dilations.sum()), channels)),
                     "last": np.zeros(n_quantiles), "counts": np.zeros(2, dtype=np.int64)}
        self.state = state

    @classmethod
    def from_arrays(cls, net: tuple[tuple[np.ndarray, ...], np.ndarray], arrays: dict[str, np.ndarray],
                    ) -> ForecastStream:
        """A stream from the :meth:`arrays` of another (copied: this one moves on its own)."""
        state = {"window": np.array(arrays["window"], dtype=np.float64),
                 "queues": np.array(arrays["queues"], dtype=np.float64),
                 "last": np.array(arrays["last"], dtype=np.float64),
                 "counts": np.array(arrays["counts"], dtype=np.int64)}
        return cls(net, len(state["window"]), state)

    def arrays(self) -> dict[str, np.ndarray]:
        return dict(self.state)

    def advance(self, x: np.ndarray) -> Forecast:
        """The forecast of the next points ``x`` (NaN: missing); the state moves past them."""
        from admon.pretrain.kernels import forecast_steps  # numba: compiled on first use

        x = np.ascontiguousarray(x, dtype=np.float64)
        z, med, spread, q, seen = forecast_steps(x, self.net, self.dilations, self.state["window"],
                                                 self.state["queues"], self.state["last"], self.state["counts"])
        surprise = surprise_from_quantiles(z, q, (~np.isfinite(x)).astype(np.float32))
        # too little history for a spread to mean anything: no surprise yet
        surprise[seen < MIN_HISTORY] = 0.0
        return Forecast(quantiles=q, expected=med + spread * q[:, MEDIAN], lower=med + spread * q[:, Q05],
                        upper=med + spread * q[:, Q95], surprise=surprise)


def count_parameters(module) -> int:
    return int(sum(p.numel() for p in module.parameters()))
