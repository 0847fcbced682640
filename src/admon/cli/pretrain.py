"""``admon pretrain …``: train the foundation detector's weights on the generated corpus, on N workers.

``admon pretrain --workers 2 --out DIR`` writes the job (corpus + config) to DIR and runs
two local workers (torch.distributed, gloo on CPU); its defaults are the recipe of the
shipped weights, so on the same machine it reproduces their sha256; ``admon pretrain worker DIR`` runs one
worker of an existing job (a Kubernetes pod: rank from ADMON_WORKER_ID or the StatefulSet
ordinal); ``admon pretrain corpus --out DIR`` only writes the corpus.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from admon.cli.tables import cli_console
from admon.errors import ConfigError
from admon.pretrain.corpus import write_corpus
from admon.pretrain.launcher import launch_local, prepare_job, run_worker
from admon.pretrain.model import ModelConfig
from admon.pretrain.trainer import TrainConfig
from admon.pretrain.weights import MANIFEST_NAME

pretrain_app = typer.Typer(help="Pretrain the foundation detector (distributed, resumable).",
                           invoke_without_command=True)
console = cli_console()


@pretrain_app.callback()
def pretrain(
    ctx: typer.Context,
    out: Annotated[Path | None, typer.Option("--out", help="Job folder: corpus, checkpoints, weights.")] = None,
    workers: Annotated[int, typer.Option(help="Local worker processes (torch.distributed ranks).")] = 1,
    seed: Annotated[int, typer.Option(help="Corpus and initialisation seed.")] = 0,
    steps: Annotated[int, typer.Option(help="Optimizer steps.")] = 200,
    batch_size: Annotated[int, typer.Option(help="Series crops per step, split over the workers.")] = 16,
    crop: Annotated[int, typer.Option(help="Points per training crop.")] = 768,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 3e-3,
    channels: Annotated[int, typer.Option(help="Width of the network.")] = 32,
    corpus_series: Annotated[int, typer.Option(help="Series in the generated corpus.")] = 1024,
    corpus_length: Annotated[int, typer.Option(help="Points per corpus series.")] = 2048,
    checkpoint_every: Annotated[int, typer.Option(help="Steps between checkpoints.")] = 10,
    max_restarts: Annotated[int, typer.Option(help="Restarts of failed local workers before giving up.")] = 3,
    collective_timeout: Annotated[float, typer.Option(help="Seconds before a hung collective fails.")] = 60.0,
    rejoin_timeout: Annotated[float, typer.Option(help="Seconds survivors wait for a lost worker.")] = 600.0,
) -> None:
    """Write the job to --out and run --workers local workers until the weights are written."""
    if ctx.invoked_subcommand is not None:
        return
    if out is None:
        raise ConfigError("admon pretrain needs --out DIR (the job folder), e.g. admon pretrain --workers 2 --out run1")
    config = TrainConfig(seed=seed, steps=steps, batch_size=batch_size, crop=crop, lr=lr,
                         checkpoint_every=checkpoint_every, model=ModelConfig(channels=channels),
                         collective_timeout=collective_timeout, rejoin_timeout=rejoin_timeout)
    command = ["admon", "pretrain", *sys.argv[2:]] if sys.argv[1:2] == ["pretrain"] else ["admon", *sys.argv[1:]]
    job = prepare_job(out, config, workers, corpus_series, corpus_length, command)
    seconds = launch_local(job, max_restarts=max_restarts)
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    console.print(f"weights: {out / manifest['weights']} sha256 {manifest['sha256']} "
                  f"({manifest['parameters']} parameters, final loss {manifest['final_loss']:.4f}, "
                  f"{seconds:.0f} s on {workers} worker(s))")


@pretrain_app.command("worker")
def worker(job_dir: Annotated[Path, typer.Argument(help="Folder of a job written by `admon pretrain`.")]) -> None:
    """Run one worker of the job in JOB_DIR (rank from ADMON_WORKER_ID or the pod's StatefulSet ordinal)."""
    result = run_worker(job_dir)
    console.print(f"done: {result.steps} steps, {result.generations} generation(s), "
                  f"{result.retried_reads} retried read(s), {result.seconds:.0f} s")


@pretrain_app.command("corpus")
def corpus(
    out: Annotated[Path, typer.Option("--out", help="Folder for the corpus shards.")],
    seed: Annotated[int, typer.Option()] = 0,
    series: Annotated[int, typer.Option()] = 1024,
    length: Annotated[int, typer.Option()] = 2048,
) -> None:
    """Write the generated pretraining corpus (deterministic from --seed) as npz shards."""
    write_corpus(out, seed, series, length)
    console.print(f"corpus: {series} series x {length} points (seed {seed}) in {out}")


def register(app: typer.Typer) -> None:
    app.add_typer(pretrain_app, name="pretrain")
