"""A missing lake fails (at start-up and in the run); a window without input is ``no_data``."""

from __future__ import annotations

import functools
import json

from runs_helpers import HOSTS, jsonl_docs, make_entity
from typer.testing import CliRunner

from admon.errors import ConfigError
from admon.registry import repository as repo
from admon.registry.db import session_scope
from admon.runs.backfill import backfill
from admon.runs.runner import Runner, check_lake_root
from admon.runs.scheduler import Scheduler
from admon.settings import load_settings
from admon.sinks.prometheus import get_registry
from admon.timeutil import to_epoch_ms


@functools.lru_cache(maxsize=1)
def app():
    from admon.cli import build_app

    return build_app()


def invoke(*args: str):
    return CliRunner().invoke(app(), list(args), catch_exceptions=True)


def runs_total(status: str) -> float:
    """``admon_runs_total`` summed over entities for ``status`` (labels may be names or ids)."""
    return sum(sample.value for metric in get_registry().collect() if metric.name == "admon_runs"
               for sample in metric.samples
               if sample.name == "admon_runs_total" and sample.labels.get("status") == status)


def test_missing_lake_root_fails_the_run_with_the_reason_and_is_retried(db_url, lake, tmp_path,
                                                                       monkeypatch):
    monkeypatch.setenv("ADMON_SINKS", f"jsonl://{tmp_path / 'out'}")
    de = make_entity(interval=10, slide=5, schedule_from="2022-05-10T00:10:00Z", sources=1)
    runner = Runner(load_settings(run_max_attempts=2, run_retry_backoff_seconds=0.01))
    scheduler = Scheduler(runner, clock=lambda: to_epoch_ms("2022-05-10T00:15:00Z"))
    lake.rename(tmp_path / "unmounted")  # the lake goes away while the scheduler runs
    scheduler.run_forever(until_idle=True)
    with session_scope() as s:
        runs = repo.list_runs(s, de.id)
        assert len(runs) == 2
        for run in runs:
            assert run.status == "failed" and run.failures == 2 and run.attempts == 2
            assert str(lake) in run.error and "ADMON_LAKE_ROOT" in run.error
            assert repo.list_results(s, run.id) == []
    assert jsonl_docs(tmp_path / "out") == []
    # `admon run` checks the root before it starts
    try:
        backfill(de.id, "2022-05-10T00:00:00Z", "2022-05-10T00:10:00Z", runner=runner)
    except ConfigError as exc:
        assert str(lake) in str(exc)
    else:
        raise AssertionError("a backfill without its lake must not start")


def test_scheduler_refuses_to_start_without_the_lake(tmp_path, monkeypatch):
    nowhere = tmp_path / "no-such-lake"
    monkeypatch.setenv("ADMON_LAKE_ROOT", str(nowhere))
    try:
        check_lake_root(load_settings())
    except ConfigError as exc:
        assert str(nowhere) in str(exc) and "ADMON_LAKE_ROOT" in str(exc)
    else:
        raise AssertionError("a missing lake root must be a ConfigError")
    result = invoke("scheduler", "--once")
    assert isinstance(result.exception, ConfigError) and str(nowhere) in str(result.exception)
    assert "\n" not in str(result.exception)  # one line: the root and the fix
    served = invoke("serve", "--port", "1")  # refused before it listens
    assert isinstance(served.exception, ConfigError) and str(nowhere) in str(served.exception)
    # a file is not a lake either
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("ADMON_LAKE_ROOT", str(tmp_path / "file"))
    assert isinstance(invoke("scheduler", "--once").exception, ConfigError)


def _write_rows(lake, day: str, rows: list[dict]) -> None:
    folder = lake / "collectd" / "raw" / "monitoring" / day.replace("-", "/")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "extra.json").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_window_without_input_is_no_data_counted_and_listed(db_url, lake, tmp_path, monkeypatch):
    monkeypatch.setenv("ADMON_SINKS", f"jsonl://{tmp_path / 'out'}")
    monkeypatch.setenv("COLUMNS", "250")
    # 2022-05-13 has a file, but its only row is at 12:00: the windows of 00:00-00:20 hold no row
    _write_rows(lake, "2022-05-13", [{"timestamp": to_epoch_ms("2022-05-13T12:00:00Z"),
                                      "host": "h1", "topic": "xrootd_raw_gled", "value": 1.0}])
    de = make_entity(interval=10, slide=5, sources=1)
    before = runs_total("no_data")
    runner = Runner(load_settings())
    # 2022-05-09: no day folder at all; 2022-05-13: a file without a row in range
    for start, end in (("2022-05-09T00:00:00Z", "2022-05-09T00:10:00Z"),
                       ("2022-05-13T00:00:00Z", "2022-05-13T00:15:00Z")):
        report = backfill(de.id, start, end, runner=runner)
        assert report.no_data == report.windows and report.failed == report.succeeded == 0
    # a window with data next to them is exported as before
    assert backfill(de.id, "2022-05-10T00:00:00Z", "2022-05-10T00:10:00Z", runner=runner).succeeded == 1
    with session_scope() as s:
        runs = {r.window_end_ms: r for r in repo.list_runs(s, de.id)}
        empty = [r for end, r in runs.items() if end != to_epoch_ms("2022-05-10T00:10:00Z")]
        assert len(empty) == 3 and {r.status for r in empty} == {"no_data"}
        assert all(r.error is None and r.rows == 0 and r.groups == 0 and r.lease_owner is None
                   for r in empty)
        assert all(repo.list_results(s, r.id) == [] for r in empty)
        assert repo.count_pending_outbox(s) == 0
    assert len(jsonl_docs(tmp_path / "out")) == HOSTS
    assert runs_total("no_data") == before + 3
    # a no_data window is finished: the scheduler has nothing left to do for it
    assert not Scheduler(runner, clock=lambda: to_epoch_ms("2022-05-09T00:00:00Z")).busy()

    listing = invoke("runs", "list", str(de.id), "--status", "no_data")
    assert listing.exit_code == 0, listing.output
    assert listing.output.count("no_data") == 3 and "succeeded" not in listing.output
    bad = invoke("runs", "list", str(de.id), "--status", "nodata")
    assert bad.exit_code != 0
    assert isinstance(bad.exception, ConfigError) and "no_data" in str(bad.exception)


def test_no_data_window_is_run_again_by_a_later_backfill(db_url, lake, tmp_path, monkeypatch):
    """Late data: a range backfilled again re-runs its no_data windows (its failed ones too)."""
    de = make_entity(interval=10, slide=5, sources=1)
    runner = Runner(load_settings())
    assert backfill(de.id, "2022-05-13T00:00:00Z", "2022-05-13T00:10:00Z", runner=runner).no_data == 1
    _write_rows(lake, "2022-05-13", [{"timestamp": to_epoch_ms("2022-05-13T00:05:00Z"), "host": "h1",
                                      "topic": "xrootd_raw_gled", "value": 1.0}])
    report = backfill(de.id, "2022-05-13T00:00:00Z", "2022-05-13T00:10:00Z", runner=runner)
    assert report.succeeded == 1 and report.documents == 1
