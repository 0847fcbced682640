"""Point, event and range metrics for anomaly detection, besides the NAB score.

Labels and predictions are 0/1 arrays over the rows of one series; events
(ranges) are inclusive row-index pairs ``(first, last)``.

* :func:`event_f1` -- event-level precision/recall/F1 with overlap matching, as
  the Orion benchmark counts it (``contextual_confusion_matrix`` with
  ``_overlap_segment``): a labelled event is a true positive if any detected
  event overlaps it (else a false negative); a detected event overlapping no
  labelled one is a false positive.
* :func:`point_adjusted_f1` -- point-wise F1 after "point adjustment" (Xu et al.
  2018): if any row of a labelled event is detected, the whole event counts as
  detected.
* :func:`range_precision_recall` -- range-based precision and recall of Tatbul
  et al., "Precision and Recall for Time Series" (NeurIPS 2018), with the
  existence weight ``alpha``, cardinality factor and positional bias.
* :func:`auc_pr` -- area under the point-wise precision-recall curve (average
  precision: the sum over recall steps of precision at that step).

>>> lab = [0, 1, 1, 1, 0, 0, 0, 0, 1, 1]
>>> pred = [0, 0, 1, 0, 0, 1, 0, 0, 0, 0]
>>> event_f1(lab, pred)
PRF(precision=0.5, recall=0.5, f1=0.5)
>>> [round(v, 4) for v in point_adjusted_f1(lab, pred)]
[0.75, 0.6, 0.6667]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

import numpy as np

from admon.errors import ConfigError


class PRF(NamedTuple):
    precision: float
    recall: float
    f1: float


def _f1(p: float, r: float) -> float:
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def _binary(x: Sequence | np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ConfigError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr.astype(bool)


def to_events(mask: Sequence | np.ndarray) -> list[tuple[int, int]]:
    """Runs of consecutive 1s as inclusive ``(first, last)`` row ranges.

    >>> to_events([0, 1, 1, 0, 1])
    [(1, 2), (4, 4)]
    """
    m = np.asarray(mask).astype(np.int8)
    if m.size == 0:
        return []
    d = np.diff(np.concatenate([[0], m, [0]]))
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1) - 1
    return [(int(a), int(b)) for a, b in zip(starts, ends)]


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def event_counts(
    expected: Sequence[tuple[int, int]], observed: Sequence[tuple[int, int]]
) -> tuple[int, int, int]:
    """``(tp, fp, fn)`` of Orion's overlap-segment matching.

    >>> event_counts([(0, 4), (10, 12)], [(3, 5), (4, 6), (20, 20)])
    (1, 1, 1)
    """
    tp = fn = 0
    matched = set()
    for e in expected:
        hit = [j for j, o in enumerate(observed) if _overlaps(e, o)]
        if hit:
            tp += 1
            matched.update(hit)
        else:
            fn += 1
    fp = len(observed) - len(matched)
    return tp, fp, fn


def event_f1(labels: Sequence | np.ndarray, predictions: Sequence | np.ndarray) -> PRF:
    """Event-level precision, recall and F1 (Orion's overlap matching) of one series."""
    return event_prf(*event_counts(to_events(_binary(labels, "labels")), to_events(_binary(predictions, "predictions"))))


def event_prf(tp: int, fp: int, fn: int) -> PRF:
    """Precision, recall and F1 from event counts (0 when undefined)."""
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return PRF(p, r, _f1(p, r))


def point_adjust(labels: Sequence | np.ndarray, predictions: Sequence | np.ndarray) -> np.ndarray:
    """Predictions with every labelled event that has one detection marked wholly detected.

    >>> point_adjust([0, 1, 1, 1, 0], [0, 0, 1, 0, 1]).astype(int).tolist()
    [0, 1, 1, 1, 1]
    """
    lab = _binary(labels, "labels")
    pred = _binary(predictions, "predictions").copy()
    if lab.shape != pred.shape:
        raise ConfigError(f"labels has {lab.shape[0]} rows, predictions {pred.shape[0]}")
    for a, b in to_events(lab):
        if pred[a : b + 1].any():
            pred[a : b + 1] = True
    return pred


def point_counts(labels: np.ndarray, predictions: np.ndarray) -> tuple[int, int, int]:
    lab, pred = np.asarray(labels, bool), np.asarray(predictions, bool)
    return int((lab & pred).sum()), int((~lab & pred).sum()), int((lab & ~pred).sum())


def point_adjusted_f1(labels: Sequence | np.ndarray, predictions: Sequence | np.ndarray) -> PRF:
    """Point-wise precision/recall/F1 after point adjustment."""
    lab = _binary(labels, "labels")
    return event_prf(*point_counts(lab, point_adjust(lab, predictions)))


Bias = Literal["flat", "front", "back", "middle"]
Cardinality = Literal["one", "reciprocal"]


def _delta(bias: Bias, i: int, length: int) -> float:
    """Positional weight of the i-th (1-based) row of a range of ``length`` rows."""
    if bias == "flat":
        return 1.0
    if bias == "front":
        return float(length - i + 1)
    if bias == "back":
        return float(i)
    if bias == "middle":
        return float(i) if i <= length / 2 else float(length - i + 1)
    raise ConfigError(f"positional bias {bias!r} is not one of flat, front, back, middle")


def _omega(rng: tuple[int, int], overlap: tuple[int, int], bias: Bias) -> float:
    length = rng[1] - rng[0] + 1
    total = sum(_delta(bias, i, length) for i in range(1, length + 1))
    got = sum(_delta(bias, k - rng[0] + 1, length) for k in range(overlap[0], overlap[1] + 1))
    return got / total


def _range_score(
    rng: tuple[int, int], others: Sequence[tuple[int, int]], alpha: float, bias: Bias, cardinality: Cardinality
) -> float:
    hits = [o for o in others if _overlaps(rng, o)]
    existence = 1.0 if hits else 0.0
    if not hits:
        return alpha * existence
    gamma = 1.0 if cardinality == "one" or len(hits) == 1 else 1.0 / len(hits)
    overlap = gamma * sum(_omega(rng, (max(rng[0], o[0]), min(rng[1], o[1])), bias) for o in hits)
    return alpha * existence + (1 - alpha) * overlap


def range_precision_recall(
    labels: Sequence | np.ndarray,
    predictions: Sequence | np.ndarray,
    alpha: float = 0.0,
    bias: Bias = "flat",
    cardinality: Cardinality = "reciprocal",
) -> PRF:
    """Range-based precision and recall (Tatbul et al. 2018) and their F1.

    Recall averages, over labelled ranges R, ``alpha * Existence + (1 - alpha) *
    gamma * sum_j omega(R, R & P_j)``; precision averages the same with
    ``alpha = 0`` over predicted ranges. ``gamma`` is 1 for a range overlapped by
    one other range, else ``1 / count`` (``cardinality="reciprocal"``) or 1
    (``"one"``). ``omega`` is the share of R's positional weight (``bias``) lying
    in the overlap.

    >>> range_precision_recall([0, 1, 1, 1, 1, 0], [0, 0, 1, 1, 0, 0])
    PRF(precision=1.0, recall=0.5, f1=0.6666666666666666)
    """
    if not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"alpha={alpha} must lie in [0, 1]")
    real = to_events(_binary(labels, "labels"))
    pred = to_events(_binary(predictions, "predictions"))
    recall = float(np.mean([_range_score(r, pred, alpha, bias, cardinality) for r in real])) if real else 0.0
    precision = float(np.mean([_range_score(p, real, 0.0, bias, cardinality) for p in pred])) if pred else 0.0
    return PRF(precision, recall, _f1(precision, recall))


def range_sums(
    labels: np.ndarray, predictions: np.ndarray, alpha: float = 0.0
) -> tuple[float, int, float, int]:
    """``(sum of range recalls, #labelled ranges, sum of range precisions, #predicted ranges)``.

    For pooling range-based precision/recall over the files of a corpus.
    """
    real = to_events(_binary(labels, "labels"))
    pred = to_events(_binary(predictions, "predictions"))
    rs = sum(_range_score(r, pred, alpha, "flat", "reciprocal") for r in real)
    ps = sum(_range_score(p, real, 0.0, "flat", "reciprocal") for p in pred)
    return float(rs), len(real), float(ps), len(pred)


def auc_pr(labels: Sequence | np.ndarray, scores: Sequence | np.ndarray) -> float:
    """Area under the point-wise precision-recall curve, as average precision.

    ``sum_k (R_k - R_{k-1}) * P_k`` over the distinct score thresholds, highest
    first (tied scores enter together). 0 when there is no positive label.

    >>> auc_pr([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1])
    0.8333333333333333
    """
    lab = _binary(labels, "labels")
    s = np.asarray(scores, dtype=float)
    if s.shape != lab.shape:
        raise ConfigError(f"labels has {lab.shape[0]} rows, scores {s.shape[0]}")
    n_pos = int(lab.sum())
    if n_pos == 0:
        return 0.0
    s = np.nan_to_num(s, nan=-np.inf)
    order = np.argsort(-s, kind="stable")
    s, lab = s[order], lab[order]
    tp = np.cumsum(lab)
    fp = np.cumsum(~lab)
    last = np.flatnonzero(np.append(s[1:] != s[:-1], True))
    tp, fp = tp[last], fp[last]
    precision = tp / (tp + fp)
    recall = tp / n_pos
    prev = np.concatenate([[0.0], recall[:-1]])
    return float(np.sum((recall - prev) * precision))
