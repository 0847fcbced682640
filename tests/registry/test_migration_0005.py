"""Migration 0005 (job kinds): forecast-namespace entities become kind forecast, data kept, and back."""

from __future__ import annotations

import sqlalchemy as sa

from admon.registry import db
from admon.registry.models import EntityRow, EpisodeRow, ProjectRow

from .test_migrations import _at_revision


def _entities_0004() -> sa.TableClause:
    """``detection_entities`` as migration 0004 left it (no kind, no job_config)."""
    return sa.table(
        "detection_entities", *(sa.column(c) for c in (
            "id", "project_id", "title", "interval_minutes", "sliding_interval_minutes", "config_hash",
            "inference_model", "inference_namespace", "monit_producer", "enabled", "created_ms",
            "updated_ms", "model_version", "model_sha256")),
        sa.column("input_data_config", sa.JSON), sa.column("monit_label", sa.JSON),
    )


def _downgrade(engine: sa.Engine, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(db.MIGRATIONS_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def test_0005_adds_kind_and_job_config_and_makes_forecast_entities_forecast_jobs(empty_db_url):
    engine = _at_revision(empty_db_url, "0004")
    entities = _entities_0004()
    with engine.begin() as conn:
        conn.execute(sa.insert(ProjectRow.__table__).values(id=1, title="p", description="",
                                                            is_private=False, created_ms=1, updated_ms=1))
        common = dict(project_id=1, interval_minutes=60, sliding_interval_minutes=15, input_data_config={},
                      config_hash="h", monit_producer="admon", monit_label={"a": "b"}, enabled=True,
                      created_ms=1, updated_ms=2)
        conn.execute(sa.insert(entities), [
            dict(id=3, title="detector", inference_model="m", inference_namespace="ns",
                 model_version="2", model_sha256="ab" * 32, **common),
            dict(id=4, title="links", inference_model="fts-links", inference_namespace="forecast",
                 model_version=None, model_sha256=None, **common),
        ])
    engine.dispose()

    engine = db.get_engine(empty_db_url)  # migrates to head on first use
    with db.session_scope(empty_db_url) as s:
        detector, links = s.get(EntityRow, 3), s.get(EntityRow, 4)
        assert (detector.kind, detector.job_config, detector.model_sha256, detector.monit_label) == (
            "detect", None, "ab" * 32, {"a": "b"})
        # the job config stays in the model store until the entity's first run moves it
        assert (links.kind, links.job_config, links.inference_model) == ("forecast", None, "fts-links")
        s.add(EpisodeRow(entity_id=4, key="source_se=A|dest_se=B", episode_id="e1", run_id=None,
                         opened_ms=5, payload={"x": 1}))
    with db.session_scope(empty_db_url) as s:
        assert [(e.entity_id, e.key, e.payload) for e in s.scalars(sa.select(EpisodeRow))] == [
            (4, "source_se=A|dest_se=B", {"x": 1})]
        s.delete(s.get(EntityRow, 4))  # its episodes go with it (ON DELETE CASCADE)
    with db.session_scope(empty_db_url) as s:
        assert s.scalars(sa.select(EpisodeRow)).all() == []


def test_0005_downgrade_drops_the_columns_and_the_table_and_keeps_the_entities(empty_db_url):
    engine = _at_revision(empty_db_url, "0005")
    with engine.begin() as conn:
        conn.execute(sa.insert(ProjectRow.__table__).values(id=1, title="p", description="",
                                                            is_private=False, created_ms=1, updated_ms=1))
        conn.execute(sa.insert(EntityRow.__table__).values(
            id=3, project_id=1, title="e", interval_minutes=60, sliding_interval_minutes=15,
            input_data_config={}, config_hash="h", inference_model="m", inference_namespace="ns",
            monit_producer="admon", monit_label={}, enabled=True, created_ms=1, updated_ms=1,
            kind="forecast", job_config={"horizon": 3}))
    _downgrade(engine, "0004")
    inspector = sa.inspect(engine)
    assert "action_episodes" not in inspector.get_table_names()
    assert {c["name"] for c in inspector.get_columns("detection_entities")}.isdisjoint({"kind", "job_config"})
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT title FROM detection_entities")).scalars().all() == ["e"]
    engine.dispose()
