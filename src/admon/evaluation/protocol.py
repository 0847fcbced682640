"""Threshold regimes of the NAB score, and leave-one-category-out (LOCO) evaluation.

NAB optimises *one* threshold for a detector over the whole corpus, on the very
files it then scores. That flatters a detector twice: the threshold is fitted on
the test files, and a detector whose scores mean different things on different
series is hidden as long as one lucky threshold exists. This module scores the
same outputs under four regimes, all with NAB's rules (windows, scaled sigmoid,
probation, the standard profile by default) and **one normalisation** (the
corpus's null and perfect raw scores), so the numbers compare directly:

* **shared** -- one threshold optimised over all files (NAB's own number);
* **per_category** -- one threshold per category, each optimised on its files;
* **per_file** -- one ideal threshold per file (an upper bound for any threshold
  policy on these outputs);
* **gap** = per_file - shared: how much the scores' *meaning* differs between
  series (ARTime loses about 5 points, a detector with uncalibrated scores 15+);
* **LOCO** -- for each category, the threshold optimised on the *other*
  categories scores the left-out one: the threshold never sees the files it is
  judged on. ``loco_mean`` is the mean of the per-category normalised scores over
  the categories that have labelled windows (each category normalised by its own
  null and perfect score); ``loco_pooled`` adds up the left-out raw scores of every
  category (including those without windows, whose false positives cost) and
  normalises them like the shared score.

For every regime the threshold ties are broken as NAB does (the highest
threshold reaching the best raw score wins), and ``shared`` equals
:func:`admon.evaluation.nab.corpus_nab_scores` (``standard``) to rounding.

Speed: each call sorts the corpus's scorable rows once; every regime and every
LOCO fold is then a masked cumulative sum (no per-threshold loop), so a
150 k-row corpus takes a few tens of milliseconds. Build a
:class:`ThresholdProtocol` once per corpus and call :meth:`ThresholdProtocol.evaluate`
for each set of scores.

>>> from admon.testing.nab import FIXTURE_ROOT
>>> from admon.evaluation.corpus import load_corpus, read_results
>>> corpus = load_corpus(FIXTURE_ROOT)
>>> protocol = ThresholdProtocol.from_corpus(corpus)
>>> res = protocol.evaluate(read_results(FIXTURE_ROOT / "results", "numenta", corpus))
>>> round(res.shared, 2), res.per_file >= res.per_category >= res.shared
(73.96, True)
>>> sorted(res.categories), round(res.gap, 2) == round(res.per_file - res.shared, 2)
(['realAWSCloudwatch', 'realAdExchange'], True)
>>> print(format_row("numenta", res))   # doctest: +NORMALIZE_WHITESPACE
numenta  shared 73.96  per-category ...  per-file ...  gap ...  LOCO mean ...  LOCO pooled ...

Plain arrays work too (``files`` maps a key ``<category>/<file>`` to its scores
and inclusive window row ranges):

>>> import numpy as np
>>> s1 = np.zeros(200); s1[120] = 0.9            # a hit in the window of file a
>>> s2 = np.zeros(200); s2[150] = 0.4            # a weaker hit in file b
>>> files = {"x/a.csv": (s1, np.array([[115, 125]])), "y/b.csv": (s2, np.array([[145, 155]]))}
>>> res = threshold_protocol(files)
>>> round(res.shared, 1), round(res.per_file, 1), res.categories["y"].loco_threshold
(94.5, 94.5, 0.9)
>>> float(round(res.categories["y"].loco, 1))   # the threshold from x misses y's weaker hit
0.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from admon.errors import ConfigError, DataError
from admon.evaluation.nab import (
    PROBATION_PERCENT,
    PROFILES,
    START_THRESHOLD,
    CostMatrix,
    probationary_length,
    row_weights,
)

__all__ = [
    "CategoryScores",
    "ProtocolScores",
    "ThresholdProtocol",
    "corpus_threshold_protocol",
    "format_row",
    "threshold_protocol",
]


@dataclass(frozen=True)
class CategoryScores:
    """One category under the regimes; normalised by the category's own null and perfect.

    ``shared``, ``own`` and ``loco`` are NaN for a category without labelled
    windows (its NAB score is undefined); its raw LOCO score still counts in
    :attr:`ProtocolScores.loco_pooled`.
    """

    category: str
    files: int
    windows: int
    shared: float  # at the corpus-wide threshold
    own: float  # at the category's own best threshold
    own_threshold: float
    loco: float  # at the threshold optimised on the other categories
    loco_threshold: float
    loco_raw: float


@dataclass(frozen=True)
class ProtocolScores:
    """A detector's NAB scores under every threshold regime (see the module docstring)."""

    profile: str
    shared: float
    shared_threshold: float
    per_category: float
    per_file: float
    loco_mean: float
    loco_pooled: float
    null: float
    perfect: float
    categories: dict[str, CategoryScores] = field(default_factory=dict)
    file_thresholds: dict[str, float] = field(default_factory=dict)

    @property
    def gap(self) -> float:
        """per-file minus shared: the calibration gap."""
        return self.per_file - self.shared

    def summary(self) -> dict:
        """JSON-able: the headline numbers and each category's."""
        return {
            "profile": self.profile,
            "shared": self.shared,
            "shared_threshold": self.shared_threshold,
            "per_category": self.per_category,
            "per_file": self.per_file,
            "gap": self.gap,
            "loco_mean": self.loco_mean,
            "loco_pooled": self.loco_pooled,
            "categories": {k: vars(v) for k, v in self.categories.items()},
        }


def _normalise(raw: float, null: float, perfect: float) -> float:
    if perfect == null:
        return math.nan
    return 100.0 * (raw - null) / (perfect - null)


class ThresholdProtocol:
    """The windows of a corpus prepared once; :meth:`evaluate` scores any detector's outputs.

    ``windows`` maps a file key to its inclusive window row ranges (``(k, 2)``),
    ``lengths`` to its number of rows, ``categories`` to its category (default:
    the key up to the first ``/``), ``labelled_windows`` to the number of windows in
    the label file (default: the ranges given; NAB's perfect score counts them all).
    """

    def __init__(
        self,
        windows: Mapping[str, np.ndarray],
        lengths: Mapping[str, int],
        categories: Mapping[str, str] | None = None,
        *,
        profile: str | CostMatrix = "standard",
        probation: float = PROBATION_PERCENT,
        labelled_windows: Mapping[str, int] | None = None,
    ) -> None:
        if isinstance(profile, str):
            if profile not in PROFILES:
                raise ConfigError(f"unknown NAB profile {profile!r}; use one of {sorted(PROFILES)}")
            self.profile, self.cost = profile, PROFILES[profile]
        else:
            self.profile, self.cost = "custom", profile
        self.keys = list(windows)
        if not self.keys:
            raise DataError("no files to evaluate: the corpus is empty")
        cats = categories or {}
        self.categories = [cats.get(k, k.split("/", 1)[0] if "/" in k else "") for k in self.keys]
        self.category_names = sorted(set(self.categories))
        self.lengths = np.array([int(lengths[k]) for k in self.keys], dtype=np.int64)
        keep_parts, w_parts, win_parts, file_parts = [], [], [], []
        base = np.zeros(len(self.keys))
        n_labelled = np.zeros(len(self.keys))
        offset = 0
        for i, key in enumerate(self.keys):
            n = int(self.lengths[i])
            wins = np.asarray(windows[key], dtype=np.int64).reshape(-1, 2)
            weights, win = row_weights(n, wins, self.cost)
            keep = np.arange(n) >= probationary_length(n, probation)
            scorable = np.unique(win[keep & (win >= 0)])
            base[i] = -self.cost.fn * len(scorable)
            n_labelled[i] = labelled_windows[key] if labelled_windows is not None else len(wins)
            keep_parts.append(keep)
            w_parts.append(weights[keep])
            win_parts.append(np.where(win[keep] >= 0, win[keep] + offset, -1))
            file_parts.append(np.full(int(keep.sum()), i, dtype=np.int64))
            offset += len(wins)
        self._keep = keep_parts
        self._weights = np.concatenate(w_parts)
        self._window = np.concatenate(win_parts)
        self._file = np.concatenate(file_parts)
        self._base = base
        self._perfect = self.cost.tp * n_labelled
        cat_index = {c: j for j, c in enumerate(self.category_names)}
        self._file_cat = np.array([cat_index[c] for c in self.categories], dtype=np.int64)

    @classmethod
    def from_corpus(cls, corpus, **kwargs) -> ThresholdProtocol:
        """The protocol of an :class:`admon.evaluation.corpus.Corpus` (categories = folders)."""
        return cls(
            {f.key: f.window_bounds() for f in corpus},
            {f.key: len(f) for f in corpus},
            {f.key: f.category for f in corpus},
            labelled_windows={f.key: len(f.windows) for f in corpus},
            **kwargs,
        )

    # ------------------------------------------------------------------ sweeps
    def _rows(self, scores: Mapping[str, np.ndarray]):
        """Scorable rows sorted by score (highest first) with each row's raw-score increment.

        Raw score at threshold t = sum of the files' bases + sum of the increments of
        the rows scoring >= t: a row outside windows adds its false-positive weight, a
        row inside a window the rise of that window's best detection weight.
        """
        parts = []
        for i, key in enumerate(self.keys):
            if key not in scores:
                raise DataError(f"no scores for {key}; give one score array per corpus file")
            s = np.asarray(scores[key], dtype=float)
            if len(s) != self.lengths[i]:
                raise DataError(f"{key}: {len(s)} scores for {self.lengths[i]} rows; give one score per row")
            parts.append(np.nan_to_num(s, nan=0.0)[self._keep[i]])
        s = np.concatenate(parts) if parts else np.zeros(0)
        order = np.argsort(-s, kind="stable")
        s, w, win, fid = s[order], self._weights[order], self._window[order], self._file[order]
        inside = win >= 0
        delta = np.where(inside, 0.0, w)
        if inside.any():
            g = win[inside]
            run_max = pd.Series(np.maximum(w[inside], -self.cost.fn)).groupby(g).cummax()
            prev = run_max.groupby(g).shift(1).fillna(-self.cost.fn)
            delta[inside] = (run_max - prev).to_numpy()
        return s, delta, fid

    @staticmethod
    def _best(s: np.ndarray, delta: np.ndarray, base: float) -> tuple[float, float]:
        """(threshold, raw) maximising the raw score; ties go to the highest threshold."""
        nothing = START_THRESHOLD if not len(s) or s[0] < START_THRESHOLD else float(np.nextafter(s[0], np.inf))
        if not len(s):
            return nothing, base
        total = base + np.cumsum(delta)
        last = np.flatnonzero(np.append(s[1:] != s[:-1], True))
        k = int(np.argmax(total[last]))
        if total[last[k]] > base:  # else detecting nothing is as good, and its threshold is higher
            return float(s[last[k]]), float(total[last[k]])
        return nothing, base

    def _best_by_group(self, s, delta, group, n_groups, base) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_best` for every group at once (``group``: one id per row)."""
        order = np.argsort(group, kind="stable")  # keeps the descending score order inside a group
        s, delta, group = s[order], delta[order], group[order]
        thresholds = np.full(n_groups, START_THRESHOLD)
        raws = np.asarray(base, dtype=float).copy()
        if not len(s):
            return thresholds, raws
        cs = np.cumsum(delta)
        starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
        ids = group[starts]
        before = np.where(starts > 0, cs[np.maximum(starts - 1, 0)], 0.0)
        lengths = np.diff(np.r_[starts, len(s)])
        total = cs - np.repeat(before, lengths) + np.repeat(raws[ids], lengths)
        last = np.r_[(s[1:] != s[:-1]) | (group[1:] != group[:-1]), True]
        cand = np.where(last, total, -np.inf)
        best = np.maximum.reduceat(cand, starts)
        # first (= highest threshold) candidate reaching its group's best
        hit = last & (total == np.repeat(best, lengths))
        first_hit = np.minimum.reduceat(np.where(hit, np.arange(len(s)), len(s)), starts)
        top = s[starts]
        for j, g in enumerate(ids):
            nothing = START_THRESHOLD if top[j] < START_THRESHOLD else float(np.nextafter(top[j], np.inf))
            if best[j] > raws[g]:
                thresholds[g], raws[g] = float(s[first_hit[j]]), float(best[j])
            else:
                thresholds[g] = nothing
        return thresholds, raws

    # --------------------------------------------------------------- evaluate
    def evaluate(self, scores: Mapping[str, np.ndarray]) -> ProtocolScores:
        """Shared, per-category, per-file and LOCO scores of one detector's outputs (per file key)."""
        s, delta, fid = self._rows(scores)
        cat = self._file_cat[fid]
        n_cat = len(self.category_names)
        base_cat = np.bincount(self._file_cat, weights=self._base, minlength=n_cat)
        perfect_cat = np.bincount(self._file_cat, weights=self._perfect, minlength=n_cat)
        all_cat = base_cat + np.bincount(cat, weights=delta, minlength=n_cat)  # detect every row
        null_cat = np.maximum(base_cat, all_cat)
        base, perfect = float(self._base.sum()), float(self._perfect.sum())
        null = max(base, base + float(delta.sum()))
        if perfect == null:
            raise ConfigError("the corpus has no scorable window: the NAB score is undefined")

        shared_t, shared_raw = self._best(s, delta, base)
        file_t, file_raw = self._best_by_group(s, delta, fid, len(self.keys), self._base)
        cat_t, cat_raw = self._best_by_group(s, delta, cat, n_cat, base_cat)
        shared_by_cat = base_cat + np.bincount(cat[s >= shared_t], weights=delta[s >= shared_t], minlength=n_cat)

        per_category: dict[str, CategoryScores] = {}
        loco_raw_total, loco_norm = 0.0, []
        for j, name in enumerate(self.category_names):
            rest = cat != j
            t, _ = self._best(s[rest], delta[rest], float(base_cat.sum() - base_cat[j]))
            mine = (cat == j) & (s >= t)
            raw = float(base_cat[j] + delta[mine].sum())
            loco_raw_total += raw
            norm = _normalise(raw, null_cat[j], perfect_cat[j])
            if not math.isnan(norm):
                loco_norm.append(norm)
            per_category[name] = CategoryScores(
                category=name,
                files=int((self._file_cat == j).sum()),
                windows=int(round(perfect_cat[j] / self.cost.tp)) if self.cost.tp else 0,
                shared=_normalise(float(shared_by_cat[j]), null_cat[j], perfect_cat[j]),
                own=_normalise(float(cat_raw[j]), null_cat[j], perfect_cat[j]),
                own_threshold=float(cat_t[j]),
                loco=norm,
                loco_threshold=float(t),
                loco_raw=raw,
            )
        return ProtocolScores(
            profile=self.profile,
            shared=_normalise(shared_raw, null, perfect),
            shared_threshold=float(shared_t),
            per_category=_normalise(float(cat_raw.sum()), null, perfect),
            per_file=_normalise(float(file_raw.sum()), null, perfect),
            loco_mean=float(np.mean(loco_norm)) if loco_norm else math.nan,
            loco_pooled=_normalise(loco_raw_total, null, perfect),
            null=null,
            perfect=perfect,
            categories=per_category,
            file_thresholds=dict(zip(self.keys, map(float, file_t))),
        )


def threshold_protocol(
    files: Mapping[str, tuple[np.ndarray, np.ndarray]],
    categories: Mapping[str, str] | None = None,
    **kwargs,
) -> ProtocolScores:
    """:meth:`ThresholdProtocol.evaluate` for ``{key: (scores, window_row_ranges)}`` in one call."""
    protocol = ThresholdProtocol(
        {k: w for k, (_, w) in files.items()},
        {k: len(s) for k, (s, _) in files.items()},
        categories,
        **kwargs,
    )
    return protocol.evaluate({k: s for k, (s, _) in files.items()})


def corpus_threshold_protocol(corpus, scores: Mapping[str, np.ndarray], **kwargs) -> ProtocolScores:
    """:meth:`ThresholdProtocol.evaluate` for a :class:`~admon.evaluation.corpus.Corpus`."""
    return ThresholdProtocol.from_corpus(corpus, **kwargs).evaluate(scores)


def format_row(name: str, res: ProtocolScores) -> str:
    """One line of text: the headline numbers of ``res``."""
    return (
        f"{name}  shared {res.shared:.2f}  per-category {res.per_category:.2f}  per-file {res.per_file:.2f}  "
        f"gap {res.gap:.2f}  LOCO mean {res.loco_mean:.2f}  LOCO pooled {res.loco_pooled:.2f}"
    )
