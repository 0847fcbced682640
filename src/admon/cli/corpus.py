"""``admon corpus synth --out DIR [--seed S] [--split dev|heldout]``: a synthetic labelled corpus.

Writes a NAB-format corpus (``data/<category>/*.csv``, ``labels/combined_windows.json``,
NAB's window convention) of monitoring series with the incident kinds of
:mod:`admon.evaluation.synth`. Tune on ``--split dev``; ``--split heldout`` is
drawn from a separate seed stream and is only for the final comparison.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from admon.cli.tables import cli_console

console = cli_console()
corpus_app = typer.Typer(help="Labelled corpora for benchmarks.", no_args_is_help=True)


@corpus_app.command("synth")
def synth(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the corpus to (data/ + labels/).")],
    seed: Annotated[int, typer.Option("--seed", help="Seed of the split's series (published tables: 0).")] = 0,
    split: Annotated[str, typer.Option("--split", help="dev (tune on it) or heldout (never tune on it).")] = "dev",
    series_per_category: Annotated[int, typer.Option("--series-per-category", min=1,
                                                     help="Series per category (7 categories).")] = 32,
) -> None:
    """Write a synthetic NAB-format corpus of labelled monitoring series."""
    # late: `admon --help` must not import pandas and scipy
    from admon.evaluation.synth import synth_corpus

    info = synth_corpus(out, seed=seed, split=split, series_per_category=series_per_category)
    console.print(f"wrote {info.series} series ({info.rows} rows, {info.windows} windows) to {info.root}, "
                  f"split {info.split}, seed {info.seed}", highlight=False)
    console.print("incidents: " + ", ".join(f"{k} {v}" for k, v in info.kinds.items()), highlight=False)
    console.print(f"series with >= 200 sampling gaps: {info.gappy_series}; with repeated or backward "
                  f"timestamps: {info.glitched_series}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(corpus_app, name="corpus")
