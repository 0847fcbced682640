"""The :class:`Detector` interface every anomaly detector of admon implements.

A detector is a class with ``fit(frame) -> self`` and ``score(frame) -> pd.Series``
(one float per row, i.e. per group and timestamp; **higher = more anomalous**).
It never returns labels: calibration and threshold are post-rules
(:mod:`admon.detectors.postrules`), so that one threshold logic serves all.

Its parameters live in a frozen pydantic config (a subclass of
:class:`DetectorConfig`, ``extra="forbid"``) declared next to it. The public
``fit``/``score`` validate the frame and then call the private ``_fit``/``_score``
hooks; fitted state has a trailing underscore. ``save(dir)``/``load(dir)`` use
safe formats only: JSON + ``.npz`` (loaded with ``allow_pickle=False``), skops for
scikit-learn estimators (with an allow-list of types), safetensors for torch weights.

Frames are what :meth:`admon.DataSource.read` returns: the group columns
(strings), ``timestamp`` (int64 epoch ms) and float value columns (NaN = missing).

Writing a detector:

>>> import numpy as np, pandas as pd
>>> from admon.detectors.base import Detector, DetectorConfig
>>> class AbsConfig(DetectorConfig):
...     offset: float = 0.0
>>> class AbsDetector(Detector):
...     Config = AbsConfig
...     def _fit(self, frame):
...         self.center_ = float(np.nanmedian(frame[self.feature_columns_].to_numpy()))
...     def _score(self, frame):
...         x = frame[self.feature_columns_].to_numpy(dtype=float)
...         return np.nanmax(np.abs(x - self.center_), axis=1) + self.config.offset
>>> frame = pd.DataFrame({"host": ["a", "a", "b"], "timestamp": [0, 300_000, 0],
...                       "cpu": [1.0, 5.0, 1.0]})
>>> det = AbsDetector(offset=0.5).fit(frame)
>>> det.group_columns_, det.feature_columns_
(['host'], ['cpu'])
>>> det.score(frame).tolist()
[0.5, 4.5, 0.5]
"""

from __future__ import annotations

import abc
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError

from admon.errors import ConfigError, DataError, NotFittedError, explain_validation
from admon.plugins import Registry

TIMESTAMP = "timestamp"
SCORE_NAME = "anomaly_score"
STATE_JSON = "detector.json"
STATE_NPZ = "arrays.npz"
FORMAT_VERSION = 1

# Types skops does not trust by default that the built-in detectors' estimators need.
# Anything else in a file is refused (never a prefix like "builtins.": that would admit
# eval), so skops stays a declarative, safe format.
SKOPS_TRUSTED_TYPES = frozenset({
    "sklearn.tree._tree.Tree",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "pyod.models.hbos.HBOS",
})


class DetectorConfig(BaseModel):
    """Base of every detector config: frozen, unknown keys are errors.

    ``features`` selects the value columns (default: every numeric column but
    ``timestamp`` and the group columns); ``group_by`` names the group columns
    (default: every non-numeric column but ``timestamp``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    features: tuple[str, ...] | None = None
    group_by: tuple[str, ...] | None = None


def group_key_str(key: tuple) -> str:
    """A group key as a JSON string, usable as a dict key in saved state.

    >>> group_key_str(("h1",))
    '["h1"]'
    """
    return json.dumps([None if isinstance(k, float) and math.isnan(k) else k for k in key])


class Detector(abc.ABC):
    """Base class of every detector: validate, then ``_fit``/``_score``.

    Class attributes a subclass sets:

    * ``Config`` -- its :class:`DetectorConfig` subclass.
    * ``name`` -- set by :func:`admon.detectors.register`.
    * ``multivariate`` -- True if the method scores several features jointly.
    * ``cross_group`` -- True if a group's score depends on the other groups' rows (peer
      analysis); such a detector is scored over a whole frame, never group by group.
    * ``supports_state`` -- True if it scores a group as streams a run can carry to the next
      run (``start_streams``/``advance_streams`` and the streams' ``arrays``/``from_arrays``;
      :mod:`admon.runs.state`), so that a run scores only its new points.
    """

    Config: ClassVar[type[DetectorConfig]] = DetectorConfig
    name: ClassVar[str] = ""
    multivariate: ClassVar[bool] = False
    cross_group: ClassVar[bool] = False
    supports_state: ClassVar[bool] = False

    def __init__(self, config: DetectorConfig | dict | None = None, **params: Any) -> None:
        if config is not None and params:
            raise ConfigError(
                f"{type(self).__name__}: give either a config or keyword parameters, not both"
            )
        if isinstance(config, self.Config):
            self.config = config
        else:
            data = dict(config or {}) | params
            try:
                self.config = self.Config(**data)
            except ValidationError as exc:
                raise ConfigError(
                    explain_validation(exc, f"config for {self.name or type(self).__name__}",
                                       noun="parameter", valid=self.param_names())
                ) from None

    # ---------------------------------------------------------------- public API
    @classmethod
    def param_names(cls) -> list[str]:
        """Names of the parameters this detector accepts."""
        return list(cls.Config.model_fields)

    def fit(self, frame: pd.DataFrame) -> Detector:
        """Learn from ``frame`` (not modified) and return ``self``."""
        self._check_frame(frame)
        self.group_columns_ = self._resolve_groups(frame)
        self.feature_columns_ = self._resolve_features(frame, self.group_columns_)
        if len(frame) == 0:
            raise DataError(f"{self.name or type(self).__name__}: cannot fit on an empty frame")
        values = frame[self.feature_columns_].to_numpy(dtype=float, na_value=np.nan)
        if not np.isfinite(values).any():
            raise DataError(
                f"{self.name or type(self).__name__}: every value of {self.feature_columns_} is "
                "missing; fit on a window that has data"
            )
        # per-feature medians: neutral values for contributions and NaN filling
        with np.errstate(all="ignore"):
            med = np.nanmedian(np.where(np.isfinite(values), values, np.nan), axis=0)
        self.feature_medians_ = [float(m) if np.isfinite(m) else 0.0 for m in med]
        self._fit(frame)
        self.is_fitted_ = True
        return self

    def score(self, frame: pd.DataFrame) -> pd.Series:
        """One finite score per row of ``frame``, aligned to its index (higher = more anomalous)."""
        self._check_scorable(frame)
        if len(frame) == 0:
            return pd.Series([], index=frame.index, dtype="float64", name=SCORE_NAME)
        raw = np.asarray(self._score(frame), dtype=float).reshape(-1)
        if raw.shape[0] != len(frame):
            raise AssertionError(f"{type(self).__name__}._score returned {raw.shape[0]} scores for {len(frame)} rows")
        raw = np.nan_to_num(raw, nan=0.0, posinf=1e12, neginf=-1e12)
        return pd.Series(raw, index=frame.index, dtype="float64", name=SCORE_NAME)

    def feature_scores(self, frame: pd.DataFrame) -> pd.DataFrame | None:
        """Per-feature scores (rows x features) if the method has them natively, else None.

        Post-rules use them for contributions; other detectors get contributions
        by replacing one feature at a time with its training median.
        """
        self._check_scorable(frame)
        if len(frame) == 0:
            return pd.DataFrame([], index=frame.index, columns=self.feature_columns_, dtype="float64")
        out = self._feature_scores(frame)
        if out is None:
            return None
        return pd.DataFrame(np.asarray(out, dtype=float), index=frame.index, columns=self.feature_columns_)

    @property
    def lookback(self) -> int:
        """Points of earlier history a group's score at ``t`` depends on (0: the row alone).

        A scheduled run that reads ``lookback`` extra buckets before its window and keeps
        the scores inside the window gets the scores of a run over the whole series.
        Detectors with unbounded memory (e.g. EWMA) give the span after which the
        influence of older points is negligible.
        """
        return 0

    def default_post_rules(self) -> list[dict[str, Any]]:
        """Post-rules (``{"name": ..., **params}``) a chain built for this detector starts with.

        They act on the raw scores, before ``calibrate`` and ``threshold``
        (:meth:`admon.detectors.postrules.PostRuleChain.for_detector`); the detector's
        own ``score`` never applies them. None by default.
        """
        return []

    def get_config(self) -> dict[str, Any]:
        """``{"name": ..., **params}``: JSON-able and accepted by :func:`admon.detectors.from_config`."""
        return {"name": self.name, **self.config.model_dump(mode="json")}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.config.model_dump().items())
        return f"{type(self).__name__}({params})"

    # ---------------------------------------------------------------- save / load
    def save(self, directory: str | Path) -> Path:
        """Write config and fitted state to ``directory`` in safe formats; return it."""
        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state, arrays, sk_models = {}, {}, {}
        for attr, value in self._state().items():
            if isinstance(value, np.ndarray):
                if value.dtype == object:
                    raise TypeError(f"{attr}: object arrays are not saved (unsafe); use a JSON list")
                arrays[attr] = value
            elif _is_sklearn(value):
                sk_models[attr] = value
            else:
                state[attr] = value
        for attr, est in sk_models.items():
            import skops.io as sio

            sio.dump(est, directory / f"{attr}.skops")
        if arrays:
            np.savez(directory / STATE_NPZ, **arrays)
        doc = {
            "format_version": FORMAT_VERSION,
            "config": self.get_config(),
            "state": state,
            "arrays": sorted(arrays),
            "sklearn": sorted(sk_models),
        }
        (directory / STATE_JSON).write_text(json.dumps(doc, indent=1, sort_keys=True))
        self._save_extra(directory)
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> Detector:
        """Rebuild a fitted detector saved by :meth:`save` (any registered class).

        Called on the base class it dispatches on the saved name; called on a
        subclass it checks that the saved detector is of that class.
        """
        directory = Path(directory)
        path = directory / STATE_JSON
        if not path.is_file():
            raise DataError(f"{directory} holds no saved detector ({STATE_JSON} is missing)")
        doc = json.loads(path.read_text())
        params = dict(doc["config"])
        name = params.pop("name")
        klass = DETECTORS.get(name)
        try:
            det = klass(**params)
        except ConfigError:
            if name not in SUPERSEDED:
                raise
            # saved before the name passed to a new detector: its parameters are the old one's
            klass = DETECTORS.get(SUPERSEDED[name])
            det = klass(**params)
        if cls is not Detector and not issubclass(klass, cls):
            raise DataError(f"{directory} holds a {name!r} detector, not a {cls.__name__}")
        state: dict[str, Any] = dict(doc["state"])
        if doc.get("arrays"):
            with np.load(directory / STATE_NPZ, allow_pickle=False) as npz:
                for attr in doc["arrays"]:
                    state[attr] = npz[attr]
        for attr in doc.get("sklearn", []):
            state[attr] = _load_skops(directory / f"{attr}.skops")
        det._set_state(state)
        det._load_extra(directory)
        det.is_fitted_ = True
        return det

    # ---------------------------------------------------------------- hooks
    @abc.abstractmethod
    def _fit(self, frame: pd.DataFrame) -> None:
        """Learn fitted state (attributes ending in ``_``) from a validated frame."""

    @abc.abstractmethod
    def _score(self, frame: pd.DataFrame) -> np.ndarray:
        """Raw scores, one per row of ``frame`` in its order."""

    def _feature_scores(self, frame: pd.DataFrame) -> np.ndarray | None:
        return None

    def _state(self) -> dict[str, Any]:
        """Fitted state to save: by default every attribute ending in ``_``.

        Values may be JSON-able objects, numeric numpy arrays or scikit-learn
        estimators. Override (with :meth:`_set_state`) for anything else.
        """
        return {k: v for k, v in vars(self).items() if k.endswith("_") and not k.startswith("_")}

    def _set_state(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            # saved state only ever names fitted attributes: never methods or private names
            if not (k.endswith("_") and k[0].isalpha() and k.isidentifier()):
                raise DataError(f"saved state names attribute {k!r}, which is not fitted state; refusing to load")
            setattr(self, k, v)

    def _save_extra(self, directory: Path) -> None:
        """Write extra artifacts (e.g. safetensors weights)."""

    def _load_extra(self, directory: Path) -> None:
        """Read what :meth:`_save_extra` wrote."""

    # ---------------------------------------------------------------- helpers
    def _check_fitted(self) -> None:
        if not getattr(self, "is_fitted_", False):
            raise NotFittedError(
                f"{self.name or type(self).__name__} is not fitted yet; call fit(frame) before "
                "score(frame), or load a trained model"
            )

    def _check_scorable(self, frame: Any) -> None:
        self._check_fitted()
        self._check_frame(frame)
        missing = [c for c in [*self.feature_columns_, *self.group_columns_] if c not in frame.columns]
        if missing:
            raise DataError(
                f"{self.name or type(self).__name__}: frame lacks column(s) {missing} seen at fit; "
                f"it has {list(frame.columns)}"
            )

    def _check_frame(self, frame: Any) -> None:
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"expected a pandas DataFrame, got {type(frame).__name__}")
        if TIMESTAMP in frame.columns and not pd.api.types.is_integer_dtype(frame[TIMESTAMP]):
            raise DataError(
                f"column 'timestamp' must hold int64 epoch ms, got dtype {frame[TIMESTAMP].dtype}"
            )

    def _resolve_groups(self, frame: pd.DataFrame) -> list[str]:
        if self.config.group_by is not None:
            missing = [c for c in self.config.group_by if c not in frame.columns]
            if missing:
                raise DataError(f"group_by column(s) {missing} not in frame columns {list(frame.columns)}")
            return list(self.config.group_by)
        return default_group_columns(frame)

    def _resolve_features(self, frame: pd.DataFrame, groups: list[str]) -> list[str]:
        if self.config.features is not None:
            missing = [c for c in self.config.features if c not in frame.columns]
            if missing:
                raise DataError(f"feature column(s) {missing} not in frame columns {list(frame.columns)}")
            return list(self.config.features)
        feats = [
            c for c in frame.columns
            if c != TIMESTAMP and c not in groups
            and pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
        ]
        if not feats:
            raise DataError(
                f"frame has no numeric value column besides timestamp and groups {groups}; "
                f"columns: {list(frame.columns)}"
            )
        return feats

    def _values(self, frame: pd.DataFrame) -> np.ndarray:
        """The feature matrix (rows x features) as float64, NaN for missing."""
        return frame[self.feature_columns_].to_numpy(dtype=float, na_value=np.nan)

    def _filled_values(self, frame: pd.DataFrame) -> np.ndarray:
        """The feature matrix with missing values replaced by the training medians."""
        x = self._values(frame)
        bad = ~np.isfinite(x)
        if bad.any():
            x = np.where(bad, np.asarray(self.feature_medians_)[None, :], x)
        return x

    def _iter_groups(self, frame: pd.DataFrame) -> Iterator[tuple[tuple, np.ndarray]]:
        """``(group key, row positions ordered by timestamp)`` for every group of ``frame``.

        Univariate/time-series detectors score each group on its own series.
        """
        return group_positions(frame, self.group_columns_)


def group_positions(frame: pd.DataFrame, group_columns: list[str]) -> Iterator[tuple[tuple, np.ndarray]]:
    """``(group key, row positions ordered by timestamp)`` for every group of ``frame``.

    Groups come sorted by key (missing keys as None); rows without a ``timestamp``
    column keep their order.

    >>> f = pd.DataFrame({"host": ["b", "a", "b"], "timestamp": [600, 0, 0]})
    >>> [(key, pos.tolist()) for key, pos in group_positions(f, ["host"])]
    [(('a',), [1]), (('b',), [2, 0])]
    """
    n = len(frame)
    if not group_columns:
        pos = np.arange(n)
        if TIMESTAMP in frame.columns:
            pos = pos[np.argsort(frame[TIMESTAMP].to_numpy(), kind="stable")]
        yield (), pos
        return
    grouped = frame.groupby(group_columns, sort=True, dropna=False, observed=True)
    codes = grouped.ngroup().to_numpy()
    ts = frame[TIMESTAMP].to_numpy() if TIMESTAMP in frame.columns else np.arange(n)
    order = np.lexsort((ts, codes))
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    for chunk in np.split(order, bounds):
        key = tuple(frame[c].iat[chunk[0]] for c in group_columns)
        yield tuple(None if pd.isna(k) else k for k in key), chunk


def default_group_columns(frame: pd.DataFrame) -> list[str]:
    """The group columns of a frame when nothing names them: every non-numeric column but ``timestamp``.

    >>> default_group_columns(pd.DataFrame({"host": ["a"], "timestamp": [0], "v": [1.0]}))
    ['host']
    """
    return [
        c for c in frame.columns
        if c != TIMESTAMP
        and (not pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c]))
    ]


#: The one name -> detector class registry (:mod:`admon.detectors` is its public face).
#: Its built-in modules are cheap to import: heavy libraries load inside fit/score.
#: Names that passed to a new detector -> the name the old one is kept under. A model saved
#: under the name with the old detector's parameters loads with the old detector.
SUPERSEDED: dict[str, str] = {"default": "default_v1"}

DETECTORS: Registry[type[Detector]] = Registry(
    "detector",
    "admon.detectors",
    base=Detector,
    builtin_modules=(
        "admon.detectors.statistical",
        "admon.detectors.sklearn_based",
        "admon.detectors.deep",
        "admon.detectors.ensemble",
        "admon.detectors.streaming",
        "admon.detectors.foundation",
        "admon.detectors.events",
        "admon.detectors.population",
    ),
)


def _is_sklearn(value: Any) -> bool:
    return hasattr(value, "get_params") and hasattr(value, "fit") and type(value).__module__.split(".")[0] in {"sklearn", "pyod"}


def _load_skops(path: Path) -> Any:
    import skops.io as sio

    untrusted = sio.get_untrusted_types(file=path)
    refused = [t for t in untrusted if t not in SKOPS_TRUSTED_TYPES]
    if refused:
        raise DataError(f"{path.name} contains types outside the allow-list: {refused}; refusing to load")
    return sio.load(path, trusted=untrusted)
