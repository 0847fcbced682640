"""Post-rules: one chain of registered rules turns a detector's raw scores into results.

A detector only scores. A :class:`PostRuleChain` (Merlion's post-rule sequence) then
applies its rules in order; each rule is a class with a frozen pydantic config that
round-trips as ``{"name": ..., **params}`` through one name -> class registry
(:data:`POST_RULES`, entry-point group ``admon.post_rules``). Built in:

* ``suppress`` -- the refractory period: a score is multiplied by ``factor`` unless
  it beats the largest score of the previous ``period`` rows of its group by ``gap``
  of the distance from that maximum to ``top``: one event raises one alarm, at its start.
  With ``period_minutes`` > 0 the period is measured in time from each kept score (event
  onsets, :func:`event_onsets`), and scores below ``floor`` are never kept.
* ``calibrate`` -- raw score -> 0-100 from how rare it is among the training scores (as
  Elastic's anomaly score). With ``surprise = -log10(tail probability)`` (the tail beyond
  ``tail_quantile`` of the training scores extrapolated by an exponential fit, computed in log
  space so that it never saturates) and ``x = 100 * surprise / max_surprise``::

      score = x                          if x <= 75   (unchanged: 75 still means 10**-4.5)
      score = 100 - 25**2 / (x - 50)     if x >  75   (75 at x = 75 with slope 1, -> 100)

  The map is strictly increasing and approaches 100 without reaching it, so very rare scores
  stay ranked instead of all clipping to 100: ``x = 100`` (the old cap, tail probability
  ``10**-max_surprise``) gives 87.5, ``x = 200`` gives 95.8, ``x = 10**6`` gives 99.94; two
  different raw scores beyond the training data get different float64 calibrated scores
  (what results and documents store) up to ``x`` of about 10**8. The threshold (75) and the
  scale below it are unchanged. Adds ``severity``. With ``unit='tail_probability'`` (what
  :meth:`PostRuleChain.for_detector` uses when the detector's ``calibration_params()`` ask for it,
  as the default detector's do: its scores are already ``1 - tail probability``) nothing is
  fitted and ``surprise = -log10(1 - score)``, so a calibrated score means the same tail
  probability on every series and every entity.
* ``threshold`` -- ``is_anomaly = score >= threshold`` (on the calibrated scale after ``calibrate``).
  A chain with a threshold keeps ``severity`` on anomalous rows only (None on the others): the
  anomalous range ``[threshold, 100]`` is split in four equal bands, warning < minor < major <
  critical (see :func:`severity`).
* ``sustained`` -- keeps ``is_anomaly`` only on runs of flagged rows of a group lasting at
  least ``min_duration_minutes`` (the transfer-forecast rule: throughput >= X for >= D minutes).
* ``missing_data`` -- flags the rows where a value column of a group has stopped arriving
  (``min_rows`` rows in a row) while the group still reports others, and names the columns
  (``missing_features``): a collector that stops sending one metric is an anomaly a detector
  cannot see in filled-in values.

A chain is fitted once on training scores (each rule learns from the output of the rules
before it) and stored with the model (``postrules.json``, :meth:`PostRuleChain.to_dict`).
:meth:`PostRuleChain.for_detector` builds the chain of a detector: the rules it asks for
(:meth:`~admon.detectors.base.Detector.default_post_rules`, e.g. the default detector's
``suppress``), then ``calibrate``, ``threshold`` and ``missing_data``.

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> rules = PostRules(threshold=75).fit(pd.Series(rng.normal(size=2000)))
>>> [rule.name for rule in rules]
['calibrate', 'threshold']
>>> out = rules.apply(pd.Series([0.0, 3.0, 8.0]))
>>> out["severity"].tolist()
[None, None, 'major']
>>> out["is_anomaly"].tolist()
[False, False, True]
>>> again = PostRuleChain.from_dict(rules.to_dict())
>>> again.apply(pd.Series([8.0]))["anomaly_score"].tolist() == out["anomaly_score"].iloc[[2]].tolist()
True

Rules that look at earlier rows (``suppress``, ``sustained``) need the scored frame, for
its groups and timestamps:

>>> frame = pd.DataFrame({"host": ["a"] * 4 + ["b"] * 2, "timestamp": [0, 1, 2, 3, 0, 1],
...                       "v": [0.0] * 6})
>>> chain = PostRuleChain([{"name": "suppress", "period": 2, "gap": 0.0}])
>>> chain.apply(pd.Series([0.2, 0.9, 0.5, 0.95, 0.9, 0.3]), frame)["anomaly_score"].tolist()
[0.2, 0.9, 0.25, 0.95, 0.9, 0.15]
>>> chain.to_dict()
{'rules': [{'name': 'suppress', 'period': 2, 'gap': 0.0, 'factor': 0.5, 'top': 1.0, 'period_minutes': 0.0, 'floor': 0.0}]}
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from admon.detectors.base import (
    TIMESTAMP,
    Detector,
    default_group_columns,
    group_positions,
)
from admon.errors import ConfigError, DataError, NotFittedError, explain_validation
from admon.plugins import Registry

#: Elastic's severity bands on the 0-100 score: (lower bound, name), ascending.
SEVERITY_BANDS: tuple[tuple[float, str], ...] = (
    (0.0, "warning"),
    (25.0, "minor"),
    (50.0, "major"),
    (75.0, "critical"),
)
#: The scale ``calibrate`` maps scores to; a ``threshold`` after it must lie on it.
CALIBRATED_RANGE = (0.0, 100.0)
DEFAULT_THRESHOLD = 75.0


def severity(score: float, threshold: float | None = None) -> str | None:
    """Severity band of a 0-100 score: Elastic's bands, or, given the ``threshold``, bands of
    the anomalous range ``[threshold, 100]`` (None below it: a normal result has no severity).

    >>> [severity(s) for s in (3, 30, 60, 90)]
    ['warning', 'minor', 'major', 'critical']
    >>> [severity(s, threshold=75) for s in (60, 76, 83, 90, 99)]
    [None, 'warning', 'minor', 'major', 'critical']
    """
    if score is None or not np.isfinite(score):
        return None
    if threshold is not None:
        if not score >= threshold:
            return None
        top = CALIBRATED_RANGE[1]
        width = top - threshold
        # where the score sits in [threshold, 100], on the 0-100 scale of the bands
        score = top if width <= 0 else top * (score - threshold) / width
    name = SEVERITY_BANDS[0][1]
    for lower, band in SEVERITY_BANDS:
        if score >= lower:
            name = band
    return name


def refractory(scores: np.ndarray, period: int, gap: float = 0.0, *, factor: float = 0.5,
               top: float = 1.0) -> np.ndarray:
    """Multiply by ``factor`` every score that does not beat the largest of the previous
    ``period`` scores by ``gap`` of the distance from that maximum to ``top``.

    >>> refractory(np.array([0.2, 0.9, 0.5, 0.95, 0.1]), 2).tolist()
    [0.2, 0.9, 0.25, 0.95, 0.05]
    >>> refractory(np.array([0.2, 0.9, 0.5, 0.95, 0.1]), 2, gap=0.6).tolist()
    [0.2, 0.9, 0.25, 0.475, 0.05]
    """
    if period <= 0 or len(scores) == 0:
        return scores
    prev = pd.Series(scores).rolling(period, min_periods=1).max().shift(1).to_numpy()
    need = np.where(np.isfinite(prev), prev + gap * (top - np.nan_to_num(prev)), -np.inf)
    return np.where(scores <= need, factor * scores, scores)


# ---------------------------------------------------------------------------- context
@dataclass(frozen=True)
class ScoreContext:
    """Where each score sits: the row positions of every group in time order, and the timestamps.

    Pointwise rules (``calibrate``, ``threshold``) ignore it; rules that look at earlier
    rows of a group (``suppress``, ``sustained``) call :meth:`require`.
    """

    series: tuple[np.ndarray, ...] | None = None
    timestamps: np.ndarray | None = None
    #: The value columns of the scored frame and, per row, which of them are missing (NaN).
    features: tuple[str, ...] = ()
    missing: np.ndarray | None = None

    @classmethod
    def of(cls, frame: pd.DataFrame | None, rows: int, group_by: Iterable[str] | None = None) -> ScoreContext:
        """The context of ``rows`` scores aligned to ``frame`` (None: no context known)."""
        if frame is None:
            return cls()
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"post-rules take the scored frame as a pandas DataFrame, got {type(frame).__name__}")
        if len(frame) != rows:
            raise DataError(f"the frame has {len(frame)} rows but there are {rows} scores; pass the frame that was scored")
        groups = list(group_by) if group_by is not None else default_group_columns(frame)
        missing = [c for c in groups if c not in frame.columns]
        if missing:
            raise DataError(f"group column(s) {missing} not in the scored frame's columns {list(frame.columns)}")
        timestamps = None
        if TIMESTAMP in frame.columns:
            timestamps = frame[TIMESTAMP].to_numpy(dtype=np.int64)
        series = tuple(pos for _, pos in group_positions(frame, groups)) if rows else ()
        features = tuple(c for c in frame.columns if c != TIMESTAMP and c not in groups
                         and pd.api.types.is_numeric_dtype(frame[c].dtype))
        absent = frame[list(features)].isna().to_numpy(dtype=bool) if features else None
        return cls(series, timestamps, features, absent)

    def require(self, rule: str) -> tuple[np.ndarray, ...]:
        """The per-group positions, or a ConfigError saying the rule needs the frame."""
        if self.series is None:
            raise ConfigError(
                f"post-rule {rule!r} looks at earlier rows of each group, so it needs the scored frame "
                "(its groups and order): call apply(scores, frame) / fit(scores, frame)"
            )
        return self.series

    def require_times(self, rule: str) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
        """The per-group positions and the timestamps, or a ConfigError saying what is missing."""
        series = self.require(rule)
        if self.timestamps is None:
            raise ConfigError(
                f"post-rule {rule!r} measures durations, so the scored frame needs a 'timestamp' column"
            )
        return series, self.timestamps


# ---------------------------------------------------------------------------- rules
class PostRuleConfig(BaseModel):
    """Base of every post-rule config: frozen, unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class PostRule(abc.ABC):
    """One step of a :class:`PostRuleChain`: ``fit`` on training scores, ``apply`` to new ones.

    A rule reads and writes columns of the score table: ``anomaly_score`` (the current
    score), ``severity``, ``is_anomaly``, ``threshold``. Subclasses set ``Config`` and are
    registered with :func:`register_post_rule` (which sets ``name``). Fitted state, if any,
    is a JSON-able dict (:meth:`_state` / :meth:`_set_state`) stored with the config.
    """

    Config: ClassVar[type[PostRuleConfig]] = PostRuleConfig
    name: ClassVar[str] = ""

    def __init__(self, config: PostRuleConfig | dict | None = None, **params: Any) -> None:
        if config is not None and params:
            raise ConfigError(f"{type(self).__name__}: give either a config or keyword parameters, not both")
        if isinstance(config, self.Config):
            self.config = config
            return
        try:
            self.config = self.Config(**(dict(config or {}) | params))
        except ValidationError as exc:
            owner = f"post-rule {self.name or type(self).__name__}"
            raise ConfigError(explain_validation(exc, f"config for {owner}", noun="parameter",
                                                 valid=self.Config.model_fields)) from None

    @property
    def lookback(self) -> int:
        """Earlier rows of a group the rule looks at (0: each row alone)."""
        return 0

    def lookback_rows(self, interval_ms: int) -> int:
        """:attr:`lookback` when rows are ``interval_ms`` apart (a rule whose period is counted in
        time needs fewer rows of coarser buckets)."""
        return self.lookback

    def fit(self, table: pd.DataFrame, context: ScoreContext) -> PostRule:
        """Learn from the training score table (what the earlier rules made of it); ``self``."""
        return self

    @abc.abstractmethod
    def apply(self, table: pd.DataFrame, context: ScoreContext) -> pd.DataFrame:
        """A new score table (``table`` is not modified)."""

    def get_config(self) -> dict[str, Any]:
        """``{"name": ..., **params}``."""
        return {"name": self.name, **self.config.model_dump(mode="json")}

    def to_dict(self) -> dict[str, Any]:
        """The config, plus ``"state"`` when the rule holds fitted state: what :func:`post_rule_from_dict` reads."""
        state = self._state()
        return self.get_config() | ({"state": state} if state else {})

    def _state(self) -> dict[str, Any]:
        return {}

    def _set_state(self, state: dict[str, Any]) -> None:
        if state:
            raise DataError(f"post-rule {self.name!r} has no fitted state, but the stored rule has {sorted(state)}")

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.config.model_dump().items())
        return f"{type(self).__name__}({params})"


#: The one name -> post-rule class registry (plugins: entry-point group ``admon.post_rules``).
POST_RULES: Registry[type[PostRule]] = Registry("post-rule", "admon.post_rules", base=PostRule)

R = TypeVar("R", bound=type[PostRule])


def register_post_rule(name: str) -> Callable[[R], R]:
    """Class decorator adding a :class:`PostRule` subclass to :data:`POST_RULES` as ``name``."""
    return POST_RULES.register(name)  # type: ignore[return-value]


def available_post_rules() -> list[str]:
    """Sorted names of every registered post-rule."""
    return POST_RULES.names()


def create_post_rule(name: str, **params: Any) -> PostRule:
    """A new post-rule ``name`` with ``params`` (validated by its config)."""
    return POST_RULES.get(name)(**params)


def post_rule_from_dict(spec: dict[str, Any]) -> PostRule:
    """The rule described by ``{"name": ..., **params}`` (plus ``"state"`` if fitted)."""
    if not isinstance(spec, dict) or "name" not in spec:
        raise ConfigError(f"a post-rule is {{'name': ..., **params}}, e.g. {{'name': 'threshold'}}; got {spec!r}")
    params = dict(spec)
    state = params.pop("state", None)
    rule = create_post_rule(params.pop("name"), **params)
    if state is not None:
        if not isinstance(state, dict):
            raise DataError(f"the stored state of post-rule {rule.name!r} is not a JSON object: {state!r}")
        rule._set_state(state)
    return rule


class CalibratorConfig(PostRuleConfig):
    max_surprise: float = Field(6.0, gt=0, description="-log10 tail probability that maps to 100.")
    tail_quantile: float = Field(0.9, gt=0.5, lt=1.0, description="Where the exponential tail starts.")
    n_quantiles: int = Field(201, ge=11, description="Stored quantiles of the training scores.")
    unit: Literal["fitted", "tail_probability"] = Field(
        "fitted", description="fitted: rarity among the training scores; tail_probability: the scores are "
        "already 1 - a tail probability (e.g. the default detector's), so surprise = -log10(1 - score).",
    )


_CALIBRATOR_STATE = ("quantiles_", "probs_", "tail_start_", "tail_scale_", "n_")


class Calibrator:
    """Raw score -> 0-100 from the training-score distribution (fit once, JSON-serialisable)."""

    def __init__(self, config: CalibratorConfig | None = None, **params: Any) -> None:
        if config is None:
            try:
                config = CalibratorConfig(**params)
            except ValidationError as exc:
                raise ConfigError(explain_validation(exc, "config for calibrate", noun="parameter",
                                                     valid=CalibratorConfig.model_fields)) from None
        self.config = config

    def fit(self, scores: pd.Series | np.ndarray) -> Calibrator:
        s = np.asarray(scores, dtype=float)
        s = s[np.isfinite(s)]
        if s.size == 0:
            raise ConfigError("calibration needs at least one finite training score")
        if self.config.unit == "tail_probability":
            # the unit is fixed, so 75 means the same on every series and entity: nothing to learn
            # (a sparse detector's training scores, mostly 0, would make a degenerate fitted tail)
            self.n_ = int(s.size)
            return self
        probs = np.linspace(0.0, 1.0, self.config.n_quantiles)
        self.quantiles_ = np.quantile(s, probs).tolist()
        self.probs_ = probs.tolist()
        u = float(np.quantile(s, self.config.tail_quantile))
        excess = s[s > u] - u
        # mean excess over u = scale of the exponential tail; a floor keeps constant scores finite
        spread = float(np.quantile(s, 0.75) - np.quantile(s, 0.25))
        floor = max(1e-9, 1e-3 * (abs(u) + spread))
        self.tail_start_ = u
        self.tail_scale_ = max(float(excess.mean()) if excess.size else 0.0, floor)
        self.n_ = int(s.size)
        return self

    def surprise(self, scores: pd.Series | np.ndarray) -> np.ndarray:
        """``-log10 P(training score >= s)``, the exponential tail beyond ``tail_start_`` in log
        space: it grows linearly with ``s`` there and never saturates (a missing score: 0)."""
        if self.config.unit == "tail_probability":
            if not hasattr(self, "n_"):
                raise NotFittedError("Calibrator is not fitted; call fit(training_scores) first")
            p = 1.0 - np.clip(np.nan_to_num(np.asarray(scores, dtype=float), nan=0.0), 0.0, 1.0)
            return -np.log10(np.maximum(p, 1e-300))
        if not hasattr(self, "quantiles_"):
            raise NotFittedError("Calibrator is not fitted; call fit(training_scores) first")
        s = np.nan_to_num(np.asarray(scores, dtype=float), nan=-np.inf, posinf=np.finfo(float).max)
        q, p = np.asarray(self.quantiles_), np.asarray(self.probs_)
        # body: empirical CDF through the stored quantiles (flat stretches take their upper prob)
        cdf = np.interp(s, q, p, left=0.0, right=1.0)
        body = np.clip(1.0 - cdf, 1.0 - self.config.tail_quantile, 1.0)
        tail_p0 = 1.0 - self.config.tail_quantile
        with np.errstate(over="ignore"):
            excess = (np.maximum(s, self.tail_start_) - self.tail_start_) / self.tail_scale_
        tail = -np.log10(tail_p0) + excess / np.log(10.0)
        return np.where(s > self.tail_start_, tail, -np.log10(body))

    def tail_probability(self, scores: pd.Series | np.ndarray) -> np.ndarray:
        """P(training score >= s), with the exponential tail beyond ``tail_start_`` (may underflow to 0)."""
        return 10.0 ** -self.surprise(scores)

    def transform(self, scores: pd.Series | np.ndarray) -> np.ndarray:
        """Calibrated 0-100 scores: :func:`squash` of ``100 * surprise / max_surprise``."""
        return squash(100.0 * self.surprise(scores) / self.config.max_surprise)

    def state(self) -> dict[str, Any]:
        """The fitted state (empty before ``fit``)."""
        return {k: getattr(self, k) for k in _CALIBRATOR_STATE if hasattr(self, k)}

    def set_state(self, state: dict[str, Any]) -> None:
        unknown = sorted(set(state) - set(_CALIBRATOR_STATE))
        if unknown:
            raise DataError(f"stored calibration state has unknown field(s) {unknown}; valid: {list(_CALIBRATOR_STATE)}")
        for k, v in state.items():
            setattr(self, k, v)

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config.model_dump(), "state": self.state()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        cal = cls(**data.get("config", {}))
        cal.set_state(data.get("state", {}))
        return cal


#: Where :func:`squash` leaves the identity: the default threshold, so 75 keeps its meaning.
SQUASH_KNEE = DEFAULT_THRESHOLD


def squash(linear: np.ndarray) -> np.ndarray:
    """Identity up to :data:`SQUASH_KNEE`, then ``100 - (100 - k)**2 / (x - 2k + 100)``: strictly
    increasing, slope 1 at the knee, approaching 100 without reaching it (see the module docstring).

    >>> squash(np.array([-3.0, 0.0, 50.0, 75.0, 100.0, 200.0, np.inf])).round(3).tolist()
    [0.0, 0.0, 50.0, 75.0, 87.5, 95.833, 100.0]
    """
    x = np.asarray(linear, dtype=float)
    top, knee = CALIBRATED_RANGE[1], SQUASH_KNEE
    room = top - knee
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        high = top - room * room / (x - knee + room)
    return np.where(x > knee, high, np.clip(x, CALIBRATED_RANGE[0], top))


@register_post_rule("calibrate")
class CalibrateRule(PostRule):
    """Score -> 0-100 by its rarity among the training scores; adds the ``severity`` band."""

    Config = CalibratorConfig

    def __init__(self, config: PostRuleConfig | dict | None = None, **params: Any) -> None:
        super().__init__(config, **params)
        self.calibrator = Calibrator(self.config)  # type: ignore[arg-type]

    def fit(self, table: pd.DataFrame, context: ScoreContext) -> CalibrateRule:
        self.calibrator.fit(table["anomaly_score"].to_numpy(dtype=float))
        return self

    def apply(self, table: pd.DataFrame, context: ScoreContext) -> pd.DataFrame:
        calibrated = self.calibrator.transform(table["anomaly_score"].to_numpy(dtype=float))
        return table.assign(anomaly_score=calibrated, severity=[severity(c) for c in calibrated])

    def _state(self) -> dict[str, Any]:
        return self.calibrator.state()

    def _set_state(self, state: dict[str, Any]) -> None:
        self.calibrator.set_state(state)


class ThresholdConfig(PostRuleConfig):
    threshold: float = Field(DEFAULT_THRESHOLD, allow_inf_nan=False,
                             description="Scores >= this are anomalies (0-100 after calibrate).")


@register_post_rule("threshold")
class ThresholdRule(PostRule):
    """``is_anomaly = anomaly_score >= threshold`` (a missing score is never an anomaly)."""

    Config = ThresholdConfig

    def apply(self, table: pd.DataFrame, context: ScoreContext) -> pd.DataFrame:
        value = float(self.config.threshold)  # type: ignore[attr-defined]
        with np.errstate(invalid="ignore"):
            flags = table["anomaly_score"].to_numpy(dtype=float) >= value
        return table.assign(is_anomaly=flags, threshold=value)


class SuppressConfig(PostRuleConfig):
    period: int = Field(50, ge=0, description="Rows after a peak during which lower scores are suppressed (0: off).")
    gap: float = Field(0.25, ge=0.0, lt=1.0,
                       description="Fraction of the distance to `top` a score must close over the recent peak.")
    factor: float = Field(0.5, ge=0.0, le=1.0, description="What a suppressed score is multiplied by.")
    top: float = Field(1.0, gt=0.0, allow_inf_nan=False,
                       description="Top of the score scale: 1 for [0, 1] detector scores, 100 after calibrate.")
    period_minutes: float = Field(
        0.0, ge=0.0, allow_inf_nan=False,
        description="If > 0: event mode, the refractory period in minutes after each kept score (replaces `period`).",
    )
    floor: float = Field(0.0, ge=0.0, allow_inf_nan=False,
                         description="Event mode: scores below this never start or raise an event.")


@register_post_rule("suppress")
class SuppressRule(PostRule):
    """The refractory period (see :func:`refractory`), per group in time order.

    One event raises one alarm at its start, even when its evidence keeps creeping
    upward: NAB rewards early detection and charges every extra alarm outside the window.
    A score depends on the ``period`` raw scores before it, not on earlier suppressions.
    """

    Config = SuppressConfig

    @property
    def lookback(self) -> int:
        return self.lookback_rows(60_000)

    def lookback_rows(self, interval_ms: int) -> int:
        minutes = float(self.config.period_minutes)  # type: ignore[attr-defined]
        # event mode counts time: its period spans at most one row a minute (steps of a minute or more)
        rows = math.ceil(minutes * 60_000 / max(int(interval_ms), 60_000))
        return max(int(self.config.period), rows)  # type: ignore[attr-defined]

    def apply(self, table: pd.DataFrame, context: ScoreContext) -> pd.DataFrame:
        c = self.config
        scores = table["anomaly_score"].to_numpy(dtype=float)
        out = scores.copy()
        if c.period_minutes > 0:  # type: ignore[attr-defined]
            series, timestamps = context.require_times(self.name)
            for pos in series:
                out[pos] = event_onsets(scores[pos], timestamps[pos], c.period_minutes, c.gap,  # type: ignore[attr-defined]
                                        floor=c.floor, factor=c.factor, top=c.top)  # type: ignore[attr-defined]
            return table.assign(anomaly_score=out)
        for pos in context.require(self.name):
            out[pos] = refractory(scores[pos], c.period, c.gap, factor=c.factor, top=c.top)  # type: ignore[attr-defined]
        return table.assign(anomaly_score=out)


def event_onsets(scores: np.ndarray, timestamps: np.ndarray, period_minutes: float, gap: float, *,
                 floor: float = 0.0, factor: float = 0.0, top: float = 1.0) -> np.ndarray:
    """The refractory period in time, counted from each *kept* score (an event's onset).

    A score at least ``floor`` is kept if no score was kept in the previous ``period_minutes``
    (a new event), or if it beats the largest score kept in the current event by ``gap`` of
    the distance from that score to ``top`` (the event became much more unusual; with scores
    that are ``1 - tail probability``, ``gap=0.9`` asks for a tail ten times smaller). Every
    other score is multiplied by ``factor``. Time, not rows, so that a series with gaps or a
    coarser step is not held for longer or shorter than ``period_minutes``.

    >>> ts = np.arange(6) * 60_000                      # one row a minute
    >>> event_onsets(np.array([0.5, 0.99, 0.995, 0.9991, 0.2, 0.99]), ts, 3, 0.9, floor=0.9).tolist()
    [0.0, 0.99, 0.0, 0.9991, 0.0, 0.0]
    """
    scores = np.asarray(scores, dtype=float)
    out = factor * scores
    period_ms = period_minutes * 60_000.0
    last_ms, event_max = -np.inf, -np.inf
    # only scores above the floor can be kept: a sparse Python loop over them
    for i in np.flatnonzero(scores >= floor):
        value, now = float(scores[i]), float(timestamps[i])
        if now - last_ms >= period_ms:
            keep = True
            event_max = value
        else:
            keep = value > event_max + gap * (top - event_max)
            if keep:
                event_max = value
        if keep:
            out[i] = value
            last_ms = now
    return out


class SustainedConfig(PostRuleConfig):
    min_duration_minutes: float = Field(gt=0, allow_inf_nan=False,
                                        description="D: how long a run of flagged rows must last.")


@register_post_rule("sustained")
class SustainedRule(PostRule):
    """Keep ``is_anomaly`` only on runs of consecutive flagged rows of a group lasting >= D.

    A row covers ``[t, t + step)`` (``step``: the group's time step), so a run of ``k``
    rows lasts ``k * step``. A group with one row has no step: nothing in it is sustained.
    A run that reaches the end of the table counts with the rows it has.
    """

    Config = SustainedConfig

    def apply(self, table: pd.DataFrame, context: ScoreContext) -> pd.DataFrame:
        if "is_anomaly" not in table.columns:
            raise ConfigError("post-rule 'sustained' keeps flagged rows: put a 'threshold' rule before it")
        series, timestamps = context.require_times(self.name)
        flags = table["is_anomaly"].to_numpy(dtype=bool)
        out = np.zeros(len(flags), dtype=bool)
        minutes = float(self.config.min_duration_minutes)  # type: ignore[attr-defined]
        for pos in series:
            steps = np.diff(timestamps[pos])
            steps = steps[steps > 0]
            if len(steps) == 0:
                continue
            need = int(np.ceil(minutes * 60_000 / float(steps.min()) - 1e-9))
            out[pos] = long_runs(flags[pos], need)
        return table.assign(is_anomaly=out)


def long_runs(flags: np.ndarray, need: int) -> np.ndarray:
    """True on the runs of consecutive True values that are at least ``need`` long.

    >>> long_runs(np.array([1, 1, 0, 1, 1, 1, 0], dtype=bool), 3).astype(int).tolist()
    [0, 0, 0, 1, 1, 1, 0]
    """
    flags = np.asarray(flags, dtype=bool)
    edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    out = np.zeros(len(flags), dtype=bool)
    for start, end in zip(starts, ends):
        if end - start >= need:
            out[start:end] = True
    return out


class MissingDataConfig(PostRuleConfig):
    min_rows: int = Field(2, ge=1, description="Consecutive rows of a group a value column must be missing "
                                               "(after it had a value) to be a gap.")
    score: float = Field(80.0, ge=0.0, le=100.0, allow_inf_nan=False,
                         description="Least calibrated score of a row in a gap (at or above the threshold: "
                                     "flagged).")


@register_post_rule("missing_data")
class MissingDataRule(PostRule):
    """Flag the rows where a value column of a group stopped arriving while the group still reports.

    A collector that stops sending one metric of a host leaves that column null (never 0)
    in the host's rows; a detector sees a filled-in value and nothing unusual. This rule
    flags a row when one of its value columns has been missing for ``min_rows`` consecutive
    rows of its group, after the group had a value for it, while another column of the row
    has one: its score becomes at least ``score`` and ``missing_features`` names the columns.
    A group that stops reporting altogether has no rows: that is the run's ``no_data`` status
    and the entity's health alert, not this rule. It follows ``threshold``.
    """

    Config = MissingDataConfig

    @property
    def lookback(self) -> int:
        return int(self.config.min_rows)  # type: ignore[attr-defined]

    def apply(self, table: pd.DataFrame, context: ScoreContext) -> pd.DataFrame:
        if "is_anomaly" not in table.columns:
            raise ConfigError("post-rule 'missing_data' flags rows: put a 'threshold' rule before it")
        series = context.require(self.name)
        gaps = np.zeros((len(table), len(context.features)), dtype=bool)
        if context.missing is not None and len(table):
            for pos in series:
                gaps[pos] = missing_runs(context.missing[pos], int(self.config.min_rows))  # type: ignore[attr-defined]
        flagged: np.ndarray = np.asarray(gaps.any(axis=1), dtype=bool)
        scores = table["anomaly_score"].to_numpy(dtype=float)
        floor = float(self.config.score)  # type: ignore[attr-defined]
        names: list[Any] = [()] * len(table)  # a loop over the flagged rows only: most rows have none
        for i in np.flatnonzero(flagged):
            names[i] = [context.features[j] for j in np.flatnonzero(gaps[i])]
        return table.assign(anomaly_score=np.where(flagged, np.fmax(scores, floor), scores),
                            is_anomaly=table["is_anomaly"].to_numpy(dtype=bool) | flagged,
                            missing_features=pd.Series(names, index=table.index, dtype=object))


def missing_runs(missing: np.ndarray, min_rows: int) -> np.ndarray:
    """Per row (time order) and column: missing for ``min_rows`` rows in a row, after the column had
    a value, while the row has a value in another column.

    >>> m = np.array([[0, 0], [1, 0], [1, 0], [1, 1], [1, 0]], dtype=bool)  # column 0 stops
    >>> missing_runs(m, 2).astype(int).tolist()
    [[0, 0], [0, 0], [1, 0], [0, 0], [1, 0]]
    """
    missing = np.asarray(missing, dtype=bool)
    count = np.cumsum(missing, axis=0)
    # missing rows in a row so far: the count since the column's last value
    last_value = np.maximum.accumulate(np.where(missing, 0, count), axis=0)
    run = count - last_value
    had_value = np.maximum.accumulate(~missing, axis=0)
    reporting = (~missing).any(axis=1, keepdims=True)
    return (run >= min_rows) & had_value & reporting


# ---------------------------------------------------------------------------- chain
class PostRuleChain:
    """Rules applied in order to raw scores: ``apply(raw, frame)`` gives the result table.

    The table has ``raw_score`` and ``anomaly_score`` (the score after the rules), plus
    what the rules add: ``severity`` (calibrate), ``is_anomaly`` and ``threshold``
    (threshold), aligned to the raw scores' index.
    """

    def __init__(self, rules: Iterable[PostRule | dict[str, Any]] = ()) -> None:
        self.rules: list[PostRule] = [r if isinstance(r, PostRule) else post_rule_from_dict(r) for r in rules]
        self._check_order()

    @classmethod
    def for_detector(cls, detector: Detector, threshold: float = DEFAULT_THRESHOLD,
                     **calibrator_params: Any) -> PostRuleChain:
        """The chain a model of ``detector`` is trained with: its own rules, then calibrate, threshold."""
        # a detector whose scores have a fixed unit says how to calibrate them (the default detector)
        own = detector.calibration_params() if hasattr(detector, "calibration_params") else {}
        return cls([*_detector_rules(detector), CalibrateRule(**(own | calibrator_params)),
                    ThresholdRule(threshold=threshold), MissingDataRule()])

    def _check_order(self) -> None:
        calibrated = flagged = False
        for rule in self.rules:
            if isinstance(rule, CalibrateRule):
                calibrated = True
            elif isinstance(rule, ThresholdRule):
                flagged = True
                value = rule.config.threshold  # type: ignore[attr-defined]
                low, high = CALIBRATED_RANGE
                if calibrated and not low <= value <= high:
                    raise ConfigError(
                        f"threshold {value!r} must be within {low:g}..{high:g}: it follows calibrate, "
                        "so it is on the calibrated scale"
                    )
            elif isinstance(rule, SustainedRule) and not flagged:
                raise ConfigError("post-rule 'sustained' keeps flagged rows: put a 'threshold' rule before it")
            elif isinstance(rule, MissingDataRule) and not flagged:
                raise ConfigError("post-rule 'missing_data' flags rows: put a 'threshold' rule before it")

    # ------------------------------------------------------------------ use
    def fit(self, raw_scores: pd.Series | np.ndarray, frame: pd.DataFrame | None = None, *,
            group_by: Iterable[str] | None = None) -> PostRuleChain:
        """Fit each rule on the training scores as the rules before it left them; ``self``."""
        table, context = self._start(raw_scores, frame, group_by)
        for rule in self.rules:
            rule.fit(table, context)
            table = rule.apply(table, context)
        return self

    def apply(self, raw_scores: pd.Series | np.ndarray, frame: pd.DataFrame | None = None, *,
              group_by: Iterable[str] | None = None) -> pd.DataFrame:
        """The result table of ``raw_scores`` (aligned to ``frame``, the frame that was scored).

        ``group_by`` names the group columns (default: every non-numeric column but
        ``timestamp``); only rules that look at earlier rows need ``frame`` at all.
        """
        table, context = self._start(raw_scores, frame, group_by)
        for rule in self.rules:
            table = rule.apply(table, context)
        return anomalous_severity(table)

    @staticmethod
    def _start(raw_scores: pd.Series | np.ndarray, frame: pd.DataFrame | None,
               group_by: Iterable[str] | None) -> tuple[pd.DataFrame, ScoreContext]:
        if isinstance(raw_scores, pd.Series):
            raw = raw_scores.astype(float)
            if frame is not None and len(frame) == len(raw) and not raw.index.equals(frame.index):
                raise DataError("the scores' index differs from the frame's; pass the scores of that frame")
        else:
            index = frame.index if frame is not None else None
            raw = pd.Series(np.asarray(raw_scores, dtype=float).reshape(-1), index=index, dtype=float)
        values = raw.to_numpy(dtype=float)
        table = pd.DataFrame({"raw_score": values, "anomaly_score": values.copy()}, index=raw.index)
        return table, ScoreContext.of(frame, len(raw), group_by)

    def before(self, name: str) -> PostRuleChain:
        """The rules before the first one named ``name`` (all of them if none is).

        The benchmark applies ``chain.before("calibrate")``: the rules that shape the raw
        scores, with NAB's own corpus-wide threshold in place of calibrate and threshold.
        """
        names = [r.name for r in self.rules]
        stop = names.index(name) if name in names else len(names)
        return PostRuleChain(self.rules[:stop])

    @property
    def lookback(self) -> int:
        """Earlier rows of a group a result depends on through the rules."""
        return sum(r.lookback for r in self.rules)

    def lookback_rows(self, interval_ms: int) -> int:
        """:attr:`lookback` when rows are ``interval_ms`` apart."""
        return sum(r.lookback_rows(interval_ms) for r in self.rules)

    def __iter__(self) -> Iterator[PostRule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def __repr__(self) -> str:
        return f"PostRuleChain({self.rules!r})"

    # ------------------------------------------------------------------ storage
    def to_dict(self) -> dict[str, Any]:
        """``{"rules": [{"name": ..., **params, "state"?: ...}, ...]}``: JSON-able, stored with the model."""
        return {"rules": [r.to_dict() for r in self.rules]}

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, detector: Detector | None = None) -> PostRuleChain:
        """The chain :meth:`to_dict` wrote; also the fixed ``PostRules`` of models stored before chains.

        That older shape, ``{"threshold": ..., "calibrator": {"config": ..., "state": ...}}``,
        loads as ``calibrate -> threshold``, preceded by ``detector``'s own rules if it is given:
        those used to run inside the detector (the default detector's refractory period).
        """
        if not isinstance(data, dict):
            raise DataError(f"stored post-rules must be a JSON object, got {type(data).__name__}")
        if "rules" in data:
            extra = sorted(set(data) - {"rules"})
            if extra:
                raise DataError(f"a stored post-rule chain is {{'rules': [...]}}; it has unknown key(s) {extra}")
            if not isinstance(data["rules"], list):
                raise DataError(f"a stored post-rule chain's 'rules' is a list, got {data['rules']!r}")
            return PostRuleChain(data["rules"])
        unknown = sorted(set(data) - {"threshold", "calibrator"})
        if unknown:
            raise DataError(
                f"stored post-rules have unknown key(s) {unknown}: neither a chain {{'rules': [...]}} "
                "nor the older {'threshold': ..., 'calibrator': ...}"
            )
        calibrator = data.get("calibrator") or {}
        calibrate = CalibrateRule(**calibrator.get("config", {}))
        calibrate._set_state(calibrator.get("state", {}))
        threshold = ThresholdRule(threshold=data.get("threshold", DEFAULT_THRESHOLD))
        return PostRuleChain([*_detector_rules(detector), calibrate, threshold])


class PostRules(PostRuleChain):
    """The standard chain ``calibrate -> threshold`` with ``threshold`` on the 0-100 scale.

    The post-rules of every model before chains had more rules, and still the chain of
    a detector that asks for no rules of its own. ``from_dict`` gives a :class:`PostRuleChain`.
    """

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, **calibrator_params: Any) -> None:
        super().__init__([CalibrateRule(**calibrator_params), ThresholdRule(threshold=threshold)])


def anomalous_severity(table: pd.DataFrame) -> pd.DataFrame:
    """``severity`` on the anomalous rows only, banded over ``[threshold, 100]`` (None elsewhere).

    Applies once the table has a calibrated score and a verdict (``severity``, ``is_anomaly``
    and ``threshold`` columns); otherwise the table is returned as it is.
    """
    if not {"severity", "is_anomaly", "threshold"} <= set(table.columns):
        return table
    scores = table["anomaly_score"].to_numpy(dtype=float)
    limits = table["threshold"].to_numpy(dtype=float)
    flags = table["is_anomaly"].to_numpy(dtype=bool)
    bands = [severity(v, t) if flag else None for v, t, flag in zip(scores, limits, flags)]
    return table.assign(severity=pd.Series(bands, index=table.index, dtype=object))


def _detector_rules(detector: Detector | None) -> list[dict[str, Any]]:
    return [] if detector is None else detector.default_post_rules()


#: An anomalous row names a feature other than its top one only if that feature's part is at
#: least this fraction of the top feature's (parts that are not scores: the median-replacement drops).
MIN_PART_RATIO = 0.5


def feature_parts(detector, frame: pd.DataFrame) -> tuple[pd.DataFrame, bool]:
    """Each feature's part (>= 0) of each row's score, per group and per row, and whether the
    parts are the detector's own per-feature scores (on the raw-score scale, so they can be
    calibrated like the score) rather than the score drop when the feature is replaced by its
    training median (a detector without per-feature scores)."""
    if hasattr(detector, "inner") and hasattr(detector, "transform"):
        # a stored model with transforms: attribute in the space the detector was fitted in
        frame, detector = detector.transform(frame), detector.inner
    cols = list(detector.feature_columns_)
    # a multivariate detector's per-feature scores (e.g. PCA's residual per column) spread one
    # column's move over the correlated columns: ask instead what the score is without the move
    native = None if detector.multivariate else detector.feature_scores(frame)
    if native is not None:
        return native.clip(lower=0.0).fillna(0.0), True
    base = detector.score(frame).to_numpy()
    parts = np.zeros((len(frame), len(cols)))
    for j, col in enumerate(cols):
        neutral = frame.copy()
        neutral[col] = detector.feature_medians_[j]
        parts[:, j] = np.maximum(base - detector.score(neutral).to_numpy(), 0.0)
    return pd.DataFrame(parts, index=frame.index, columns=cols), False


def shares_of(parts: pd.DataFrame) -> pd.DataFrame:
    """Parts as shares summing to 1 per row (equal shares on a row where every part is 0)."""
    values = parts.to_numpy(dtype=float)
    total = values.sum(axis=1, keepdims=True)
    with np.errstate(all="ignore"):
        share = np.where(total > 0, values / np.where(total > 0, total, 1.0), 1.0 / max(parts.shape[1], 1))
    return pd.DataFrame(share, index=parts.index, columns=parts.columns)


def contributions(detector, frame: pd.DataFrame) -> pd.DataFrame:
    """Share (0..1, summing to 1 per row) of each feature in a row's score: which column drove it.

    Uses the detector's native per-feature scores when it has them; otherwise
    the score drop when one feature is replaced by its training median.

    >>> import numpy as np, pandas as pd
    >>> from admon.detectors import create
    >>> rng = np.random.default_rng(1)
    >>> f = pd.DataFrame({"host": "h", "timestamp": np.arange(200, dtype="int64") * 300_000,
    ...                   "gled": rng.normal(size=200), "alice": rng.normal(size=200)})
    >>> det = create("robust_zscore").fit(f)
    >>> spike = f.copy(); spike.loc[150, "alice"] = 40.0
    >>> contributions(det, spike).loc[150].idxmax()
    'alice'
    """
    return shares_of(feature_parts(detector, frame)[0])


def significant_parts(parts: pd.DataFrame, native: bool, chain: PostRuleChain | None,
                      raw: pd.Series | np.ndarray | None = None) -> pd.DataFrame:
    """Which feature parts count on their own (rows x features, bool).

    Native per-feature scores count when the feature alone would make the row anomalous: its
    part, calibrated by the chain's ``calibrate``, reaches the chain's ``threshold``. Score
    drops (``raw``: the raw scores given) count when the row without the feature's move would
    not be anomalous: ``raw - drop``, calibrated, is below the threshold. Otherwise (a chain
    without both rules) a part counts when it is at least :data:`MIN_PART_RATIO` of the row's
    largest part. :func:`top_features` always names the top feature of an anomalous row.
    """
    values = parts.to_numpy(dtype=float)
    rule = _calibration_of(chain)
    if rule is not None and native:
        calibrator, threshold = rule
        with np.errstate(invalid="ignore"):
            mask = calibrator.transform(values.reshape(-1)).reshape(values.shape) >= threshold
    elif rule is not None and raw is not None:
        calibrator, threshold = rule
        without = np.asarray(raw, dtype=float).reshape(-1, 1) - values
        with np.errstate(invalid="ignore"):
            mask = calibrator.transform(without.reshape(-1)).reshape(values.shape) < threshold
    else:
        top = values.max(axis=1, keepdims=True) if values.size else np.zeros((len(values), 1))
        mask = values >= MIN_PART_RATIO * top
    return pd.DataFrame(mask & (values > 0), index=parts.index, columns=parts.columns)


def _calibration_of(chain: PostRuleChain | None) -> tuple[Calibrator, float] | None:
    """The chain's fitted calibrator and the threshold after it, if it has both."""
    calibrator = None
    for rule in chain or ():
        if isinstance(rule, CalibrateRule) and hasattr(rule.calibrator, "n_"):
            calibrator = rule.calibrator
        elif isinstance(rule, ThresholdRule) and calibrator is not None:
            return calibrator, float(rule.config.threshold)  # type: ignore[attr-defined]
    return None


def top_features(shares: pd.DataFrame, top: int = 3, *, anomalous: np.ndarray | pd.Series | None = None,
                 significant: pd.DataFrame | np.ndarray | None = None) -> list[list[str]]:
    """Per row, the names of the (at most ``top``) features that drove the score, largest first.

    With ``anomalous`` (a flag per row), a normal row names none, and an anomalous row names
    its top feature plus every other feature that is ``significant`` (default: a share of at
    least :data:`MIN_PART_RATIO` of the top share; see :func:`significant_parts`); a feature
    whose share is 0 is never named (pass the parts rather than shares so that a row where
    nothing is known names nothing). Without ``anomalous``,
    every row names its ``top`` largest shares (what a bare ranking asks for).

    >>> import pandas as pd
    >>> top_features(pd.DataFrame({"a": [0.9, 0.1], "b": [0.1, 0.9]}), top=1)
    [['a'], ['b']]
    >>> top_features(pd.DataFrame({"a": [0.9, 0.6, 0.5], "b": [0.1, 0.4, 0.5]}), anomalous=[True, True, False])
    [['a'], ['a', 'b'], []]
    """
    cols = np.asarray(shares.columns)
    values = shares.to_numpy(dtype=float)
    order = np.argsort(-values, axis=1, kind="stable")[:, :top]
    if anomalous is None:
        return [cols[row].tolist() for row in order]
    flags = np.asarray(anomalous, dtype=bool).reshape(-1)
    if significant is None:
        best = values.max(axis=1, keepdims=True) if values.size else np.zeros((len(values), 1))
        keep = (values >= MIN_PART_RATIO * best) & (values > 0)
    else:
        keep = np.asarray(significant, dtype=bool)
    out: list[list[str]] = []
    for i, row in enumerate(order):
        if not flags[i] or len(row) == 0:
            out.append([])
            continue
        out.append([cols[j] for rank, j in enumerate(row) if values[i, j] > 0 and (rank == 0 or keep[i, j])])
    return out
