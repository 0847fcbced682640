"""The forecaster interface: ``fit(series) -> self`` and ``forecast(horizon) -> frame``.

A forecaster learns from one pandas Series with a regular :class:`~pandas.DatetimeIndex`
(missing steps are NaN, never absent) and predicts the next ``horizon`` steps as a frame
with the columns ``mean``, ``lower`` and ``upper`` (a central band at ``config.level``).
Its parameters live in a frozen pydantic config declared next to it; the public
``fit``/``forecast`` validate the input and call the private ``_fit``/``_forecast`` hooks.

>>> import numpy as np, pandas as pd
>>> from admon.forecast import create
>>> idx = pd.date_range("2022-05-10", periods=48, freq="h")
>>> y = pd.Series(np.tile(np.arange(24.0), 2), index=idx)
>>> out = create("seasonal_naive", season=24).fit(y).forecast(3)
>>> list(out.columns), out["mean"].tolist()
(['mean', 'lower', 'upper'], [0.0, 1.0, 2.0])
>>> str(out.index[0])
'2022-05-12 00:00:00'
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable
from typing import Any, ClassVar, Self, TypeVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from admon.errors import ConfigError, DataError, NotFittedError, explain_validation
from admon.plugins import Registry


class ForecasterConfig(BaseModel):
    """Base of every forecaster config: frozen, unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    level: float = Field(0.9, gt=0.0, lt=1.0, description="Coverage of the [lower, upper] band.")


def season_steps(season: int | str | None, step: pd.Timedelta) -> int:
    """A seasonal period in steps, from an int (already steps) or a duration like ``'1D'``.

    >>> season_steps("1D", pd.Timedelta("5min")), season_steps(7, pd.Timedelta("1D")), season_steps(None, pd.Timedelta("1h"))
    (288, 7, 0)
    """
    if season is None:
        return 0
    if isinstance(season, int):
        if season < 0:
            raise ConfigError(f"season {season} is negative; give a number of steps >= 0 or a duration like '1D'")
        return season
    try:
        duration = pd.Timedelta(season)
    except ValueError:
        raise ConfigError(f"season {season!r} is neither a number of steps nor a duration like '1D'") from None
    steps = duration / step
    if steps < 1 or abs(steps - round(steps)) > 1e-9:
        raise ConfigError(
            f"season {season!r} is not a whole number of series steps ({step}); "
            "give the season in steps or a multiple of the step"
        )
    return int(round(steps))


def normal_quantile(level: float) -> float:
    """The z of a central normal band with coverage ``level`` (0.9 -> 1.645)."""
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 2.0))


class Forecaster(abc.ABC):
    """Base class of forecasters. Subclasses set ``Config``, implement the hooks and are
    registered with :func:`register_forecaster` (which sets ``name``).

    Fitted state has a trailing underscore: ``step_`` (the series step), ``last_`` (its last
    timestamp), ``season_`` (seasonal period in steps, 0 = none), ``fitted_`` (in-sample
    one-step-ahead predictions aligned to the series, NaN where the model has none).
    """

    name: ClassVar[str] = ""
    Config: ClassVar[type[ForecasterConfig]]
    #: True if ``fit`` accepts NaN gaps inside the series.
    handles_gaps: ClassVar[bool] = False
    #: Modules ``fit`` imports on first use (a backtest imports them before it measures).
    requires: ClassVar[tuple[str, ...]] = ()
    #: Parameters a backtest label always shows, default or not (the NOTED table's axes).
    label_params: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: ForecasterConfig | None = None, **params: Any) -> None:
        if config is not None and params:
            raise ConfigError(f"{self.name}: give either a config or parameters, not both")
        if config is None:
            try:
                config = self.Config(**params)
            except ValidationError as exc:
                raise ConfigError(explain_validation(exc, f"{self.name} parameters", noun="parameter",
                                                     valid=self.Config.model_fields)) from None
        elif not isinstance(config, self.Config):
            raise ConfigError(
                f"{self.name} needs a {self.Config.__name__}, got {type(config).__name__}"
            )
        self.config = config

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"

    # ------------------------------------------------------------------ public API
    def to_dict(self) -> dict[str, Any]:
        """``{"name": ..., **params}``, what :func:`admon.forecast.from_dict` reads back."""
        return {"name": self.name, **self.config.model_dump(mode="json")}

    def min_length(self, season: int) -> int:
        """The fewest points ``fit`` accepts for a series whose season is ``season`` steps."""
        return 2

    def fit(self, series: pd.Series) -> Self:
        """Learn from ``series`` (regular DatetimeIndex, gaps as NaN); returns ``self``."""
        values, index, step = check_series(series, self.name)
        season = season_steps(getattr(self.config, "season", None), step)
        needed = self.min_length(season)
        if len(values) < needed:
            raise DataError(
                f"series has {len(values)} points; {self.name} needs at least {needed} "
                f"with {self._length_reason(season)}; give a longer series or smaller parameters"
            )
        missing = np.isnan(values)
        if missing.all():
            raise DataError(f"series has only missing values; {self.name} needs observed values")
        if missing.any() and not self.handles_gaps:
            first = index[int(np.argmax(missing))]
            raise DataError(
                f"series has {int(missing.sum())} missing values (first at {first}); {self.name} "
                "cannot handle gaps: fill them first (e.g. series.interpolate('time')) or use a "
                f"forecaster that can ({', '.join(_gap_tolerant())})"
            )
        self.step_ = step
        self.last_ = index[-1]
        self.season_ = season
        self.n_obs_ = len(values)
        fitted = self._fit(values, index)
        self.fitted_ = pd.Series(np.asarray(fitted, dtype=float), index=index, name="fitted")
        return self

    def forecast(self, horizon: int) -> pd.DataFrame:
        """The next ``horizon`` steps after the series: columns ``mean``, ``lower``, ``upper``."""
        if not hasattr(self, "last_"):
            raise NotFittedError(f"{self.name} is not fitted yet; call fit(series) before forecast()")
        if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
            raise ConfigError(f"horizon {horizon!r} is not a positive number of steps; give e.g. 12")
        horizon = int(horizon)
        mean, lower, upper = self._forecast(horizon)
        index = pd.date_range(self.last_ + self.step_, periods=horizon, freq=self.step_, name="timestamp")
        out = pd.DataFrame(
            {"mean": np.asarray(mean, float), "lower": np.asarray(lower, float), "upper": np.asarray(upper, float)},
            index=index,
        )
        # A band never excludes its own centre, whatever the model's arithmetic did.
        out["lower"] = np.minimum(out["lower"], out["mean"])
        out["upper"] = np.maximum(out["upper"], out["mean"])
        return out

    # ------------------------------------------------------------------ hooks
    def _length_reason(self, season: int) -> str:
        return f"season={season}" if season else "these parameters"

    @abc.abstractmethod
    def _fit(self, y: np.ndarray, index: pd.DatetimeIndex) -> np.ndarray:
        """Learn from float values ``y`` (NaN = gap); return in-sample one-step predictions."""

    @abc.abstractmethod
    def _forecast(self, horizon: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(mean, lower, upper)`` arrays of length ``horizon``."""


#: The one name -> forecaster class registry (:mod:`admon.forecast.registry` is its public face;
#: plugins: entry-point group ``admon.forecasters``).
FORECASTERS: Registry[type[Forecaster]] = Registry(
    "forecaster",
    "admon.forecasters",
    base=Forecaster,
    builtin_modules=("admon.forecast.statistical", "admon.forecast.learned"),
)

F = TypeVar("F", bound=type[Forecaster])


def register_forecaster(name: str) -> Callable[[F], F]:
    """Class decorator adding a :class:`Forecaster` subclass to :data:`FORECASTERS` as ``name``."""
    return FORECASTERS.register(name)  # type: ignore[return-value]


def check_series(series: pd.Series, who: str) -> tuple[np.ndarray, pd.DatetimeIndex, pd.Timedelta]:
    """Values, index and step of a forecastable series, or a DataError saying what to fix."""
    if not isinstance(series, pd.Series):
        raise DataError(f"{who} fits a pandas Series, got {type(series).__name__}; pass frame[column]")
    index = series.index
    if not isinstance(index, pd.DatetimeIndex):
        raise DataError(
            f"{who}: series index is {type(index).__name__}, not a DatetimeIndex; "
            "use series.set_axis(pd.to_datetime(timestamps, unit='ms'))"
        )
    if len(index) < 2:
        raise DataError(f"series has {len(index)} points; {who} needs at least 2 to know its step")
    if not index.is_monotonic_increasing or not index.is_unique:
        raise DataError(f"{who}: series index must be strictly increasing; sort it and drop duplicates")
    diffs = np.diff(index.asi8)
    if (diffs != diffs[0]).any():
        odd = pd.Timedelta(int(diffs[np.argmax(diffs != diffs[0])]), unit=index.unit)
        raise DataError(
            f"series index is not regular: step {pd.Timedelta(int(diffs[0]), unit=index.unit)} "
            f"and {odd} both occur; resample to a fixed step "
            "(series.resample('5min').mean()) so missing steps become NaN"
        )
    try:
        values = series.to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError):
        raise DataError(f"{who}: series values of dtype {series.dtype} are not numeric") from None
    if np.isinf(values).any():
        raise DataError(f"{who}: series has infinite values; replace them with NaN or finite numbers")
    return values, index, pd.Timedelta(int(diffs[0]), unit=index.unit)


def _gap_tolerant() -> list[str]:
    return [name for name, cls in FORECASTERS.items() if cls.handles_gaps]


def widen(sigma: float, horizon: int, season: int | None = None) -> np.ndarray:
    """Per-step standard deviation of a forecast whose one-step error is ``sigma``.

    With a season, the error grows per whole season ahead (seasonal naive); without one it
    grows like a random walk, ``sigma * sqrt(h)``.
    """
    h = np.arange(1, horizon + 1)
    if season:
        return sigma * np.sqrt(np.floor((h - 1) / season) + 1)
    return sigma * np.sqrt(h)


def residual_sigma(y: np.ndarray, fitted: np.ndarray) -> float:
    """Standard deviation of in-sample one-step residuals, ignoring NaN (0 if none)."""
    r = y - fitted
    r = r[~np.isnan(r)]
    if len(r) < 2:
        return 0.0
    value = float(np.std(r, ddof=1))
    return value if math.isfinite(value) else 0.0
