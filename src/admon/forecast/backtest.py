"""Rolling-origin backtest: train and test RMSE, MASE, CPU time and peak memory per forecaster.

Origins are placed from the end of the series backwards, ``origin_step`` steps apart; at each
origin a fresh forecaster is fitted on the data before it (at most ``max_train`` points) and
forecasts ``horizon`` steps, which are compared with what happened.

- *train RMSE*: of the in-sample one-step predictions (``fitted_``) of every fit;
- *test RMSE*: of every forecast step that has an observed value;
- *MASE*: mean absolute test error over the mean absolute seasonal difference (lag
  ``mase_season``) of the training data, averaged over origins (< 1: better than seasonal naive
  in-sample);
- *CPU s*: process CPU time of fit + forecast, all origins;
- *peak MiB*: the largest rise of the process's resident memory during any one origin,
  sampled every 5 ms, after the model's libraries are imported. In one process, memory an
  earlier model made resident and freed is reused unseen; ``isolate=True`` runs each model
  in a fresh process so its number stands alone.

>>> import numpy as np, pandas as pd
>>> idx = pd.date_range("2022-05-10", periods=24 * 6, freq="h")
>>> y = pd.Series(np.tile(np.arange(24.0), 6) + 0.1 * np.arange(24 * 6), index=idx)  # season + trend
>>> table = backtest(y, ["seasonal_naive"], BacktestConfig(horizon=6, origins=3, mase_season=24))
>>> table.round(3).loc[0, ["model", "test_rmse", "mase", "origins"]].to_dict()
{'model': 'seasonal_naive', 'test_rmse': 2.4, 'mase': 1.0, 'origins': 3}
"""

from __future__ import annotations

import contextlib
import os
import resource
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from admon.errors import AdmonError, ConfigError, explain_validation
from admon.forecast.base import Forecaster, check_series, season_steps
from admon.forecast.registry import create, from_dict

ModelSpec = str | dict[str, Any] | Forecaster


def _lstm(look_back: int, epochs: int, batch_size: int, preset: str = "practical") -> dict[str, Any]:
    return {"name": "lstm", "preset": preset, "look_back": look_back, "epochs": epochs, "batch_size": batch_size}


#: Named model lists. ``noted`` is the table of the NOTED slides: the 4-unit LSTM with
#: look_back 1 or 20, epochs 1 or 100, batch 1 or 16 (the LSTM's ``noted`` preset: every
#: epoch runs, no early stopping), next to seasonal naive.
PRESETS: dict[str, list[dict[str, Any]]] = {
    "default": [
        {"name": "seasonal_naive"},
        {"name": "ets"},
        {"name": "arima"},
        {"name": "gbm"},
        _lstm(20, 10, 16),
    ],
    "fast": [{"name": "seasonal_naive"}, {"name": "arima"}, {"name": "gbm"}],
    "noted": [{"name": "seasonal_naive"}]
    + [_lstm(lb, ep, bs, "noted") for lb in (1, 20) for ep in (1, 100) for bs in (1, 16)],
}


class BacktestConfig(BaseModel):
    """Where the origins are and how the errors are scaled."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    horizon: int = Field(12, ge=1, description="Steps forecast from each origin.")
    origins: int = Field(5, ge=1, description="Number of forecast origins.")
    origin_step: int | None = Field(None, ge=1, description="Steps between origins (default: horizon).")
    max_train: int | None = Field(None, ge=2, description="Most recent points fitted on per origin.")
    mase_season: int | str | None = Field("1D", description="Lag of the MASE scale (steps or '1D').")
    fill_gaps: bool = Field(True, description="Interpolate training gaps for models that cannot take NaN.")
    isolate: bool = Field(
        False, description="Run each model in a fresh process: slower, but its peak memory is not "
        "hidden by memory that earlier models already made resident."
    )

    def __init__(self, **kwargs: Any) -> None:
        try:
            super().__init__(**kwargs)
        except ValidationError as exc:
            raise ConfigError(explain_validation(exc, "BacktestConfig parameters", noun="parameter")) from None


def model_label(model: Forecaster) -> str:
    """``name(param=value, ...)`` with the parameters that differ from the defaults (of the
    model's preset, if its config has one).

    >>> model_label(create("lstm", epochs=1)), model_label(create("gbm", n_lags=3))
    ('lstm(look_back=1, epochs=1, batch_size=16)', 'gbm(n_lags=3)')
    >>> model_label(create("lstm", preset="noted", epochs=1))
    'lstm(preset=noted, look_back=1, epochs=1, batch_size=1)'
    """
    plain = type(model.config)()
    preset = getattr(model.config, "preset", None)
    defaults = plain if preset is None else type(model.config)(preset=preset)
    changed = [
        f"{k}={v}" for k, v in model.config.model_dump().items()
        if getattr(defaults, k) != v or k in model.label_params or (k == "preset" and v != plain.preset)
    ]
    return f"{model.name}({', '.join(changed)})" if changed else model.name


def resolve_models(models: Sequence[ModelSpec] | str) -> list[Forecaster]:
    """Forecasters from a preset name, forecaster names, ``{"name": ...}`` specs or instances."""
    if isinstance(models, str):
        if models not in PRESETS:
            raise ConfigError(f"unknown preset {models!r}; use one of: {', '.join(sorted(PRESETS))}")
        models = PRESETS[models]
    out = []
    for spec in models:
        if isinstance(spec, Forecaster):
            out.append(spec)
        elif isinstance(spec, str):
            out.append(create(spec))
        else:
            out.append(from_dict(spec))
    if not out:
        raise ConfigError("no models to backtest; name at least one forecaster or a preset")
    return out


def origins_of(n: int, config: BacktestConfig) -> list[int]:
    """Positions of the forecast origins (index of the first forecast step), oldest first."""
    step = config.origin_step or config.horizon
    last = n - config.horizon
    origins = [last - k * step for k in reversed(range(config.origins))]
    if origins[0] < 2:
        raise ConfigError(
            f"series of {n} points is too short for {config.origins} origins {step} steps apart "
            f"with horizon {config.horizon}; use fewer origins or a shorter horizon"
        )
    return origins


#: ``progress(model, done, total)``: ``done`` of ``total`` fits (models x origins) are finished;
#: ``model`` is the label of the model being fitted ("" once all are done).
Progress = Callable[[str, int, int], None]


def backtest(
    series: pd.Series, models: Sequence[ModelSpec] | str, config: BacktestConfig | None = None,
    *, progress: Progress | None = None, forecasts: dict[str, list[pd.DataFrame]] | None = None,
) -> pd.DataFrame:
    """One row per model: ``model, train_rmse, test_rmse, mase, cpu_s, peak_mib, origins, error``.

    A model that cannot be fitted (too short a series, ...) gets NaN metrics and its error text.
    ``progress`` is told after every fit (after every model when ``config.isolate``).
    ``forecasts``, if given, is filled with each model's label -> its forecast frames
    (``mean``, ``lower``, ``upper``), one per origin, oldest first (what ``--plot`` draws).
    """
    config = config or BacktestConfig()
    values, index, step = check_series(series, "backtest")
    series = pd.Series(values, index=index)
    m = max(season_steps(config.mase_season, step), 1)
    origins = origins_of(len(series), config)
    templates = resolve_models(models)
    if not config.isolate:
        _import_dependencies(templates)
    total, rows = len(templates) * len(origins), []
    for i, model in enumerate(templates):
        label, before = model_label(model), i * len(origins)
        if progress is not None:
            progress(label, before, total)
        if config.isolate:
            row, frames = _run_isolated(series, model, origins, m, config)
        else:
            fitted = None if progress is None else (
                lambda k, label=label, before=before: progress(label, before + k, total))
            row, frames = _run_model(series, model, origins, m, config, fitted)
        rows.append(row)
        if forecasts is not None:
            forecasts[label] = frames
    if progress is not None:
        progress("", total, total)
    return pd.DataFrame(rows, columns=list(_ROW))


def _run_isolated(series: pd.Series, template: Forecaster, origins: list[int], m: int,
                  config: BacktestConfig) -> tuple[dict, list[pd.DataFrame]]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn, not fork: a forked child inherits the parent's heap and would reuse it unseen.
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_child_run, series, template.to_dict(), origins, m, config).result()


def _child_run(series: pd.Series, spec: dict, origins: list[int], m: int,
               config: BacktestConfig) -> tuple[dict, list[pd.DataFrame]]:
    template = from_dict(spec)
    _import_dependencies([template])
    return _run_model(series, template, origins, m, config)


_ROW = dict.fromkeys(["model", "train_rmse", "test_rmse", "mase", "cpu_s", "peak_mib", "origins", "error"])


def _run_model(series: pd.Series, template: Forecaster, origins: list[int], m: int, config: BacktestConfig,
               fitted: Callable[[int], None] | None = None) -> tuple[dict, list[pd.DataFrame]]:
    """The row of one model and its forecast per origin; ``fitted(k)`` after its ``k``-th origin."""
    row = dict(_ROW, model=model_label(template), origins=0, error="")
    frames: list[pd.DataFrame] = []
    train_sq: list[np.ndarray] = []
    test_sq: list[np.ndarray] = []
    mases: list[float] = []
    cpu = 0.0
    peak = 0.0
    for origin in origins:
        lo = 0 if config.max_train is None else max(0, origin - config.max_train)
        train = series.iloc[lo:origin]
        test = series.iloc[origin : origin + config.horizon].to_numpy()
        if config.fill_gaps and not template.handles_gaps and train.isna().any():
            train = train.interpolate("time", limit_direction="both")
        model = from_dict(template.to_dict())
        try:
            with _peak_rss() as mem:
                started = time.process_time()
                model.fit(train)
                frame = model.forecast(config.horizon)
                cpu += time.process_time() - started
        except AdmonError as exc:
            row["error"] = str(exc)
            return row, frames
        frames.append(frame)
        predicted = frame["mean"].to_numpy()
        peak = max(peak, mem.peak_mib)
        y = train.to_numpy()
        train_sq.append((y - model.fitted_.to_numpy()) ** 2)
        err = test - predicted
        test_sq.append(err**2)
        scale = np.nanmean(np.abs(y[m:] - y[:-m])) if len(y) > m else np.nan
        mae = np.nanmean(np.abs(err)) if np.isfinite(err).any() else np.nan
        mases.append(mae / scale if scale and np.isfinite(scale) else np.nan)
        if fitted is not None:
            fitted(len(mases))
    row.update(
        train_rmse=_rmse(train_sq),
        test_rmse=_rmse(test_sq),
        mase=float(np.nanmean(mases)) if np.isfinite(mases).any() else np.nan,
        cpu_s=cpu,
        peak_mib=peak,
        origins=len(origins),
    )
    return row, frames


def _import_dependencies(models: list[Forecaster]) -> None:
    # Import each model's libraries before measuring, so the first model is not charged for them.
    import importlib

    for name in {"scipy.stats", *(mod for model in models for mod in model.requires)}:
        importlib.import_module(name)


def _rmse(parts: list[np.ndarray]) -> float:
    sq = np.concatenate(parts) if parts else np.array([])
    sq = sq[np.isfinite(sq)]
    return float(np.sqrt(sq.mean())) if len(sq) else float("nan")


class _Peak:
    peak_mib: float = 0.0


def _rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


@contextlib.contextmanager
def _peak_rss(interval: float = 0.005) -> Iterator[_Peak]:
    """Largest rise of resident memory (MiB) while the block runs, sampled by a thread."""
    result = _Peak()
    base = _rss_bytes()
    if base is None:  # no /proc: the process's lifetime peak is the best there is
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        yield result
        result.peak_mib = max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        return
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(interval):
            now = _rss_bytes() or 0
            if now > peak[0]:
                peak[0] = now

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        done.set()
        thread.join()
        peak[0] = max(peak[0], _rss_bytes() or 0)
        result.peak_mib = (peak[0] - base) / 2**20
