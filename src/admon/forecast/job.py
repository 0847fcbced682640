"""The forecast job kind: forecast every link of a frame and act on the rule.

``run_forecast_job(config, frame, now)`` is what a scheduler calls once per window: ``frame``
is what :meth:`admon.DataSource.read` returned for the history window (group columns,
``timestamp`` in epoch ms, value columns), ``now`` the window end. For each group (link) it
fits the configured forecaster on the buckets before ``now`` and forecasts ``horizon``
buckets. It only computes: the rule's episodes and notices are decided and committed by
the forecast job kind (:mod:`admon.forecast.scheduling`), so a run's notices go out only
once the run is recorded.

>>> import numpy as np, pandas as pd
>>> ts = np.arange(0, 48 * 3_600_000, 3_600_000)
>>> frame = pd.DataFrame({"source_se": "A", "dest_se": "B", "timestamp": ts,
...                       "throughput": np.tile(np.arange(24.0), 2)})
>>> cfg = ForecastJobConfig(forecaster={"name": "seasonal_naive", "season": 24},
...                         interval_seconds=3600, horizon=3)
>>> result = run_forecast_job(cfg, frame, now=48 * 3_600_000)
>>> result.forecasts[["source_se", "timestamp", "mean"]].values.tolist()
[['A', 172800000, 0.0], ['A', 176400000, 1.0], ['A', 180000000, 2.0]]
>>> result.errors
{}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from admon.errors import AdmonError, ConfigError, DataError, explain_validation
from admon.forecast.actions import ThroughputRule, link_key
from admon.forecast.registry import from_dict
from admon.forecast.series import series_by_group
from admon.timeutil import TimeLike, format_ms, to_epoch_ms


class ForecastJobConfig(BaseModel):
    """What a forecast job forecasts, how far, with which model, and what it does about it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    forecaster: dict[str, Any] = Field(default_factory=lambda: {"name": "gbm"},
                                       description="{'name': ..., **params} of the forecaster.")
    value_column: str = "throughput"
    group_by: tuple[str, ...] = ("source_se", "dest_se")
    interval_seconds: int = Field(300, gt=0, description="Bucket size of the frame (agg_interval_seconds).")
    horizon: int = Field(12, ge=1, description="Buckets forecast after now.")
    history_points: int | None = Field(None, ge=2, description="Fit on at most this many recent buckets.")
    fill_gaps: bool = Field(True, description="Interpolate gaps for forecasters that cannot take NaN.")
    rule: ThroughputRule | None = None

    def __init__(self, **kwargs: Any) -> None:
        try:
            super().__init__(**kwargs)
        except ValidationError as exc:
            raise ConfigError(explain_validation(exc, "ForecastJobConfig parameters", noun="parameter")) from None

    @model_validator(mode="after")
    def _check_rule_fits_horizon(self) -> ForecastJobConfig:
        covered = self.horizon * self.interval_seconds / 60
        if self.rule is not None and covered < self.rule.min_duration_minutes:
            raise ValueError(
                f"horizon {self.horizon} x {self.interval_seconds} s covers {covered:g} min, less than the "
                f"rule's {self.rule.min_duration_minutes:g} min, so it could never fire; raise horizon"
            )
        return self

    @field_validator("forecaster")
    @classmethod
    def _check_forecaster(cls, spec: dict[str, Any]) -> dict[str, Any]:
        from_dict(spec)  # unknown names and parameters fail here, not at the first run
        return spec


@dataclass
class ForecastJobResult:
    """Forecasts of every link, and the links that could not be forecast."""

    now_ms: int
    forecasts: pd.DataFrame
    errors: dict[str, str] = field(default_factory=dict)

    def documents(self, config: ForecastJobConfig) -> list[dict[str, Any]]:
        """One flat document per link and forecast step, for the sinks."""
        docs = []
        for row in self.forecasts.to_dict("records"):
            doc = {g: row[g] for g in config.group_by}
            doc.update(
                timestamp=int(row["timestamp"]),
                forecast_made_at=self.now_ms,
                forecast_mean=float(row["mean"]),
                forecast_lower=float(row["lower"]),
                forecast_upper=float(row["upper"]),
                forecaster=config.forecaster["name"],
                value_column=config.value_column,
            )
            docs.append(doc)
        return docs


def run_forecast_job(config: ForecastJobConfig, frame: pd.DataFrame, now: TimeLike) -> ForecastJobResult:
    """Forecast each group of ``frame`` from the buckets before ``now``.

    A link that cannot be forecast (too short, only gaps) is reported in ``errors`` and the
    others go on; if no link can be forecast, that is a :class:`DataError`.
    """
    now_ms = to_epoch_ms(now)
    group_by = list(config.group_by)
    missing = [c for c in [*group_by, "timestamp", config.value_column] if c not in frame.columns]
    if missing:
        raise DataError(f"frame lacks columns {missing} (has {list(frame.columns)}); check the job's "
                        "group_by and value_column against the InputDataConfig")
    past = frame[frame["timestamp"] < now_ms]
    if past.empty:
        raise DataError(f"no rows before now={format_ms(now_ms)}; read a history window that ends at now")
    parts, errors = [], {}
    for key, series in series_by_group(past, group_by, config.value_column, config.interval_seconds, now_ms):
        name = link_key(group_by, key) or config.value_column
        if config.history_points is not None:
            series = series.iloc[-config.history_points :]
        model = from_dict(config.forecaster)
        if config.fill_gaps and not model.handles_gaps and series.isna().any():
            series = series.interpolate("time", limit_direction="both")
        try:
            forecast = model.fit(series).forecast(config.horizon)
        except AdmonError as exc:
            errors[name] = str(exc)
            continue
        part = forecast.reset_index()
        part["timestamp"] = part["timestamp"].astype("datetime64[ms]").astype("int64")
        for g, k in zip(group_by, key):
            part.insert(group_by.index(g), g, k)
        parts.append(part)
    if not parts:
        raise DataError("no link could be forecast: " + "; ".join(f"{k}: {v}" for k, v in errors.items()))
    forecasts = pd.concat(parts, ignore_index=True)[[*group_by, "timestamp", "mean", "lower", "upper"]]
    return ForecastJobResult(now_ms=now_ms, forecasts=forecasts, errors=errors)
