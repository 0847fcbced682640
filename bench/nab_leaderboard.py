"""Leaderboard of every built-in detector on the NAB development subset.

Usage: .venv/bin/python bench/nab_leaderboard.py [CORPUS_DIR] [--only NAME ...] [--markdown]

Each detector runs with its default parameters through the causal runner of
``admon benchmark`` (fit on each file's probationary period, then score the
file; past scores must not change when future rows are added). A detector the
runner refuses, or one that fails, is listed with the reason. Prints one table:
NAB standard / reward_low_FP_rate / reward_low_FN_rate, event F1, point-adjusted
F1, range F1, AUC-PR, the wall-clock seconds spent in fit + score (one thread)
and the CPU seconds of that thread.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from admon import detectors
from admon.errors import AdmonError
from admon.evaluation.corpus import load_corpus
from admon.evaluation.runner import leaderboard_table, markdown_table, run_detector

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "nab-dev"
# Published scores of NAB's scoreboard leaders on these 34 files (NAB's own scorer,
# ../shared/data/nab-dev/results/reference_scores.json), shown for comparison.
REFERENCE = {"Numenta HTM": 73.56, "CAD OSE": 71.72, "ARTime": 71.05}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", default=str(DEFAULT_CORPUS))
    parser.add_argument("--only", nargs="*", help="detector names (default: all built-in)")
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    args = parser.parse_args(argv)
    corpus = load_corpus(args.corpus)
    names = args.only or detectors.available()
    console = Console(width=160)
    runs, failures = [], []
    for name in names:
        started = time.perf_counter()
        try:
            runs.append(run_detector(corpus, name))
        except (AdmonError, Exception) as exc:  # a failing detector is a leaderboard row, not a crash
            failures.append((name, f"{type(exc).__name__}: {exc}"[:160], time.perf_counter() - started))
        console.log(f"{name} done")
    console.print(leaderboard_table(runs, title=f"NAB dev subset ({len(corpus)} files, {corpus.n_windows} windows)"))
    if failures:
        table = Table(title="not ranked")
        for col in ["detector", "reason", "seconds"]:
            table.add_column(col)
        for name, reason, secs in failures:
            table.add_row(name, reason, f"{secs:.1f}")
        console.print(table)
    console.print("reference (NAB's scorer on the same files): "
                  + ", ".join(f"{k} {v:.2f}" for k, v in REFERENCE.items()))
    if args.markdown:
        print(markdown_table(runs))
        for name, reason, _ in failures:
            print(f"| {name} | not ranked: {reason} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
