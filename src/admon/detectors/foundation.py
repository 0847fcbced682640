"""``foundation``: a detector pretrained once on a generated corpus, scoring any series zero-shot.

The network (:mod:`admon.pretrain.model`, a dilated causal CNN of ~30 k parameters)
reads each group's series, scale-normalised causally over the last 512 points, and
predicts the quantiles of the next point. A row's score is its *surprise*: how far
its value lies from the predicted median, in units of the predicted spread on that
side (3 = "as unlikely as 3 sigma" when the quantiles are calibrated). Features are
scored one by one (native per-feature scores) and a row takes the largest.

The weights ship inside the package (``admon/pretrain/weights``) with a manifest that
records their sha256, the training command, the corpus seed and the code version;
they are hash-checked when loaded, and nothing is downloaded.

* ``fit(frame)`` only sets state (columns, groups, the weights' hash): zero-shot.
* Scoring runs the network point by point in compiled loops (:mod:`admon.pretrain.kernels`),
  one :class:`~admon.pretrain.model.ForecastStream` per group and feature, so runs carry
  the streams' state (``supports_state``) and score only their new points, with the very
  scores of one scoring of the whole series.
* ``fit(frame, adapt_epochs=N)`` (or ``adapt_epochs`` in the config) fine-tunes the
  network's head on the frame's own series for N epochs; ``labels`` (a boolean
  Series aligned to the frame, True = anomalous) keeps labelled points out of the
  loss, so the head learns the entity's normal behaviour only.

>>> import numpy as np, pandas as pd
>>> from admon.detectors import create
>>> t = np.arange(600)
>>> frame = pd.DataFrame({"host": "h", "timestamp": t.astype("int64") * 300_000,
...                       "cpu": 10 + np.sin(2 * np.pi * t / 48)})
>>> frame.loc[500, "cpu"] = 14.0
>>> det = create("foundation").fit(frame)
>>> int(det.score(frame).idxmax())
500
>>> band = det.band(frame)
>>> list(band.columns)
['cpu_expected', 'cpu_lower', 'cpu_upper']
"""

from __future__ import annotations

import copy
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from admon.detectors import register
from admon.detectors.base import Detector, DetectorConfig
from admon.errors import DataError, IntegrityError
from admon.pretrain.model import (
    QUANTILES,
    Forecast,
    ForecastStream,
    network_arrays,
    pinball_loss,
    training_arrays,
)
from admon.pretrain.weights import load_weights, shipped_weights_dir

HEAD_FILE = "head.safetensors"


@contextmanager
def _single_thread():
    """One intra-op thread: this small network only loses to thread hand-offs, and results
    then do not depend on the machine's core count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class FoundationConfig(DetectorConfig):
    weights: str | None = Field(None, description="Folder of other pretrained weights + manifest (default: shipped).")
    adapt_epochs: int = Field(0, ge=0, description="Epochs of head fine-tuning on the fitted frame (0: zero-shot).")
    adapt_lr: float = Field(1e-3, gt=0.0, description="Adam learning rate of the head fine-tuning.")
    aggregate: Literal["max", "mean"] = Field("max", description="How a row's per-feature surprises combine.")
    seed: int = 0


@register("foundation")
class FoundationDetector(Detector):
    """Pretrained next-step quantile forecaster; score = surprise of each row's value."""

    Config = FoundationConfig
    config: FoundationConfig

    @property
    def lookback(self) -> int:
        # normalisation window + receptive field
        return 2 * self._context()

    def __init__(self, config=None, **params: Any) -> None:
        super().__init__(config, **params)
        self._module = None
        self._arrays: tuple[tuple[np.ndarray, ...], np.ndarray] | None = None  # the module's, for the kernels
        self._adapt: tuple[int | None, Any] = (None, None)

    def _context(self) -> int:
        module = self._network() if getattr(self, "is_fitted_", False) else None
        return int(module.context) if module is not None else 512

    # ------------------------------------------------------------------ weights
    def _weights_dir(self) -> Path:
        return Path(self.config.weights) if self.config.weights else shipped_weights_dir()

    def _pretrained(self):
        module, manifest = load_weights(self._weights_dir())
        module.context = int(manifest["model"]["context"])
        return module, manifest

    def _network(self):
        if self._module is None:
            self._use(self._pretrained()[0])
        return self._module

    def _use(self, module) -> None:
        """Score with ``module`` from now on (its weights are read again for the compiled forward)."""
        self._module = module
        self._arrays = None

    def _network_arrays(self) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
        if self._arrays is None:
            self._arrays = network_arrays(self._network())
        return self._arrays

    # ------------------------------------------------------------------ fit
    def fit(self, frame: pd.DataFrame, adapt_epochs: int | None = None, labels: Any = None) -> FoundationDetector:
        """Set state from ``frame``; with ``adapt_epochs`` (or the config's) > 0, fine-tune the head on it."""
        self._adapt = (adapt_epochs, labels)
        try:
            super().fit(frame)
        finally:
            self._adapt = (None, None)
        return self

    def _fit(self, frame: pd.DataFrame) -> None:
        module, manifest = self._pretrained()
        self.weights_sha256_ = str(manifest["sha256"])
        self._use(module)
        epochs, labels = self._adapt
        epochs = self.config.adapt_epochs if epochs is None else int(epochs)
        self.adapted_epochs_ = 0
        if epochs > 0:
            self._use(self._adapted(module, frame, epochs, labels))
            self.adapted_epochs_ = epochs

    def _adapted(self, module, frame: pd.DataFrame, epochs: int, labels: Any):
        """A copy of ``module`` whose head is fine-tuned on every (group, feature) series of ``frame``."""
        import torch

        mask = _label_mask(labels, frame)
        values = self._values(frame)
        feats, targets, weights = [], [], []
        with _single_thread(), torch.no_grad():
            for _, pos in self._iter_groups(frame):
                for j in range(values.shape[1]):
                    inp, tgt, wgt = training_arrays(values[pos, j][None], mask[pos][None], module.context)
                    feats.append(module.features(torch.from_numpy(inp))[0].T)  # (len, channels)
                    targets.append(torch.from_numpy(tgt[0]))
                    weights.append(torch.from_numpy(wgt[0]))
        h, y, w = torch.cat(feats), torch.cat(targets), torch.cat(weights)
        if float(w.sum()) == 0:
            raise DataError("foundation: no usable (finite, unlabelled) point to adapt on; "
                            "fit with adapt_epochs=0 or give a frame with data")
        adapted = copy.deepcopy(module)
        adapted.context = module.context
        head = adapted.head
        for p in head.parameters():
            p.requires_grad_(True)
        torch.manual_seed(self.config.seed)
        opt = torch.optim.Adam(head.parameters(), lr=self.config.adapt_lr)
        gen = torch.Generator().manual_seed(self.config.seed)
        quantiles = tuple(float(q) for q in _quantiles(adapted))
        batch = 4096
        with _single_thread():
            for _ in range(epochs):
                perm = torch.randperm(len(h), generator=gen)
                for i in range(0, len(h), batch):
                    idx = perm[i:i + batch]
                    opt.zero_grad()
                    pred = torch.sort(head(h[idx].T.unsqueeze(0)), dim=1).values
                    loss = pinball_loss(pred, y[idx].unsqueeze(0), w[idx].unsqueeze(0), quantiles)
                    loss.backward()
                    opt.step()
        for p in head.parameters():
            p.requires_grad_(False)
        adapted.eval()
        return adapted

    # ------------------------------------------------------------------ score
    def _forecasts(self, frame: pd.DataFrame) -> list[tuple[np.ndarray, int, Forecast]]:
        """Every group's features forecast as new streams over the group's rows (as a run starts them)."""
        values = self._values(frame)
        out = []
        for key, pos in self._iter_groups(frame):
            for j, stream in enumerate(self.start_streams(key, None)):
                out.append((pos, j, stream.advance(values[pos, j])))
        return out

    def _feature_scores(self, frame: pd.DataFrame) -> np.ndarray:
        scores = np.zeros((len(frame), len(self.feature_columns_)))
        for pos, j, fc in self._forecasts(frame):
            scores[pos, j] = fc.surprise
        return scores

    def _score(self, frame: pd.DataFrame) -> np.ndarray:
        return self.combine_features(self._feature_scores(frame))

    # ------------------------------------------------------------- carried state
    supports_state: ClassVar[bool] = True

    def start_streams(self, key: tuple, before: int | None) -> list[ForecastStream]:
        """One new :class:`~admon.pretrain.model.ForecastStream` per feature (zero-shot: no training tail)."""
        return [ForecastStream(self._network_arrays(), self._context()) for _ in self.feature_columns_]

    def stream_states(self, arrays: dict[str, np.ndarray], width: int) -> list[ForecastStream]:
        """The streams of a group from the arrays a run stored (feature ``j``'s under ``f{j}.``)."""
        net = self._network_arrays()
        return [ForecastStream.from_arrays(net, {name: arrays[f"f{j}.{name}"] for name in ForecastStream.ARRAYS})
                for j in range(width)]

    def advance_streams(self, streams: list[ForecastStream], values: np.ndarray, key: tuple = ()) -> np.ndarray:
        """The next rows (rows x features) of group ``key`` scored by its streams: per-feature surprises."""
        out = np.zeros((len(values), len(streams)))
        for j, stream in enumerate(streams):
            out[:, j] = stream.advance(values[:, j]).surprise
        return out

    def combine_features(self, per_feature: np.ndarray) -> np.ndarray:
        """A row's score from its per-feature surprises (as ``score`` does): their max or mean."""
        return per_feature.max(axis=1) if self.config.aggregate == "max" else per_feature.mean(axis=1)

    def band(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Expected value and 5-95 % band of every row and feature, in the series' units (for the UI)."""
        self._check_scorable(frame)
        cols: dict[str, np.ndarray] = {}
        for f in self.feature_columns_:
            for part in ("expected", "lower", "upper"):
                cols[f"{f}_{part}"] = np.full(len(frame), np.nan)
        for pos, j, fc in self._forecasts(frame):
            f = self.feature_columns_[j]
            cols[f"{f}_expected"][pos] = fc.expected
            cols[f"{f}_lower"][pos] = fc.lower
            cols[f"{f}_upper"][pos] = fc.upper
        return pd.DataFrame(cols, index=frame.index)

    # ------------------------------------------------------------------ save / load
    def _save_extra(self, directory: Path) -> None:
        if self.adapted_epochs_ > 0:
            from safetensors.torch import save_file

            save_file({k: v.contiguous() for k, v in self._network().head.state_dict().items()},
                      str(directory / HEAD_FILE))

    def _load_extra(self, directory: Path) -> None:
        module, manifest = self._pretrained()
        if manifest["sha256"] != self.weights_sha256_:
            raise IntegrityError(
                f"{directory} was fitted with foundation weights {self.weights_sha256_}, but the installed ones are "
                f"{manifest['sha256']}; refit the model (or install the admon version it was trained with)")
        if self.adapted_epochs_ > 0:
            from safetensors.torch import load_file

            adapted = copy.deepcopy(module)
            adapted.context = module.context
            adapted.head.load_state_dict(load_file(str(directory / HEAD_FILE)))
            adapted.eval()
            module = adapted
        self._use(module)


def _quantiles(module) -> list[float]:
    out_channels = module.head[-1].out_channels
    if out_channels != len(QUANTILES):
        raise DataError(f"foundation weights predict {out_channels} quantiles, this code expects {len(QUANTILES)}")
    return list(QUANTILES)


def _label_mask(labels: Any, frame: pd.DataFrame) -> np.ndarray:
    """Labels as a boolean array in the frame's row order (False when there are none)."""
    if labels is None:
        return np.zeros(len(frame), dtype=bool)
    if isinstance(labels, pd.Series):
        series = labels
    elif len(np.asarray(labels)) == len(frame):
        series = pd.Series(np.asarray(labels), index=frame.index)
    else:
        series = pd.Series(np.asarray(labels))
    if len(series) != len(frame) or not series.index.equals(frame.index):
        raise DataError(f"labels must be aligned to the frame (one per row, same index); got {len(series)} labels "
                        f"for {len(frame)} rows")
    return series.fillna(False).astype(bool).to_numpy()
