"""Run detectors causally over a labelled corpus, write NAB results, build a leaderboard.

For every file of a NAB-format corpus (:mod:`admon.evaluation.corpus`) a fresh
detector is fitted on the file's probationary period (the first 15 %, which NAB
never scores) and then scores the whole file. The runner **enforces causality**:
it also scores the file cut at a point after the probationary period, and the
scores of the rows before the cut must not change when the later rows are
added; a detector that looks ahead is refused with a :class:`ConfigError`.

Scores must lie in [0, 1] for NAB's results format. A detector whose scores
leave that range is calibrated causally: each score becomes its rank among the
previous scores of its file (:func:`squash`).

The leaderboard has, per detector: the NAB score under the three profiles, the
standard profile's optimised threshold and, at that threshold and after the
probationary period, event-level F1 (Orion), point-adjusted F1 and range-based
F1 (Tatbul et al., flat bias, alpha 0), plus point-wise AUC-PR; and the
seconds spent in ``fit`` + ``score`` (wall clock, and CPU time of the scoring threads;
threads a detector starts itself, e.g. torch intra-op threads, are not counted).
Every run is also scored under the threshold regimes of
:mod:`admon.evaluation.protocol` (shared, per-category, per-file, gap, LOCO), and
:func:`stored_run` evaluates a published detector's stored results alike.

>>> from admon.testing.nab import FIXTURE_ROOT
>>> from admon.evaluation.corpus import load_corpus
>>> run = run_detector(load_corpus(FIXTURE_ROOT), "default")
>>> run.results_name, len(run.scores), run.nab["standard"].normalized > 0
('default', 3, True)
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from admon import detectors
from admon.detectors.base import Detector
from admon.detectors.postrules import PostRuleChain
from admon.detectors.streaming import causal_rank
from admon.errors import ConfigError
from admon.evaluation.corpus import Corpus, CorpusFile, read_results, write_results
from admon.evaluation.metrics import (
    auc_pr,
    event_counts,
    event_prf,
    point_adjust,
    point_counts,
    range_sums,
    to_events,
)
from admon.evaluation.nab import (
    PROBATION_PERCENT,
    ProfileResult,
    corpus_nab_scores,
    probationary_length,
)
from admon.evaluation.protocol import ProtocolScores, ThresholdProtocol

# float32 models (torch) differ in the last bits with the batch they are run in
CAUSAL_TOLERANCE = 1e-6


@dataclass
class DetectorRun:
    """A detector's scores on a corpus and their evaluation."""

    detector: str
    params: dict[str, Any]
    results_name: str
    scores: dict[str, np.ndarray]
    seconds: float
    nab: dict[str, ProfileResult] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    cpu_seconds: float = 0.0
    # the standard profile under shared / per-category / per-file thresholds and LOCO
    protocol: ProtocolScores | None = None
    stored: bool = False  # scores read from stored results files (a published detector), not run here

    def summary(self) -> dict[str, Any]:
        """JSON-able leaderboard row."""
        return {
            "detector": self.detector,
            "results_name": self.results_name,
            "params": self.params,
            "seconds": round(self.seconds, 3),
            "cpu_seconds": round(self.cpu_seconds, 3),
            "nab": {p: round(r.normalized, 4) for p, r in self.nab.items()},
            "nab_raw": {p: {"raw": r.raw, "threshold": r.threshold} for p, r in self.nab.items()},
            **{k: round(v, 4) for k, v in self.metrics.items()},
            **({"protocol": _protocol_summary(self.protocol)} if self.protocol else {}),
            **({"stored": True} if self.stored else {}),
        }


def _protocol_summary(res: ProtocolScores) -> dict[str, Any]:
    keys = ["shared", "per_category", "per_file", "gap", "loco_mean", "loco_pooled"]
    out: dict[str, Any] = {k: round(float(getattr(res, k)), 4) for k in keys}
    out["loco_by_category"] = {c: None if np.isnan(v.loco) else round(v.loco, 4) for c, v in res.categories.items()}
    return out


def results_name(detector: str, params: Mapping[str, Any] | None = None) -> str:
    """A NAB results folder name: no ``_`` or ``.``; parameters add a short hash.

    >>> results_name("robust_zscore"), results_name("default", {"refractory": 10})[:8]
    ('robustzscore', 'defaultp')
    """
    base = re.sub(r"[^A-Za-z0-9-]", "", detector)
    if params:
        import hashlib

        digest = hashlib.sha256(json.dumps(dict(params), sort_keys=True, default=str).encode()).hexdigest()
        base += "p" + digest[:6]
    return base


def squash(scores: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Bring one detector's scores into [0, 1], causally.

    Scores already in [0, 1] everywhere are kept. Otherwise every score becomes
    its rank among the previous scores of its file
    (:func:`admon.detectors.streaming.causal_rank`): raw scales rarely mean the
    same thing on two series, and NAB uses one threshold for all files, so each
    series is calibrated against its own past (as the default detector does
    inside). A pointwise map such as ``x / (1 + x)`` keeps raw scales and ranks
    most built-in detectors near the null detector on NAB.

    >>> squash({"a": np.array([0.0, 0.5, 1.0])})["a"].tolist()
    [0.0, 0.5, 1.0]
    >>> squash({"a": np.array([5.0, 1.0, 3.0, 9.0])})["a"].round(3).tolist()
    [0.0, 0.0, 0.5, 0.925]
    """
    clean = {k: np.nan_to_num(np.asarray(v, dtype=float), nan=0.0, posinf=1e300, neginf=-1e300)
             for k, v in scores.items()}
    values = [v for v in clean.values() if len(v)]
    if not values or (min(float(v.min()) for v in values) >= 0.0 and max(float(v.max()) for v in values) <= 1.0):
        return clean
    return {k: causal_rank(v, history=max(len(v), 1), warmup=1) for k, v in clean.items()}


def shaping_rules(detector: Detector) -> PostRuleChain:
    """The rules of ``detector``'s post-rule chain that a benchmark applies to its raw scores.

    The same chain as a run's (:meth:`PostRuleChain.for_detector`) up to ``calibrate``:
    NAB picks one threshold for the whole corpus on [0, 1] scores, which stands in for
    calibrate and threshold. So the default detector is benchmarked with its ``suppress``.

    >>> from admon.detectors import create
    >>> [rule.name for rule in shaping_rules(create("default"))], len(shaping_rules(create("ewma")))
    (['suppress'], 0)
    """
    return PostRuleChain.for_detector(detector).before("calibrate")


def _score_file(
    name: str, params: Mapping[str, Any], f: CorpusFile, check_causal: bool
) -> tuple[np.ndarray, float, float]:
    frame = f.frame()
    n = len(frame)
    fit_rows = max(int(probationary_length(n)), 1)
    started, cpu_started = time.perf_counter(), time.thread_time()
    det = detectors.create(name, **params).fit(frame.iloc[:fit_rows])
    rules = shaping_rules(det)
    scores = rules.apply(det.score(frame), frame)["anomaly_score"].to_numpy(dtype=float)
    seconds, cpu = time.perf_counter() - started, time.thread_time() - cpu_started
    if check_causal and n > fit_rows + 2:
        cut = fit_rows + (n - fit_rows) // 2
        again = detectors.create(name, **params).fit(frame.iloc[:fit_rows])
        head_frame = frame.iloc[:cut]
        head = rules.apply(again.score(head_frame), head_frame)["anomaly_score"].to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isclose(head, scores[:cut], rtol=CAUSAL_TOLERANCE, atol=CAUSAL_TOLERANCE))
        if len(bad):
            raise ConfigError(
                f"detector {name!r} is not causal on {f.key}: the score of row {int(bad[0])} changes from "
                f"{head[bad[0]]:.10g} to {scores[bad[0]]:.10g} when rows after row {cut} are added; "
                "a benchmarked detector may only use data up to each point"
            )
    return scores, seconds, cpu


def run_detector(
    corpus: Corpus,
    name: str,
    params: Mapping[str, Any] | None = None,
    *,
    check_causal: bool = True,
    jobs: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> DetectorRun:
    """Score every file of ``corpus`` with detector ``name`` and evaluate the scores;
    ``progress(files done, files)`` is called as files finish."""
    params = dict(params or {})
    detectors.create(name, **params)  # validate name and parameters before any work
    total = len(corpus.files)
    done = []
    with ThreadPoolExecutor(max_workers=jobs) if jobs > 1 else nullcontext() as pool:
        scored = (pool.map if pool is not None else map)(lambda f: _score_file(name, params, f, check_causal),
                                                          corpus.files)
        for result in scored:
            done.append(result)
            if progress is not None:
                progress(len(done), total)
    scores = squash({f.key: d[0] for f, d in zip(corpus.files, done)})
    # seconds = time in fit + score (the causality re-check is not counted); with
    # several jobs the files overlap, so the sum over files is divided by the jobs
    seconds = sum(d[1] for d in done) / max(1, min(jobs, len(done)))
    run = DetectorRun(name, params, results_name(name, params), scores, seconds)
    # CPU time of the scoring threads: what the detector costs, whatever else the machine runs
    run.cpu_seconds = sum(d[2] for d in done)
    evaluate(run, corpus)
    return run


def evaluate(run: DetectorRun, corpus: Corpus, protocol: ThresholdProtocol | None = None) -> DetectorRun:
    """Fill ``run.nab``, ``run.metrics`` and ``run.protocol`` from ``run.scores``."""
    run.nab = corpus_nab_scores(corpus, run.scores)
    run.metrics = threshold_metrics(corpus, run.scores, run.nab["standard"].threshold)
    run.protocol = (protocol or ThresholdProtocol.from_corpus(corpus)).evaluate(run.scores)
    return run


def stored_run(corpus: Corpus, results_dir: str | Path, name: str) -> DetectorRun:
    """A published detector's stored NAB results (``results_dir/<name>/...``), evaluated like a run.

    >>> from admon.testing.nab import FIXTURE_ROOT
    >>> from admon.evaluation.corpus import load_corpus
    >>> run = stored_run(load_corpus(FIXTURE_ROOT), FIXTURE_ROOT / "results", "numenta")
    >>> round(run.protocol.shared, 2), run.stored
    (73.96, True)
    """
    run = DetectorRun(name, {}, name, read_results(results_dir, name, corpus), 0.0, stored=True)
    return evaluate(run, corpus)


def stored_detectors(results_dir: str | Path) -> list[str]:
    """Names of the detectors with a results folder under ``results_dir``."""
    root = Path(results_dir)
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def threshold_metrics(corpus: Corpus, scores: Mapping[str, np.ndarray], threshold: float) -> dict[str, float]:
    """F1 variants at ``threshold`` and AUC-PR, pooled over the files (probation excluded)."""
    ev = np.zeros(3, dtype=np.int64)
    pa = np.zeros(3, dtype=np.int64)
    rng = np.zeros(4)
    all_labels, all_scores = [], []
    for f in corpus:
        start = int(np.ceil(probationary_length(len(f), PROBATION_PERCENT)))
        labels = f.labels()[start:]
        s = np.asarray(scores[f.key], dtype=float)[start:]
        pred = s >= threshold
        ev += event_counts(to_events(labels), to_events(pred))
        pa += point_counts(labels.astype(bool), point_adjust(labels, pred))
        rng += range_sums(labels, pred)
        all_labels.append(labels)
        all_scores.append(s)
    ev_prf = event_prf(*ev)
    pa_prf = event_prf(*pa)
    recall = rng[0] / rng[1] if rng[1] else 0.0
    precision = rng[2] / rng[3] if rng[3] else 0.0
    range_f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return {
        "event_f1": ev_prf.f1,
        "event_precision": ev_prf.precision,
        "event_recall": ev_prf.recall,
        "pa_f1": pa_prf.f1,
        "range_precision": precision,
        "range_recall": recall,
        "range_f1": range_f1,
        "auc_pr": auc_pr(np.concatenate(all_labels), np.concatenate(all_scores)) if all_labels else 0.0,
    }


def write_run(run: DetectorRun, corpus: Corpus, out_dir: str | Path) -> Path:
    """Write NAB results files and ``<name>_scores.json`` for one run; return its folder."""
    out_dir = Path(out_dir)
    for f in corpus:
        write_results(out_dir, run.results_name, f, run.scores[f.key])
    folder = out_dir / run.results_name
    doc = run.summary() | {"per_file_standard": run.nab["standard"].per_file}
    (folder / f"{run.results_name}_scores.json").write_text(json.dumps(doc, indent=1, sort_keys=True))
    return folder


def write_leaderboard(runs: Sequence[DetectorRun], out_dir: str | Path) -> Path:
    """``final_results.json`` (NAB's layout: detector -> profile -> score) and ``leaderboard.json``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    final = {r.results_name: {p: res.normalized for p, res in r.nab.items()} for r in runs}
    (out_dir / "final_results.json").write_text(json.dumps(final, indent=1, sort_keys=True))
    path = out_dir / "leaderboard.json"
    path.write_text(json.dumps([r.summary() for r in runs], indent=1, sort_keys=True))
    return path


def leaderboard_table(runs: Sequence[DetectorRun], title: str = "NAB leaderboard"):
    """A Rich table of the runs, best standard score first."""
    from rich.table import Table

    table = Table(title=title)
    for col in ["detector", "standard", "low FP", "low FN", "threshold", "event F1", "PA F1",
                "range F1", "AUC-PR", "seconds", "cpu s"]:
        table.add_column(col, justify="left" if col == "detector" else "right")
    for r in sorted(runs, key=lambda r: -r.nab["standard"].normalized):
        table.add_row(
            _label(r),
            f"{r.nab['standard'].normalized:.2f}",
            f"{r.nab['reward_low_FP_rate'].normalized:.2f}",
            f"{r.nab['reward_low_FN_rate'].normalized:.2f}",
            f"{r.nab['standard'].threshold:.4g}",
            f"{r.metrics['event_f1']:.3f}",
            f"{r.metrics['pa_f1']:.3f}",
            f"{r.metrics['range_f1']:.3f}",
            f"{r.metrics['auc_pr']:.3f}",
            f"{r.seconds:.2f}",
            f"{r.cpu_seconds:.2f}",
        )
    return table


def _label(r: DetectorRun) -> str:
    label = r.detector if not r.params else f"{r.detector} {json.dumps(r.params, sort_keys=True)}"
    return f"{label} (stored)" if r.stored else label


PROTOCOL_COLUMNS = ["shared", "per-category", "per-file", "gap"]
LOCO_COLUMNS = ["LOCO mean", "LOCO pooled"]


def _protocol_cells(r: DetectorRun, loco: bool, seconds: bool) -> list[str]:
    res = r.protocol
    assert res is not None
    cells = [f"{res.shared:.2f}", f"{res.per_category:.2f}", f"{res.per_file:.2f}", f"{res.gap:.2f}"]
    cells += [f"{res.loco_mean:.2f}", f"{res.loco_pooled:.2f}"] if loco else []
    return cells + ([("-" if r.stored else f"{r.seconds:.2f}")] if seconds else [])


def _by_loco_or_shared(runs: Sequence[DetectorRun], loco: bool) -> list[DetectorRun]:
    def key(r: DetectorRun) -> float:
        assert r.protocol is not None
        value = r.protocol.loco_mean if loco else r.protocol.shared
        return -value if value == value else float("inf")  # NaN last

    return sorted([r for r in runs if r.protocol is not None], key=key)


def protocol_table(runs: Sequence[DetectorRun], title: str = "NAB standard under threshold regimes",
                   loco: bool = True, seconds: bool = False):
    """A Rich table: NAB standard under a shared / per-category / per-file threshold, the gap, LOCO."""
    from rich.table import Table

    table = Table(title=title)
    table.add_column("detector")
    for col in PROTOCOL_COLUMNS + (LOCO_COLUMNS if loco else []) + (["seconds"] if seconds else []):
        table.add_column(col, justify="right")
    for r in _by_loco_or_shared(runs, loco):
        table.add_row(_label(r), *_protocol_cells(r, loco, seconds))
    return table


def loco_category_table(runs: Sequence[DetectorRun], title: str = "LOCO per left-out category"):
    """A Rich table: each left-out category's NAB standard score (threshold from the other categories)."""
    from rich.table import Table

    scored = _by_loco_or_shared(runs, True)
    cats = sorted({c for r in scored for c in r.protocol.categories})  # type: ignore[union-attr]
    table = Table(title=title)
    table.add_column("detector")
    for c in cats:
        table.add_column(c, justify="right")
    for r in scored:
        assert r.protocol is not None
        cells = []
        for c in cats:
            v = r.protocol.categories.get(c)
            cells.append("-" if v is None else (f"raw {v.loco_raw:.2f}" if np.isnan(v.loco) else f"{v.loco:.2f}"))
        table.add_row(_label(r), *cells)
    return table


def protocol_markdown(runs: Sequence[DetectorRun], loco: bool = True, seconds: bool = False) -> str:
    """:func:`protocol_table` as Markdown (for BENCHMARKS.md)."""
    cols = ["detector", *PROTOCOL_COLUMNS, *(LOCO_COLUMNS if loco else []), *(["seconds"] if seconds else [])]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in _by_loco_or_shared(runs, loco):
        lines.append("| " + " | ".join([_label(r), *_protocol_cells(r, loco, seconds)]) + " |")
    return "\n".join(lines)


def markdown_table(runs: Sequence[DetectorRun]) -> str:
    """The leaderboard as a Markdown table (for BENCHMARKS.md)."""
    head = "| detector | standard | low FP | low FN | event F1 | PA F1 | range F1 | AUC-PR | seconds | cpu s |"
    lines = [head, "|" + "---|" * 10]
    for r in sorted(runs, key=lambda r: -r.nab["standard"].normalized):
        lines.append(
            f"| {r.detector} | {r.nab['standard'].normalized:.2f} | {r.nab['reward_low_FP_rate'].normalized:.2f} | "
            f"{r.nab['reward_low_FN_rate'].normalized:.2f} | {r.metrics['event_f1']:.3f} | {r.metrics['pa_f1']:.3f} | "
            f"{r.metrics['range_f1']:.3f} | {r.metrics['auc_pr']:.3f} | {r.seconds:.2f} | {r.cpu_seconds:.2f} |"
        )
    return "\n".join(lines)


def plot_run(run: DetectorRun, corpus: Corpus, out_dir: str | Path,
             progress: Callable[[int, int], None] | None = None) -> list[Path]:
    """One PNG per file: series, scores, labelled windows and detections at the standard threshold;
    ``progress(files done, files)`` after each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    threshold = run.nab["standard"].threshold
    paths = []
    for f in corpus:
        s = run.scores[f.key]
        t = f.data["timestamp"].to_numpy()
        fig, ax = plt.subplots(figsize=(12, 3.5))
        ax.plot(t, f.data["value"].to_numpy(), lw=0.7, color="tab:blue", label="value")
        for lo, hi in f.window_bounds():
            ax.axvspan(t[lo], t[hi], color="tab:red", alpha=0.15)
        det = np.flatnonzero(s >= threshold)
        ax.scatter(t[det], f.data["value"].to_numpy()[det], s=14, color="tab:red", zorder=3, label="detection")
        ax2 = ax.twinx()
        ax2.plot(t, s, lw=0.6, color="tab:green", alpha=0.7)
        ax2.axhline(threshold, lw=0.6, ls="--", color="k")
        ax2.set_ylim(0, 1.05)
        ax2.set_ylabel("anomaly score")
        ax.set_title(f"{run.detector}: {f.key}  (NAB standard threshold {threshold:.4g})", fontsize=9)
        fig.tight_layout()
        path = Path(out_dir) / run.results_name / "plots" / f.key.replace(".csv", ".png")
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=80)
        plt.close(fig)
        paths.append(path)
        if progress is not None:
            progress(len(paths), len(corpus))
    return paths
