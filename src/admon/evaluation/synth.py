"""A synthetic, labelled NAB-format corpus of monitoring series (``admon corpus synth``).

A second development corpus next to NAB's dev subset, made of the incidents a
detector for monitoring data must catch and the habits of monitoring data that
fool detectors. Seven categories (series families), 32 series each by default
(224 series):

==========  ==================================================================
category    what the series is like
==========  ==================================================================
cpu         utilisation %, daily + weekly shape, quantised to 1 or 0.1
network     bytes/s, log-normal, daily shape, frequent normal short bursts
requests    request counts (Poisson), daily + weekly shape
errors      error counts, mostly zeros, occasional normal bursts
latency     milliseconds (integers), log-normal, normal single-point spikes
sensor      a slow AR(1) signal with hundreds of sampling gaps
storage     used %, slow growth with clean-ups (normal regime changes)
==========  ==================================================================

Incident kinds (``labels/incidents.json`` says which window is which):

* ``drift`` -- a slow ramp into a new level that stays;
* ``holiday`` -- one weekday whose daily shape is flat or shifted;
* ``spike_shift`` -- a lasting level shift a little after an (unlabelled) spike;
* ``weak_burst`` -- a weak but sustained burst in a mostly-zero count series;
* ``spike`` and ``repeat_spike`` -- a spike, and later a smaller one of the same
  shape (so its shape counts as already seen);
* ``close_pair`` -- an incident whose window starts a few points after the
  previous incident's window ends;
* ``level_shift``, ``regime_change`` (noise or daily amplitude changes and stays);
* incidents in series with hundreds of sampling gaps (every ``sensor`` series,
  and some others: ``flags.gaps`` in ``incidents.json``).

Monitoring realism: counts with many zeros, quantised values, sampling gaps
(missing rows), timestamps that repeat an hour (a clock set back), a swapped
pair of rows, a repeated timestamp, daily and weekly seasonality, normal bursts
and spikes, regime changes; about one series in eight has no incident.

Windows follow NAB's convention: each labelled anomaly gets a window of
``int(0.10 * rows / anomalies)`` rows centred on it (clipped to the file,
overlapping windows merged), written as the timestamps of its first and last
rows (``labels/combined_windows.json``; the anomaly points are in
``labels/combined_labels.json``). Incidents start after the first 20 % of a file
(NAB never scores the first 15 %), and timestamp glitches are placed away from
windows, so every window maps to the rows it was built from.

**Splits.** ``split="dev"`` is the development split: tune on it. ``split="heldout"``
is the held-back split: it draws every series from a different seed stream
(``numpy.random.SeedSequence(seed, spawn_key=(1,))`` against ``(0,)`` for dev), so
no dev series ever appears in it; it is only for the final comparison, never
for choosing parameters. The published tables use seed 0 for both splits.

>>> import tempfile
>>> out = tempfile.mkdtemp()
>>> info = synth_corpus(out, seed=0, series_per_category=2)
>>> info.series, sorted(info.categories)[:3], info.split
(14, ['cpu', 'errors', 'latency'], 'dev')
>>> from admon.evaluation.corpus import load_corpus
>>> len(load_corpus(out))
14
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from admon.errors import ConfigError
from admon.evaluation.nab import probationary_length

SPLITS = {"dev": 0, "heldout": 1}
CATEGORIES = ["cpu", "network", "requests", "errors", "latency", "sensor", "storage"]
KINDS = ["drift", "holiday", "spike_shift", "weak_burst", "spike", "repeat_spike", "close_pair",
         "level_shift", "regime_change"]
# the incident scenarios each family gets, cycled over its series
SCENARIOS = {
    "cpu": ["holiday", "drift", "spike_shift", "repeat_spike", "close_pair", "regime_change", "level_shift"],
    "network": ["spike_shift", "repeat_spike", "holiday", "drift", "close_pair", "level_shift"],
    "requests": ["holiday", "drift", "level_shift", "close_pair", "regime_change", "spike_shift"],
    "errors": ["weak_burst", "repeat_spike", "close_pair", "weak_burst"],
    "latency": ["spike_shift", "drift", "repeat_spike", "regime_change", "close_pair"],
    "sensor": ["drift", "spike_shift", "level_shift", "repeat_spike", "close_pair"],
    "storage": ["drift", "spike_shift", "level_shift", "close_pair"],
}
NO_INCIDENT_EVERY = 8  # every 8th series of a category has no incident
WINDOW_FRACTION = 0.10
FIRST_INCIDENT_FRACTION = 0.20
DAY_S = 86_400


@dataclass
class SynthInfo:
    """What :func:`synth_corpus` wrote."""

    root: Path
    split: str
    seed: int
    series: int = 0
    rows: int = 0
    windows: int = 0
    categories: list[str] = field(default_factory=list)
    kinds: dict[str, int] = field(default_factory=dict)
    gappy_series: int = 0  # series with at least 200 missing rows
    glitched_series: int = 0  # series with repeated or backward timestamps


@dataclass
class _Incident:
    kind: str
    anchor: int  # row of the labelled anomaly point
    apply: Callable[[np.ndarray, np.ndarray], None]  # (mean, noise_scale) -> None, in place


@dataclass
class _Series:
    ts: np.ndarray  # epoch seconds, file order
    values: np.ndarray
    incidents: list[_Incident]
    decimals: int
    gaps: int
    glitch: str = ""


# --------------------------------------------------------------------------- time
def _time_index(rng: np.random.Generator, gappy: bool) -> tuple[np.ndarray, int]:
    """Epoch seconds of a series: a regular grid with rows missing (sampling gaps)."""
    step = int(rng.choice([300, 300, 300, 600, 60]))
    n = int(rng.integers(3000, 5001))
    start = int(pd.Timestamp("2023-01-02").value // 10**9) + int(rng.integers(0, 700)) * DAY_S
    start -= start % step
    missing = int(rng.integers(600, 1201)) if gappy else int(rng.integers(0, n // 200 + 1))
    grid = start + step * np.arange(n + missing * 2, dtype=np.int64)
    drop = np.zeros(len(grid), dtype=bool)
    placed = 0
    while placed < missing:  # gaps come in short runs, as a collector that misses a few scrapes
        at = int(rng.integers(1, len(grid) - 6))
        run = int(rng.integers(1, 5))
        drop[at : at + run] = True
        placed += run
    ts = grid[~drop][:n]
    return ts, int((np.diff(ts) > step).sum())


def _season(ts: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """A business-day shape in [-0.5, 1] (weekends damped), and the shape function itself."""
    peak, width = rng.uniform(0.35, 0.7), rng.uniform(0.08, 0.2)
    weekend = rng.uniform(0.2, 0.9)

    def shape(t: np.ndarray, peak_shift: float = 0.0) -> np.ndarray:
        tod = (t % DAY_S) / DAY_S
        d = (tod - peak - peak_shift + 0.5) % 1.0 - 0.5
        bump = np.exp(-0.5 * (d / width) ** 2) - 0.25
        dow = ((t // DAY_S) + 3) % 7  # 1970-01-01 was a Thursday: 0 = Monday
        return bump * np.where(dow >= 5, weekend, 1.0)

    return shape(ts), shape


# --------------------------------------------------------------------------- incidents
def _spike(at: int, height: float, width: int) -> Callable[[np.ndarray, np.ndarray], None]:
    def apply(mean: np.ndarray, _scale: np.ndarray) -> None:
        shape = np.exp(-0.5 * ((np.arange(width) - (width - 1) / 2) / max(width / 3, 0.5)) ** 2)
        mean[at : at + width] += height * shape[: len(mean[at : at + width])]
    return apply


def _shift(at: int, delta: float) -> Callable[[np.ndarray, np.ndarray], None]:
    def apply(mean: np.ndarray, _scale: np.ndarray) -> None:
        mean[at:] += delta
    return apply


def _drift(at: int, delta: float, length: int) -> Callable[[np.ndarray, np.ndarray], None]:
    def apply(mean: np.ndarray, _scale: np.ndarray) -> None:
        ramp = np.clip((np.arange(len(mean) - at)) / length, 0.0, 1.0)
        mean[at:] += delta * ramp
    return apply


def _noise_change(at: int, factor: float) -> Callable[[np.ndarray, np.ndarray], None]:
    def apply(_mean: np.ndarray, scale: np.ndarray) -> None:
        scale[at:] *= factor
    return apply


def _plan(kind: str, n: int, rng: np.random.Generator, unit: float, seasonal_amp: float,
          ts: np.ndarray, shape, count_like: bool) -> list[_Incident]:
    """The incidents of one scenario, placed after the first 20 % of the rows."""
    k = 2 if kind in ("repeat_spike", "close_pair") else 1
    w = int(WINDOW_FRACTION * n / k)
    lo, hi = int(FIRST_INCIDENT_FRACTION * n) + w // 2, n - w // 2 - 1
    sign = 1.0 if count_like or rng.random() < 0.7 else -1.0
    if kind == "spike":
        at = int(rng.integers(lo, hi))
        return [_Incident("spike", at, _spike(at, sign * rng.uniform(6, 12) * unit, int(rng.integers(1, 4))))]
    if kind == "level_shift":
        at = int(rng.integers(lo, hi))
        return [_Incident("level_shift", at, _shift(at, sign * rng.uniform(3, 6) * unit))]
    if kind == "drift":
        length = int(rng.integers(n // 25, n // 8))
        at = int(rng.integers(lo, max(hi - length // 2, lo + 1)))
        anchor = at + length // 4
        return [_Incident("drift", anchor, _drift(at, sign * rng.uniform(4, 8) * unit, length))]
    if kind == "spike_shift":
        at = int(rng.integers(lo, hi))
        gap = int(rng.integers(5, w // 2 + 60))
        spike_at = max(at - gap, 1)
        spike = _spike(spike_at, rng.uniform(6, 10) * unit, int(rng.integers(1, 3)))
        shift = _shift(at, sign * rng.uniform(3, 5) * unit)

        def spike_then_shift(mean: np.ndarray, scale: np.ndarray) -> None:
            spike(mean, scale)
            shift(mean, scale)
        return [_Incident("spike_shift", at, spike_then_shift)]
    if kind == "regime_change":
        at = int(rng.integers(lo, hi))
        if seasonal_amp > 0 and rng.random() < 0.5:
            factor = rng.choice([0.0, 2.5])

            def amp(mean: np.ndarray, _scale: np.ndarray) -> None:
                mean[at:] += (factor - 1.0) * seasonal_amp * shape(ts[at:])
            return [_Incident("regime_change", at, amp)]
        return [_Incident("regime_change", at, _noise_change(at, rng.uniform(2.5, 4.0)))]
    if kind == "repeat_spike":
        first = int(rng.integers(lo, max(lo + 1, (lo + hi) // 2 - w)))
        second = int(rng.integers(min(first + int(1.2 * w), hi - 1), hi))
        height, width = rng.uniform(9, 14) * unit, int(rng.integers(1, 4))
        return [_Incident("spike", first, _spike(first, height, width)),
                _Incident("repeat_spike", second, _spike(second, height * rng.uniform(0.5, 0.8), width))]
    if kind == "close_pair":
        first = int(rng.integers(lo, max(lo + 1, hi - w - 20)))
        second = min(first + w + int(rng.integers(2, 16)), n - w // 2 - 1)
        a = (_Incident("spike", first, _spike(first, rng.uniform(7, 12) * unit, int(rng.integers(1, 3))))
             if rng.random() < 0.5 else _Incident("level_shift", first, _shift(first, sign * rng.uniform(3, 5) * unit)))
        b = _Incident("close_pair", second, _shift(second, sign * rng.uniform(3, 5) * unit)
                      if rng.random() < 0.5 else _spike(second, rng.uniform(7, 12) * unit, 2))
        return [a, b]
    if kind == "holiday":
        days = np.unique(ts // DAY_S)
        dow = (days + 3) % 7
        first_row = np.searchsorted(ts, days * DAY_S)
        ok = days[(dow < 5) & (first_row >= lo) & (first_row <= hi - 10)]
        if not len(ok):
            return _plan("level_shift", n, rng, unit, seasonal_amp, ts, shape, count_like)
        day = int(rng.choice(ok))
        rows = np.flatnonzero((ts >= day * DAY_S) & (ts < (day + 1) * DAY_S))
        flat = rng.random() < 0.6
        peak_shift = 0.0 if flat else rng.choice([-0.25, 0.25])

        def holiday(mean: np.ndarray, _scale: np.ndarray) -> None:
            normal = seasonal_amp * shape(ts[rows])
            new = (0.15 * normal) if flat else seasonal_amp * shape(ts[rows], peak_shift)
            mean[rows] += new - normal
        # label where the day departs most from its usual shape, as an annotator would
        diff = np.abs((0.85 if flat else 1.0) * shape(ts[rows]) - (0 if flat else shape(ts[rows], peak_shift)))
        onset = rows[int(np.argmax(diff > 0.5 * diff.max()))]
        return [_Incident("holiday", int(onset), holiday)]
    if kind == "weak_burst":
        at = int(rng.integers(lo, hi))
        length = int(rng.integers(8, 31))
        rate = rng.uniform(0.8, 2.0)

        def burst(mean: np.ndarray, _scale: np.ndarray) -> None:
            mean[at : at + length] += rate
        return [_Incident("weak_burst", at, burst)]
    raise ConfigError(f"unknown incident kind {kind!r}; use one of {KINDS}")


# --------------------------------------------------------------------------- families
def _normal_bursts(rng: np.random.Generator, ts: np.ndarray, per_day: float, low: float, high: float,
                   max_len: int) -> np.ndarray:
    """Additive short bursts at random times: normal behaviour, never labelled."""
    out = np.zeros(len(ts))
    days = max((ts[-1] - ts[0]) / DAY_S, 1e-9)
    for at in rng.integers(0, len(ts), size=rng.poisson(per_day * days)):
        out[at : at + int(rng.integers(1, max_len + 1))] += rng.uniform(low, high)
    return out


def _series(category: str, index: int, rng: np.random.Generator) -> _Series:
    gappy = category == "sensor" or rng.random() < 0.1
    ts, gaps = _time_index(rng, gappy)
    n = len(ts)
    season, shape = _season(ts, rng)
    seasonal = category in ("cpu", "network", "requests", "latency") or rng.random() < 0.3
    scenarios = SCENARIOS[category]
    kind = None if index % NO_INCIDENT_EVERY == NO_INCIDENT_EVERY - 1 else scenarios[index % len(scenarios)]
    scale = np.ones(n)
    count_like = category in ("requests", "errors")
    decimals = 0
    # mean: the signal in an additive space (linear, or log for multiplicative families)
    if category == "cpu":
        unit, amp = rng.uniform(1.0, 4.0), rng.uniform(4.0, 25.0)
        level = rng.uniform(10, 50)
        decimals = int(rng.choice([0, 1]))
    elif category == "network":
        unit, amp, level = rng.uniform(0.08, 0.25), rng.uniform(0.4, 1.2), rng.uniform(9, 16)
    elif category == "requests":
        unit, amp, level = 0.0, rng.uniform(0.5, 1.5), rng.uniform(1.5, 5.5)
        unit = 1.0 / np.sqrt(np.exp(level))  # Poisson noise in log space
    elif category == "errors":
        unit, amp, level = 2.0, 0.0, rng.uniform(0.01, 0.2)  # spikes of 12-28 errors
        seasonal = False
    elif category == "latency":
        unit, amp, level = rng.uniform(0.12, 0.35), rng.uniform(0.1, 0.5), rng.uniform(3.0, 5.7)
    elif category == "sensor":
        unit, amp, level = rng.uniform(0.3, 1.0), rng.uniform(0.5, 3.0), rng.uniform(20, 80)
        decimals = 2
    else:  # storage
        unit, amp, level = rng.uniform(0.1, 0.4), 0.0, rng.uniform(20, 60)
        seasonal = False
        decimals = 1
    seasonal_amp = amp if seasonal else 0.0
    mean = level + seasonal_amp * season
    if category == "storage":  # slow growth and clean-ups that drop back: normal regime changes
        growth = rng.uniform(0.002, 0.01) * unit * np.arange(n)
        cleanups = np.cumsum(_normal_bursts(rng, ts, 0.15, 5 * unit, 15 * unit, 1))
        mean = mean + growth - cleanups
    incidents = _plan(kind, n, rng, unit, seasonal_amp, ts, shape, count_like) if kind else []
    if kind and kind not in ("repeat_spike", "close_pair") and rng.random() < 0.2:
        # a second, independent spike far from the first incident
        w = int(WINDOW_FRACTION * n / 2)
        far = [a for a in range(int(FIRST_INCIDENT_FRACTION * n) + w, n - w, max(w // 4, 1))
               if all(abs(a - inc.anchor) > 2 * w for inc in incidents)]
        if far:
            at = int(rng.choice(far))
            incidents.append(_Incident("spike", at, _spike(at, rng.uniform(7, 12) * (unit or 1.0), 2)))
    for inc in incidents:
        inc.apply(mean, scale)
    values = _observe(category, mean, scale, unit, ts, rng)
    return _Series(ts, np.round(values, decimals), sorted(incidents, key=lambda i: i.anchor), decimals, gaps)


def _observe(category: str, mean: np.ndarray, scale: np.ndarray, unit: float, ts: np.ndarray,
             rng: np.random.Generator) -> np.ndarray:
    """Noise and the family's observation model around ``mean``."""
    n = len(mean)
    if category == "requests":  # Poisson with a little extra dispersion (more after a regime change)
        rate = np.exp(np.minimum(mean + 0.05 * scale * rng.standard_normal(n), 12.0))
        return rng.poisson(rate).astype(float)
    if category == "errors":
        bursts = _normal_bursts(rng, ts, 1.0, 2.0, 8.0, 2)
        return rng.poisson(np.maximum(mean + bursts, 0.0)).astype(float)
    phi = 0.98 if category == "sensor" else 0.5
    ar = lfilter([1.0], [1.0, -phi], rng.standard_normal(n) * np.sqrt(1 - phi**2))  # AR(1), unit variance
    noisy = mean + unit * scale * ar
    if category == "network":
        return np.exp(noisy + _normal_bursts(rng, ts, 3.0, 2.0 * unit, 4.0 * unit, 3))
    if category == "latency":
        spikes = _normal_bursts(rng, ts, 0.7, 3.0 * unit, 5.0 * unit, 1)
        return np.maximum(np.exp(noisy + spikes), 1.0)
    if category == "cpu":
        return np.clip(noisy, 0.0, 100.0)
    if category == "storage":
        return np.clip(noisy, 0.0, 100.0)
    return noisy


# --------------------------------------------------------------------------- windows, glitches
def nab_windows(n: int, anchors: list[int], fraction: float = WINDOW_FRACTION) -> list[tuple[int, int]]:
    """NAB's windows as row ranges: ``int(fraction * n / k)`` rows centred on each anchor, merged.

    >>> nab_windows(1000, [500, 530])
    [(475, 555)]
    >>> nab_windows(1000, [100, 900])
    [(75, 125), (875, 925)]
    """
    if not anchors:
        return []
    length = int(fraction * n / len(anchors))
    out: list[tuple[int, int]] = []
    for a in sorted(anchors):
        lo, hi = max(a - length // 2, 0), min(a + length // 2, n - 1)
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _glitch(series: _Series, windows: list[tuple[int, int]], rng: np.random.Generator) -> None:
    """Repeat an hour of timestamps, swap two rows or repeat one timestamp, away from windows."""
    n = len(series.ts)
    kind = str(rng.choice(["repeat_hour", "swap", "duplicate"]))
    margin = 3600 // max(int(np.median(np.diff(series.ts))), 1) + 2
    for _ in range(50):
        j = int(rng.integers(margin + 1, n - margin - 2))
        if all(j + margin < lo or j - margin > hi for lo, hi in windows):
            break
    else:
        return
    if kind == "repeat_hour":
        series.ts[j:] -= 3600
    elif kind == "swap":
        series.ts[[j, j + 1]] = series.ts[[j + 1, j]]
    else:
        series.ts[j + 1] = series.ts[j]
    series.glitch = kind


def _format_ts(seconds: np.ndarray) -> np.ndarray:
    return pd.to_datetime(seconds, unit="s").strftime("%Y-%m-%d %H:%M:%S").to_numpy()


def synth_corpus(out: str | Path, seed: int = 0, split: str = "dev", series_per_category: int = 32) -> SynthInfo:
    """Write the synthetic corpus of ``split`` and ``seed`` under ``out``; see the module docstring."""
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; use one of {sorted(SPLITS)} (tune on dev only)")
    if series_per_category < 1:
        raise ConfigError(f"series_per_category must be at least 1, got {series_per_category}")
    root = Path(out)
    info = SynthInfo(root=root, split=split, seed=seed, categories=list(CATEGORIES))
    streams = np.random.SeedSequence(seed, spawn_key=(SPLITS[split],)).spawn(len(CATEGORIES) * series_per_category)
    windows_doc: dict[str, list[list[str]]] = {}
    labels_doc: dict[str, list[str]] = {}
    incidents_doc: dict[str, dict] = {}
    kinds: Counter[str] = Counter()
    for c, category in enumerate(CATEGORIES):
        folder = root / "data" / category
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(series_per_category):
            rng = np.random.default_rng(streams[c * series_per_category + i])
            series = _series(category, i, rng)
            anchors = [inc.anchor for inc in series.incidents]
            windows = nab_windows(len(series.ts), anchors)
            if rng.random() < 0.15 or category == "sensor" and rng.random() < 0.3:
                _glitch(series, windows, rng)
            text = _format_ts(series.ts)
            key = f"{category}/{category}_{i:03d}.csv"
            fmt = f"{{:.{series.decimals}f}}" if series.decimals else "{:.0f}"
            if category in ("network",):
                fmt = "{:.6g}"
            lines = ["timestamp,value"] + [f"{t},{fmt.format(v)}" for t, v in zip(text, series.values)]
            (root / "data" / key).write_text("\n".join(lines) + "\n")
            windows_doc[key] = [[f"{text[lo]}.000000", f"{text[hi]}.000000"] for lo, hi in windows]
            labels_doc[key] = [f"{text[a]}.000000" for a in anchors]
            incidents_doc[key] = {
                "incidents": [{"kind": inc.kind, "row": inc.anchor, "timestamp": text[inc.anchor]}
                              for inc in series.incidents],
                "window_rows": [[lo, hi] for lo, hi in windows],
                "flags": {"gaps": series.gaps, "glitch": series.glitch or None},
            }
            kinds.update(inc.kind for inc in series.incidents)
            info.series += 1
            info.rows += len(series.ts)
            info.windows += len(windows)
            info.gappy_series += series.gaps >= 200
            info.glitched_series += bool(series.glitch)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    (root / "labels" / "combined_windows.json").write_text(json.dumps(windows_doc, indent=1, sort_keys=True))
    (root / "labels" / "combined_labels.json").write_text(json.dumps(labels_doc, indent=1, sort_keys=True))
    (root / "labels" / "incidents.json").write_text(json.dumps(
        {"split": split, "seed": seed, "series": incidents_doc}, indent=1, sort_keys=True))
    info.kinds = dict(sorted(kinds.items()))
    return info


def incident_recall(corpus, scores, threshold: float) -> dict[str, tuple[int, int]]:
    """Per incident kind: (windows with a detection, windows) when scores ``>= threshold`` detect.

    Reads ``labels/incidents.json`` of a synthetic corpus; a window holding two
    incidents counts for both kinds. ``"false alarms"`` gives (detections outside
    every window after the probationary period, scorable rows).

    >>> import tempfile
    >>> from admon.evaluation.corpus import load_corpus
    >>> root = tempfile.mkdtemp()
    >>> _ = synth_corpus(root, series_per_category=1)
    >>> corpus = load_corpus(root)
    >>> recall = incident_recall(corpus, {f.key: np.zeros(len(f)) for f in corpus}, 0.5)
    >>> recall["false alarms"][0], all(hit == 0 for hit, _ in recall.values())
    (0, True)
    """
    doc = json.loads((Path(corpus.root) / "labels" / "incidents.json").read_text())["series"]
    hits: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    false_alarms = scorable = 0
    for f in corpus:
        s = np.asarray(scores[f.key], dtype=float) >= threshold
        inside = np.zeros(len(f), dtype=bool)
        rows = [inc["row"] for inc in doc[f.key]["incidents"]]
        kinds = [inc["kind"] for inc in doc[f.key]["incidents"]]
        for lo, hi in f.window_bounds():
            inside[lo : hi + 1] = True
            detected = bool(s[lo : hi + 1].any())
            for kind in {k for k, r in zip(kinds, rows) if lo <= r <= hi}:
                totals[kind] += 1
                hits[kind] += detected
        start = int(np.ceil(probationary_length(len(f))))
        false_alarms += int((s & ~inside)[start:].sum())
        scorable += len(f) - start
    out = {k: (hits[k], totals[k]) for k in sorted(totals)}
    out["false alarms"] = (false_alarms, scorable)
    return out
