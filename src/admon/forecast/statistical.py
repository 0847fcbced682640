"""Classical forecasters: seasonal naive, ETS and ARIMA (statsmodels, imported on first fit).

>>> import numpy as np, pandas as pd
>>> idx = pd.date_range("2022-05-10", periods=96, freq="h")
>>> y = pd.Series(10 + np.sin(2 * np.pi * np.arange(96) / 24), index=idx)
>>> f = SeasonalNaive(season="1D").fit(y)
>>> f.season_, round(float(f.forecast(6)["mean"].iloc[6 - 1]), 3) == round(float(y.iloc[-24 + 5]), 3)
(24, True)
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from admon.errors import DataError
from admon.forecast.base import (
    Forecaster,
    ForecasterConfig,
    normal_quantile,
    register_forecaster,
    residual_sigma,
    widen,
)

Season = int | str | None


class SeasonalNaiveConfig(ForecasterConfig):
    season: Season = Field("1D", description="Seasonal period: steps (int) or a duration ('1D').")


@register_forecaster("seasonal_naive")
class SeasonalNaive(Forecaster):
    """Repeat the last observed season: the forecast at ``t + h`` is the value one season earlier.

    A gap is bridged by the latest observed value at the same phase of an earlier season.
    The band is normal, from the spread of the seasonal differences, widening per season ahead.
    Without a season (``season=None`` or 0) this is the naive "last value" forecast.
    """

    Config = SeasonalNaiveConfig
    handles_gaps = True

    def min_length(self, season: int) -> int:
        return max(season, 1) + 2

    def _fit(self, y: np.ndarray, index: pd.DatetimeIndex) -> np.ndarray:
        m = max(self.season_, 1)
        self.history_ = y.copy()
        fitted = np.full_like(y, np.nan)
        fitted[m:] = y[:-m]
        self.sigma_ = residual_sigma(y, fitted)
        return fitted

    def _forecast(self, horizon: int):
        m = max(self.season_, 1)
        y = self.history_
        n = len(y)
        mean = np.empty(horizon)
        fallback = y[~np.isnan(y)][-1]
        for j in range(horizon):
            # The same phase in the latest season that has an observation there.
            pos = n - m + (j % m)
            while pos >= 0 and np.isnan(y[pos]):
                pos -= m
            mean[j] = y[pos] if pos >= 0 else fallback
        sd = widen(self.sigma_, horizon, m)
        z = normal_quantile(self.config.level)
        return mean, mean - z * sd, mean + z * sd


class ETSConfig(ForecasterConfig):
    season: Season = Field("1D", description="Seasonal period: steps or a duration; None = no season.")
    trend: Literal["add"] | None = Field(None, description="'add' for a (damped) additive trend.")
    damped_trend: bool = True
    maxiter: int = Field(200, ge=1, description="Optimiser iterations.")


@register_forecaster("ets")
class ETS(Forecaster):
    """Additive-error exponential smoothing (statsmodels ``ETSModel``), additive season.

    Initial states come from the heuristic of Hyndman et al., so long seasons (288 steps of
    5 minutes) stay cheap; the band is the model's own prediction interval. Cannot handle gaps.
    """

    Config = ETSConfig
    requires = ("statsmodels.tsa.exponential_smoothing.ets",)

    def min_length(self, season: int) -> int:
        return max(2 * season + 2, 12)

    def _length_reason(self, season: int) -> str:
        return f"two full seasons of season={season} for the initial states"

    def _fit(self, y: np.ndarray, index: pd.DatetimeIndex) -> np.ndarray:
        from statsmodels.tsa.exponential_smoothing.ets import ETSModel

        cfg = self.config
        seasonal = "add" if self.season_ > 1 else None
        model = ETSModel(
            pd.Series(y),  # a RangeIndex: statsmodels' prediction frame needs an index
            error="add",
            trend=cfg.trend,
            damped_trend=cfg.damped_trend if cfg.trend else False,
            seasonal=seasonal,
            seasonal_periods=self.season_ if seasonal else None,
            initialization_method="heuristic",
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter; the fit is still usable
            self.result_ = model.fit(disp=False, maxiter=cfg.maxiter)
        return np.asarray(self.result_.fittedvalues, dtype=float)

    def _forecast(self, horizon: int):
        start = self.n_obs_
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = self.result_.get_prediction(start=start, end=start + horizon - 1).summary_frame(
                alpha=1.0 - self.config.level
            )
        return frame["mean"].to_numpy(float), frame["pi_lower"].to_numpy(float), frame["pi_upper"].to_numpy(float)


class ARIMAConfig(ForecasterConfig):
    season: Season = Field("1D", description="Seasonal period of the Fourier terms; None = none.")
    order: tuple[int, int, int] = Field((2, 0, 1), description="(p, d, q) of the ARIMA errors.")
    fourier_terms: int = Field(4, ge=0, description="Sine/cosine pairs modelling the season.")
    maxiter: int = Field(50, ge=1, description="Optimiser iterations.")


@register_forecaster("arima")
class ARIMA(Forecaster):
    """ARIMA errors around Fourier seasonal terms (dynamic harmonic regression), in two stages.

    A seasonal ARIMA with a 288-step season is far too slow to fit, so ``fourier_terms`` pairs
    of sines and cosines (plus a level) carry the season: they are fitted by least squares,
    then an ARIMA ``order`` (statsmodels SARIMAX) is fitted to what they leave. Two stages
    instead of one joint likelihood make the fit about four times faster for nearly the same
    forecast. The state-space fit skips NaN gaps natively; the band is the ARIMA interval.
    """

    Config = ARIMAConfig
    handles_gaps = True
    requires = ("statsmodels.tsa.statespace.sarimax",)

    def min_length(self, season: int) -> int:
        p, d, q = self.config.order
        base = 3 * (p + q + d) + 10
        return max(base, season + 2) if self._k(season) else base

    def _k(self, season: int) -> int:
        return min(self.config.fourier_terms, season // 2) if season > 1 else 0

    def _design(self, start: int, length: int) -> np.ndarray:
        t = np.arange(start, start + length, dtype=float)
        cols = [np.ones(length)]
        for i in range(1, self._k(self.season_) + 1):
            angle = 2.0 * np.pi * i * t / self.season_
            cols += [np.sin(angle), np.cos(angle)]
        return np.column_stack(cols)

    def _fit(self, y: np.ndarray, index: pd.DatetimeIndex) -> np.ndarray:
        from statsmodels.tsa.statespace.sarimax import SARIMAX

        cfg = self.config
        design = self._design(0, len(y))
        seen = ~np.isnan(y)
        self.beta_ = np.linalg.lstsq(design[seen], y[seen], rcond=None)[0]
        deterministic = design @ self.beta_
        model = SARIMAX(y - deterministic, order=cfg.order, trend="n", concentrate_scale=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                self.result_ = model.fit(disp=False, maxiter=cfg.maxiter)
            except np.linalg.LinAlgError as exc:
                raise DataError(f"arima{cfg.order} could not be fitted to this series ({exc}); try another order") from None
        fitted = np.asarray(self.result_.fittedvalues, dtype=float) + deterministic
        # The first prediction of a state-space model is its unconditional prior, not a forecast.
        fitted[: max(1, cfg.order[1])] = np.nan
        return fitted

    def _forecast(self, horizon: int):
        deterministic = self._design(self.n_obs_, horizon) @ self.beta_
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pred = self.result_.get_forecast(horizon)
            band = np.asarray(pred.conf_int(alpha=1.0 - self.config.level))
        return (np.asarray(pred.predicted_mean) + deterministic, band[:, 0] + deterministic,
                band[:, 1] + deterministic)
