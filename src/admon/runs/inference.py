"""Inference: load the entity's model and turn a window's frame into per-group results.

The model is ``inference_model`` in ``inference_namespace`` of the model store
(:mod:`admon.models`), loaded only if its content hash matches its manifest and the
hash the registry recorded for the entity (see :meth:`admon.runs.runner.Runner.model_for`).

**Fallback when no trained model exists.** If the store holds no version of
that model, the run still works: a built-in ``robust_zscore`` detector is fitted
on the window itself and its scores are calibrated on the same window
(:class:`~admon.detectors.postrules.PostRules`, threshold 75). Its model id is
``builtin:robust_zscore`` and its content hash the hash of its config, both
recorded in the run's provenance, so such results are never mistaken for those
of a trained model. Train and publish a model to replace it.

>>> import pandas as pd, numpy as np
>>> frame = pd.DataFrame({"host": ["h1"] * 12 + ["h2"] * 12,
...                       "timestamp": np.tile(np.arange(12, dtype="int64") * 300_000, 2),
...                       "v": np.r_[np.ones(11), 50.0, np.arange(12.0)]})
>>> model = fallback_model()
>>> res = score_window(model, frame, ["host"])
>>> list(res.columns)
['host', 'anomaly_score', 'is_anomaly', 'threshold', 'severity', 'top_features', 'peak_timestamp', 'rows']
>>> int(res.set_index("host").loc["h1", "peak_timestamp"])
3300000
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

import numpy as np
import pandas as pd

from admon.errors import NotFoundError

FALLBACK_DETECTOR = "robust_zscore"
FALLBACK_ID = f"builtin:{FALLBACK_DETECTOR}"


@dataclasses.dataclass
class LoadedModel:
    """A detector ready to score, with its identity for provenance."""

    model_id: str
    content_hash: str
    detector: Any
    post_rules: Any = None
    #: True for the fallback: fit on each window before scoring it.
    fit_on_window: bool = False
    config: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: The model store's ``TrainedModel``; its ``predict`` is the one inference path of stored models.
    trained: Any = None


def fallback_model() -> LoadedModel:
    """The documented fallback: robust z-score fitted (and calibrated) on the window itself."""
    import admon.detectors as detectors

    detector = detectors.create(FALLBACK_DETECTOR)
    config = detectors.to_config(detector)
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()
    return LoadedModel(FALLBACK_ID, digest, detector, None, fit_on_window=True, config=config)


def load_model(namespace: str, name: str, *, store: str | None = None,
               version: str | None = None, expected_sha256: str | None = None) -> LoadedModel:
    """The production (or given) version of ``namespace/name`` from the model store, else the fallback.

    A model that exists but fails its hash check, or whose content hash is not
    ``expected_sha256`` (what the registry recorded for the entity), raises
    :class:`~admon.errors.IntegrityError`: a tampered or swapped model is an error, never
    silently replaced by the fallback. So is a recorded model that is no longer stored.
    """
    loader = _store_loader()
    if loader is None:
        if expected_sha256 is not None:
            raise NotFoundError(f"the model store is not installed; cannot load {namespace}/{name}")
        return fallback_model()
    try:
        return loader(namespace, name, store=store, version=version, expected_sha256=expected_sha256)
    except NotFoundError as exc:
        if expected_sha256 is not None:
            raise NotFoundError(
                f"the registry recorded content sha256 {expected_sha256} for model {namespace}/{name}, "
                f"but the store has no such model ({exc}); restore it or re-train it (`admon train`)"
            ) from exc
        return fallback_model()


def _store_loader():
    """The model store's loader (``admon.models.store``), if that module is installed."""
    try:
        from admon.models import store as model_store  # noqa: F401
    except ImportError:
        return None
    return _load_from_store


def _load_from_store(namespace: str, name: str, *, store: str | None, version: str | None,
                     expected_sha256: str | None = None) -> LoadedModel:
    from admon.models import store as model_store

    # production version, else the newest; every artifact hash (and the registry's record of the
    # content hash, if given) is checked before loading
    trained = model_store.load(namespace, name, version, root=store, expected_sha256=expected_sha256)
    return LoadedModel(
        model_id=trained.model_id,
        content_hash=trained.content_hash,
        detector=trained.detector,
        post_rules=trained.post_rules,
        fit_on_window=False,
        config=trained.config,
        trained=trained,
    )


def score_frame(model: LoadedModel, frame: pd.DataFrame) -> pd.DataFrame:
    """Per-row ``raw_score``, ``anomaly_score`` (0-100), ``is_anomaly``, ``threshold``, ``severity``."""
    from admon.detectors.postrules import PostRules

    detector = model.detector
    if model.fit_on_window:
        detector = detector.fit(frame)
    raw = detector.score(frame)
    rules = model.post_rules
    if rules is None:
        rules = PostRules(threshold=75.0).fit(raw.dropna())
    return rules.apply(raw)


def score_rows(model: LoadedModel, frame: pd.DataFrame) -> pd.DataFrame:
    """Per row of ``frame`` (same index): scores, label and the top contributing features."""
    from admon.detectors.postrules import contributions, top_features

    if model.trained is not None and model.trained.post_rules is not None:
        return model.trained.predict(frame, top=3)

    scored = score_frame(model, frame)
    try:
        scored["top_features"] = top_features(contributions(model.detector, frame), top=3)
    except Exception:  # a detector without per-feature attribution: no feature list
        scored["top_features"] = [[] for _ in range(len(frame))]
    return scored


def context_ms(model: LoadedModel, agg_interval_ms: int, max_buckets: int) -> int:
    """How much history before a window a run reads: the detector's lookback (capped), in ms.

    Rolling and streaming detectors score a point from the points before it; a run that
    reads them scores its window as a run over the whole series would.
    """
    buckets = min(max(int(getattr(model.detector, "lookback", 0) or 0), 0), max_buckets)
    return buckets * agg_interval_ms


def score_with_context(model: LoadedModel, frame: pd.DataFrame, window_start_ms: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score ``frame`` (window plus its context) and keep the rows of the window.

    Returns the window's rows and their scores (:func:`score_rows`), both re-indexed from 0.
    The one path of scheduled runs and of ``admon reproduce``.
    """
    frame = frame.reset_index(drop=True)
    if frame.empty:
        return frame, pd.DataFrame(columns=["raw_score", "anomaly_score", "threshold", "top_features"])
    scored = score_rows(model, frame)
    keep = (frame["timestamp"] >= window_start_ms).to_numpy()
    return frame[keep].reset_index(drop=True), scored[keep].reset_index(drop=True)


def summarize(frame: pd.DataFrame, scored: pd.DataFrame, group_by: list[str]) -> pd.DataFrame:
    """One row per group: the peak anomaly score of the window, its bucket, label and features."""
    from admon.detectors.postrules import severity

    columns = [*group_by, "anomaly_score", "is_anomaly", "threshold", "severity", "top_features",
               "peak_timestamp", "rows"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    work = frame[list(group_by) + ["timestamp"]].reset_index(drop=True).copy()
    score = scored["anomaly_score"].to_numpy(dtype=float)
    work["_score"] = np.where(np.isfinite(score), score, -np.inf)
    work["_threshold"] = scored["threshold"].to_numpy(dtype=float)
    work["_order"] = np.arange(len(work))
    tops = list(scored["top_features"])
    if group_by:
        # the first row with the highest score of each group (stable: earliest bucket wins ties)
        ranked = work.sort_values([*group_by, "_score", "_order"], ascending=[True] * len(group_by) + [False, True],
                                  kind="stable")
        peaks = ranked.drop_duplicates(list(group_by), keep="first")
        counts = work.groupby(list(group_by), sort=False, dropna=False).size()
        sizes = counts.reindex(pd.MultiIndex.from_frame(peaks[list(group_by)])
                               if len(group_by) > 1 else peaks[group_by[0]]).to_numpy()
    else:
        peaks = work.sort_values(["_score", "_order"], ascending=[False, True], kind="stable").head(1)
        sizes = np.array([len(work)])
    out = peaks[list(group_by)].reset_index(drop=True).copy()
    peak_scores = peaks["_score"].to_numpy()
    finite = np.isfinite(peak_scores)
    thresholds = peaks["_threshold"].to_numpy()
    out["anomaly_score"] = [float(v) if ok else None for v, ok in zip(peak_scores, finite)]
    out["is_anomaly"] = finite & (peak_scores >= thresholds)
    out["threshold"] = thresholds
    out["severity"] = [severity(v) if ok else None for v, ok in zip(peak_scores, finite)]
    out["top_features"] = [list(tops[int(i)]) if ok else [] for i, ok in zip(peaks["_order"], finite)]
    out["peak_timestamp"] = [int(t) if ok else None for t, ok in zip(peaks["timestamp"], finite)]
    out["rows"] = sizes.astype(int)
    return out[columns]


def score_window(model: LoadedModel, frame: pd.DataFrame, group_by: list[str]) -> pd.DataFrame:
    """:func:`score_rows` then :func:`summarize`: one result row per group."""
    frame = frame.reset_index(drop=True)
    return summarize(frame, score_rows(model, frame), group_by)


def scores_hash(frame: pd.DataFrame, group_by: list[str], raw_scores: pd.Series) -> str:
    """sha256 of every (group, timestamp, raw score) of a window: what ``reproduce`` compares."""
    rows = []
    values = raw_scores.to_numpy(dtype=float)
    keys = frame[list(group_by) + ["timestamp"]].astype(str).to_numpy().tolist()
    for key, value in zip(keys, values):
        rows.append([*key, None if not np.isfinite(value) else float(repr_float(value))])
    rows.sort(key=lambda r: [str(x) for x in r[:-1]])
    return hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()


def repr_float(value: float) -> str:
    """A float rounded to 12 significant digits (platform noise below that is ignored)."""
    return f"{value:.12g}"
