"""``admon forecast …``: list forecasters, backtest them, run a forecast job on the lake."""

from __future__ import annotations

import json
import tempfile
from typing import Annotated, Any

import typer
from rich.table import Table

from admon.cli.tables import cli_console, print_json, print_table
from admon.errors import ConfigError

forecast_app = typer.Typer(help="Forecast link throughput (NOTED) and act on it.", no_args_is_help=True)
# Tables are wide; when piped (CI logs, BENCHMARKS.md) do not squeeze them into 80 columns.
console = cli_console()


def parse_model(text: str) -> dict[str, Any]:
    """``name`` or ``name:key=value,key=value`` (values read as JSON when they parse) -> spec.

    >>> parse_model("lstm:look_back=20,epochs=1")
    {'name': 'lstm', 'look_back': 20, 'epochs': 1}
    >>> parse_model("arima:order=[1,0,0],maxiter=5")
    {'name': 'arima', 'order': [1, 0, 0], 'maxiter': 5}
    >>> parse_model("ets:trend=add")
    {'name': 'ets', 'trend': 'add'}
    """
    name, _, rest = text.partition(":")
    spec: dict[str, Any] = {"name": name.strip()}
    for part in filter(None, (p.strip() for p in _split_top_level(rest))):
        key, eq, value = part.partition("=")
        if not eq:
            raise ConfigError(f"model parameter {part!r} in {text!r} is not key=value; e.g. lstm:look_back=20")
        try:
            spec[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            spec[key.strip()] = value
    return spec


def _split_top_level(text: str) -> list[str]:
    """Split on commas outside brackets, so ``order=[1,0,0],maxiter=5`` is two parameters."""
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += ch in "[(" and 1 or 0
        depth -= ch in "])" and 1 or 0
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    return [*parts, current]


def _fmt(value: float, digits: int = 4) -> str:
    if value != value:  # NaN
        return "-"
    return f"{value:.{digits}g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"


def backtest_table(frame, title: str = "") -> Table:
    """A Rich table of a :func:`admon.forecast.backtest.backtest` result."""
    table = Table(title=title, title_justify="left")
    for name, justify in [("model", "left"), ("train RMSE", "right"), ("test RMSE", "right"),
                          ("MASE", "right"), ("CPU s", "right"), ("peak MiB", "right"), ("origins", "right")]:
        table.add_column(name, justify=justify, no_wrap=name == "model")  # type: ignore[arg-type]
    best = frame["mase"].min() if frame["mase"].notna().any() else None
    for row in frame.itertuples():
        mase = _fmt(row.mase, 3)
        if best is not None and row.mase == best:
            mase = f"[bold green]{mase}[/]"
        table.add_row(
            row.model, _fmt(row.train_rmse), _fmt(row.test_rmse), mase,
            f"{row.cpu_s:.2f}" if row.cpu_s == row.cpu_s and row.origins else "-",
            f"{row.peak_mib:.1f}" if row.peak_mib == row.peak_mib and row.origins else "-",
            str(row.origins),
        )
    return table


def step_text(seconds: float) -> str:
    """A series' step for people: ``300`` -> ``5 min`` (not pandas' ``0 days 00:05:00``).

    >>> step_text(300), step_text(3600), step_text(86400 * 2), step_text(90)
    ('5 min', '1 h', '2 days', '90 s')
    """
    whole = int(seconds)
    for unit, size in (("days" if whole != 86400 else "day", 86400), ("h", 3600), ("min", 60)):
        if whole >= size and whole % size == 0 and whole == seconds:
            return f"{whole // size} {unit}"
    return f"{seconds:g} s"


def _backtest_with_progress(series, models, config, forecasts=None):
    """:func:`admon.forecast.backtest.backtest` with a progress bar on stderr (one step per fit)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from admon.forecast.backtest import backtest

    columns = (TextColumn("backtest [bold]{task.fields[model]}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("fits"), TimeElapsedColumn())
    with Progress(*columns, console=cli_console(stderr=True), transient=True) as bar:
        task = bar.add_task("backtest", total=None, model="(loading the models' libraries)")

        def progress(model: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, model=model)

        return backtest(series, models, config, progress=progress, forecasts=forecasts)


def _link(text: str | None) -> tuple[str, str] | None:
    if text is None:
        return None
    source, sep, dest = text.partition(":")
    if not sep or not source or not dest:
        raise ConfigError(f"--link {text!r} is not SOURCE:DEST, e.g. CERN-PROD:BNL-ATLAS")
    return source, dest


def _lake_link_series(root: str, start: str, end: str, link: tuple[str, str] | None, interval: int, column: str):
    from admon.data.source import DataSource
    from admon.forecast.fts_lake import fts_input_config
    from admon.forecast.series import series_by_group
    from admon.timeutil import check_window

    start_ms, end_ms = check_window(start, end)
    idc = fts_input_config(interval, columns=[column])
    frame = DataSource(None, idc, lake_root=root).read(start_ms, end_ms)
    groups = dict(series_by_group(frame, idc.group_by, column, interval, end_ms))
    if not groups:
        raise ConfigError(f"no FTS documents under {root} between {start} and {end}; generate or widen the window")
    if link is None:
        link = sorted(groups)[0]
    if link not in groups:
        raise ConfigError(f"link {link[0]}:{link[1]} has no data; links present: "
                          + ", ".join(f"{a}:{b}" for a, b in sorted(groups)))
    series = groups[link]
    series.name = f"{link[0]}->{link[1]} {column}"
    return series


@forecast_app.command("list")
def forecast_list(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array of {name, handles_gaps, defaults, presets}.")] = False,
) -> None:
    """List the registered forecasters and the backtest presets."""
    from admon.forecast import PRESETS, available, get

    if as_json:
        print_json({"name": name, "handles_gaps": get(name).handles_gaps,
                    "defaults": get(name).Config().model_dump(mode="json"),
                    "presets": [p for p, models in PRESETS.items() if any(m["name"] == name for m in models)]}
                   for name in available())
        return
    table = Table(title="forecasters")
    table.add_column("name")
    table.add_column("gaps")
    table.add_column("defaults")
    for name in available():
        cls = get(name)
        table.add_row(name, "yes" if cls.handles_gaps else "no", json.dumps(cls.Config().model_dump()))
    print_table(table, console)
    for preset, models in PRESETS.items():
        console.print(f"preset [bold]{preset}[/]: " + ", ".join(
            m["name"] + ("(" + ", ".join(f"{k}={v}" for k, v in m.items() if k != "name") + ")" if len(m) > 1 else "")
            for m in models))


@forecast_app.command("backtest")
def forecast_backtest(
    csv: Annotated[str | None, typer.Option(help="A timestamp,value CSV (e.g. a NAB file) to backtest on.")] = None,
    lake: Annotated[bool, typer.Option("--lake", help="Read an FTS link from the lake (--root, --start, --end).")] = False,
    root: Annotated[str | None, typer.Option(help="Lake root for --lake (default: ADMON_LAKE_ROOT).")] = None,
    link: Annotated[str | None, typer.Option(help="FTS link SOURCE:DEST (default: the first).")] = None,
    column: Annotated[str | None, typer.Option(help="Value column (CSV: 'value'; FTS: 'throughput').")] = None,
    start: Annotated[str, typer.Option(help="First day of the FTS data.")] = "2022-05-10",
    end: Annotated[str | None, typer.Option(help="End of the lake window (default: start + days).")] = None,
    days: Annotated[int, typer.Option(help="Days of generated FTS data (or of the lake window).")] = 14,
    seed: Annotated[int, typer.Option(help="Seed of the generated FTS lake.")] = 0,
    interval: Annotated[int, typer.Option(help="Aggregation interval of FTS data, seconds.")] = 300,
    preset: Annotated[str, typer.Option(help="Model preset: default, fast or noted.")] = "default",
    model: Annotated[list[str] | None, typer.Option(help="Model(s) instead of the preset: name[:k=v,...].")] = None,
    horizon: Annotated[int, typer.Option(help="Steps forecast per origin.")] = 12,
    origins: Annotated[int, typer.Option(help="Rolling origins.")] = 5,
    origin_step: Annotated[int | None, typer.Option(help="Steps between origins (default: horizon).")] = None,
    max_train: Annotated[int | None, typer.Option(help="Most recent points fitted on per origin.")] = None,
    mase_season: Annotated[str, typer.Option(help="MASE scale lag: steps or a duration ('1D').")] = "1D",
    isolate: Annotated[bool, typer.Option(help="Each model in a fresh process (honest peak memory).")] = False,
    plot: Annotated[str | None, typer.Option(help="Write a PNG here: the series, each model's forecast mean "
                                             "and band per origin, and --threshold.")] = None,
    threshold: Annotated[float | None, typer.Option(help="The rule's threshold (e.g. bytes/s), drawn on --plot.")] = None,
) -> None:
    """Rolling-origin backtest: train/test RMSE, MASE, CPU time and peak memory per model.

    Without --csv or --lake, an FTS lake is generated in a temporary folder and one link,
    aggregated with the normal InputDataConfig, is backtested.
    """
    import datetime as dt

    from admon.forecast.backtest import BacktestConfig
    from admon.forecast.plot import checked_plot_path, plot_backtest

    if csv and lake:
        raise ConfigError("give either --csv or --lake, not both")
    if threshold is not None and plot is None:
        raise ConfigError("--threshold is drawn on the plot; give --plot PATH.png too")
    plot_path = None if plot is None else checked_plot_path(plot)  # before the long run, not after
    config = BacktestConfig(
        horizon=horizon, origins=origins, origin_step=origin_step, max_train=max_train,
        mase_season=int(mase_season) if mase_season.isdigit() else mase_season, isolate=isolate,
    )
    models = [parse_model(m) for m in model] if model else preset
    end = end or (dt.date.fromisoformat(start) + dt.timedelta(days=days)).isoformat()
    if csv:
        from admon.forecast.series import load_csv_series

        series = load_csv_series(csv, column=column)
        title = f"{csv}"
    elif lake:
        from admon.cli.data import existing_lake_root

        lake_root = existing_lake_root(root)
        series = _lake_link_series(lake_root, start, end, _link(link), interval, column or "throughput")
        title = f"{series.name} from {lake_root}"
    else:
        from admon.forecast.fts_lake import generate_fts_lake

        with (tempfile.TemporaryDirectory(prefix="admon-fts-") as tmp,
              cli_console(stderr=True).status(f"generating {days} days of FTS data and reading one link")):
            generate_fts_lake(tmp, days=days, start=start, seed=seed, step_seconds=60)
            series = _lake_link_series(tmp, start, end, _link(link), interval, column or "throughput")
        title = f"generated FTS link {series.name} (seed {seed}, {days} days)"
    step = series.index[1] - series.index[0]
    title += f" - {len(series)} points of {step_text(step.total_seconds())}, horizon {horizon}, {origins} origins"
    forecasts: dict[str, list] = {}
    frame = _backtest_with_progress(series, models, config, forecasts)
    console.print(backtest_table(frame, title))
    for row in frame.itertuples():
        if row.error:
            console.print(f"[red]{row.model}[/]: {row.error}", highlight=False)
    if plot_path is not None:
        plot_backtest(series, forecasts, plot_path, threshold=threshold, title=title)
        console.print(f"wrote plot {plot_path}", highlight=False)


def _job_config(model: str, column: str, group_by: str, interval: int, horizon: int, threshold: float | None,
                minutes: float, webhook: str | None, band: str, headers: list[str] | None):
    from admon.forecast.actions import ThroughputRule
    from admon.forecast.job import ForecastJobConfig

    if (threshold is None) != (webhook is None):
        raise ConfigError("a rule needs both --threshold and --webhook (or neither, for no action)")
    parsed = {}
    for header in headers or []:
        name, sep, value = header.partition(":")
        if not sep or not name.strip():
            raise ConfigError(f"--header {header!r} is not 'Name: value', e.g. 'Authorization: Bearer ...'")
        parsed[name.strip()] = value.strip()
    rule = None if threshold is None else ThroughputRule(
        threshold=threshold, min_duration_minutes=minutes, webhook_url=webhook, band=band,
        webhook_headers=parsed)
    return ForecastJobConfig(
        forecaster=parse_model(model), value_column=column,
        group_by=tuple(g.strip() for g in group_by.split(",") if g.strip()),
        interval_seconds=interval, horizon=horizon, rule=rule,
    )


Model = Annotated[str, typer.Option(help="Forecaster: name[:k=v,...].")]
Column = Annotated[str, typer.Option(help="Value column to forecast.")]
GroupBy = Annotated[str, typer.Option(help="Comma-separated group (link) columns.")]
Interval = Annotated[int, typer.Option(help="Bucket size of the entity's InputDataConfig, seconds.")]
Horizon = Annotated[int, typer.Option(help="Buckets forecast after each window end.")]
Threshold = Annotated[float | None, typer.Option(help="Rule: throughput X (bytes/s).")]
Minutes = Annotated[float, typer.Option(help="Rule: for at least D minutes.")]
Webhook = Annotated[str | None, typer.Option(help="Rule: URL the notice is POSTed to.")]
Band = Annotated[str, typer.Option(help="Rule: forecast column compared (mean, lower, upper).")]
Headers = Annotated[list[str] | None, typer.Option("--header", help="Rule: 'Name: value' header of the webhook.")]


@forecast_app.command("job-config")
def forecast_job_config(
    model: Model = "gbm", column: Column = "throughput", group_by: GroupBy = "source_se,dest_se",
    interval: Interval = 300, horizon: Horizon = 12, threshold: Threshold = None, minutes: Minutes = 30.0,
    webhook: Webhook = None, band: Band = "mean", header: Headers = None,
    out: Annotated[str | None, typer.Option(help="Write it to this JSON file (default: print it).")] = None,
) -> None:
    """Write a forecast job config: the job_config of an entity of kind forecast (entity YAML, API)."""
    config = _job_config(model, column, group_by, interval, horizon, threshold, minutes, webhook, band, header)
    text = config.model_dump_json(indent=1)
    if out is None:
        print(text)
        return
    with open(out, "w", encoding="utf-8") as fh:
        fh.write(text + "\n")
    console.print(f"wrote forecast job config {out}; use it as job_config with kind: forecast", highlight=False)


@forecast_app.command("set-job")
def forecast_set_job(
    entity: Annotated[str, typer.Argument(help="Entity id or title; it becomes kind forecast.")],
    model: Model = "gbm", column: Column = "throughput", group_by: GroupBy = "source_se,dest_se",
    interval: Interval = 300, horizon: Horizon = 12, threshold: Threshold = None, minutes: Minutes = 30.0,
    webhook: Webhook = None, band: Band = "mean", header: Headers = None,
    db: Annotated[str | None, typer.Option("--db", help="Registry URL (default: ADMON_DATABASE_URL).")] = None,
) -> None:
    """Make an entity a forecast job with this config (kind forecast, job_config in the registry)."""
    from admon.registry.api import DetectionEntity

    config = _job_config(model, column, group_by, interval, horizon, threshold, minutes, webhook, band, header)
    found = DetectionEntity.get(entity, database_url=db)
    found.update(kind="forecast", job_config=config)
    console.print(f"entity [bold]{found.title}[/] (id {found.id}) is a forecast job: "
                  f"{config.forecaster['name']}, horizon {config.horizon}"
                  + (f", rule {config.rule.describe()}" if config.rule else ""), highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(forecast_app, name="forecast")
