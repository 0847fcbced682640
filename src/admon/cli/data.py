"""``admon lake …``, ``admon data …`` and ``admon demo``: the data path from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from admon.cli.tables import cli_console, frame_table, print_report
from admon.errors import ConfigError

console = cli_console()
lake_app = typer.Typer(help="Create and import monitoring lakes.", no_args_is_help=True)
data_app = typer.Typer(help="Read data as a detection entity would.", no_args_is_help=True)

LakeRoot = Annotated[str | None, typer.Option("--root", help="Lake root (default: ADMON_LAKE_ROOT).")]


def _lake_root(root: str | None) -> str:
    from admon.settings import load_settings

    return root if root is not None else load_settings().lake_root


def existing_lake_root(root: str | None, option: str = "--root", config: Any = None) -> str:
    """The lake root a command reads (``root``, given as ``option``, else ADMON_LAKE_ROOT), which
    must exist: a missing one would read as 0 rows and exit 0 instead of failing. An
    InputDataConfig ``config`` without a lake source (Prometheus, InfluxDB only) needs none."""
    from admon.config import SourceConfig
    from admon.runs.runner import lake_root_problem

    target = _lake_root(root)
    if config is not None and not any(isinstance(s, SourceConfig) for s in config.source_configs):
        return target
    problem = lake_root_problem(target)
    if problem is not None:
        given = f"{option} {target!r}" if root is not None else f"the lake root {target!r} (ADMON_LAKE_ROOT)"
        raise ConfigError(problem.replace(f"the lake root {target!r} (ADMON_LAKE_ROOT)", given)
                          + ("" if root is not None else f", or give {option}"))
    return target


@lake_app.command("generate")
def lake_generate(
    root: LakeRoot = None,
    hosts: Annotated[int, typer.Option(help="Number of hosts.")] = 10,
    days: Annotated[int, typer.Option(help="Number of days.")] = 1,
    start: Annotated[str, typer.Option(help="First day, YYYY-MM-DD.")] = "2022-05-10",
    seed: Annotated[int, typer.Option(help="Random seed: the same seed writes the same bytes.")] = 0,
    step_seconds: Annotated[int | None, typer.Option(
        help="Seconds between points of a series (default: 10 for xrootd, 60 for fts).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="json, json.gz or parquet.")] = "json",
    kind: Annotated[str, typer.Option(help="xrootd (collectd topics) or fts (transfer links).")] = "xrootd",
) -> None:
    """Write a synthetic lake with labelled anomalies."""
    target = _lake_root(root)
    if kind == "fts":
        from admon.forecast.fts_lake import generate_fts_lake

        summary = generate_fts_lake(target, days=days, start=start, seed=seed, step_seconds=step_seconds or 60)
        console.print(f"wrote FTS lake under [bold]{target}[/]: {summary}")
        return
    if kind != "xrootd":
        raise ConfigError(f"--kind {kind!r} is not known; use xrootd or fts")
    from admon.data.generate import generate_lake

    summary = generate_lake(target, hosts=hosts, days=days, start=start, seed=seed,
                            step_seconds=step_seconds or 10, fmt=fmt)  # type: ignore[arg-type]
    console.print(
        f"wrote {summary.documents:,} documents in {len(summary.files)} files under [bold]{target}[/], "
        f"{summary.anomalies} injected anomalies labelled in {summary.labels_path}"
    )


@lake_app.command("import-nab")
def lake_import_nab(
    corpus_dir: Annotated[Path, typer.Argument(help="NAB corpus: data/<category>/<file>.csv + labels/.")],
    root: LakeRoot = None,
) -> None:
    """Turn a NAB-format corpus into lake documents (producer nab, type = category)."""
    from admon.data.nab import import_nab

    result = import_nab(corpus_dir, _lake_root(root))
    console.print(
        f"imported {result.series} series ({result.documents:,} documents) in categories "
        f"{', '.join(result.categories)} into [bold]{result.root}[/]"
        + (f"; skipped {result.skipped_rows} unreadable rows" if result.skipped_rows else "")
    )


@data_app.command("preview")
def data_preview(
    config: Annotated[Path, typer.Argument(help="InputDataConfig as YAML or JSON.")],
    start: Annotated[str, typer.Option(help="Window start (epoch ms or ISO).")],
    end: Annotated[str, typer.Option(help="Window end, exclusive.")],
    root: LakeRoot = None,
    rows: Annotated[int, typer.Option(help="Rows to show.")] = 20,
    strict: Annotated[bool, typer.Option(help="Fail at the first bad row instead of skipping it.")] = False,
    documents: Annotated[bool, typer.Option(help="Print result documents as JSON lines instead.")] = False,
) -> None:
    """Read a window as a detection entity would and show the frame and the read report."""
    from admon.config import InputDataConfig
    from admon.data.source import DataSource, documents_json, frame_to_documents

    if not config.exists():
        raise ConfigError(f"config file {config} does not exist")
    text = config.read_text()
    idc = InputDataConfig.from_json(text) if config.suffix == ".json" else InputDataConfig.from_yaml(text)
    source = DataSource(None, idc, lake_root=existing_lake_root(root, config=idc), strict=strict)
    frame = source.read_pandas(start, end)
    if documents:
        print(documents_json(frame_to_documents(frame, idc)))
    else:
        console.print(frame_table(frame.head(rows), title=f"{len(frame):,} rows"))
    print_report(source.last_report, console, idc)


def demo(
    out: Annotated[Path, typer.Option(help="Folder for the demo lake, plot and outputs.")] = Path("demo-out"),
    hosts: Annotated[int, typer.Option(help="Hosts in the generated lake.")] = 8,
    alert: Annotated[bool, typer.Option(
        "--alert", help="Alert the day's incidents (ADMON_ALERTMANAGER_URL or ADMON_ALERT_WEBHOOK_URL), "
                        "although a backfill's incidents are history.")] = False,
) -> None:
    """The whole loop on a generated lake: read, register, train, run a day of windows, plot."""
    from admon.demo import run_demo

    run_demo(out, hosts=hosts, console=console, alert=alert)


def register(app: typer.Typer) -> None:
    app.add_typer(lake_app, name="lake")
    app.add_typer(data_app, name="data")
    app.command("demo")(demo)
