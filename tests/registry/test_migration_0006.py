"""Migration 0006 (incidents): the table arrives with the data of 0005 kept, goes with its entity,
and leaves on downgrade with the entities kept; apply_incident_changes is compare-and-set."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from admon.errors import ConflictError
from admon.incidents import WindowResult, merge_window
from admon.registry import db
from admon.registry import incidents as registry_incidents
from admon.registry.models import EntityRow, IncidentRow, ProjectRow

from .test_migration_0005 import _downgrade
from .test_migrations import _at_revision

ENTITY = dict(id=3, project_id=1, title="e", interval_minutes=60, sliding_interval_minutes=15,
              input_data_config={}, config_hash="h", inference_model="m", inference_namespace="ns",
              monit_producer="admon", monit_label={}, enabled=True, created_ms=1, updated_ms=1,
              kind="detect", job_config=None)


def _seed_0005(engine: sa.Engine) -> None:
    entities = sa.table("detection_entities", *(sa.column(c) for c in ENTITY if c not in (
        "input_data_config", "monit_label", "job_config")), sa.column("input_data_config", sa.JSON),
        sa.column("monit_label", sa.JSON), sa.column("job_config", sa.JSON))
    with engine.begin() as conn:
        conn.execute(sa.insert(ProjectRow.__table__).values(id=1, title="p", description="",
                                                            is_private=False, created_ms=1, updated_ms=1))
        conn.execute(sa.insert(entities).values(**ENTITY))


def test_0006_adds_incidents_keeps_the_entities_and_incidents_go_with_their_entity(empty_db_url):
    engine = _at_revision(empty_db_url, "0005")
    _seed_0005(engine)
    engine.dispose()

    db.get_engine(empty_db_url)  # migrates to head on first use
    result = WindowResult({"host": "h1"}, 0, 900_000, 97.0, 600_000, ["cpu"], 11)
    with db.session_scope(empty_db_url) as s:
        assert s.get(EntityRow, 3).title == "e"
        changes = merge_window(3, registry_incidents.open_incidents(s, 3), [result], window_end_ms=900_000)
        registry_incidents.apply_incident_changes(s, 3, changes, now=5)
    with db.session_scope(empty_db_url) as s:
        (stored,) = registry_incidents.list_incidents(s, [3], open_only=True)
        assert (stored.group, stored.end_ms, stored.peak_score, stored.run_ids, stored.status) == (
            {"host": "h1"}, None, 97.0, [11], "open")
        assert set(registry_incidents.open_incidents(s, 3)) == {'[["host","h1"]]'}
        # a change computed from a revision that is not stored any more commits nothing
        with pytest.raises(ConflictError, match="another window of the entity committed first"):
            registry_incidents.apply_incident_changes(s, 3, changes, now=6)
    with db.session_scope(empty_db_url) as s:
        s.delete(s.get(EntityRow, 3))  # its incidents go with it (ON DELETE CASCADE)
    with db.session_scope(empty_db_url) as s:
        assert s.scalars(sa.select(IncidentRow)).all() == []
    indexes = {ix["name"] for ix in sa.inspect(db.get_engine(empty_db_url)).get_indexes("incidents")}
    assert {"ix_incidents_entity_status", "uq_incidents_open_group"} <= indexes


def test_0006_allows_one_open_incident_per_entity_and_group(empty_db_url):
    engine = _at_revision(empty_db_url, "0006")
    _seed_0005(engine)
    row = dict(entity_id=3, group_key={"host": "h1"}, group_id='[["host","h1"]]', end_ms=None,
               last_window_end_ms=1, peak_score=1.0, peak_timestamp_ms=None, features=[], run_ids=[],
               revision=1, quiet_windows=0, updated_ms=1)
    with engine.begin() as conn:
        conn.execute(sa.insert(IncidentRow.__table__).values(id="a" * 64, start_ms=0, status="resolved", **row))
        conn.execute(sa.insert(IncidentRow.__table__).values(id="b" * 64, start_ms=5, status="open", **row))
    # what a concurrent run's commit would add: a second open incident of the same group
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(sa.insert(IncidentRow.__table__).values(id="c" * 64, start_ms=9, status="updated", **row))
    engine.dispose()


def test_0006_downgrade_drops_the_table_and_keeps_the_entities(empty_db_url):
    engine = _at_revision(empty_db_url, "0006")
    _seed_0005(engine)
    with engine.begin() as conn:
        conn.execute(sa.insert(IncidentRow.__table__).values(
            id="a" * 64, entity_id=3, group_key={}, group_id="[]", start_ms=0, end_ms=None,
            last_window_end_ms=1, peak_score=1.0, peak_timestamp_ms=None, features=[], status="open",
            run_ids=[], revision=1, quiet_windows=0, updated_ms=1))
    _downgrade(engine, "0005")
    assert "incidents" not in sa.inspect(engine).get_table_names()
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT title FROM detection_entities")).scalars().all() == ["e"]
    engine.dispose()
