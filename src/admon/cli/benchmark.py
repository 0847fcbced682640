"""``admon benchmark CORPUS_DIR --detector NAME [--param k=v ...] --out DIR [--plot] [--loco] [--published NAME]``.

Runs detectors causally over a labelled corpus in NAB's format (or over a lake
with labels: a generated lake's ``labels.json``, or a lake filled by ``admon
lake import-nab``), writes NAB's results format and prints a leaderboard, then
the NAB standard score of every detector under a shared, per-category and
per-file threshold and the gap (per-file - shared); ``--loco`` adds
leave-one-category-out (:mod:`admon.evaluation.protocol`). ``--published NAME``
(or ``all``) evaluates stored results of published detectors
(``CORPUS_DIR/results/NAME/...``) the same way. Files whose timestamps repeat or
go backwards are processed in file order, with a counted warning.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from admon.cli.tables import cli_console
from admon.errors import ConfigError

console = cli_console()


def split_params(pairs: list[str] | None, detectors: list[str]) -> dict[str, dict[str, Any]]:
    """``--param`` values per detector: ``k=v`` applies to every detector, ``NAME:k=v`` to one.

    >>> split_params(["refractory=10", "ewma:alpha=0.2"], ["default", "ewma"])
    {'default': {'refractory': 10}, 'ewma': {'refractory': 10, 'alpha': 0.2}}
    """
    from admon.cli.models import parse_params

    common, targeted = [], {d: [] for d in detectors}
    for pair in pairs or []:
        head = pair.split("=", 1)[0]
        if ":" in head:
            name, rest = pair.split(":", 1)
            if name not in targeted:
                raise ConfigError(f"--param {pair!r} names detector {name!r}, which is not among --detector {detectors}")
            targeted[name].append(rest)
        else:
            common.append(pair)
    return {d: parse_params(common + targeted[d], None) for d in detectors}


def benchmark(
    corpus_dir: Annotated[Path, typer.Argument(help="NAB-format corpus (data/<category>/<file>.csv + "
                                                    "labels/combined_windows.json) or a labelled lake root.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Results folder (NAB layout).")],
    detector: Annotated[list[str] | None, typer.Option("--detector", "-d",
                                                       help="Registered detector name (repeatable).")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="k=v for every detector, or NAME:k=v.")] = None,
    plot: Annotated[bool, typer.Option("--plot", help="Write a PNG per file: series, scores, windows, detections.")] = False,
    only: Annotated[list[str] | None, typer.Option("--only", help="Restrict to a category or file key (repeatable).")] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Files scored in parallel (threads).")] = 1,
    check_causal: Annotated[bool, typer.Option("--check-causal/--no-check-causal",
                                               help="Refuse detectors whose past scores change with future data.")] = True,
    loco: Annotated[bool, typer.Option("--loco", help="Add leave-one-category-out: each category scored with "
                                                      "the threshold optimised on the others.")] = False,
    published: Annotated[list[str] | None, typer.Option(
        "--published", help="Stored results of a published detector to evaluate alike (repeatable; 'all').")] = None,
    results_dir: Annotated[Path | None, typer.Option(
        "--results-dir", help="Where --published results live (default: CORPUS_DIR/results).")] = None,
    deployed: Annotated[bool, typer.Option(
        "--deployed", help="CORPUS_DIR is an `admon labels export`: also score its entity's champion and "
                           "active challengers (their stored models) on it.")] = False,
) -> None:
    """Benchmark detectors on a labelled corpus: NAB scores (3 profiles), F1 variants, AUC-PR, time."""
    from admon.evaluation.corpus import open_corpus
    from admon.evaluation.runner import (
        leaderboard_table,
        loco_category_table,
        plot_run,
        protocol_table,
        run_detector,
        stored_detectors,
        stored_run,
        write_leaderboard,
        write_run,
    )

    names = list(dict.fromkeys(detector or []))
    if not names and not published and not deployed:
        raise ConfigError("nothing to benchmark: give --detector NAME, --published NAME (or all) and/or --deployed")
    params = split_params(param, names)
    corpus = open_corpus(corpus_dir, only=only, work_dir=out / "_corpus")
    console.print(f"corpus {corpus.root}: {len(corpus)} files, {corpus.n_windows} labelled windows")
    order_warnings = corpus.order_warnings()
    if order_warnings:
        console.print(f"[yellow]warning:[/] {len(order_warnings)} file(s) with timestamps out of order:", highlight=False)
        for line in order_warnings:
            console.print(f"  {line}", highlight=False, soft_wrap=True)
    runs = []
    stored_root = results_dir or Path(corpus_dir) / "results"
    stored_names = list(dict.fromkeys(published or []))
    if "all" in stored_names:
        stored_names = stored_detectors(stored_root)
        if not stored_names:
            raise ConfigError(f"--published all: no results folders under {stored_root}; give --results-dir")
    for name in stored_names:
        runs.append(stored_run(corpus, stored_root, name))
    if deployed:
        runs += _deployed_runs(corpus, corpus_dir)
    for name in names:
        with _progress(f"{name}: scoring") as progress:
            run = run_detector(corpus, name, params[name], check_causal=check_causal, jobs=jobs, progress=progress)
        folder = write_run(run, corpus, out)
        if plot:
            with _progress(f"{name}: plotting") as progress:
                plot_run(run, corpus, out, progress=progress)
        console.print(f"{name}: results in {folder}")
        runs.append(run)
    names_used = [r.results_name for r in runs]
    if len(set(names_used)) != len(names_used):
        raise ConfigError(f"two runs would write the same results folder {names_used}; give distinct detectors")
    path = write_leaderboard(runs, out)
    console.print(leaderboard_table(runs, title=f"NAB leaderboard: {corpus_dir}"))
    console.print(protocol_table(runs, title="NAB standard: shared / per-category / per-file threshold"
                                 + (", leave-one-category-out" if loco else ""), loco=loco))
    if loco:
        console.print(loco_category_table(runs))
    console.print(f"leaderboard written to {path}")


def _deployed_runs(corpus: Any, corpus_dir: Path) -> list[Any]:
    """The champion's and the active challengers' runs on an exported dataset (its manifest checked)."""
    import time

    from admon.evaluation.dataset import deployed_scores, read_manifest
    from admon.evaluation.runner import DetectorRun, evaluate
    from admon.registry import challengers as registry_challengers
    from admon.registry import repository as repo
    from admon.registry.db import session_scope
    from admon.runs import inference
    from admon.settings import load_settings

    manifest = read_manifest(corpus_dir)
    store = load_settings().model_store
    with session_scope() as s:
        entity = repo.get_entity(s, manifest["entity_id"])
        models = [(f"champion:{entity.inference_model}", entity.inference_namespace, entity.inference_model,
                   entity.model_version, entity.model_sha256)]
        models += [(f"challenger:{c.name}", c.model_namespace, c.model_name, c.model_version, c.model_sha256)
                   for c in registry_challengers.list_challengers(s, entity.id, active_only=True)]
    console.print(f"dataset {manifest['sha256'][:12]} of entity {entity.id} ({manifest['labels']} labels, "
                  f"exported by admon {manifest['admon_version']}): {len(models)} deployed model(s)")
    runs = []
    for name, namespace, model, version, sha256 in models:
        scorer = inference.load_model(namespace, model, store=store, version=version, expected_sha256=sha256)
        started = time.perf_counter()
        scores = deployed_scores(corpus, manifest, scorer)
        run = DetectorRun(name, {}, name.replace(":", "-"), scores, time.perf_counter() - started)
        runs.append(evaluate(run, corpus))
    return runs


@contextmanager
def _progress(what: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar of files on stderr (gone when done), as ``progress(done, total)``."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn(what), BarColumn(), MofNCompleteColumn(), TextColumn("files"), TimeElapsedColumn())
    with Progress(*columns, console=cli_console(stderr=True), transient=True) as bar:
        task = bar.add_task(what, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def register(app: typer.Typer) -> None:
    app.command("benchmark")(benchmark)
