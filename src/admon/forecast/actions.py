"""Transfer-link actions: fire a webhook when a link's forecast stays high long enough.

The rule "predicted throughput on a link >= ``threshold`` for >= ``min_duration_minutes``"
is checked on every fresh forecast. It is the post-rule chain ``threshold -> sustained``
(:mod:`admon.detectors.postrules`) applied to the forecast ``band``; :class:`ThroughputRule`
adds where the notice goes. When it starts to hold, a webhook POST announces the
episode (link, expected start and end, predicted volume); while it keeps holding nothing more
is sent; once it clears, the episode is closed and the next one may fire again. The open
episodes live in a small SQLite file, so a restart neither repeats nor forgets a notice, and
two schedulers sharing the file cannot both fire: opening an episode is one atomic INSERT.

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
import json
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from admon.detectors.base import TIMESTAMP
from admon.detectors.postrules import PostRuleChain
from admon.errors import ConfigError, explain_validation
from admon.timeutil import format_ms


class ThroughputRule(BaseModel):
    """Fire ``webhook_url`` when the forecast ``band`` stays >= ``threshold`` for >= D minutes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    threshold: float = Field(gt=0, description="Throughput X (bytes/s) the forecast must reach.")
    min_duration_minutes: float = Field(gt=0, description="D: how long it must stay there.")
    webhook_url: str = Field(description="http(s) URL the notice is POSTed to as JSON.")
    band: Literal["mean", "lower", "upper"] = Field(
        "mean", description="Forecast column compared: 'upper' warns earlier, 'lower' only when sure."
    )
    timeout_seconds: float = Field(5.0, gt=0)

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


@dataclass
class FiredAction:
    """One webhook notice: what was sent, and whether the receiver took it."""

    link: dict[str, Any]
    episode_id: str
    payload: dict[str, Any]
    delivered: bool
    status_code: int | None = None
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ActionState:
    """Open episodes per link, and a log of every notice, in one SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as con, con:
            con.execute(
                "CREATE TABLE IF NOT EXISTS open_episode (link TEXT PRIMARY KEY, episode_id TEXT NOT NULL, "
                "opened_ms INTEGER NOT NULL, payload TEXT NOT NULL)"
            )
            con.execute(
                "CREATE TABLE IF NOT EXISTS notice_log (id INTEGER PRIMARY KEY AUTOINCREMENT, link TEXT NOT NULL, "
                "episode_id TEXT NOT NULL, at_ms INTEGER NOT NULL, delivered INTEGER NOT NULL, "
                "status_code INTEGER, error TEXT NOT NULL, payload TEXT NOT NULL)"
            )

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    def try_open(self, link: str, episode_id: str, now_ms: int, payload: dict) -> bool:
        """Open an episode for ``link`` unless one is open; True if this call opened it."""
        with closing(self._connect()) as con, con:
            cur = con.execute(
                "INSERT OR IGNORE INTO open_episode (link, episode_id, opened_ms, payload) VALUES (?, ?, ?, ?)",
                (link, episode_id, now_ms, json.dumps(payload, sort_keys=True)),
            )
            return cur.rowcount == 1

    def close(self, link: str) -> bool:
        """Close the open episode of ``link``; True if there was one."""
        with closing(self._connect()) as con, con:
            return con.execute("DELETE FROM open_episode WHERE link = ?", (link,)).rowcount == 1

    def open_links(self) -> dict[str, dict]:
        """``link -> {episode_id, opened_ms, payload}`` of the open episodes."""
        with closing(self._connect()) as con:
            rows = con.execute("SELECT link, episode_id, opened_ms, payload FROM open_episode").fetchall()
        return {r[0]: {"episode_id": r[1], "opened_ms": r[2], "payload": json.loads(r[3])} for r in rows}

    def log(self, link: str, action: FiredAction, now_ms: int) -> None:
        with closing(self._connect()) as con, con:
            con.execute(
                "INSERT INTO notice_log (link, episode_id, at_ms, delivered, status_code, error, payload) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (link, action.episode_id, now_ms, int(action.delivered), action.status_code, action.error,
                 json.dumps(action.payload, sort_keys=True)),
            )

    def notices(self) -> list[dict]:
        """Every notice attempt, oldest first."""
        with closing(self._connect()) as con:
            rows = con.execute(
                "SELECT link, episode_id, at_ms, delivered, status_code, error FROM notice_log ORDER BY id"
            ).fetchall()
        keys = ("link", "episode_id", "at_ms", "delivered", "status_code", "error")
        return [dict(zip(keys, r)) for r in rows]


def link_key(group_by: Sequence[str], key: Sequence[Any]) -> str:
    """A stable text key of a link (group), e.g. ``source_se=A|dest_se=B``."""
    return "|".join(f"{g}={k}" for g, k in zip(group_by, key))


def evaluate_rule(
    rule: ThroughputRule,
    state: ActionState,
    group_by: Sequence[str],
    key: Sequence[Any],
    forecast: pd.DataFrame,
    now_ms: int,
    extra: dict[str, Any] | None = None,
) -> FiredAction | None:
    """Check one link's forecast: fire on a new episode, close a cleared one; the notice or None."""
    link = link_key(group_by, key)
    episode = predicted_episode(forecast, rule)
    if episode is None:
        state.close(link)
        return None
    # The id names the link and the moment the episode was first seen: a retry after a failed
    # delivery gets a new id only if the first one was never delivered.
    episode_id = hashlib.sha256(f"{link}|{now_ms}".encode()).hexdigest()[:16]
    payload = {
        "event": "link_throughput_forecast",
        "rule": rule.describe(),
        "link": dict(zip(group_by, key)),
        "episode_id": episode_id,
        "forecast_made_at": format_ms(now_ms),
        "threshold": rule.threshold,
        "min_duration_minutes": rule.min_duration_minutes,
        **episode,
        **(extra or {}),
    }
    if not state.try_open(link, episode_id, now_ms, payload):
        return None  # this episode was announced already
    action = post_webhook(rule, payload, link_fields=dict(zip(group_by, key)))
    if not action.delivered:
        state.close(link)  # try again on the next forecast
    state.log(link, action, now_ms)
    return action


def post_webhook(rule: ThroughputRule, payload: dict[str, Any], link_fields: dict[str, Any]) -> FiredAction:
    """POST ``payload`` as JSON to the rule's webhook; failures are reported, not raised."""
    import httpx

    action = FiredAction(link=link_fields, episode_id=payload["episode_id"], payload=payload, delivered=False)
    try:
        response = httpx.post(
            rule.webhook_url, json=payload, timeout=rule.timeout_seconds,
            headers={"Idempotency-Key": payload["episode_id"]},
        )
        action.status_code = response.status_code
        action.delivered = response.is_success
        if not response.is_success:
            action.error = f"webhook answered HTTP {response.status_code}"
    except httpx.HTTPError as exc:
        action.error = f"webhook POST to {rule.webhook_url} failed: {exc}"
    return action
