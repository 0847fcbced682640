"""``admon scheduler``, ``admon run``, ``admon runs list`` and ``admon reproduce``."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Annotated

import typer
from rich.table import Table

from admon.cli.tables import cli_console, print_json, print_table

console = cli_console()
runs_app = typer.Typer(help="Inspect detection runs.", no_args_is_help=True)


def scheduler_cmd(
    once: Annotated[bool, typer.Option("--once", help="One tick, then exit.")] = False,
    until_idle: Annotated[bool, typer.Option("--until-idle", help="Exit when nothing is left to do.")] = False,
    metrics_port: Annotated[int | None, typer.Option(help="Serve /metrics on 127.0.0.1:PORT.")] = None,
    now: Annotated[str | None, typer.Option(help="Pretend it is this time when choosing windows "
                                                    "(replays; leases still use the real clock).")] = None,
) -> None:
    """Run every enabled entity on its sliding windows until stopped (Ctrl-C / SIGTERM)."""
    from admon.runs.runner import Runner
    from admon.runs.scheduler import Scheduler
    from admon.timeutil import format_ms, to_epoch_ms

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def on_event(kind: str, **info) -> None:
        if kind == "run_finished":
            extra = f" ({info.get('error')})" if info.get("error") else ""
            console.print(f"run {info['run_id']} window end {format_ms(info['window_end_ms'])}: "
                          f"{info['status']}{extra}", highlight=False)

    runner = Runner(on_event=on_event)
    fixed = to_epoch_ms(now) if now is not None else None
    scheduler = Scheduler(runner, clock=(lambda: fixed) if fixed is not None else None)
    if metrics_port is not None:
        from admon.sinks.prometheus import serve

        serve(metrics_port)
        console.print(f"metrics on http://127.0.0.1:{metrics_port}/metrics")
    sinks = ", ".join(s.url for s in runner.sinks) or "none (set ADMON_SINKS)"
    console.print(f"scheduler {runner.owner} on {runner.database_url}; sinks: {sinks}")
    if once:
        report = scheduler.tick()
        console.print(f"planned {report.planned}, ran {report.executed}, delivered {report.delivered} "
                      f"in {report.seconds:.2f} s")
        return
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    scheduler.run_forever(stop, until_idle=until_idle)
    console.print("scheduler stopped")


def run_cmd(
    entity: Annotated[str, typer.Argument(help="Entity id or title.")],
    start: Annotated[str, typer.Option("--from", help="Start of the range (ISO time or epoch ms).")],
    end: Annotated[str, typer.Option("--to", help="End of the range (ISO time or epoch ms).")],
    alert: Annotated[bool, typer.Option("--alert", help="Send the incidents found to Alertmanager (or the "
                                        "alert webhook) too; by default a backfill's incidents are "
                                        "recorded, not alerted.")] = False,
) -> None:
    """Backfill: run every window of ENTITY inside [--from, --to], oldest first."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from admon.runs.backfill import backfill
    from admon.runs.runner import Runner

    runner = Runner()
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[status]}"), TimeRemainingColumn(), console=console) as bar:
        task = bar.add_task(f"backfill {entity}", total=None, status="")

        def progress(done: int, total: int, outcome) -> None:
            status = outcome.status if outcome is not None else "already done"
            bar.update(task, completed=done, total=total, status=status)

        report = backfill(entity, start, end, runner=runner, progress=progress, alert=alert)
    no_data = f", {report.no_data} without data" if report.no_data else ""
    console.print(
        f"{report.windows} windows: {report.succeeded} ran, {report.already_done} already done, "
        f"{report.failed} failed{no_data}, {report.busy_elsewhere} running elsewhere; "
        f"{report.documents} documents, {report.delivered} delivered")
    if report.failed:
        raise typer.Exit(1)


@runs_app.command("list")
def runs_list(
    entity: Annotated[str, typer.Argument(help="Entity id or title.")],
    limit: Annotated[int, typer.Option(help="Newest N runs.")] = 50,
    status: Annotated[str | None, typer.Option(
        help="Only runs with this status: pending, running, retrying, succeeded, failed or no_data.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array (the fields of GET /api/entities/{id}/runs).")] = False,
) -> None:
    """A table of ENTITY's runs: status, revision (re-runs for late data), attempts, rows and stage
    timings, newest first (UTC)."""
    from admon.errors import ConfigError
    from admon.registry import repository as repo
    from admon.registry.db import session_scope
    from admon.registry.models import RUN_STATUSES
    from admon.timeutil import format_ms

    if status is not None and status not in RUN_STATUSES:
        raise ConfigError(f"--status {status!r} is not a run status; use one of {', '.join(RUN_STATUSES)}")

    with session_scope() as s:
        row = repo.get_entity(s, entity)
        runs = repo.list_runs(s, row.id, limit=limit, status=status)
        if as_json:
            from admon.service.schemas import RunPublic

            print_json(RunPublic.model_validate(r).model_dump(mode="json") for r in runs)
            return
        table = Table("run", "window start", "window end", "status", "rev", "attempts", "rows", "groups",
                      "anomalies", "read s", "score s", "write s", "total s", "late data", "error",
                      title=f"runs of {row.title} (id {row.id})")
        for r in runs:
            t = r.timings or {}

            def sec(key: str, t=t) -> str:
                return f"{t[key]:.3f}" if key in t else ""

            error = r.error.splitlines()[0] if r.error else ""  # the rest: --json
            colour = {"succeeded": "green", "failed": "red", "retrying": "yellow",
                      "no_data": "magenta"}.get(r.status, "")
            table.add_row(str(r.id), format_ms(r.window_start_ms), format_ms(r.window_end_ms),
                          f"[{colour}]{r.status}[/]" if colour else r.status, str(r.revision), str(r.attempts),
                          "" if r.rows is None else str(r.rows), "" if r.groups is None else str(r.groups),
                          "" if r.anomalies is None else str(r.anomalies), sec("read_s"), sec("score_s"),
                          sec("write_s"), sec("total_s"), _late_text(r.late_data), error)
    print_table(table, console)


def _late_text(late_data: list[dict] | None) -> str:
    """The late data a window was re-run for: ``r2: 3 buckets at 2022-05-10T03:00:00Z`` per re-run."""
    from admon.timeutil import format_ms

    return "; ".join(f"r{entry['revision']}: {entry['changed_buckets']} bucket(s) at "
                     f"{format_ms(entry['found_ms'])}" for entry in late_data or [])


def reproduce_cmd(run_id: Annotated[int, typer.Argument(help="Run id (see `admon runs list`).")]) -> None:
    """Recompute a run from its provenance and say whether the scores are identical (exit 1 if not)."""
    from admon.runs.reproduce import reproduce

    report = reproduce(run_id)
    console.print(report.summary(), highlight=False)
    if not report.identical:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("scheduler")(scheduler_cmd)
    app.command("run")(run_cmd)
    app.add_typer(runs_app, name="runs")
    app.command("reproduce")(reproduce_cmd)
