"""The tester's delivery probes as tests (issue 12, items 14 and 15): schedulers killed with
SIGKILL at random moments while windows run and documents are posted, and an HTTP sink that
is down, slow, or whose sender is killed mid-POST.

Real processes (forked from a forkserver that imported admon once), a real HTTP receiver on
127.0.0.1 that records every POST and keeps the first copy of each document id, a jsonl sink,
and the registry on SQLite and PostgreSQL. Run with ``-s`` to see the figures.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from collections import Counter

import pytest
from conftest_servers import db_url, postgres_server, postgres_url  # noqa: F401
from runs.runs_helpers import (
    HOSTS,
    Receiver,
    generate_small_lake,
    jsonl_docs,
    make_entity,
    order_inversions,
)

from admon.registry import repository as repo
from admon.registry.db import session_scope
from admon.runs.backfill import backfill
from admon.runs.runner import Runner
from admon.runs.scheduler import run_in_child
from admon.settings import load_settings
from admon.sinks.monit_http import idempotency_key
from admon.timeutil import to_epoch_ms

KILLS = 30
CHUNK = 4  # documents per HTTP request


@pytest.fixture(scope="module")
def lake_template(tmp_path_factory):
    root = tmp_path_factory.mktemp("lake-template")
    generate_small_lake(root, days=1)
    return root


@pytest.fixture
def lake(lake_template, tmp_path, monkeypatch):
    import shutil

    root = tmp_path / "lake"
    shutil.copytree(lake_template, root)
    monkeypatch.setenv("ADMON_LAKE_ROOT", str(root))
    return root


@pytest.fixture
def receiver():
    rec = Receiver()
    yield rec
    rec.stop()


def _forkserver():
    # Children fork from a server process that imported admon once: fast to start, and no
    # threads of this process (the receiver, DuckDB, database drivers) are copied into them.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["admon.runs.scheduler", "admon.data.source", "admon.detectors",
                                "admon.detectors.statistical", "psycopg", "httpx"])
    return ctx


def _lines(path, prefix: str) -> int:
    try:
        return sum(1 for line in open(path) if line.startswith(prefix))
    except FileNotFoundError:
        return 0


def _result_ids() -> set[str]:
    with session_scope() as s:
        return {r for (r,) in s.execute(repo.select(repo.ResultRow.id)).all()}


def _resent_posts(receiver: Receiver) -> int:
    """Requests that carried at least one document an earlier request had already carried."""
    seen: set[str] = set()
    resent = 0
    for _, ids in receiver.posts:
        resent += bool(seen & set(ids))
        seen.update(ids)
    return resent


@pytest.mark.slow
def test_30_kills_lose_nothing_duplicate_nothing_and_deliver_in_order(db_url, lake, receiver, tmp_path):  # noqa: F811
    receiver.delay_seconds = 0.15  # a POST takes a while: some kills land in the middle of one
    receiver.start()
    out = tmp_path / "out"
    entities = [make_entity(interval=10, slide=5, schedule_from="2022-05-10T00:10:00Z", sources=1,
                            title=f"xrootd-{i}") for i in range(2)]
    now = to_epoch_ms("2022-05-10T02:30:00Z")
    windows = 29 * len(entities)  # ends 00:10 .. 02:30 every 5 minutes, per entity
    overrides = {"lake_root": str(lake), "sinks": f"{receiver.url},jsonl://{out}",
                 "run_lease_seconds": 1.0, "run_retry_backoff_seconds": 0.05,
                 "scheduler_poll_seconds": 0.05, "sink_batch_size": 50, "sink_chunk_size": CHUNK,
                 "sink_timeout_seconds": 2.0, "sink_retry_backoff_seconds": 0.05}
    events = tmp_path / "events.log"
    ctx = _forkserver()
    rng = random.Random(12)
    started = time.monotonic()
    kills = 0
    kills_mid_run = 0
    for _ in range(KILLS):
        runs_before, posts_before = _lines(events, "run_started"), receiver.requests
        child = ctx.Process(target=run_in_child, args=(db_url, overrides, now, str(events)))
        child.start()
        deadline = time.monotonic() + 5
        while (child.is_alive() and time.monotonic() < deadline and _lines(events, "run_started") == runs_before
               and receiver.requests == posts_before):
            time.sleep(0.005)  # until it works: runs a window or posts a chunk
        time.sleep(rng.uniform(0.0, 0.6))  # then a random moment: reading, scoring, committing, posting
        if not child.is_alive():
            child.join()
            break  # nothing left to do: every later kill would hit an idle scheduler
        mid_run = _lines(events, "run_started") > _lines(events, "run_finished")
        os.kill(child.pid, signal.SIGKILL)
        child.join(30)
        assert child.exitcode == -signal.SIGKILL
        kills += 1
        kills_mid_run += mid_run
        with open(events, "a") as fh:  # a killed run never finishes: keep started/finished paired
            fh.write("run_finished killed\n" * (_lines(events, "run_started") - _lines(events, "run_finished")))
    assert kills == KILLS, f"the work ran out after {kills} kills; give the schedulers more windows"
    killing = time.monotonic() - started

    # restart: two schedulers at once finish everything
    finishers = [ctx.Process(target=run_in_child, args=(db_url, overrides, now, str(events)))
                 for _ in range(2)]
    for child in finishers:
        child.start()
    for child in finishers:
        child.join(120)
        assert child.exitcode == 0

    with session_scope() as s:
        runs = [r for de in entities for r in repo.list_runs(s, de.id)]
        assert len(runs) == windows and {r.status for r in runs} == {"succeeded"}  # 0 windows lost
        attempts = sum(r.attempts for r in runs)
        assert repo.count_pending_outbox(s) == 0
    results = _result_ids()
    assert len(results) == windows * HOSTS
    # jsonl: every document exactly once, in window order per entity
    docs = jsonl_docs(out)
    assert len(docs) == len({d["id"] for d in docs}) == windows * HOSTS
    assert {d["id"] for d in docs} == results
    assert order_inversions(docs) == 0
    # HTTP: nothing lost after dropping duplicates by id; first copies in window order per
    # entity; duplicates only from the chunk in flight at a kill
    first = list(receiver.first.values())
    assert set(receiver.first) == results
    inversions = order_inversions(first)
    assert inversions == 0
    assert max(len(ids) for _, ids in receiver.posts) <= CHUNK
    assert _resent_posts(receiver) <= kills and receiver.duplicates <= kills * CHUNK
    assert all(key == idempotency_key(ids) for key, ids in receiver.posts)
    print(f"\n[delivery faults, {db_url.split(':')[0]}] kills {kills} ({kills_mid_run} mid-run), "
          f"windows {windows}, run attempts {attempts}, documents {len(results)} per sink, "
          f"HTTP posts {len(receiver.posts)} ({_resent_posts(receiver)} re-sent), "
          f"HTTP duplicates {receiver.duplicates} (bound {kills} kills x {CHUNK}), "
          f"HTTP inversions {inversions}, jsonl duplicates 0, jsonl inversions 0, "
          f"{killing:.1f} s of kills, {time.monotonic() - started:.1f} s in all")


def test_sink_down_then_slow_then_sender_killed_mid_post_loses_nothing(db_url, lake, receiver,  # noqa: F811
                                                                      tmp_path, monkeypatch):
    monkeypatch.setenv("ADMON_SINKS", receiver.url)
    de = make_entity(interval=10, slide=5, sources=1)
    settings = load_settings(sink_chunk_size=CHUNK, sink_retry_backoff_seconds=0.0, sink_timeout_seconds=1.0,
                             run_lease_seconds=1.0)
    runner = Runner(settings)
    # down: nothing listens; the runs succeed and their documents wait in the outbox
    report = backfill(de.id, "2022-05-10T00:00:00Z", "2022-05-10T00:40:00Z", runner=runner)
    assert report.succeeded == 7 and report.delivered == 0
    total = 7 * HOSTS
    # slow: the first request is kept but answered after the sender's timeout (a late ack)
    receiver.late_next, receiver.late_seconds = 1, 2.0
    receiver.start()
    slow = runner.deliver()
    assert slow.delivered == 0 and "Timeout" in slow.errors[0]
    assert len(receiver.posts) == 1
    # killed mid-POST: a scheduler process posts the next chunk and dies before the answer
    receiver.late_next, receiver.late_seconds = 1, 30.0
    overrides = {"lake_root": str(lake), "sinks": receiver.url, "sink_chunk_size": CHUNK,
                 "sink_retry_backoff_seconds": 0.0, "sink_timeout_seconds": 2.0, "run_lease_seconds": 1.0}
    child = _forkserver().Process(target=run_in_child, args=(db_url, overrides, to_epoch_ms("2022-05-10"), None))
    child.start()
    deadline = time.monotonic() + 60
    while len(receiver.posts) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(receiver.posts) == 2
    os.kill(child.pid, signal.SIGKILL)
    child.join(30)
    # ... and the next deliverer (once the dead one's delivery lease expired) finishes the job
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        runner.deliver()
        with session_scope() as s:
            if repo.count_pending_outbox(s) == 0:
                break
        time.sleep(0.1)
    assert set(receiver.first) == _result_ids() and len(receiver.first) == total  # nothing lost
    assert order_inversions(list(receiver.first.values())) == 0
    # one chunk re-sent per failure (the late answer, the kill); the same chunk, the same key
    assert receiver.duplicates == 2 * CHUNK
    assert receiver.posts[0] == receiver.posts[1] == receiver.posts[2]
    per_doc = Counter(i for _, ids in receiver.posts for i in ids)
    assert sorted(per_doc.values()) == [1] * (total - CHUNK) + [3] * CHUNK
    print(f"\n[sink down/slow/killed, {db_url.split(':')[0]}] documents {total}, "
          f"posts {len(receiver.posts)}, duplicates {receiver.duplicates} (2 failures x {CHUNK})")
