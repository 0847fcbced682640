"""The NAB score, as the Numenta Anomaly Benchmark (v1.1) defines and computes it.

References: Lavin & Ahmad 2015, "Evaluating Real-time Anomaly Detection
Algorithms -- the Numenta Anomaly Benchmark" (arXiv:1510.03336) and NAB's scorer
(``nab/sweeper.py``, ``nab/optimizer.py``, ``nab/scorer.py``, ``nab/runner.py``).
This is an independent, vectorised implementation of the same rules:

* **Probationary period.** The first ``min(floor(0.15 * n), 0.15 * 5000)`` rows
  of each file are not scored (no window and no false positive counts there; a
  window lying wholly inside it disappears).
* **Per-row weights.** A row inside window ``[l, r]`` (row indices, width
  ``w = r - l + 1``) is worth ``A_tp * S(-(r - i + 1) / w) / S(-1)`` if it is
  the window's earliest detection; a row outside every window is worth
  ``A_fp * S((i - r_prev) / (w_prev - 1))`` measured from the end of the
  preceding window, or ``-A_fp`` if no window precedes it. ``S`` is the scaled
  sigmoid ``2 / (1 + exp(5 x)) - 1`` (and ``-1`` for ``x > 3``).
* **Raw score at a threshold.** Rows whose anomaly score is ``>= threshold``
  are detections. Score = sum of the weights of detections outside windows +
  for each window: the largest weight among its detections (= its earliest
  one), or ``-A_fn`` if it has none. (NAB's "score parts": one part per window,
  one for all false positives.)
* **Threshold optimisation.** One threshold per detector and profile for the
  whole corpus: every distinct anomaly score is a candidate (plus 1.1 = detect
  nothing); the first candidate, from the highest threshold down, reaching the
  maximum raw score wins.
* **Normalisation.** ``100 * (raw - null) / (perfect - null)``, ``null`` the
  optimised raw score of a constant detector (every window missed), ``perfect``
  ``A_tp`` times the number of labelled windows.
* **Profiles.** standard (A_tp=1, A_fp=0.11, A_fn=1), reward_low_FP_rate
  (A_fp=0.22) and reward_low_FN_rate (A_fn=2).

One deliberate difference: NAB divides by zero on a false positive that follows
a window of a single row; here that window counts as having width 2.

>>> import numpy as np
>>> s = np.zeros(100); s[55] = 1.0            # one detection, in the window's middle
>>> fs = score_file(s, np.array([[50, 59]]), PROFILES["standard"], threshold=0.5)
>>> round(fs.score, 4), fs.tp, fs.fp, fs.fn
(0.8598, 1, 0, 9)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from admon.errors import ConfigError

PROBATION_PERCENT = 0.15
START_THRESHOLD = 1.1


@dataclass(frozen=True)
class CostMatrix:
    """Weights of a NAB application profile."""

    tp: float
    fp: float
    fn: float


PROFILES: dict[str, CostMatrix] = {
    "standard": CostMatrix(tp=1.0, fp=0.11, fn=1.0),
    "reward_low_FP_rate": CostMatrix(tp=1.0, fp=0.22, fn=1.0),
    "reward_low_FN_rate": CostMatrix(tp=1.0, fp=0.11, fn=2.0),
}


def scaled_sigmoid(x: np.ndarray | float) -> np.ndarray:
    """NAB's scaled sigmoid: ~0.987 at -1 (window start), 0 at 0, -1 beyond 3.

    >>> [round(float(v), 5) for v in scaled_sigmoid(np.array([-1.0, -0.5, 0.0, 1.0, 4.0]))]
    [0.98661, 0.84828, 0.0, -0.98661, -1.0]
    """
    x = np.asarray(x, dtype=float)
    with np.errstate(over="ignore"):
        val = 2.0 / (1.0 + np.exp(5.0 * x)) - 1.0
    return np.where(x > 3.0, -1.0, val)


_MAX_TP = float(scaled_sigmoid(-1.0))


def probationary_length(n_rows: int, percent: float = PROBATION_PERCENT) -> float:
    """Rows at the start of a file that are not scored.

    >>> probationary_length(4032), probationary_length(10000)
    (604, 750.0)
    """
    return min(math.floor(percent * n_rows), percent * 5000)


def row_weights(n_rows: int, windows: np.ndarray, cost: CostMatrix) -> tuple[np.ndarray, np.ndarray]:
    """Per-row NAB weight and window number (-1 outside windows) of one file.

    ``windows`` is an ``(k, 2)`` array of inclusive, sorted, disjoint row ranges.
    """
    idx = np.arange(n_rows)
    win = np.full(n_rows, -1, dtype=np.int64)
    weights = np.empty(n_rows, dtype=float)
    windows = np.asarray(windows, dtype=np.int64).reshape(-1, 2)
    for k, (lo, hi) in enumerate(windows):
        win[lo : hi + 1] = k
        width = float(hi - lo + 1)
        pos = -(hi - idx[lo : hi + 1] + 1) / width
        weights[lo : hi + 1] = cost.tp * scaled_sigmoid(pos) / _MAX_TP
    outside = win < 0
    if len(windows):
        ends = windows[:, 1]
        prev = np.searchsorted(ends, idx, side="left") - 1  # last window ending before the row
        has_prev = outside & (prev >= 0)
        widths = (windows[:, 1] - windows[:, 0] + 1).astype(float)
        p = prev[has_prev]
        denom = np.maximum(widths[p] - 1.0, 1.0)
        weights[has_prev] = cost.fp * scaled_sigmoid(np.abs(idx[has_prev] - ends[p]) / denom)
        weights[outside & (prev < 0)] = -cost.fp
    else:
        weights[:] = -cost.fp
    return weights, win


@dataclass(frozen=True)
class ThresholdScore:
    """Raw NAB score and row counts when rows scoring ``>= threshold`` are detections."""

    threshold: float
    score: float
    tp: int
    tn: int
    fp: int
    fn: int


@dataclass
class _Prepared:
    """Scorable rows of a corpus: anomaly score, NAB weight, global window id."""

    scores: np.ndarray
    weights: np.ndarray
    window: np.ndarray
    n_windows: int  # windows with at least one scorable row


def _prepare(
    files: Sequence[tuple[np.ndarray, np.ndarray]], cost: CostMatrix, probation: float
) -> _Prepared:
    all_s, all_w, all_win = [], [], []
    offset = 0
    for scores, windows in files:
        scores = np.nan_to_num(np.asarray(scores, dtype=float), nan=0.0)
        n = len(scores)
        weights, win = row_weights(n, windows, cost)
        keep = np.arange(n) >= probationary_length(n, probation)
        win = np.where(win >= 0, win + offset, -1)
        offset += len(np.asarray(windows).reshape(-1, 2))
        all_s.append(scores[keep])
        all_w.append(weights[keep])
        all_win.append(win[keep])
    s = np.concatenate(all_s) if all_s else np.zeros(0)
    w = np.concatenate(all_w) if all_w else np.zeros(0)
    win = np.concatenate(all_win) if all_win else np.zeros(0, dtype=np.int64)
    return _Prepared(s, w, win, int(len(np.unique(win[win >= 0]))))


def _sweep(prep: _Prepared, cost: CostMatrix) -> list[ThresholdScore]:
    """Score at every candidate threshold, highest first (NAB's ``calcScoreByThreshold``)."""
    base = -cost.fn * prep.n_windows
    n = len(prep.scores)
    inside_all = prep.window >= 0
    n_in, n_out = int(inside_all.sum()), int((~inside_all).sum())
    if n == 0:
        return [ThresholdScore(START_THRESHOLD, base, 0, n_out, 0, n_in)]
    order = np.argsort(-prep.scores, kind="stable")
    s, w, win = prep.scores[order], prep.weights[order], prep.window[order]
    inside = win >= 0
    fp_part = np.cumsum(np.where(inside, 0.0, w))
    # Each window contributes the running maximum of its detections' weights
    # (or -fn before its first detection): add that maximum's increments.
    delta = np.zeros(n)
    if inside.any():
        g = win[inside]
        run_max = pd.Series(np.maximum(w[inside], -cost.fn)).groupby(g).cummax()
        prev = run_max.groupby(g).shift(1).fillna(-cost.fn)
        delta[inside] = (run_max - prev).to_numpy()
    total = fp_part + (base + np.cumsum(delta))
    tp = np.cumsum(inside)
    fp = np.cumsum(~inside)
    last_of_tie = np.flatnonzero(np.append(s[1:] != s[:-1], True))
    rows = []
    if s[0] != START_THRESHOLD:
        rows.append(ThresholdScore(START_THRESHOLD, base, 0, n_out, 0, n_in))
    for k in last_of_tie:
        rows.append(
            ThresholdScore(
                float(s[k]), float(total[k]), int(tp[k]), int(n_out - fp[k]), int(fp[k]), int(n_in - tp[k])
            )
        )
    return rows


def threshold_sweep(
    files: Sequence[tuple[np.ndarray, np.ndarray]],
    cost: CostMatrix,
    probation: float = PROBATION_PERCENT,
) -> list[ThresholdScore]:
    """NAB score of a corpus at every candidate threshold (highest threshold first).

    ``files`` is a sequence of ``(anomaly_scores, window_row_ranges)``.
    """
    return _sweep(_prepare(files, cost, probation), cost)


def optimize_threshold(
    files: Sequence[tuple[np.ndarray, np.ndarray]],
    cost: CostMatrix,
    probation: float = PROBATION_PERCENT,
) -> ThresholdScore:
    """The corpus-wide threshold with the best raw score (ties: the highest threshold)."""
    rows = threshold_sweep(files, cost, probation)
    best = int(np.argmax([r.score for r in rows]))
    return rows[best]


def score_file(
    scores: np.ndarray,
    windows: np.ndarray,
    cost: CostMatrix,
    threshold: float,
    probation: float = PROBATION_PERCENT,
) -> ThresholdScore:
    """Raw NAB score of one file at a fixed threshold."""
    prep = _prepare([(scores, windows)], cost, probation)
    det = prep.scores >= threshold
    inside = prep.window >= 0
    score = float(prep.weights[det & ~inside].sum())
    total_win = 0.0
    for k in np.unique(prep.window[inside]):
        hit = det & (prep.window == k)
        total_win += float(prep.weights[hit].max()) if hit.any() else -cost.fn
    tp = int((det & inside).sum())
    fp = int((det & ~inside).sum())
    return ThresholdScore(
        threshold, score + total_win, tp, int((~inside).sum()) - fp, fp, int(inside.sum()) - tp
    )


@dataclass
class ProfileResult:
    """NAB result of one detector under one profile."""

    profile: str
    threshold: float
    raw: float
    null: float
    perfect: float
    normalized: float
    per_file: dict[str, float] = field(default_factory=dict)


def nab_scores(
    files: Mapping[str, tuple[np.ndarray, np.ndarray]],
    n_labelled_windows: int | None = None,
    profiles: Mapping[str, CostMatrix] | None = None,
    probation: float = PROBATION_PERCENT,
    thresholds: Mapping[str, float] | None = None,
) -> dict[str, ProfileResult]:
    """Optimise, score and normalise a detector's corpus results for every profile.

    ``files`` maps a file key to ``(anomaly_scores, window_row_ranges)``;
    ``n_labelled_windows`` is the number of windows in the label file (default:
    the windows given). ``thresholds`` fixes a threshold per profile instead of
    optimising it.

    >>> import numpy as np
    >>> s = np.zeros(100); s[52] = 0.9; s[90] = 0.7
    >>> res = nab_scores({"f.csv": (s, np.array([[50, 59]]))})
    >>> r = res["standard"]; r.threshold, round(r.raw, 4), r.null, r.perfect, round(r.normalized, 2)
    (0.9, 0.9771, -1.0, 1.0, 98.86)
    """
    profiles = dict(profiles or PROFILES)
    keys = list(files)
    pairs = [files[k] for k in keys]
    if n_labelled_windows is None:
        n_labelled_windows = sum(len(np.asarray(w).reshape(-1, 2)) for _, w in pairs)
    out = {}
    for name, cost in profiles.items():
        if thresholds and name in thresholds:
            threshold = float(thresholds[name])
        else:
            threshold = optimize_threshold(pairs, cost, probation).threshold
        per_file = {k: score_file(s, w, cost, threshold, probation).score for k, (s, w) in zip(keys, pairs)}
        raw = float(sum(per_file.values()))
        null_pairs = [(np.full(len(s), 0.5), w) for s, w in pairs]
        null = optimize_threshold(null_pairs, cost, probation).score
        perfect = cost.tp * n_labelled_windows
        if perfect == null:
            raise ConfigError("the corpus has no scorable window: the NAB score is undefined")
        normalized = 100.0 * (raw - null) / (perfect - null)
        out[name] = ProfileResult(name, threshold, raw, null, perfect, normalized, per_file)
    return out


def corpus_nab_scores(corpus, scores: Mapping[str, np.ndarray], **kwargs) -> dict[str, ProfileResult]:
    """:func:`nab_scores` for an :class:`admon.evaluation.corpus.Corpus` and scores per file key."""
    files = {f.key: (np.asarray(scores[f.key], dtype=float), f.window_bounds()) for f in corpus}
    return nab_scores(files, n_labelled_windows=corpus.n_windows, **kwargs)
