"""Inference: load the entity's model and turn a window's frame into per-group results.

The entity's ``inference_model``/``inference_namespace`` are read into one model reference
(:func:`admon.models.reference.parse_model_ref`: a model of the model store, a remote v2
model, or the built-in fallback) and loaded as one :class:`~admon.models.scoring.Scorer`
(:func:`admon.models.reference.load_scorer`), only if its content hash matches what the
registry recorded for the entity (see :meth:`admon.runs.runner.Runner.model_for`).

**Fallback when no trained model exists.** If the store holds no version of
that model, the run still works: a built-in ``robust_zscore`` detector is fitted
on the window itself and its scores are calibrated on the same window
(:class:`~admon.models.reference.FallbackScorer`, threshold 75). Its model id is
``builtin:robust_zscore`` and its content hash the hash of its config, both
recorded in the run's provenance, so such results are never mistaken for those
of a trained model. Train and publish a model to replace it.

>>> import pandas as pd, numpy as np
>>> from admon.models.reference import FallbackScorer
>>> frame = pd.DataFrame({"host": ["h1"] * 12 + ["h2"] * 12,
...                       "timestamp": np.tile(np.arange(12, dtype="int64") * 300_000, 2),
...                       "v": np.r_[np.ones(11), 50.0, np.arange(12.0)]})
>>> res = score_window(FallbackScorer(), frame, ["host"])
>>> list(res.columns)
['host', 'anomaly_score', 'is_anomaly', 'threshold', 'severity', 'top_features', 'peak_timestamp', 'rows']
>>> int(res.set_index("host").loc["h1", "peak_timestamp"])
3300000
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd

from admon.detectors.postrules import severity
from admon.models.reference import load_scorer, parse_model_ref
from admon.models.scoring import Scorer
from admon.models.store import ModelStore


def load_model(namespace: str, name: str, *, store: ModelStore | str | None = None,
               version: str | None = None, expected_sha256: str | None = None) -> Scorer:
    """The model an entity names (``inference_namespace``, ``inference_model``), ready to score.

    The production (or given) version of a stored model, the remote v2 model a URL names, or
    the fallback (named, or for a model the store does not hold). A model whose content hash
    is not ``expected_sha256`` (what the registry recorded for the entity) raises
    :class:`~admon.errors.IntegrityError`: a tampered or swapped model is an error, never
    silently replaced by the fallback. So is a recorded model that is no longer stored.
    """
    return load_scorer(parse_model_ref(namespace, name, version=version), store=store,
                       expected_sha256=expected_sha256)


def context_ms(model: Scorer, agg_interval_ms: int, max_buckets: int) -> int:
    """How much history before a window a run reads: the model's lookback (capped), in ms.

    Rolling and streaming detectors (and post-rules such as ``suppress``) score a point from
    the points before it; a run that reads them scores its window as a run over the whole
    series would.
    """
    return min(max(model.lookback, 0), max_buckets) * agg_interval_ms


def score_with_context(model: Scorer, frame: pd.DataFrame, window_start_ms: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score ``frame`` (window plus its context) and keep the rows of the window.

    Returns the window's rows and their scores (the rows of ``model.score``), both re-indexed from 0.
    The one path of scheduled runs and of ``admon reproduce``.
    """
    frame = frame.reset_index(drop=True)
    if frame.empty:
        return frame, pd.DataFrame(columns=["raw_score", "anomaly_score", "threshold", "top_features"])
    scored = model.score(frame).rows
    keep = (frame["timestamp"] >= window_start_ms).to_numpy()
    return frame[keep].reset_index(drop=True), scored[keep].reset_index(drop=True)


def summarize(frame: pd.DataFrame, scored: pd.DataFrame, group_by: list[str]) -> pd.DataFrame:
    """One row per group: the peak anomaly score of the window, its bucket, label and features."""
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
    out["severity"] = [severity(v, t) if ok else None for v, t, ok in zip(peak_scores, thresholds, finite)]
    out["top_features"] = [list(tops[int(i)]) if ok else [] for i, ok in zip(peaks["_order"], finite)]
    out["peak_timestamp"] = [int(t) if ok else None for t, ok in zip(peaks["timestamp"], finite)]
    out["rows"] = sizes.astype(int)
    return out[columns]


def score_window(model: Scorer, frame: pd.DataFrame, group_by: list[str]) -> pd.DataFrame:
    """``model.score`` then :func:`summarize`: one result row per group."""
    frame = frame.reset_index(drop=True)
    return summarize(frame, model.score(frame).rows, group_by)


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
