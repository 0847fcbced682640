"""Deep detectors on the CPU with PyTorch: a dense autoencoder and an LSTM forecaster.

Both see each group's series through a window of the last ``window`` points
(features robust-scaled with training medians/MADs, missing values at the
median). The autoencoder scores a row by how badly it reconstructs the row's
values at the end of its window; the LSTM by the error of its one-step forecast
of the row from the ``window`` points before it. Per-feature errors are native,
so contributions say which column drove a score.

Training runs in torch; scoring runs the trained network row by row in compiled
loops (:func:`admon.detectors.kernels.dense_rows`, ``lstm_last_hidden``), so a row's
score does not depend on the rows scored beside it. A group's score is therefore
a stream whose state is its last ``window`` scaled rows (:class:`WindowStream`):
runs carry it to the next run (``supports_state``, :mod:`admon.runs.state`) and
score only their new rows, with the very scores of the group scored whole.

Training is resumable: with ``checkpoint_dir`` set, the model, optimizer and
shuffling generator are written every epoch (safetensors + JSON, no pickle),
and a later ``fit`` on the same data and config continues from the last
completed epoch, giving exactly the weights of an uninterrupted run.

torch is imported inside ``fit``/``score``/``load`` only.

>>> import numpy as np, pandas as pd
>>> from admon.detectors import create
>>> t = np.arange(400)
>>> frame = pd.DataFrame({"host": "h", "timestamp": t.astype("int64") * 300_000,
...                       "cpu": np.sin(t / 6.0)})
>>> frame.loc[300, "cpu"] = 4.0
>>> det = create("lstm_forecaster", window=8, epochs=3, hidden=8).fit(frame)
>>> int(det.score(frame).idxmax())
300
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import Field

from admon.detectors import register
from admon.detectors.base import Detector, DetectorConfig
from admon.detectors.statistical import EXPECTED_BAND_SCALES

WEIGHTS_FILE = "weights.safetensors"
CKPT_TENSORS = "checkpoint.safetensors"
CKPT_META = "checkpoint.json"


@contextmanager
def _single_thread():
    """Run torch on one intra-op thread: these small networks only lose to thread hand-offs
    (15 s vs 0.06 s for a 3-epoch fit on a busy 2-core machine), and one thread makes
    results independent of the machine's core count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class TorchDetectorConfig(DetectorConfig):
    window: int = Field(12, ge=1, description="Points of history each row is seen with.")
    hidden: int = Field(32, ge=1, description="Width of the hidden layer / LSTM state.")
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(256, ge=1)
    lr: float = Field(1e-3, gt=0.0, description="Adam learning rate.")
    max_train_windows: int = Field(50_000, ge=10, description="Subsample the training windows.")
    seed: int = 0


class _TorchDetector(Detector):
    """Shared scaling, windowing, resumable training loop and safetensors save/load."""

    Config = TorchDetectorConfig
    multivariate = True

    @property
    def lookback(self) -> int:
        return self.config.window

    def __init__(self, config=None, **params: Any) -> None:
        super().__init__(config, **params)
        #: folder for per-epoch checkpoints (None: no checkpoints). Not part of the config.
        self.checkpoint_dir: Path | None = None
        #: called as ``cb(epoch, n_epochs, loss)`` after every epoch (progress bars, tests).
        self.epoch_callbacks: list[Callable[[int, int, float], None]] = []
        self._arrays_of: tuple[Any, dict[str, np.ndarray]] | None = None  # (module_, its weights as float64)

    # ------------------------------------------------------------------ network
    def _build(self, n_features: int):
        raise NotImplementedError

    def _windows(self, history_and_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(inputs, targets) of the rows of one group's scaled series (rows x features) after its
        first ``window`` rows, which are only their history."""
        raise NotImplementedError

    def _row_errors(self, inputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Per-row, per-feature squared errors of the trained network on ``inputs``, row by row
        (float64; a row's errors do not depend on the other rows)."""
        raise NotImplementedError

    def _weight_arrays(self) -> dict[str, np.ndarray]:
        """The trained network's parameters as float64 arrays, by their torch names (kept until
        ``module_`` changes)."""
        if self._arrays_of is None or self._arrays_of[0] is not self.module_:
            arrays = {k: v.detach().numpy().astype(np.float64) for k, v in self.module_.state_dict().items()}
            self._arrays_of = (self.module_, arrays)
        return self._arrays_of[1]

    # ------------------------------------------------------------------ data
    def _scale(self, values: np.ndarray) -> np.ndarray:
        """Raw values (rows x features) scaled with the training medians and spreads; missing at 0."""
        z = (values - np.asarray(self.center_)[None, :]) / np.asarray(self.scale_)[None, :]
        return np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)

    def _all_windows(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        z = self._scale(self._values(frame))
        xs, ys, order = [], [], []
        for _, pos in self._iter_groups(frame):
            x, y = self._windows(self._padded(z[pos]))
            xs.append(x)
            ys.append(y)
            order.append(pos)
        return np.concatenate(xs), np.concatenate(ys), np.concatenate(order)

    def _padded(self, z: np.ndarray) -> np.ndarray:
        w = self.config.window
        return np.concatenate([np.zeros((w, z.shape[1]), dtype=np.float32), z])

    # ------------------------------------------------------------------ fit
    def _fit(self, frame: pd.DataFrame) -> None:
        import torch

        x = self._values(frame)
        med = np.asarray(self.feature_medians_)
        with np.errstate(all="ignore"):
            mad = np.nanmedian(np.abs(x - med[None, :]), axis=0) * 1.4826
            std = np.nanstd(x, axis=0)
        scale = np.where(np.isfinite(mad) & (mad > 0), mad, np.where(np.isfinite(std) & (std > 0), std, 1.0))
        self.center_ = med.tolist()
        self.scale_ = scale.tolist()
        inputs, targets, _ = self._all_windows(frame)
        cfg = self.config
        if len(inputs) > cfg.max_train_windows:
            rng = np.random.default_rng(cfg.seed)
            keep = np.sort(rng.choice(len(inputs), size=cfg.max_train_windows, replace=False))
            inputs, targets = inputs[keep], targets[keep]
        with _single_thread():
            self.module_ = self._train(torch.from_numpy(inputs), torch.from_numpy(targets), len(self.feature_columns_))
        # spread of training errors per feature: scores are in units of it
        err = self._row_errors(inputs, targets)
        floor = 1e-6
        self.error_scale_ = np.maximum(np.median(err, axis=0), floor).tolist()

    def _fingerprint(self, inputs, targets) -> str:
        h = hashlib.sha256(json.dumps(self.get_config(), sort_keys=True).encode())
        h.update(inputs.numpy().tobytes())
        h.update(targets.numpy().tobytes())
        return h.hexdigest()

    def _train(self, inputs, targets, n_features: int):
        import torch

        cfg = self.config
        torch.manual_seed(cfg.seed)
        module = self._build(n_features)
        opt = torch.optim.Adam(module.parameters(), lr=cfg.lr)
        gen = torch.Generator().manual_seed(cfg.seed)
        losses: list[float] = []
        start = 0
        fingerprint = self._fingerprint(inputs, targets)
        if self.checkpoint_dir is not None:
            resumed = _load_checkpoint(Path(self.checkpoint_dir), fingerprint, module, opt, gen)
            if resumed is not None:
                start, losses = resumed
        n = len(inputs)
        for epoch in range(start, cfg.epochs):
            module.train()
            perm = torch.randperm(n, generator=gen)
            total = 0.0
            for i in range(0, n, cfg.batch_size):
                idx = perm[i : i + cfg.batch_size]
                opt.zero_grad()
                loss = self._loss(module, inputs[idx], targets[idx])
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
            losses.append(total / max(n, 1))
            if self.checkpoint_dir is not None:
                _save_checkpoint(Path(self.checkpoint_dir), fingerprint, epoch + 1, losses, module, opt, gen)
            for cb in self.epoch_callbacks:
                cb(epoch + 1, cfg.epochs, losses[-1])
        self.losses_ = losses
        module.eval()
        return module

    def _loss(self, module, inputs, targets):
        raise NotImplementedError

    # ------------------------------------------------------------------ score
    def _feature_scores(self, frame: pd.DataFrame) -> np.ndarray:
        """Each group scored as one stream from its first row (so exactly as runs score it)."""
        out = np.zeros((len(frame), len(self.feature_columns_)))
        values = self._values(frame)
        for key, pos in self._iter_groups(frame):
            out[pos] = self.advance_streams(self.start_streams(key, None), values[pos], key)
        return out

    def _score(self, frame: pd.DataFrame) -> np.ndarray:
        return self.combine_features(self._feature_scores(frame))

    # ------------------------------------------------------------------ carried state
    supports_state: ClassVar[bool] = True

    def start_streams(self, key: tuple, before: int | None) -> list[WindowStream]:
        """A new stream of group ``key``, as a series' first row sees it (the model keeps no
        training tail). One stream holds all features: the network reads them together."""
        return [WindowStream(np.zeros((self.config.window, len(self.feature_columns_)), dtype=np.float32))]

    def stream_states(self, arrays: dict[str, np.ndarray], width: int) -> list[WindowStream]:
        """The stream of a group from the arrays a run stored (under ``f0.``: it is the only one)."""
        tail = np.asarray(arrays["f0.tail"], dtype=np.float32).reshape(self.config.window, width)
        return [WindowStream(tail.copy())]

    def advance_streams(self, streams: list[WindowStream], values: np.ndarray, key: tuple = ()) -> np.ndarray:
        """The next rows (rows x features, raw) of a group scored by its stream: per-feature scores."""
        (stream,) = streams
        series = np.concatenate([stream.tail, self._scale(values)])
        stream.tail = series[len(series) - self.config.window:].copy()
        if len(values) == 0:
            return np.zeros((0, len(self.feature_columns_)))
        inputs, targets = self._windows(series)
        return self._row_errors(inputs, targets) / np.asarray(self.error_scale_)[None, :]

    def combine_features(self, per_feature: np.ndarray) -> np.ndarray:
        """A row's score from its per-feature scores (as ``score`` does): their sum."""
        return per_feature.sum(axis=1)

    # ------------------------------------------------------------------ save / load
    def _state(self) -> dict[str, Any]:
        state = super()._state()
        state.pop("module_", None)
        return state

    def _save_extra(self, directory: Path) -> None:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in self.module_.state_dict().items()}, str(directory / WEIGHTS_FILE))

    def _load_extra(self, directory: Path) -> None:
        import torch
        from safetensors.torch import load_file

        torch.manual_seed(self.config.seed)
        module = self._build(len(self.feature_columns_))
        module.load_state_dict(load_file(str(directory / WEIGHTS_FILE)))
        module.eval()
        self.module_ = module


class WindowStream:
    """The last ``window`` scaled rows of one group, all features (zeros, the training medians,
    before the stream's first row): all that the next rows' scores of a deep detector read."""

    continuable = True

    def __init__(self, tail: np.ndarray) -> None:
        self.tail = tail

    def arrays(self) -> dict[str, np.ndarray]:
        return {"tail": self.tail}


def _save_checkpoint(directory: Path, fingerprint: str, epoch: int, losses: list[float], module, opt, gen) -> None:
    """Write the state after ``epoch`` atomically (tensors first, then the JSON that points at them)."""
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().clone().contiguous() for k, v in module.state_dict().items()}
    opt_state = opt.state_dict()
    for idx, st in opt_state["state"].items():
        for name, value in st.items():
            tensors[f"opt.{idx}.{name}"] = value.detach().clone().contiguous().reshape(value.shape)
    tensors["generator"] = gen.get_state()
    tmp = directory / f".{CKPT_TENSORS}.tmp"
    save_file(tensors, str(tmp))
    os.replace(tmp, directory / CKPT_TENSORS)
    meta = {"fingerprint": fingerprint, "epoch": epoch, "losses": losses,
            "param_groups": opt_state["param_groups"]}
    tmp = directory / f".{CKPT_META}.tmp"
    tmp.write_text(json.dumps(meta))
    os.replace(tmp, directory / CKPT_META)


def _load_checkpoint(directory: Path, fingerprint: str, module, opt, gen) -> tuple[int, list[float]] | None:
    """Restore a checkpoint of the same config and data; None if there is none (or another run's)."""
    from safetensors.torch import load_file

    meta_path, tensor_path = directory / CKPT_META, directory / CKPT_TENSORS
    if not (meta_path.is_file() and tensor_path.is_file()):
        return None
    meta = json.loads(meta_path.read_text())
    if meta.get("fingerprint") != fingerprint:
        return None
    tensors = load_file(str(tensor_path))
    module.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")})
    state: dict[int, dict[str, Any]] = {}
    for k, v in tensors.items():
        if k.startswith("opt."):
            _, idx, name = k.split(".", 2)
            state.setdefault(int(idx), {})[name] = v
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    gen.set_state(tensors["generator"])
    return int(meta["epoch"]), list(meta["losses"])


class AutoencoderConfig(TorchDetectorConfig):
    bottleneck: int = Field(4, ge=1, description="Width of the code layer.")


@register("autoencoder")
class DenseAutoencoder(_TorchDetector):
    """Dense autoencoder over each row's window; score = reconstruction error of the row's values."""

    Config = AutoencoderConfig

    def _build(self, n_features: int):
        from torch import nn

        d = self.config.window * n_features
        h, b = self.config.hidden, self.config.bottleneck
        return nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, b), nn.ReLU(), nn.Linear(b, h), nn.ReLU(),
                             nn.Linear(h, d))

    def _windows(self, history_and_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w, f = self.config.window, history_and_rows.shape[1]
        n = len(history_and_rows) - w
        win = np.lib.stride_tricks.sliding_window_view(history_and_rows, (w, f))[1:, 0]  # window ending at each row
        flat = np.ascontiguousarray(win.reshape(n, w * f))
        return flat, flat

    def _loss(self, module, inputs, targets):
        return ((module(inputs) - targets) ** 2).mean()

    def _row_errors(self, inputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
        from admon.detectors.kernels import dense_rows  # numba: imported on first score

        weights = self._weight_arrays()
        out = np.asarray(inputs, dtype=np.float64)
        for layer in (0, 2, 4, 6):  # the Linear layers of _build's Sequential (ReLU between them)
            out = dense_rows(out, weights[f"{layer}.weight"], weights[f"{layer}.bias"], layer != 6)
        f = len(self.feature_columns_)
        last = slice(inputs.shape[1] - f, inputs.shape[1])  # the row's own values, at the end of its window
        return (out[:, last] - targets[:, last].astype(np.float64)) ** 2


@register("lstm_forecaster")
class LstmForecaster(_TorchDetector):
    """LSTM one-step forecaster; score = squared forecast error of the row (in training-error units)."""

    def _build(self, n_features: int):
        import torch
        from torch import nn

        class Net(nn.Module):
            def __init__(self, f: int, h: int):
                super().__init__()
                self.lstm = nn.LSTM(f, h, batch_first=True)
                self.head = nn.Linear(h, f)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                out, _ = self.lstm(x)
                return self.head(out[:, -1])

        return Net(n_features, self.config.hidden)

    def _windows(self, history_and_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w, f = self.config.window, history_and_rows.shape[1]
        n = len(history_and_rows) - w
        win = np.lib.stride_tricks.sliding_window_view(history_and_rows, (w, f))[:n, 0]  # the w points before each row
        return np.ascontiguousarray(win), np.ascontiguousarray(history_and_rows[w:])

    def _loss(self, module, inputs, targets):
        return ((module(inputs) - targets) ** 2).mean()

    def _forecast(self, inputs: np.ndarray) -> np.ndarray:
        """The one-step forecast (scaled) from each window of ``inputs``, row by row (float64)."""
        # numba: imported on first score
        from admon.detectors.kernels import dense_rows, lstm_last_hidden

        weights = self._weight_arrays()
        hidden = lstm_last_hidden(np.asarray(inputs, dtype=np.float64), weights["lstm.weight_ih_l0"],
                                  weights["lstm.weight_hh_l0"], weights["lstm.bias_ih_l0"], weights["lstm.bias_hh_l0"])
        return dense_rows(hidden, weights["head.weight"], weights["head.bias"], False)

    def _row_errors(self, inputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
        return (self._forecast(inputs) - np.asarray(targets, dtype=np.float64)) ** 2

    def expected(self, frame: pd.DataFrame, width: float = EXPECTED_BAND_SCALES) -> pd.DataFrame:
        """The LSTM's one-step forecast of each feature at each row of ``frame`` (from the
        ``window`` points before the row, as :meth:`score` sees them) and a band of ``width``
        typical errors around it: columns ``<feature>:expected``, ``<feature>:lower`` and
        ``<feature>:upper``, aligned to ``frame``'s index. The typical error is the root of the
        median squared training error; a row's per-feature score is its squared distance from
        the forecast in typical errors, so a value outside the band scores above ``width ** 2``.
        """
        self._check_scorable(frame)
        center, scale = np.asarray(self.center_), np.asarray(self.scale_)
        n_features = len(self.feature_columns_)
        if len(frame) == 0:
            forecast = np.zeros((0, n_features))
        else:
            inputs, _, order = self._all_windows(frame)
            forecast = np.empty((len(frame), n_features))
            forecast[order] = self._forecast(inputs)
            forecast = forecast * scale[None, :] + center[None, :]
        typical = np.sqrt(np.asarray(self.error_scale_)) * scale
        out: dict[str, np.ndarray] = {}
        for j, feature in enumerate(self.feature_columns_):
            out[f"{feature}:expected"] = forecast[:, j]
            out[f"{feature}:lower"] = forecast[:, j] - width * typical[j]
            out[f"{feature}:upper"] = forecast[:, j] + width * typical[j]
        return pd.DataFrame(out, index=frame.index)
