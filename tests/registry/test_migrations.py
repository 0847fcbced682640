"""Migrations that move data: an old database is brought to head with nothing lost (both databases)."""

from __future__ import annotations

import sqlalchemy as sa

from admon.registry import db
from admon.registry.models import NAMING, EntityRow, ProjectRow, UserRow


def _at_revision(url: str, revision: str) -> sa.Engine:
    from alembic import command
    from alembic.config import Config

    engine = db._create_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(db.MIGRATIONS_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    return engine


def _old_service_table(metadata: sa.MetaData) -> sa.Table:
    """``service_annotations`` as the web service created it before migration 0003."""
    return sa.Table(
        "service_annotations", metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("entity_id", sa.Integer, nullable=False, index=True),
        sa.Column("group_key", sa.JSON, nullable=False),
        sa.Column("series", sa.String(200)),
        sa.Column("start_ms", sa.BigInteger, nullable=False),
        sa.Column("end_ms", sa.BigInteger, nullable=False),
        sa.Column("label", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("detection_id", sa.String(64), index=True),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_by", sa.String(200)),
        sa.Column("updated_ms", sa.BigInteger),
    )


def test_0003_moves_the_service_annotations_into_annotations(empty_db_url):
    engine = _at_revision(empty_db_url, "0002")
    old = _old_service_table(sa.MetaData(naming_convention=NAMING))
    annotations_0002 = sa.table(  # the registry table as migration 0002 left it
        "annotations", sa.column("entity_id"), sa.column("group_key", sa.JSON), sa.column("start_ms"),
        sa.column("end_ms"), sa.column("label"), sa.column("comment"), sa.column("dataset"),
        sa.column("created_ms"),
    )
    with engine.begin() as conn:
        old.create(conn)
        conn.execute(sa.insert(UserRow.__table__).values(id=7, username="alice", is_admin=False,
                                                         is_active=True, created_ms=1))
        conn.execute(sa.insert(ProjectRow.__table__).values(id=1, title="p", description="",
                                                            is_private=False, created_ms=1, updated_ms=1))
        conn.execute(sa.insert(EntityRow.__table__).values(
            id=3, project_id=1, title="e", interval_minutes=60, sliding_interval_minutes=15,
            input_data_config={}, config_hash="h", inference_model="m", inference_namespace="ns",
            monit_producer="admon", monit_label={}, enabled=True, created_ms=1, updated_ms=1))
        # one registry row from before (a benchmark label), so the copied ids must move past it
        conn.execute(sa.insert(annotations_0002).values(
            entity_id=None, group_key={}, start_ms=0, end_ms=10, label="anomaly", comment="",
            dataset="nab", created_ms=1))
        conn.execute(sa.insert(old), [
            dict(id=1, entity_id=3, group_key={"host": "h1"}, series="gled_value", start_ms=100,
                 end_ms=200, label="anomaly", kind="spike", comment="burst", detection_id=None,
                 author="alice", created_ms=5, updated_by="root", updated_ms=6),
            dict(id=2, entity_id=3, group_key={"host": "h2"}, series=None, start_ms=300, end_ms=400,
                 label="confirmed", kind="", comment="", detection_id="abc123", author="gone",
                 created_ms=7, updated_by=None, updated_ms=None),
            dict(id=3, entity_id=99, group_key={}, series=None, start_ms=500, end_ms=600,  # entity deleted
                 label="normal", kind="", comment="", detection_id=None, author="alice", created_ms=8,
                 updated_by=None, updated_ms=None),
        ])
    engine.dispose()

    engine = db.get_engine(empty_db_url)  # migrates to head on first use
    assert "service_annotations" not in sa.inspect(engine).get_table_names()
    assert "ix_annotations_detection_id" in {ix["name"] for ix in sa.inspect(engine).get_indexes("annotations")}
    from admon.registry import repository as repo

    with db.session_scope(empty_db_url) as s:
        rows = repo.list_annotations(s)
        got = [(r.id, r.entity_id, r.user_id, r.group_key, r.series, r.start_ms, r.end_ms, r.label, r.kind,
                r.comment, r.dataset, r.detection_id, r.author, r.created_ms, r.updated_by, r.updated_ms)
               for r in rows]
        assert got == [
            (1, None, None, {}, None, 0, 10, "anomaly", "", "", "nab", None, None, 1, None, None),
            (2, 3, 7, {"host": "h1"}, "gled_value", 100, 200, "anomaly", "spike", "burst", None, None,
             "alice", 5, "root", 6),
            (3, 3, None, {"host": "h2"}, None, 300, 400, "confirmed", "", "", None, "abc123", "gone", 7,
             None, None),
            (4, None, 7, {}, None, 500, 600, "normal", "", "", None, None, "alice", 8, None, None),
        ]
        # new rows get fresh ids after the copied ones (PostgreSQL: the sequence was moved on)
        new = repo.add_annotation(s, entity_id=3, start_ms=0, end_ms=1, label="anomaly", author="alice")
        assert new.id == 5


def test_0003_without_a_service_table_only_adds_columns(empty_db_url):
    engine = _at_revision(empty_db_url, "0002")
    engine.dispose()
    engine = db.get_engine(empty_db_url)
    columns = {c["name"] for c in sa.inspect(engine).get_columns("annotations")}
    assert {"series", "kind", "detection_id", "author", "updated_by", "updated_ms"} <= columns
    assert "service_annotations" not in sa.inspect(engine).get_table_names()


def test_0003_downgrade_drops_the_new_columns(empty_db_url):
    from alembic import command
    from alembic.config import Config

    engine = _at_revision(empty_db_url, "0003")
    cfg = Config()
    cfg.set_main_option("script_location", str(db.MIGRATIONS_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0002")
    columns = {c["name"] for c in sa.inspect(engine).get_columns("annotations")}
    assert columns.isdisjoint({"series", "kind", "detection_id", "author", "updated_by", "updated_ms"})
    engine.dispose()


def test_0004_adds_the_model_hash_columns_and_keeps_entities_and_runs(empty_db_url):
    from admon.registry.models import RunRow

    engine = _at_revision(empty_db_url, "0003")
    runs_0003 = sa.table(  # the runs table as migration 0003 left it (no model_sha256)
        "runs", sa.column("id"), sa.column("entity_id"), sa.column("window_start_ms"),
        sa.column("window_end_ms"), sa.column("status"), sa.column("attempts"), sa.column("failures"),
        sa.column("next_attempt_ms"), sa.column("trigger"), sa.column("scores_hash"),
        sa.column("provenance", sa.JSON), sa.column("created_ms"),
    )
    entities_0003 = sa.table(
        "detection_entities", *(sa.column(c) for c in (
            "id", "project_id", "title", "interval_minutes", "sliding_interval_minutes", "config_hash",
            "inference_model", "inference_namespace", "monit_producer", "enabled", "created_ms",
            "updated_ms")),
        sa.column("input_data_config", sa.JSON), sa.column("monit_label", sa.JSON),
    )
    with engine.begin() as conn:
        conn.execute(sa.insert(ProjectRow.__table__).values(id=1, title="p", description="",
                                                            is_private=False, created_ms=1, updated_ms=1))
        conn.execute(sa.insert(entities_0003).values(
            id=3, project_id=1, title="e", interval_minutes=60, sliding_interval_minutes=15,
            input_data_config={}, config_hash="h", inference_model="m", inference_namespace="ns",
            monit_producer="admon", monit_label={"a": "b"}, enabled=True, created_ms=1, updated_ms=2))
        conn.execute(sa.insert(runs_0003).values(
            id=9, entity_id=3, window_start_ms=0, window_end_ms=60, status="succeeded", attempts=1,
            failures=0, next_attempt_ms=0, trigger="scheduler", scores_hash="s",
            provenance={"model_hash": "ab" * 32}, created_ms=5))
    engine.dispose()

    engine = db.get_engine(empty_db_url)  # migrates to head on first use
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() >= "0004"
    with db.session_scope(empty_db_url) as s:
        entity = s.get(EntityRow, 3)
        assert (entity.title, entity.inference_model, entity.monit_label, entity.updated_ms) == ("e", "m", {"a": "b"}, 2)
        assert (entity.model_version, entity.model_sha256) == (None, None)  # recorded by its next run
        run = s.get(RunRow, 9)
        assert (run.status, run.scores_hash, run.provenance, run.model_sha256) == (
            "succeeded", "s", {"model_hash": "ab" * 32}, None)
        from admon.registry import repository as repo

        assert [e.id for e in repo.record_model(s, "ns", "m", "2", "cd" * 32)] == [3]
    with db.session_scope(empty_db_url) as s:
        assert (s.get(EntityRow, 3).model_version, s.get(EntityRow, 3).model_sha256) == ("2", "cd" * 32)


def test_0004_downgrade_drops_the_model_hash_columns(empty_db_url):
    from alembic import command
    from alembic.config import Config

    engine = _at_revision(empty_db_url, "0004")
    cfg = Config()
    cfg.set_main_option("script_location", str(db.MIGRATIONS_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0003")
    inspector = sa.inspect(engine)
    assert {c["name"] for c in inspector.get_columns("detection_entities")}.isdisjoint(
        {"model_version", "model_sha256"})
    assert "model_sha256" not in {c["name"] for c in inspector.get_columns("runs")}
    engine.dispose()
