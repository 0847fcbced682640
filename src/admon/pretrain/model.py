"""The foundation model: a dilated causal CNN over scale-normalised series, predicting next-step quantiles.

Scale normalisation is causal and per point: ``stats[t]`` (median and robust spread)
describe the ``context`` points *before* ``t``, and ``z[t] = (x[t] - median[t]) / spread[t]``.
The network sees ``asinh(z)`` and a missing-value flag; its output at position ``t``
predicts the quantiles of ``z[t + 1]``. Nine dilated causal convolutions (kernel 2,
dilations 1..256) give a receptive field of 512 points, so a score depends on at most
``2 * context`` points of history: bounded, and the same whether the series is scored
whole or in windows with that lookback.

From the quantiles come an expected value (the median), a band (the 5-95 % quantiles,
mapped back to the series' units) and a surprise score: the distance of the observed
value from the median in units of the predicted spread on its side (|z-score|-like,
so 3 means "as unlikely as 3 sigma" when the quantiles are calibrated).

torch is imported inside the functions that need it (a heavy optional dependency).

>>> x = np.sin(np.arange(700) / 10.0)
>>> z, med, spread, missing = normalise(x, context=512)
>>> z.shape, bool(np.isfinite(z).all()), int(missing.sum())
((700,), True, 0)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

QUANTILES = (0.02, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.98)
MEDIAN = QUANTILES.index(0.5)
Q10, Q90 = QUANTILES.index(0.1), QUANTILES.index(0.9)
Q05, Q95 = QUANTILES.index(0.05), QUANTILES.index(0.95)
Z_CLIP = 50.0  # targets beyond this many spreads carry no more information
IQR_TO_SIGMA = 1.349
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
    (the spread is IQR/1.349, else the std, else 1 % of |median|, else 1). Missing
    points have ``z = 0`` and ``missing = 1``.
    """
    x = np.asarray(x, dtype=float)
    finite = np.isfinite(x)
    s = pd.Series(np.where(finite, x, np.nan)).shift(1)
    roll = s.rolling(context, min_periods=1)
    med = roll.median().to_numpy()
    iqr = (roll.quantile(0.75) - roll.quantile(0.25)).to_numpy() / IQR_TO_SIGMA
    std = roll.std(ddof=0).to_numpy()
    med = np.where(np.isfinite(med), med, np.nan)
    # no history yet: centre on the value itself, so the first point is no surprise
    first = pd.Series(np.where(finite, x, np.nan)).bfill().to_numpy()
    med = np.where(np.isfinite(med), med, np.nan_to_num(first, nan=0.0))
    spread = np.where(np.isfinite(iqr) & (iqr > 1e-12), iqr, np.nan)
    spread = np.where(np.isfinite(spread), spread, np.where(np.isfinite(std) & (std > 1e-12), std, np.nan))
    spread = np.where(np.isfinite(spread), spread, np.where(np.abs(med) > 1e-12, 0.01 * np.abs(med), 1.0))
    z = np.where(finite, (np.where(finite, x, 0.0) - med) / spread, 0.0)
    return np.clip(z, -1e6, 1e6), med, spread, (~finite).astype(np.float32)


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


def forecast_series(module, x: np.ndarray, context: int) -> Forecast:
    """Run ``module`` over one whole series (causally) and turn its quantiles into a :class:`Forecast`."""
    import torch

    z, med, spread, missing = normalise(x, context)
    with torch.no_grad():
        out = module(torch.from_numpy(model_inputs(z, missing)[None]))[0].numpy().T.astype(float)
    q = np.zeros_like(out)
    q[1:] = out[:-1]  # output at t-1 predicts t
    q[0] = 0.0
    surprise = surprise_from_quantiles(z, q, missing)
    # too little history for a spread to mean anything: no surprise yet
    seen = np.concatenate([[0], np.cumsum(missing == 0)[:-1]])
    surprise[seen < MIN_HISTORY] = 0.0
    return Forecast(quantiles=q, expected=med + spread * q[:, MEDIAN], lower=med + spread * q[:, Q05],
                    upper=med + spread * q[:, Q95], surprise=surprise)


def count_parameters(module) -> int:
    return int(sum(p.numel() for p in module.parameters()))
