"""Transfer-link actions: announce a link's predicted saturation once per episode.

The rule "predicted throughput on a link >= ``threshold`` for >= ``min_duration_minutes``"
is checked on every fresh forecast. It is the post-rule chain ``threshold -> sustained``
(:mod:`admon.detectors.postrules`) applied to the forecast ``band``; :class:`ThroughputRule`
adds where the notice goes (a webhook: URL, headers, timeout). When it starts to hold, a
notice announces the episode (link, expected start and end, predicted volume); while it
keeps holding nothing more is announced; once it clears, the episode is closed and the next
one may be announced again.

Deciding is pure (:func:`evaluate_rule`): the forecast job kind
(:mod:`admon.forecast.scheduling`) reads the open episodes from the registry, decides, and
the runner writes the episode changes and queues the notice for the webhook sink
(:mod:`admon.sinks.webhook`) in the run's one commit; the notice is POSTed after that
commit, through the outbox. A run that lost its lease announces nothing.

>>> import pandas as pd
>>> idx = pd.date_range("2022-05-10 12:00", periods=6, freq="5min")
>>> fc = pd.DataFrame({"mean": [1, 5, 6, 7, 2, 8.0]}, index=idx)
>>> rule = ThroughputRule(threshold=5, min_duration_minutes=15, webhook_url="http://127.0.0.1:9/hook")
>>> ep = predicted_episode(fc, rule)
>>> ep["expected_start"], ep["expected_end"], ep["predicted_volume_bytes"]
('2022-05-10T12:05:00Z', '2022-05-10T12:20:00Z', 5400.0)
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from admon.detectors.base import TIMESTAMP
from admon.detectors.postrules import PostRuleChain
from admon.errors import ConfigError, explain_validation
from admon.timeutil import format_ms


class ThroughputRule(BaseModel):
    """Notify ``webhook_url`` when the forecast ``band`` stays >= ``threshold`` for >= D minutes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    threshold: float = Field(gt=0, description="Throughput X (bytes/s) the forecast must reach.")
    min_duration_minutes: float = Field(gt=0, description="D: how long it must stay there.")
    webhook_url: str = Field(description="http(s) URL the notice is POSTed to as JSON.")
    band: Literal["mean", "lower", "upper"] = Field(
        "mean", description="Forecast column compared: 'upper' warns earlier, 'lower' only when sure."
    )
    timeout_seconds: float = Field(5.0, gt=0)
    webhook_headers: dict[str, str] = Field(
        default_factory=dict, description="Headers sent with each notice, e.g. Authorization.")

    def __init__(self, **kwargs: Any) -> None:
        try:
            super().__init__(**kwargs)
        except ValidationError as exc:
            raise ConfigError(explain_validation(exc, "ThroughputRule parameters", noun="parameter")) from None

    @field_validator("webhook_url")
    @classmethod
    def _check_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook_url {url!r} is not an http(s) URL")
        return url

    def describe(self) -> str:
        return f"{self.band} throughput >= {self.threshold:g} B/s for >= {self.min_duration_minutes:g} min"

    def post_rules(self) -> PostRuleChain:
        """The condition as a post-rule chain: ``threshold`` then ``sustained``."""
        return PostRuleChain([
            {"name": "threshold", "threshold": self.threshold},
            {"name": "sustained", "min_duration_minutes": self.min_duration_minutes},
        ])


def predicted_episode(forecast: pd.DataFrame, rule: ThroughputRule) -> dict[str, Any] | None:
    """The first run of forecast steps with ``band >= threshold`` lasting ``>= D`` minutes, or None.

    A step covers ``[t, t + step)``; the predicted volume is the forecast mean times the step.
    """
    if len(forecast) < 2:
        return None  # one step says nothing about a duration
    index = pd.DatetimeIndex(forecast.index)
    steps = pd.DataFrame({TIMESTAMP: index.as_unit("ms").asi8})
    held = rule.post_rules().apply(forecast[rule.band].to_numpy(dtype=float), steps)["is_anomaly"].to_numpy()
    if not held.any():
        return None
    i = int(np.argmax(held))
    j = i + int(np.argmin(held[i:])) if not held[i:].all() else len(held)
    step = index[1] - index[0]
    mean = forecast["mean"].to_numpy(dtype=float)[i:j]
    start_ms = int(index[i].value // 1_000_000)
    end_ms = int((index[j - 1] + step).value // 1_000_000)
    return {
        "expected_start": format_ms(start_ms),
        "expected_end": format_ms(end_ms),
        "expected_start_ms": start_ms,
        "expected_end_ms": end_ms,
        "predicted_volume_bytes": float(np.sum(mean) * step.total_seconds()),
        "predicted_peak_throughput": float(np.max(mean)),
        "runs_past_horizon": j == len(held),
    }


def link_key(group_by: Sequence[str], key: Sequence[Any]) -> str:
    """A stable text key of a link (group), e.g. ``source_se=A|dest_se=B``."""
    return "|".join(f"{g}={k}" for g, k in zip(group_by, key))


@dataclass
class Decision:
    """What one forecast of one link means for its episode.

    ``notice``: a new episode starts (the notice to announce it, with its ``episode_id``);
    ``close``: the open episode cleared; neither: nothing changes (none open and none
    predicted, or the open one is still predicted).
    """

    link: str
    episode: dict[str, Any] | None
    notice: dict[str, Any] | None = None
    close: bool = False


def episode_id(link: str, now_ms: int) -> str:
    """The id of an episode of ``link`` first seen at ``now_ms`` (the window end): a re-run of
    that window names the same episode."""
    return hashlib.sha256(f"{link}|{now_ms}".encode()).hexdigest()[:16]


def evaluate_rule(
    rule: ThroughputRule,
    open_episode: str | None,
    group_by: Sequence[str],
    key: Sequence[Any],
    forecast: pd.DataFrame,
    now_ms: int,
    extra: dict[str, Any] | None = None,
) -> Decision:
    """Check one link's forecast against the rule, given the id of its open episode (or None)."""
    link = link_key(group_by, key)
    episode = predicted_episode(forecast, rule)
    if episode is None:
        return Decision(link, None, close=open_episode is not None)
    if open_episode is not None:
        return Decision(link, episode)  # this episode was announced already
    new_id = episode_id(link, now_ms)
    notice = {
        "event": "link_throughput_forecast",
        "rule": rule.describe(),
        "link": dict(zip(group_by, key)),
        "episode_id": new_id,
        "forecast_made_at": format_ms(now_ms),
        "threshold": rule.threshold,
        "min_duration_minutes": rule.min_duration_minutes,
        **episode,
        **(extra or {}),
    }
    return Decision(link, episode, notice=notice)
