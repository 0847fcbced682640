"""Delivery order and duplicates: windows reach a sink in window order per entity, a run keeps
its lease while it works, and an HTTP batch resumes after its last acknowledged chunk."""

from __future__ import annotations

import threading
import time

from runs_helpers import HOSTS, jsonl_docs, make_entity, order_inversions

from admon.registry import repository as repo
from admon.registry.db import session_scope
from admon.runs.backfill import backfill
from admon.runs.runner import Runner
from admon.runs.scheduler import Scheduler
from admon.settings import Settings, load_settings
from admon.sinks.monit_http import idempotency_key
from admon.timeutil import to_epoch_ms


def test_a_window_re_run_after_a_kill_is_delivered_before_the_next_one(db_url, lake, receiver, tmp_path,
                                                                       monkeypatch):
    """The tester's case: the scheduler dies in window 1; a new one runs window 2 while window 1
    is still leased, then takes window 1 over. Window 2 waits for window 1 at every sink."""
    receiver.start()
    monkeypatch.setenv("ADMON_SINKS", f"{receiver.url},jsonl://{tmp_path / 'out'}")
    make_entity(interval=10, slide=5, schedule_from="2022-05-10T00:10:00Z", sources=1)
    settings = load_settings(run_lease_seconds=0.5)
    clock = lambda: to_epoch_ms("2022-05-10T00:15:00Z")  # noqa: E731
    dead = Runner(settings)
    Scheduler(dead, clock=clock).plan()
    first = dead.claim()  # ... and this scheduler dies holding window 1's lease
    other = Runner(settings)
    second = other.claim()
    assert second.window_end_ms > first.window_end_ms
    assert other.execute(second).status == "succeeded"
    assert other.deliver().delivered == 0  # held: window 1 is not finished
    assert receiver.received == [] and jsonl_docs(tmp_path / "out") == []
    deadline = time.monotonic() + 30
    taken = None
    while taken is None and time.monotonic() < deadline:  # window 1's lease expires
        taken = other.claim()
        time.sleep(0.05)
    assert taken is not None and taken.run_id == first.run_id and taken.attempts == 2
    assert other.execute(taken).status == "succeeded"
    assert other.deliver().delivered == 2 * 2 * HOSTS
    for docs in (receiver.received, jsonl_docs(tmp_path / "out")):
        assert len(docs) == 2 * HOSTS and order_inversions(docs) == 0
        assert [d["window_end"] for d in docs] == [first.window_end_ms] * HOSTS + [second.window_end_ms] * HOSTS


def test_windows_that_failed_or_belong_to_a_disabled_entity_hold_nothing_back(db_url, lake, tmp_path,
                                                                               monkeypatch):
    monkeypatch.setenv("ADMON_SINKS", f"jsonl://{tmp_path / 'out'}")
    de = make_entity(interval=10, slide=5, schedule_from="2022-05-10T00:10:00Z", sources=1)
    bad_end = to_epoch_ms("2022-05-10T00:10:00Z")
    runner = Runner(load_settings(run_max_attempts=1))
    lake_reader = runner.reader

    def reader(entity, start_ms, end_ms):
        if end_ms == bad_end:
            raise OSError("the lake's disk is gone for this window")
        return lake_reader(entity, start_ms, end_ms)

    runner.reader = reader
    Scheduler(runner, clock=lambda: to_epoch_ms("2022-05-10T00:20:00Z")).tick()
    with session_scope() as s:
        assert [r.status for r in repo.list_runs(s, de.id)] == ["succeeded", "succeeded", "failed"]
    assert len(jsonl_docs(tmp_path / "out")) == 2 * HOSTS  # the finally failed window holds nothing

    # a disabled entity's queued window does not run, so it does not hold back a backfilled one
    off = make_entity(interval=10, slide=5, schedule_from="2022-05-10T01:00:00Z", title="off", sources=1)
    Scheduler(Runner(load_settings()), clock=lambda: to_epoch_ms("2022-05-10T01:00:00Z")).plan()
    off.disable()
    report = backfill(off.id, "2022-05-10T01:00:00Z", "2022-05-10T01:10:00Z", runner=Runner(load_settings()))
    assert report.succeeded == 1 and report.delivered == HOSTS
    with session_scope() as s:
        assert sorted(r.status for r in repo.list_runs(s, off.id)) == ["pending", "succeeded"]


def test_a_run_longer_than_its_lease_keeps_it(db_url, lake):
    """The lease is renewed while the run works: nobody takes a live run over, however long
    it takes, so a short lease (taking a dead scheduler's window over quickly) is safe."""
    assert Settings().run_lease_seconds <= 60
    make_entity(interval=10, slide=5, schedule_from="2022-05-10T00:10:00Z", sources=1)
    settings = load_settings(run_lease_seconds=0.6)
    slow = Runner(settings)
    lake_reader = slow.reader
    reading = threading.Event()

    def slow_reader(entity, start_ms, end_ms):
        reading.set()
        time.sleep(3.0)  # five leases long
        return lake_reader(entity, start_ms, end_ms)

    slow.reader = slow_reader
    Scheduler(slow, clock=lambda: to_epoch_ms("2022-05-10T00:10:00Z")).plan()
    claim = slow.claim()
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.update(result=slow.execute(claim)))
    worker.start()
    reading.wait(30)
    other = Runner(settings)
    taken = []
    while worker.is_alive():
        found = other.claim()
        if found is not None:
            taken.append(found)
        time.sleep(0.05)
    worker.join()
    assert taken == [] and outcome["result"].status == "succeeded"
    with session_scope() as s:
        run = repo.get_run(s, claim.run_id)
        assert run.status == "succeeded" and run.attempts == 1 and run.lease_owner is None
        assert len(repo.list_results(s, claim.run_id)) == HOSTS
    # the heartbeat stopped with the run
    assert not [t for t in threading.enumerate() if t.name.startswith("admon-lease-")]


def _queue_windows(de, runner) -> None:
    """Run 7 windows (21 documents) while the receiver is not listening: all stay queued."""
    report = backfill(de.id, "2022-05-10T00:00:00Z", "2022-05-10T00:40:00Z", runner=runner)
    assert report.succeeded == 7 and report.delivered == 0
    with session_scope() as s:
        assert repo.count_pending_outbox(s) == 7 * HOSTS


def test_http_batch_resumes_after_the_last_acknowledged_chunk(db_url, lake, receiver, monkeypatch):
    monkeypatch.setenv("ADMON_SINKS", receiver.url)
    de = make_entity(interval=10, slide=5, sources=1)
    runner = Runner(load_settings(sink_chunk_size=4, sink_retry_backoff_seconds=0.0))
    _queue_windows(de, runner)
    receiver.fail_at = {3}
    receiver.start()
    report = runner.deliver()
    assert report.delivered == 8 and report.failed_batches == 1  # chunks 1 and 2, then 3 failed
    with session_scope() as s:
        assert repo.count_pending_outbox(s) == 7 * HOSTS - 8
    assert runner.deliver().delivered == 7 * HOSTS - 8  # only what was not acknowledged
    assert len(receiver.received) == 7 * HOSTS and receiver.duplicates == 0
    assert order_inversions(receiver.received) == 0
    assert [len(ids) for _, ids in receiver.posts] == [4, 4, 4, 4, 4, 1]
    assert all(key == idempotency_key(ids) for key, ids in receiver.posts)


def test_a_late_acknowledgement_re_sends_one_chunk_with_the_same_key(db_url, lake, receiver, monkeypatch):
    monkeypatch.setenv("ADMON_SINKS", receiver.url)
    de = make_entity(interval=10, slide=5, sources=1)
    runner = Runner(load_settings(sink_chunk_size=4, sink_retry_backoff_seconds=0.0,
                                  sink_timeout_seconds=0.3))
    _queue_windows(de, runner)
    receiver.late_next, receiver.late_seconds = 1, 1.5  # kept, then answered after the timeout
    receiver.start()
    report = runner.deliver()
    assert report.delivered == 0 and "ReadTimeout" in report.errors[0]
    assert runner.deliver().delivered == 7 * HOSTS
    # the chunk in flight came twice (same Idempotency-Key), nothing else did, nothing is lost
    assert receiver.duplicates == 4
    assert receiver.posts[0] == receiver.posts[1]
    assert len(receiver.first) == 7 * HOSTS and order_inversions(list(receiver.first.values())) == 0
    with session_scope() as s:
        assert set(receiver.first) == {r for (r,) in s.execute(repo.select(repo.ResultRow.id)).all()}
