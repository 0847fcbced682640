"""The one scorer protocol every model reference resolves to, and the scoring they share.

A model stored in the model store (:class:`~admon.models.store.TrainedModel`), a model
served elsewhere over the Open Inference Protocol (:class:`~admon.models.oip.RemoteScorer`)
and the built-in fallback (:class:`~admon.models.reference.FallbackScorer`) are all a
:class:`Scorer`: ``score(frame)`` gives :class:`Scores`, and each says which content it
is (``model_id``, ``content_hash``, ``version``) and how much history a score depends on
(``lookback``). :func:`admon.models.reference.load_scorer` builds one from a model reference.

:func:`score_with_detector` is the one inference computation of a local model: raw scores,
then the post-rule chain, then each feature's share of the score. ``top_features`` is computed
per group and per row (so per window once a run keeps its peak row): a normal row names no
feature; an anomalous row names its top feature and every other feature that would be
anomalous on its own (:func:`~admon.detectors.postrules.significant_parts`), largest first.

>>> import numpy as np, pandas as pd
>>> from admon.detectors import create
>>> frame = pd.DataFrame({"host": "h", "timestamp": np.arange(48, dtype="int64") * 300_000,
...                       "v": np.sin(np.arange(48.0))})
>>> scores = score_with_detector(create("robust_zscore").fit(frame), None, frame)
>>> list(scores.rows.columns)
['raw_score', 'anomaly_score', 'severity', 'is_anomaly', 'threshold', 'top_features']
>>> list(scores.contributions.columns), len(scores.contributions) == len(frame)
(['v'], True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd

from admon.detectors.base import Detector
from admon.detectors.postrules import (
    DEFAULT_THRESHOLD,
    PostRuleChain,
    feature_parts,
    shares_of,
    significant_parts,
    top_features,
)
from admon.models.transforms import apply_transforms

#: How many contributing features a result names.
TOP_FEATURES = 3
#: The per-row columns of :attr:`Scores.rows` with the standard chain, in order (a chain's
#: rules decide what it adds: ``severity`` comes from ``calibrate``, ``is_anomaly`` and
#: ``threshold`` from ``threshold``).
SCORE_COLUMNS = ("raw_score", "anomaly_score", "severity", "is_anomaly", "threshold", "top_features")


@dataclass(frozen=True)
class Scores:
    """What a model says of a frame, aligned to the frame's index.

    ``rows``: :data:`SCORE_COLUMNS` per row (``raw_score`` the detector's, ``anomaly_score``
    after the post-rules, 0-100 once calibrated; ``severity`` None on normal rows;
    ``top_features`` the names of the features that drove an anomalous row's score, largest
    share first, and none on a normal row). ``contributions``: each feature's share
    (0..1, summing to 1 per row) of a row's score, rows x features; None when the model
    does not give them (a remote server that sends no ``contributions`` tensor).
    """

    rows: pd.DataFrame
    contributions: pd.DataFrame | None


class Scorer(Protocol):
    """A model ready to score a frame, whatever it was loaded from.

    ``model_id`` and ``content_hash`` identify the content (recorded in every run's
    provenance); ``version`` is the stored or served version (None for the fallback);
    ``lookback`` is how many earlier points of a group a score depends on, through the
    detector and its post-rules (a run reads that much history before its window);
    ``fit_on_window`` is True when the model learns from the frame it scores (the
    fallback); ``config`` is the detector's ``{"name": ..., **params}``.
    """

    @property
    def model_id(self) -> str: ...

    @property
    def content_hash(self) -> str: ...

    @property
    def version(self) -> str | None: ...

    @property
    def lookback(self) -> int: ...

    @property
    def fit_on_window(self) -> bool: ...

    @property
    def config(self) -> dict[str, Any]: ...

    def score(self, frame: pd.DataFrame, *, top: int = TOP_FEATURES) -> Scores:
        """:class:`Scores` of every row of ``frame``."""
        ...


def window_post_rules(detector: Detector, raw: pd.Series, frame: pd.DataFrame) -> PostRuleChain:
    """The chain of a model that has none stored: the detector's chain, fitted on ``raw``
    (the scores of ``frame`` itself). What the fallback uses, calibrated on its window."""
    chain = PostRuleChain.for_detector(detector, threshold=DEFAULT_THRESHOLD)
    return chain.fit(raw, frame, group_by=detector.group_columns_)


def score_with_detector(detector: Detector, post_rules: PostRuleChain | None, frame: pd.DataFrame, *,
                        transforms: Sequence[dict[str, Any]] = (), top: int = TOP_FEATURES) -> Scores:
    """Score ``frame`` with a fitted ``detector`` and its ``post_rules``.

    ``transforms`` (the model's, applied before the detector) shape the frame the detector
    and the contributions see; the results stay aligned to ``frame``. Without post-rules
    the detector's chain is fitted on the frame's own scores (:func:`window_post_rules`).
    """
    prepared = apply_transforms(frame, transforms) if transforms else frame
    return finish_scores(detector, post_rules, frame, prepared, detector.score(prepared), top=top)


def finish_scores(detector: Detector, post_rules: PostRuleChain | None, frame: pd.DataFrame,
                  prepared: pd.DataFrame, raw: pd.Series, *, parts: pd.DataFrame | None = None,
                  top: int = TOP_FEATURES) -> Scores:
    """The rest of :func:`score_with_detector` once the detector's ``raw`` scores of ``prepared``
    are known: the chain, then each feature's share. ``parts`` are the detector's own per-feature
    scores when the caller has them (a run that carried the detector's state), else they are
    computed (:func:`~admon.detectors.postrules.feature_parts`)."""
    rules = post_rules if post_rules is not None else window_post_rules(detector, raw, prepared)
    rows = rules.apply(raw, prepared, group_by=detector.group_columns_)
    if len(prepared):
        if parts is not None:
            native = True
            parts = parts.clip(lower=0.0).fillna(0.0)
        else:
            parts, native = feature_parts(detector, prepared)
        shares = shares_of(parts)
        anomalous = rows["is_anomaly"].to_numpy(dtype=bool) if "is_anomaly" in rows else None
        rows["top_features"] = top_features(parts, top=top, anomalous=anomalous,
                                            significant=significant_parts(parts, native, rules, rows["raw_score"]))
        if "missing_features" in rows:
            # a row in a gap names the columns that stopped: the detector scored filled-in values there
            rows["top_features"] = [list(gone)[:top] if gone else named
                                    for gone, named in zip(rows.pop("missing_features"), rows["top_features"])]
    else:
        shares = pd.DataFrame([], index=prepared.index, columns=list(detector.feature_columns_), dtype="float64")
        rows["top_features"] = pd.Series([], index=prepared.index, dtype=object)
        rows.pop("missing_features", None)
    rows.index = frame.index
    shares.index = frame.index
    return Scores(rows=rows, contributions=shares)
