"""NAB standard score under a shared, per-category and per-file threshold, the gap, and LOCO.

Usage:
  .venv/bin/python bench/nab_loco.py [CORPUS_DIR] [--synth DIR ...] [--synth-split dev|heldout ...]
      [--synth-seed S] [--only NAME ...] [--skip NAME ...] [--categories] [--markdown] [--jobs N]

One table per corpus (the NAB dev subset by default, then each synthetic corpus):
every registered admon detector (or those given with ``--only``), run causally by
``admon benchmark``'s runner, and the five published detectors whose stored
outputs ship with the corpus (``CORPUS_DIR/results``: numenta, contextOSE, ARTime,
knncad, windowedGaussian; only the NAB dev subset has them). Columns
(:mod:`admon.evaluation.protocol`, NAB standard profile, one normalisation):

* shared -- one threshold optimised over all files (NAB's number);
* per-category -- one threshold per category; per-file -- one ideal threshold per file;
* gap -- per-file minus shared (how differently the scores read on different series);
* LOCO mean -- each category scored with the threshold optimised on the other
  categories, mean over the categories with labelled windows; LOCO pooled -- the
  left-out raw scores of all categories added up and normalised like ``shared``;
* seconds -- fit + score wall clock (0 for stored outputs).

``--synth DIR`` adds a corpus written by ``admon corpus synth``; ``--synth-split
dev`` / ``heldout`` writes one (seed ``--synth-seed``, default 0) into a temporary
folder first. Rows are sorted by LOCO mean. ``--categories`` also prints each
left-out category's score.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from admon import detectors
from admon.evaluation.corpus import load_corpus
from admon.evaluation.runner import (
    DetectorRun,
    loco_category_table,
    protocol_markdown,
    protocol_table,
    run_detector,
    stored_detectors,
    stored_run,
)
from admon.evaluation.synth import incident_recall, synth_corpus

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "nab-dev"
PUBLISHED = ["numenta", "contextOSE", "ARTime", "knncad", "windowedGaussian"]


def evaluate_corpus(root: Path, names: list[str], console: Console, jobs: int, check_causal: bool):
    corpus = load_corpus(root)
    runs: list[DetectorRun] = []
    failures: list[tuple[str, str]] = []
    for name in [n for n in PUBLISHED if n in stored_detectors(root / "results")]:
        runs.append(stored_run(corpus, root / "results", name))
    for name in names:
        started = time.perf_counter()
        try:
            runs.append(run_detector(corpus, name, check_causal=check_causal, jobs=jobs))
        except Exception as exc:  # a failing detector is reported, not a crash of the table
            failures.append((name, f"{type(exc).__name__}: {exc}"[:200]))
        console.log(f"{root.name}: {name} done in {time.perf_counter() - started:.1f} s")
    points = sum(len(f) for f in corpus)
    title = (f"{root}: {len(corpus)} files, {len(set(f.category for f in corpus))} categories, "
             f"{corpus.n_windows} windows, {points:,} points")
    return corpus, runs, failures, title


def kinds_table(corpus, runs: list[DetectorRun], title: str) -> Table:
    """Per detector: windows detected / windows per incident kind, and false alarms per 1,000 rows."""
    recalls = {}
    for r in runs:
        assert r.protocol is not None
        recalls[r.detector] = incident_recall(corpus, r.scores, r.protocol.shared_threshold)
    kinds = sorted({k for rec in recalls.values() for k in rec if k != "false alarms"})
    table = Table(title=title)
    for col in ["detector", *kinds, "false alarms / 1k rows"]:
        table.add_column(col, justify="left" if col == "detector" else "right")
    for name, rec in recalls.items():
        fa, rows = rec["false alarms"]
        table.add_row(name, *[f"{rec[k][0]}/{rec[k][1]}" if k in rec else "-" for k in kinds],
                      f"{1000 * fa / max(rows, 1):.2f}")
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", default=str(DEFAULT_CORPUS), help="NAB-format corpus (default: dev)")
    parser.add_argument("--synth", nargs="*", default=[], help="synthetic corpora written by `admon corpus synth`")
    parser.add_argument("--synth-split", nargs="*", default=[], choices=["dev", "heldout"],
                        help="write the synthetic corpus of this split to a temporary folder and add it")
    parser.add_argument("--synth-seed", type=int, default=0)
    parser.add_argument("--synth-series", type=int, default=32, help="series per category of --synth-split")
    parser.add_argument("--only", nargs="*", help="admon detectors (default: every registered one)")
    parser.add_argument("--skip", nargs="*", default=[], help="admon detectors to leave out")
    parser.add_argument("--no-nab", action="store_true", help="only the synthetic corpora")
    parser.add_argument("--categories", action="store_true", help="also print LOCO per left-out category")
    parser.add_argument("--kinds", action="store_true",
                        help="synthetic corpora: also print each incident kind's recall at the shared threshold")
    parser.add_argument("--markdown", action="store_true", help="also print Markdown tables")
    parser.add_argument("--jobs", type=int, default=1, help="files scored in parallel (threads)")
    parser.add_argument("--no-check-causal", action="store_true", help="skip the runner's causality re-check")
    args = parser.parse_args(argv)
    names = [n for n in (args.only if args.only is not None else detectors.available()) if n not in args.skip]
    corpora = [] if args.no_nab else [Path(args.corpus)]
    corpora += [Path(p) for p in args.synth]
    tmp = Path(tempfile.mkdtemp(prefix="admon-synth-")) if args.synth_split else None
    for split in args.synth_split:
        assert tmp is not None
        info = synth_corpus(tmp / f"synth-{split}-seed{args.synth_seed}", seed=args.synth_seed, split=split,
                            series_per_category=args.synth_series)
        corpora.append(info.root)
    console = Console(width=200)
    for root in corpora:
        corpus, runs, failures, title = evaluate_corpus(root, names, console, args.jobs, not args.no_check_causal)
        console.print(protocol_table(runs, title=title, loco=True, seconds=True))
        if args.categories:
            console.print(loco_category_table(runs, title=f"LOCO per left-out category: {root}"))
        if args.kinds and (root / "labels" / "incidents.json").is_file():
            console.print(kinds_table(corpus, runs, f"incident kinds detected at the shared threshold: {root}"))
        for name, reason in failures:
            console.print(f"not ranked: {name}: {reason}", highlight=False)
        warnings = corpus.order_warnings()
        if warnings:
            console.print(f"{len(warnings)} file(s) with repeated or backward timestamps, processed in file order")
        if args.markdown:
            print(f"\n{title}\n")
            print(protocol_markdown(runs, loco=True, seconds=True))
            for name, reason in failures:
                print(f"| {name} | not ranked: {reason} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
