"""Learned forecasters: gradient boosting on lags (scikit-learn) and the NOTED LSTM (PyTorch).

Both forecast several steps recursively: each predicted step becomes a lag of the next.
scikit-learn and torch are imported on first fit, never at import time.

>>> import numpy as np, pandas as pd
>>> idx = pd.date_range("2022-05-10", periods=24 * 8, freq="h")
>>> y = pd.Series(100 + 10 * np.sin(2 * np.pi * np.arange(len(idx)) / 24), index=idx)
>>> out = GradientBoosting(season=24, max_iter=50).fit(y).forecast(24)
>>> bool(np.abs(out["mean"].to_numpy() - y.iloc[-24:].to_numpy()).max() < 2.0)
True
"""

from __future__ import annotations

import contextlib
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from admon.forecast.base import (
    Forecaster,
    ForecasterConfig,
    normal_quantile,
    register_forecaster,
    residual_sigma,
    widen,
)

Season = int | str | None


class GradientBoostingConfig(ForecasterConfig):
    season: Season = Field("1D", description="Seasonal period: steps or a duration; None = none.")
    n_lags: int = Field(12, ge=1, description="Most recent values used as features.")
    calendar: bool = Field(True, description="Add time-of-day and day-of-week features.")
    loss: Literal["squared_error", "absolute_error"] = Field(
        "absolute_error", description="Loss of the central model: absolute_error (the median) shrugs "
        "off the isolated spikes of monitoring data; squared_error gives the mean."
    )
    max_iter: int = Field(100, ge=1)
    learning_rate: float = Field(0.1, gt=0.0, le=1.0)
    max_leaf_nodes: int = Field(31, ge=2)
    min_samples_leaf: int = Field(20, ge=1)
    random_state: int = 0
    threads: int = Field(1, ge=1, description="OpenMP threads; 1 avoids spin-waiting on busy hosts.")


@register_forecaster("gbm")
class GradientBoosting(Forecaster):
    """HistGradientBoostingRegressor on recent lags, the same phase one season back and the clock.

    Features for step ``t``: ``y[t-1] .. y[t-n_lags]``, ``y[t-m-1], y[t-m], y[t-m+1]`` (m = season)
    and, with ``calendar``, time of day and day of week. The central model minimises the absolute
    error by default: monitoring series have rare huge spikes that drag a squared-error fit
    (and the MASE of its forecasts) far more than they move the median. Two more models with the quantile loss
    give the band (``(1 - level) / 2`` and ``(1 + level) / 2``). Gaps are fine: NaN lags are
    handled by the trees, NaN targets are not trained on.
    """

    Config = GradientBoostingConfig
    requires = ("sklearn.ensemble", "threadpoolctl")
    handles_gaps = True

    def min_length(self, season: int) -> int:
        return self.config.n_lags + max(season, 1) + 30

    def _lag_offsets(self) -> list[int]:
        m = self.season_
        offsets = list(range(1, self.config.n_lags + 1))
        if m > 1:
            offsets += [o for o in (m + 1, m, m - 1) if o > self.config.n_lags]
        return offsets

    def _calendar(self, index: pd.DatetimeIndex) -> np.ndarray:
        minutes = (index.hour * 60 + index.minute).to_numpy(dtype=float) / 1440.0
        return np.column_stack([minutes, index.day_of_week.to_numpy(dtype=float)])

    def _features(self, hist: np.ndarray, rows: np.ndarray, index: pd.DatetimeIndex) -> np.ndarray:
        cols = []
        for o in self.offsets_:
            src = rows - o
            col = np.full(len(rows), np.nan)
            ok = src >= 0
            col[ok] = hist[src[ok]]
            cols.append(col)
        x = np.column_stack(cols)
        if self.config.calendar:
            x = np.column_stack([x, self._calendar(index)])
        return x

    def _models(self) -> dict[str, Any]:
        from sklearn.ensemble import HistGradientBoostingRegressor

        cfg = self.config
        common = dict(
            max_iter=cfg.max_iter, learning_rate=cfg.learning_rate, max_leaf_nodes=cfg.max_leaf_nodes,
            min_samples_leaf=cfg.min_samples_leaf, random_state=cfg.random_state, early_stopping=False,
        )
        lo, hi = (1.0 - cfg.level) / 2.0, (1.0 + cfg.level) / 2.0
        return {
            "mean": HistGradientBoostingRegressor(loss=cfg.loss, **common),
            "lower": HistGradientBoostingRegressor(loss="quantile", quantile=lo, **common),
            "upper": HistGradientBoostingRegressor(loss="quantile", quantile=hi, **common),
        }

    def _fit(self, y: np.ndarray, index: pd.DatetimeIndex) -> np.ndarray:
        self.offsets_ = self._lag_offsets()
        rows = np.arange(self.config.n_lags, len(y))
        rows = rows[~np.isnan(y[rows])]
        x = self._features(y, rows, index[rows])
        self.models_ = self._models()
        with _blas_threads(self.config.threads):
            for model in self.models_.values():
                model.fit(x, y[rows])
            fitted = np.full_like(y, np.nan)
            fitted[rows] = self.models_["mean"].predict(x)
        self.history_ = y.copy()
        return fitted

    def _forecast(self, horizon: int):
        n = len(self.history_)
        hist = np.concatenate([self.history_, np.full(horizon, np.nan)])
        future = pd.date_range(self.last_ + self.step_, periods=horizon, freq=self.step_)
        out = {k: np.empty(horizon) for k in self.models_}
        with _blas_threads(self.config.threads):
            for j in range(horizon):
                x = self._features(hist, np.array([n + j]), future[j : j + 1])
                for key, model in self.models_.items():
                    out[key][j] = model.predict(x)[0]
                hist[n + j] = out["mean"][j]
        return out["mean"], out["lower"], out["upper"]


def _blas_threads(n: int):
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=n)


#: Named LSTM parameter sets; explicit parameters override the preset's. ``practical`` (the
#: default) fits a 10,000-point series in well under a minute: mini-batches of 16 and early
#: stopping on the last 10 % of the windows, at most 30 epochs. ``noted`` is the NOTED slides'
#: accurate but slow corner: batch 1, 100 epochs, every epoch run (over 5 minutes on 10,000
#: points); the slides' other corners are ``preset="noted"`` with ``epochs``/``batch_size``/``look_back``.
LSTM_PRESETS: dict[str, dict[str, Any]] = {
    "practical": {"look_back": 1, "epochs": 30, "batch_size": 16, "validation_fraction": 0.1, "patience": 3},
    "noted": {"look_back": 1, "epochs": 100, "batch_size": 1, "validation_fraction": 0.0},
}


class LSTMConfig(ForecasterConfig):
    preset: Literal["practical", "noted"] = Field(
        "practical", description="Defaults of the other parameters (LSTM_PRESETS): 'practical' (batch 16, "
        "early stopping, at most 30 epochs) or 'noted' (the slides: batch 1, 100 epochs, no early stopping)."
    )
    look_back: int = Field(1, ge=1, description="Past steps fed to the LSTM (NOTED: 1 or 20).")
    epochs: int = Field(30, ge=1, description="Most passes over the training windows; early stopping may "
                        "end sooner (NOTED: 1 or 100).")
    batch_size: int = Field(16, ge=1, description="Windows per optimiser step (NOTED: 1 or 16).")
    validation_fraction: float = Field(
        0.1, ge=0.0, lt=0.5, description="Last fraction of the training windows held out to stop early; "
        "0 = no early stopping, every epoch runs on all windows."
    )
    patience: int = Field(3, ge=1, description="Epochs without a better validation loss before training stops.")
    units: int = Field(4, ge=1, description="LSTM hidden units (NOTED: 4).")
    learning_rate: float = Field(0.001, gt=0.0, description="Adam step size (the Keras default).")
    seed: int = 0
    threads: int = Field(1, ge=1, description="torch CPU threads while fitting and predicting.")

    @model_validator(mode="before")
    @classmethod
    def _preset_defaults(cls, data: Any) -> Any:
        # The preset fills what the caller left out; anything given explicitly wins.
        if isinstance(data, dict) and data.get("preset", "practical") in LSTM_PRESETS:
            return {**LSTM_PRESETS[data.get("preset", "practical")], **data}
        return data


#: An epoch counts as better when its validation loss beats the best so far by this fraction.
MIN_IMPROVEMENT = 1e-3


@contextlib.contextmanager
def _torch_threads(n: int):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield torch
    finally:
        torch.set_num_threads(before)


@register_forecaster("lstm")
class LSTM(Forecaster):
    """The LSTM of the NOTED slides: 1 input per step, ``units`` (4) LSTM units, a dense output.

    Values are min-max scaled on the training series; windows of ``look_back`` steps predict the
    next one (MSE, Adam, shuffled mini-batches of ``batch_size``, at most ``epochs`` passes).
    With ``validation_fraction`` > 0 the last windows (the most recent data, as a forecast
    would meet it) are held out: training stops once ``patience`` epochs in a row have not
    lowered their loss by ``MIN_IMPROVEMENT``, and the weights of the best epoch are kept
    (``epochs_run_``, ``best_epoch_``, ``val_losses_`` say what happened). The band
    is normal from the one-step training residuals, widening like ``sqrt(h)`` because recursive
    errors accumulate, capped at the standard deviation of the training series. Cannot handle gaps. torch is imported on first fit.
    The defaults are the ``practical`` preset; ``preset="noted"`` gives the slides' (slow) ones.
    """

    Config = LSTMConfig
    requires = ("torch",)
    label_params = ("look_back", "epochs", "batch_size")

    def min_length(self, season: int) -> int:
        return self.config.look_back + 10

    def _length_reason(self, season: int) -> str:
        return f"look_back={self.config.look_back} plus 10 training windows"

    def _net(self, torch: Any) -> Any:
        units = self.config.units

        class _Net(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.lstm = torch.nn.LSTM(input_size=1, hidden_size=units, batch_first=True)
                self.dense = torch.nn.Linear(units, 1)

            def forward(self, x):  # x: (batch, look_back, 1)
                out, _ = self.lstm(x)
                return self.dense(out[:, -1, :]).squeeze(-1)

        return _Net()

    def __getstate__(self) -> dict[str, Any]:
        # The network class is built inside a function (torch stays lazy), so pickle its weights.
        state = dict(self.__dict__)
        if "net_" in state:
            state["net_"] = {k: v.clone() for k, v in state["net_"].state_dict().items()}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        weights = state.pop("net_", None)
        self.__dict__.update(state)
        if weights is not None:
            import torch

            self.net_ = self._net(torch)
            self.net_.load_state_dict(weights)
            self.net_.eval()

    def _scale(self, y: np.ndarray) -> np.ndarray:
        return (y - self.lo_) / self.span_

    def _fit(self, y: np.ndarray, index: pd.DatetimeIndex) -> np.ndarray:
        cfg = self.config
        self.lo_ = float(np.min(y))
        self.span_ = float(np.max(y) - self.lo_) or 1.0
        s = self._scale(y)
        lb = cfg.look_back
        windows = np.lib.stride_tricks.sliding_window_view(s[:-1], lb)  # windows[i] predicts s[i+lb]
        targets = s[lb:]
        with _torch_threads(cfg.threads) as torch:
            torch.manual_seed(cfg.seed)
            gen = torch.Generator().manual_seed(cfg.seed)
            net = self._net(torch)
            opt = torch.optim.Adam(net.parameters(), lr=cfg.learning_rate)
            loss_fn = torch.nn.MSELoss()
            x = torch.tensor(windows.copy(), dtype=torch.float32).unsqueeze(-1)
            t = torch.tensor(targets, dtype=torch.float32)
            n_val = validation_size(len(t), cfg.validation_fraction)
            n = len(t) - n_val
            best, best_state, stale = float("inf"), None, 0
            self.val_losses_: list[float] = []
            self.epochs_run_ = self.best_epoch_ = 0
            for epoch in range(1, cfg.epochs + 1):
                net.train()
                order = torch.randperm(n, generator=gen)
                for b in range(0, n, cfg.batch_size):
                    idx = order[b : b + cfg.batch_size]
                    opt.zero_grad()
                    loss = loss_fn(net(x[idx]), t[idx])
                    loss.backward()
                    opt.step()
                self.epochs_run_ = epoch
                if not n_val:
                    continue
                net.eval()
                with torch.no_grad():
                    val = float(loss_fn(net(x[n:]), t[n:]))
                self.val_losses_.append(val)
                if val < best * (1.0 - MIN_IMPROVEMENT):
                    best, stale, self.best_epoch_ = val, 0, epoch
                    best_state = {k: v.clone() for k, v in net.state_dict().items()}
                else:
                    stale += 1
                    if stale >= cfg.patience:
                        break
            if best_state is not None:
                net.load_state_dict(best_state)
            else:
                self.best_epoch_ = self.epochs_run_
            net.eval()
            with torch.no_grad():
                pred = net(x).numpy().astype(float)
        self.net_ = net
        self.tail_ = s[-lb:].copy()
        fitted = np.full_like(y, np.nan)
        fitted[lb:] = pred * self.span_ + self.lo_
        self.sigma_ = residual_sigma(y, fitted)
        self.spread_ = float(np.std(y))
        return fitted

    def _forecast(self, horizon: int):
        lb = self.config.look_back
        window = list(self.tail_)
        mean = np.empty(horizon)
        with _torch_threads(self.config.threads) as torch, torch.no_grad():
            for j in range(horizon):
                x = torch.tensor(window[-lb:], dtype=torch.float32).reshape(1, lb, 1)
                value = float(self.net_(x)[0])
                window.append(value)
                mean[j] = value * self.span_ + self.lo_
        # Recursive errors accumulate, but never beyond the spread of the series itself.
        sd = np.minimum(widen(self.sigma_, horizon), self.spread_)
        z = normal_quantile(self.config.level)
        return mean, mean - z * sd, mean + z * sd


def validation_size(windows: int, fraction: float) -> int:
    """How many of the last ``windows`` an LSTM holds out for early stopping (0: none).

    At least one window is held out when ``fraction`` > 0, and at least one is left to train on.

    >>> validation_size(9999, 0.1), validation_size(10, 0.1), validation_size(10, 0.0), validation_size(1, 0.1)
    (1000, 1, 0, 0)
    """
    if fraction <= 0.0 or windows < 2:
        return 0
    return min(max(int(round(windows * fraction)), 1), windows - 1)
