"""Where SQLite and PostgreSQL differ (admon.registry.dialect), proven on both: the one place
the tests look at which database they run on."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import select

from admon.config import InputDataConfig, SourceConfig
from admon.registry import db
from admon.registry import repository as repo
from admon.registry.dialect import dialect_name, with_row_locks
from admon.registry.models import PENDING, ResultRow, RunRow
from admon.registry.schemas import EntityCreate, ProjectCreate

STEP = 300_000


def make_entity(s, title: str = "e") -> int:
    project = repo.create_project(s, ProjectCreate(title=f"p-{title}", egroup="dev"))
    idc = InputDataConfig(source_configs=[SourceConfig("collectd", "raw", "monitoring",
                                                       select=["timestamp", "value", "host"])],
                          agg_interval_seconds=300, agg_method="avg", group_by=["host"])
    return repo.create_entity(s, EntityCreate(
        project_id=project.id, title=title, interval_minutes=10, sliding_interval_minutes=5,
        input_data_config=idc, inference_model="m", inference_namespace="dev")).id


def run_rows(entity_id: int, ends: list[int]) -> list[dict]:
    return [{"entity_id": entity_id, "window_start_ms": e - 2 * STEP, "window_end_ms": e, "status": PENDING,
             "attempts": 0, "failures": 0, "next_attempt_ms": 0, "trigger": "test", "created_ms": 1}
            for e in ends]


def test_insert_ignoring_conflicts_counts_only_new_runs(db_url):
    with db.session_scope() as s:
        entity = make_entity(s)
        assert repo.insert_runs(s, run_rows(entity, [STEP * 4, STEP * 5])) == 2
        assert repo.insert_runs(s, run_rows(entity, [STEP * 4, STEP * 5])) == 0
        assert repo.insert_runs(s, run_rows(entity, [STEP * 5, STEP * 6])) == 1
        assert [r.window_end_ms for r in repo.list_runs(s, entity)] == [STEP * 6, STEP * 5, STEP * 4]


def test_a_row_locked_by_one_transaction_is_not_claimed_by_another(db_url):
    """PostgreSQL: SKIP LOCKED passes over the locked run. SQLite: the locking transaction is the
    single writer; nobody else may even begin one until it ends."""
    with db.session_scope() as s:
        entity = make_entity(s)
        repo.insert_runs(s, run_rows(entity, [STEP * 4, STEP * 5]))
    factory = db.session_factory()
    holder = factory()
    try:
        oldest = holder.scalar(with_row_locks(_oldest_run(), holder, skip_locked=True))
        if dialect_name(holder) == "postgresql":
            with factory() as other:
                other.execute(db.text("SET LOCAL lock_timeout = '5s'"))  # waiting = an error, not a hang
                claim = repo.claim_run(other, "other", 60_000)
            assert claim is not None and claim.run_id != oldest and claim.window_end_ms == STEP * 5
        else:
            path = db.sqlite_file(db_url)
            conn = sqlite3.connect(path, timeout=0.1, isolation_level=None)
            try:
                with pytest.raises(sqlite3.OperationalError, match="locked"):
                    conn.execute("BEGIN IMMEDIATE")
            finally:
                conn.close()
    finally:
        holder.rollback()
        holder.close()
    with factory() as s:
        claim = repo.claim_run(s, "me", 60_000)
    assert claim is not None and claim.run_id == oldest and claim.attempts == 1


def _oldest_run():
    return select(RunRow.id).order_by(RunRow.window_end_ms).limit(1)


@pytest.mark.parametrize("key,value", [("host", "h1"), ("we\"ird']", "x'y\"]"), ("$.host", "h1"),
                                       ("host", "h1' OR '1'='1")])
def test_json_text_equals_binds_key_and_value(db_url, key, value):
    with db.session_scope() as s:
        entity = make_entity(s)
        repo.insert_runs(s, run_rows(entity, [STEP * 4]))
        run_id = repo.list_runs(s, entity)[0].id
        for i, group in enumerate([{key: value}, {key: value + "x"}, {"other": value}, {"host": "h1"}]):
            s.add(ResultRow(id=f"r{i}", run_id=run_id, entity_id=entity, window_end_ms=STEP * 4,
                            group_key=group, timestamp_ms=STEP * 3, anomaly_score=1.0, is_anomaly=False,
                            threshold=2.0, document={}))
    with db.session_scope() as s:
        found = repo.entity_results(s, entity, group={key: value}, latest_only=False)
    expected = {"r0", "r3"} if (key, value) == ("host", "h1") else {"r0"}
    assert {r.id for r in found} == expected
