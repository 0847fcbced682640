"""How much the ``default`` detector's NAB score owes to its exact parameter values.

Usage: .venv/bin/python bench/nab_sensitivity.py [CORPUS_DIR] [--factors 0.5 0.75 1.25 1.5]
       [--params NAME ...] [--base k=v ...] [--markdown]

Moves one parameter at a time to each factor times its default (integers are
rounded, tuples scaled element-wise) and runs the detector through the causal
runner of ``admon benchmark``. Prints one table: the NAB standard score per
parameter and factor, next to the default's score and the best published score
on the same files (Numenta HTM, NAB's own scorer). A design whose score holds
across the table is evidence; a lone peak is luck. ``--base`` sets the other
parameters (e.g. ``--base shift_windows=[] refractory_gap=0`` scores the design
without its shift channels and gap).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from admon.cli.models import parse_params
from admon.detectors.streaming import DefaultConfig
from admon.evaluation.corpus import load_corpus
from admon.evaluation.runner import run_detector

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "nab-dev"
HTM_DEV_SCORE = 73.56  # Numenta HTM on the 34 dev files (results/reference_scores.json)
# Parameters that never act on a corpus of ~4,000-point files are left out by default:
# rank_history, warmup, spatial_warmup and state_points (scores identical across the table).
TUNABLE = ["short_window", "long_window", "paa", "history", "shift_windows", "shift_reference",
           "shift_tail", "shift_weight", "spatial_tolerance", "refractory", "refractory_gap"]


def moved(name: str, value: Any, factor: float) -> Any:
    """``value`` times ``factor``, keeping its type (ints rounded and kept >= 2 where needed)."""
    if isinstance(value, tuple):
        return [moved(name, v, factor) for v in value]
    if isinstance(value, int):
        return max(2 if name in ("paa", "shift_windows") else 1, round(value * factor))
    return round(value * factor, 9)  # 0.0375, not 0.037500000000000006


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", default=str(DEFAULT_CORPUS))
    parser.add_argument("--factors", nargs="*", type=float, default=[0.5, 0.75, 1.25, 1.5])
    parser.add_argument("--params", nargs="*", default=TUNABLE)
    parser.add_argument("--base", nargs="*", default=[], help="k=v settings of the design under test")
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    args = parser.parse_args(argv)
    corpus = load_corpus(args.corpus)
    base = parse_params(args.base, None)
    config = DefaultConfig(**base)
    console = Console(width=160)
    started = time.perf_counter()
    centre = run_detector(corpus, "default", base).nab["standard"].normalized
    rows = []
    for name in args.params:
        value = getattr(config, name)
        cells = []
        for factor in args.factors:
            setting = moved(name, value, factor)
            score = run_detector(corpus, "default", {**base, name: setting}).nab["standard"].normalized
            cells.append((setting, score))
        rows.append((name, value, cells))
        console.log(f"{name} done")
    table = Table(title=f"default, NAB standard score; x{' / x'.join(map(str, args.factors))} of each parameter "
                        f"(default {centre:.2f}; Numenta HTM {HTM_DEV_SCORE}; {time.perf_counter() - started:.0f} s)")
    table.add_column("parameter (default)")
    for factor in args.factors:
        table.add_column(f"x{factor}", justify="right")
    below = 0
    for name, value, cells in rows:
        table.add_row(f"{name} ({value})", *(f"{s}: {v:.2f}" for s, v in cells))
        below += sum(v <= HTM_DEV_SCORE for _, v in cells)
    console.print(table)
    total = sum(len(c) for _, _, c in rows)
    console.print(f"{total - below} of {total} settings above Numenta HTM's {HTM_DEV_SCORE}; "
                  f"lowest {min(v for _, _, c in rows for _, v in c):.2f}, highest {max(v for _, _, c in rows for _, v in c):.2f}")
    if args.markdown:
        print("| parameter (default) | " + " | ".join(f"x{f}" for f in args.factors) + " |")
        print("|---|" + "---|" * len(args.factors))
        for name, value, cells in rows:
            marks = [f"{s}: **{v:.2f}**" if v <= HTM_DEV_SCORE else f"{s}: {v:.2f}" for s, v in cells]
            print(f"| {name} ({value}) | " + " | ".join(marks) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
