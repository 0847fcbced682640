"""The foundation detector: pretraining cost, scoring speed, few-shot time, and accuracy next to ``default``.

Usage:
  .venv/bin/python bench/foundation.py [--speed] [--heldback] [--nab [CORPUS_DIR]] [--synth-heldout]
      [--adapt-epochs N] [--markdown]

* ``--speed``: pretraining time and command (from the shipped manifest); zero-shot
  scoring speed (points/s, one thread) on 30 days of 5-minute data and on 100 k points;
  ``fit(frame, adapt_epochs=N)`` wall clock on 30 days of 5-minute data (one series).
* ``--heldback``: the pretraining corpus' held-back split (every 10th series of the
  shipped corpus seed, never trained on): AUC-PR and best event F1 of the points after
  the first 512 (which ``default`` fits on and few-shot adapts on), pooled over series.
* ``--nab``: NAB dev (realKnownCause, realTraffic and realTweets are not in it) under
  the threshold protocol with LOCO, through ``admon benchmark``'s causal runner:
  foundation zero-shot, foundation few-shot (head adapted on each file's probationary
  part), ``default``, an ensemble of ``default`` and ``foundation`` (mean of calibrated
  scores), and the published detectors' stored outputs (``--only`` picks rows).
* ``--synth-heldout``: the same table on the evaluation synthetic corpus' held-out split.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from admon.detectors import create
from admon.evaluation.corpus import load_corpus
from admon.evaluation.metrics import auc_pr, event_f1
from admon.evaluation.runner import (
    protocol_markdown,
    protocol_table,
    run_detector,
    stored_detectors,
    stored_run,
)
from admon.evaluation.synth import synth_corpus
from admon.pretrain.corpus import generate_corpus
from admon.pretrain.weights import read_manifest, shipped_weights_dir

DEFAULT_NAB = Path(__file__).resolve().parents[2] / "shared" / "data" / "nab-dev"
PUBLISHED = ["numenta", "contextOSE", "ARTime", "knncad", "windowedGaussian"]
STEP = 300_000


def _frame(values: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"host": "h", "timestamp": np.arange(len(values), dtype="int64") * STEP,
                         "value": values.astype(float)})


def _month(seed: int = 0, n: int = 30 * 288) -> np.ndarray:
    t = np.arange(n)
    rng = np.random.default_rng(seed)
    return 100 + 30 * np.sin(2 * np.pi * t / 288) + 10 * np.sin(2 * np.pi * t / 2016) + rng.normal(0, 3, n)


def speed(console: Console, adapt_epochs: list[int]) -> list[tuple[str, str]]:
    manifest = read_manifest(shipped_weights_dir())
    rows = [("pretraining", f"{manifest['train_seconds']:.0f} s on {manifest['workers']} CPU worker(s), "
                            f"{manifest['parameters']:,} parameters, {manifest['bytes']:,} bytes; "
                            f"`{manifest['command']}`")]
    det = create("foundation").fit(_frame(_month()[:10]))
    for n in (30 * 288, 100_000):
        frame = _frame(np.resize(_month(), n))
        det.score(frame.iloc[:600])  # warm-up
        began = time.perf_counter()
        det.score(frame)
        took = time.perf_counter() - began
        rows.append((f"zero-shot score, {n:,} points", f"{took:.2f} s = {n / took:,.0f} points/s"))
    month = _frame(_month())
    for epochs in adapt_epochs:
        began = time.perf_counter()
        create("foundation").fit(month, adapt_epochs=epochs)
        rows.append((f"fit(adapt_epochs={epochs}), 30 days x 5 min (8,640 points)",
                     f"{time.perf_counter() - began:.2f} s"))
    table = Table(title="foundation: cost")
    table.add_column("what")
    table.add_column("measured")
    for r in rows:
        table.add_row(*r)
    console.print(table)
    return rows


def _best_event_f1(labels: np.ndarray, scores: np.ndarray) -> float:
    best = 0.0
    for q in (0.9, 0.95, 0.98, 0.99, 0.995, 0.998, 0.999):
        best = max(best, event_f1(labels, scores >= np.quantile(scores, q)).f1)
    return best


def heldback(console: Console, adapt_epochs: int, n_series: int = 1024, length: int = 2048,
             fit_points: int = 512) -> list[tuple[str, float, float, float]]:
    manifest = read_manifest(shipped_weights_dir())
    seed = int(manifest["corpus"]["seed"])
    corpus = generate_corpus(seed, n_series, length)
    held = corpus.split(held_back=True)
    variants = {"foundation (zero-shot)": lambda: create("foundation"),
                f"foundation (few-shot, adapt_epochs={adapt_epochs})": lambda: create("foundation",
                                                                                      adapt_epochs=adapt_epochs),
                "default": lambda: create("default")}
    out = []
    for name, make in variants.items():
        all_labels, all_scores, f1s = [], [], []
        began = time.perf_counter()
        for i in held:
            frame = _frame(corpus.values[i])
            scores = make().fit(frame.iloc[:fit_points]).score(frame).to_numpy()[fit_points:]
            labels = corpus.labels[i][fit_points:]
            # per-series rank normalisation: pooled AUC-PR then compares rankings, not scales
            all_scores.append(pd.Series(scores).rank(pct=True).to_numpy())
            all_labels.append(labels)
            if labels.any():
                f1s.append(_best_event_f1(labels, scores))
        out.append((name, auc_pr(np.concatenate(all_labels), np.concatenate(all_scores)), float(np.mean(f1s)),
                    time.perf_counter() - began))
    table = Table(title=f"pretraining corpus (seed {seed}) held-back split: {len(held)} series x {length - fit_points} "
                        f"scored points (first {fit_points} for fit)")
    for col in ("detector", "AUC-PR (pooled, per-series ranks)", "best event F1 (mean over series)", "seconds"):
        table.add_column(col)
    for name, auc, f1, secs in out:
        table.add_row(name, f"{auc:.3f}", f"{f1:.3f}", f"{secs:.1f}")
    console.print(table)
    return out


ENSEMBLE = {"members": [{"name": "default"}, {"name": "foundation"}]}


def nab_table(console: Console, root: Path, adapt_epochs: int, markdown: bool, published: bool = True,
              variants: list[tuple[str, dict]] | None = None) -> None:
    corpus = load_corpus(root)
    runs = [stored_run(corpus, root / "results", n) for n in PUBLISHED
            if published and n in stored_detectors(root / "results")]
    variants = variants or [("foundation", {}), ("foundation", {"adapt_epochs": adapt_epochs}), ("default", {}),
                            ("ensemble", ENSEMBLE)]
    for name, params in variants:
        began = time.perf_counter()
        runs.append(run_detector(corpus, name, params))
        console.log(f"{root.name}: {name} {params} done in {time.perf_counter() - began:.1f} s")
    title = f"{root}: {len(corpus)} files, {corpus.n_windows} windows"
    console.print(protocol_table(runs, title=title, loco=True, seconds=True))
    if markdown:
        print(f"\n{title}\n")
        print(protocol_markdown(runs, loco=True, seconds=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", action="store_true")
    parser.add_argument("--heldback", action="store_true")
    parser.add_argument("--nab", nargs="?", const=str(DEFAULT_NAB), default=None)
    parser.add_argument("--synth-heldout", action="store_true")
    parser.add_argument("--adapt-epochs", type=int, default=5)
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--only", nargs="*", choices=["zero-shot", "few-shot", "default", "ensemble"],
                        help="NAB/synth rows to run (default: all)")
    args = parser.parse_args(argv)
    console = Console(width=200)
    if args.speed:
        speed(console, sorted({1, args.adapt_epochs, 4 * args.adapt_epochs}))
    if args.heldback:
        heldback(console, args.adapt_epochs)
    every = {"zero-shot": ("foundation", {}), "few-shot": ("foundation", {"adapt_epochs": args.adapt_epochs}),
             "default": ("default", {}), "ensemble": ("ensemble", ENSEMBLE)}
    variants = [every[k] for k in args.only] if args.only else None
    if args.nab:
        nab_table(console, Path(args.nab), args.adapt_epochs, args.markdown, variants=variants)
    if args.synth_heldout:
        with tempfile.TemporaryDirectory(prefix="admon-synth-") as tmp:
            info = synth_corpus(Path(tmp) / "heldout", seed=0, split="heldout")
            nab_table(console, info.root, args.adapt_epochs, args.markdown, published=False, variants=variants)
    if not (args.speed or args.heldback or args.nab or args.synth_heldout):
        parser.print_help()
    print(json.dumps({"weights_sha256": read_manifest(shipped_weights_dir())["sha256"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
