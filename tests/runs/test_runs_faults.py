"""Fault tests: kill -9 of schedulers mid-run, a receiver that is down, a lake that cannot be read.

Each runs on SQLite and on a real PostgreSQL server (``db_url``).
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from collections import Counter

import pytest
from runs_helpers import HOSTS, jsonl_docs, make_entity

from admon.registry import repository as repo
from admon.registry.db import session_scope
from admon.runs.backfill import backfill
from admon.runs.runner import Runner
from admon.runs.scheduler import Scheduler, run_in_child
from admon.settings import load_settings
from admon.timeutil import to_epoch_ms

KILLS = 20


def _forkserver():
    # Children are forked from a clean server process that imported admon once: fast to
    # start, and no threads of this test process (DuckDB, PostgreSQL drivers) are copied.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["admon.runs.scheduler", "admon.data.source", "admon.detectors",
                                "admon.detectors.statistical", "psycopg"])
    return ctx


def _started(path) -> int:
    try:
        return sum(1 for line in open(path) if line.startswith("run_started"))
    except FileNotFoundError:
        return 0


@pytest.mark.slow
def test_kill_9_mid_run_20_times_then_restart_exports_each_window_once(db_url, lake, tmp_path):
    out = tmp_path / "out"
    de = make_entity(interval=10, slide=5, schedule_from="2022-05-10T00:10:00Z", sources=1)
    now = to_epoch_ms("2022-05-10T02:00:00Z")
    windows = 23  # ends 00:10 .. 02:00 every 5 minutes
    overrides = {"lake_root": str(lake), "sinks": f"jsonl://{out}", "run_lease_seconds": 1.0,
                 "run_retry_backoff_seconds": 0.05, "scheduler_poll_seconds": 0.05,
                 "sink_batch_size": 2, "sink_timeout_seconds": 0.5}
    events = tmp_path / "events.log"
    ctx = _forkserver()
    rng = random.Random(4)
    killed_mid_run = 0
    for _ in range(KILLS):
        before = _started(events)
        child = ctx.Process(target=run_in_child, args=(db_url, overrides, now, str(events)))
        child.start()
        deadline = time.monotonic() + 60
        while _started(events) == before and child.is_alive() and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.25))  # somewhere inside the run, or just after it
        if child.is_alive():
            os.kill(child.pid, signal.SIGKILL)
            killed_mid_run += 1
        child.join(30)
        assert child.exitcode in (-signal.SIGKILL, 0)
    assert killed_mid_run == KILLS, "every scheduler was killed while it had work to do"

    # restart: two schedulers at once finish everything
    finishers = [ctx.Process(target=run_in_child, args=(db_url, overrides, now, str(events)))
                 for _ in range(2)]
    for child in finishers:
        child.start()
    for child in finishers:
        child.join(240)
        assert child.exitcode == 0

    with session_scope() as s:
        runs = repo.list_runs(s, de.id)
        assert len(runs) == windows and {r.status for r in runs} == {"succeeded"}
        assert sum(r.attempts for r in runs) > windows  # some runs really were interrupted
        assert repo.count_pending_outbox(s) == 0
        results = [x for r in runs for x in repo.list_results(s, r.id)]
    assert len(results) == windows * HOSTS
    docs = jsonl_docs(out)
    per_window_host = Counter((d["window_end"], d["host"]) for d in docs)
    assert len(docs) == windows * HOSTS and set(per_window_host.values()) == {1}
    assert {d["id"] for d in docs} == {r.id for r in results}


def test_http_receiver_down_then_up_delivers_everything_in_order_once(db_url, lake, receiver,
                                                                     monkeypatch):
    monkeypatch.setenv("ADMON_SINKS", receiver.url)
    monkeypatch.setenv("ADMON_SINK_RETRY_BACKOFF_SECONDS", "0.02")
    monkeypatch.setenv("ADMON_SINK_BATCH_SIZE", "4")
    de = make_entity(interval=10, slide=5, sources=1)
    runner = Runner(load_settings())
    # receiver down (nothing listens on its port): runs succeed, documents wait in the outbox
    report = backfill(de.id, "2022-05-10T00:00:00Z", "2022-05-10T00:40:00Z", runner=runner)
    assert report.succeeded == 7 and report.delivered == 0
    with session_scope() as s:
        assert repo.count_pending_outbox(s) == 7 * HOSTS
        rows = s.execute(repo.select(repo.OutboxRow.attempts, repo.OutboxRow.last_error)).all()
        assert max(r.attempts for r in rows) >= 1 and any("ConnectError" in (r.last_error or "") for r in rows)
    # up again, but its first two answers are 503: the batch stays queued and is re-sent
    receiver.fail_next = 2
    receiver.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        runner.deliver()
        with session_scope() as s:
            if repo.count_pending_outbox(s) == 0:
                break
        time.sleep(0.05)
    ids = [d["id"] for d in receiver.received]
    assert len(ids) == len(set(ids)) == 7 * HOSTS
    ends = [d["window_end"] for d in receiver.received]
    assert ends == sorted(ends)
    assert receiver.requests >= 2 + (7 * HOSTS) // 4
    with session_scope() as s:
        assert set(ids) == {r for (r,) in s.execute(repo.select(repo.ResultRow.id)).all()}
        # acknowledged documents leave the outbox (the results table keeps them)
        assert s.execute(repo.select(repo.func.count()).select_from(repo.OutboxRow)).scalar() == 0
    # a second backfill sends nothing new
    backfill(de.id, "2022-05-10T00:00:00Z", "2022-05-10T00:40:00Z", runner=runner)
    runner.deliver()
    assert len(receiver.received) == 7 * HOSTS


def test_read_error_is_retried_then_fails_and_later_windows_run(db_url, lake, tmp_path, monkeypatch):
    monkeypatch.setenv("ADMON_SINKS", f"jsonl://{tmp_path / 'out'}")
    # the lake's 2022-05-11 file is garbage: reading that day fails, the days around it are fine
    day = lake / "collectd" / "raw" / "monitoring" / "2022" / "05" / "11"
    for path in day.iterdir():
        path.write_bytes(os.urandom(2000))
    de = make_entity(interval=24 * 60, slide=24 * 60, schedule_from="2022-05-11T00:00:00Z",
                     sources=1, agg_seconds=3600)
    events = []
    settings = load_settings(run_max_attempts=3, run_retry_backoff_seconds=0.05,
                             scheduler_poll_seconds=0.05)
    runner = Runner(settings, on_event=lambda kind, **i: events.append((kind, i)))
    scheduler = Scheduler(runner, clock=lambda: to_epoch_ms("2022-05-13T00:00:00Z"))
    scheduler.run_forever(until_idle=True)

    with session_scope() as s:
        runs = {r.window_end_ms: r for r in repo.list_runs(s, de.id)}
        bad = runs[to_epoch_ms("2022-05-12T00:00:00Z")]
        good = [runs[to_epoch_ms("2022-05-11T00:00:00Z")], runs[to_epoch_ms("2022-05-13T00:00:00Z")]]
        assert bad.status == "failed" and bad.failures == 3 and bad.attempts == 3
        assert "2022/05/11" in bad.error or "readable" in bad.error
        assert [r.status for r in good] == ["succeeded", "succeeded"]
        assert all(r.groups == HOSTS for r in good)
    finished = [(i["window_end_ms"], i["status"]) for kind, i in events if kind == "run_finished"]
    # the window after the bad one did not wait for the bad one's retries
    first_later = finished.index((to_epoch_ms("2022-05-13T00:00:00Z"), "succeeded"))
    final_bad = finished.index((to_epoch_ms("2022-05-12T00:00:00Z"), "failed"))
    assert first_later < final_bad
    assert [st for end, st in finished if end == to_epoch_ms("2022-05-12T00:00:00Z")] == \
        ["retrying", "retrying", "failed"]
    docs = jsonl_docs(tmp_path / "out")
    assert sorted({d["window_end"] for d in docs}) == [to_epoch_ms("2022-05-11T00:00:00Z"),
                                                        to_epoch_ms("2022-05-13T00:00:00Z")]
