"""The scheduler: aligned windows, late-data delay, bounded catch-up, leases, disabled entities."""

from __future__ import annotations

import threading
import time

from runs_helpers import HOSTS, make_entity

from admon.registry import repository as repo
from admon.registry.db import session_scope
from admon.runs.runner import Runner
from admon.runs.scheduler import Scheduler
from admon.settings import load_settings
from admon.timeutil import to_epoch_ms

MIN = 60_000


def window_ends(entity_id):
    with session_scope() as s:
        return sorted(r.window_end_ms for r in repo.list_runs(s, entity_id))


def test_plan_aligns_to_slide_with_delay_and_bounded_catch_up(db_url, lake):
    de = make_entity(interval=10, slide=5, schedule_from="2022-05-10T00:00:00Z", sources=1)
    settings = load_settings(late_data_delay_seconds=120, max_catch_up_windows=4)
    clock = {"now": to_epoch_ms("2022-05-10T00:21:00Z")}
    scheduler = Scheduler(Runner(settings), clock=lambda: clock["now"])
    assert scheduler.plan() == 4
    # now - delay = 00:19 -> latest aligned end 00:15; from 00:00 on: 00:00, :05, :10, :15
    assert window_ends(de.id) == [to_epoch_ms("2022-05-10T00:00:00Z") + i * 5 * MIN for i in range(4)]
    assert scheduler.plan() == 0  # idempotent
    clock["now"] = to_epoch_ms("2022-05-10T00:22:00Z") - 1  # 00:20 is not old enough yet
    assert scheduler.plan() == 0
    clock["now"] = to_epoch_ms("2022-05-10T00:22:00Z")
    assert scheduler.plan() == 1
    # downtime of 2 hours: only the newest 4 windows are caught up
    clock["now"] = to_epoch_ms("2022-05-10T02:32:00Z")
    assert scheduler.plan() == 4
    assert window_ends(de.id)[-4:] == [to_epoch_ms("2022-05-10T02:15:00Z") + i * 5 * MIN for i in range(4)]
    with session_scope() as s:
        run = repo.list_runs(s, de.id)[0]
        assert run.window_end_ms - run.window_start_ms == 10 * MIN and run.status == "pending"


def test_tick_runs_windows_in_order_and_skips_disabled(db_url, lake, tmp_path, monkeypatch):
    monkeypatch.setenv("ADMON_SINKS", f"jsonl://{tmp_path / 'out'}")
    make_entity(interval=10, slide=5, schedule_from="2022-05-10T01:00:00Z", sources=1)
    off = make_entity(interval=10, slide=5, schedule_from="2022-05-10T01:00:00Z", title="off", sources=1)
    off.disable()
    events = []
    runner = Runner(load_settings(), on_event=lambda kind, **i: events.append((kind, i)))
    scheduler = Scheduler(runner, clock=lambda: to_epoch_ms("2022-05-10T01:15:00Z"))
    report = scheduler.tick()
    assert report.planned == 4 and report.executed == 4 and report.delivered == 4 * HOSTS
    started = [i["window_end_ms"] for kind, i in events if kind == "run_started"]
    assert started == sorted(started) and len(started) == 4
    assert window_ends(off.id) == []
    assert not scheduler.busy()
    assert scheduler.tick().executed == 0


def test_two_schedulers_never_run_the_same_window(db_url, lake):
    de = make_entity(interval=10, slide=5, schedule_from="2022-05-10T00:00:00Z", sources=1)
    settings = load_settings()
    clock = lambda: to_epoch_ms("2022-05-10T01:00:00Z")  # noqa: E731
    started: list[int] = []
    lock = threading.Lock()

    def hook(kind, **info):
        if kind == "run_started":
            with lock:
                started.append(info["run_id"])

    schedulers = [Scheduler(Runner(settings, on_event=hook), clock=clock) for _ in range(2)]
    threads = [threading.Thread(target=s.run_forever, kwargs={"until_idle": True}) for s in schedulers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(started) == len(set(started)) == 13
    with session_scope() as s:
        runs = repo.list_runs(s, de.id)
        # the first window, [23:50, 00:00) of the day before the lake, had no input at all
        assert [r.status for r in runs] == ["succeeded"] * 12 + ["no_data"]
        assert {r.attempts for r in runs} == {1}


def test_expired_lease_is_taken_over(db_url, lake):
    make_entity(interval=10, slide=5, schedule_from="2022-05-10T00:10:00Z", sources=1)
    # long enough that the second claim below surely comes before expiry on a loaded machine
    settings = load_settings(run_lease_seconds=2.0)
    clock = lambda: to_epoch_ms("2022-05-10T00:10:00Z")  # noqa: E731
    dead = Runner(settings)
    Scheduler(dead, clock=clock).plan()
    claim = dead.claim()  # ... and this process "dies" holding the lease
    other = Runner(settings)
    assert other.claim() is None
    time.sleep(2.2)
    taken = other.claim()
    assert taken is not None and taken.run_id == claim.run_id and taken.attempts == 2
    assert other.execute(taken).status == "succeeded"
    # the late original owner can no longer commit the window
    assert dead.execute(claim).status == "lost_lease"
    with session_scope() as s:
        assert len(repo.list_results(s, claim.run_id)) == HOSTS
        assert repo.get_run(s, claim.run_id).status == "succeeded"


def test_postgresql_claim_skips_rows_locked_by_another_scheduler(postgres_url, lake, monkeypatch):
    """SKIP LOCKED: a run row another transaction holds is passed over, not waited for."""
    import sqlalchemy as sa

    # without SKIP LOCKED the claim would wait for the lock: make that an error after 5 s
    monkeypatch.setenv("ADMON_DATABASE_URL", postgres_url + "?options=-c%20lock_timeout%3D5000")
    make_entity(interval=10, slide=5, schedule_from="2022-05-10T00:10:00Z", sources=1)
    runner = Runner(load_settings())
    Scheduler(runner, clock=lambda: to_epoch_ms("2022-05-10T00:20:00Z")).plan()
    other = sa.create_engine(postgres_url)
    try:
        with other.connect() as conn:
            oldest = conn.execute(sa.text(
                "SELECT id FROM runs ORDER BY window_end_ms LIMIT 1 FOR UPDATE")).scalar()
            claim = runner.claim()  # would wait (and then fail) without SKIP LOCKED
            assert claim is not None and claim.run_id != oldest
            assert claim.window_end_ms == to_epoch_ms("2022-05-10T00:15:00Z")
            conn.rollback()
        assert runner.claim().run_id == oldest
    finally:
        other.dispose()
